#!/usr/bin/env python3
"""Registers runw in a caller's config file, or takes it out again (for hack/install.sh).

usage: install-config.py {containerd,podman,crio} {add,remove} FILE BINARY [--check|--dry-run]

  containerd  FILE is containerd's config.toml (version 2: containerd 1.x, 3: containerd 2.x)
  podman      FILE is containers.conf
  crio        FILE is a CRI-O drop-in (e.g. /etc/crio/crio.conf.d/50-runw.conf), all runw's

Everything added sits between a "# BEGIN runw (hack/install.sh...)" and a "# END runw" line;
a user's line that had to change (podman's runtime_supports_json) is kept in the block as a
"# runw-original: " comment. `remove` takes the blocks out and puts those lines back, so the
file is byte-identical to what it was before `add`. `add` first removes its old blocks, so a
second `add` changes nothing. Before writing, the result is parsed again (tomllib) and must be
the original document plus runw's entry, nothing else; an existing file is first copied to
FILE.runw-backup.

--check: only validate (nothing is written, nothing printed but errors).
--dry-run: say what would change, write nothing.
Exit status 0, or 1 with one line "install.sh: error: FILE: problem" on stderr.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import tomllib
except ImportError:  # Python < 3.11
    sys.stderr.write("install.sh: error: python3 3.11 or later is needed (tomllib)\n")
    sys.exit(1)

BEGIN = "# BEGIN runw (hack/install.sh)"
# The file did not exist: `remove` deletes it when nothing else is left in it.
BEGIN_CREATED = "# BEGIN runw (hack/install.sh; created this file)"
# The file did not end with a newline: `add` added one before the block.
BEGIN_NO_NEWLINE = "# BEGIN runw (hack/install.sh; added the newline before this line)"
END = "# END runw"
ORIGINAL = "# runw-original: "
ORIGINAL_NO_NEWLINE = "# runw-original-without-newline: "

ANNOTATIONS = ["module.wasm.image/variant", "run.oci.handler"]
# podman's built-in runtime_supports_json (docs/podman.md): the setting replaces it.
PODMAN_SUPPORTS_JSON = ["crun", "runc", "kata", "runsc", "youki", "krun"]
CONTAINERD_PLUGIN = {2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.runtime"}
RESTART = {
    "containerd": "restart containerd to use it: systemctl restart containerd",
    "podman": "podman reads containers.conf at every command: nothing to restart",
    "crio": "restart CRI-O to use it: systemctl restart crio",
}


class Problem(Exception):
    """A file install.sh will not change; the message names the problem."""


def toml_value(value):
    """A string, boolean or array of strings in TOML: the same text as in JSON."""
    return json.dumps(value)


def parse(text, what="it"):
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise Problem(f"{what} is not valid TOML ({err})".removeprefix("it ")) from None


def dig(data, *keys):
    """data[k1][k2]... or {} when a level is missing (or not a table)."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
        if data is None:
            return {}
    return data if isinstance(data, dict) else {}


def put(data, keys, value):
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value


# --- the marked blocks ---------------------------------------------------------------------


def strip(text):
    """The text without runw's blocks (original lines put back), and whether the file was
    created by `add`."""
    out, created, block = [], False, None
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\n")
        if block is None:
            if bare.startswith("# BEGIN runw (hack/install.sh"):
                if bare not in (BEGIN, BEGIN_CREATED, BEGIN_NO_NEWLINE):
                    raise Problem(f"unknown runw marker line {bare!r}")
                created |= bare == BEGIN_CREATED
                if bare == BEGIN_NO_NEWLINE and out and out[-1].endswith("\n"):
                    out[-1] = out[-1][:-1]
                block = []
            else:
                out.append(line)
        elif bare == END:
            out.extend(block)
            block = None
        elif bare.startswith(ORIGINAL):
            block.append(bare[len(ORIGINAL):] + "\n")
        elif bare.startswith(ORIGINAL_NO_NEWLINE):
            block.append(bare[len(ORIGINAL_NO_NEWLINE):])
    if block is not None:
        raise Problem(f"has a '{BEGIN}' line without its '{END}' line")
    return "".join(out), created


def block(lines, begin=BEGIN):
    return [begin + "\n"] + [line + "\n" for line in lines] + [END + "\n"]


def originals(lines):
    """Comment lines keeping `lines` (a user's lines runw's block replaces)."""
    kept = []
    for line in lines:
        if line.endswith("\n"):
            kept.append(ORIGINAL + line[:-1])
        else:
            kept.append(ORIGINAL_NO_NEWLINE + line)
    return kept


class Edit:
    """Changes to a file's lines: blocks inserted after a line, a span of lines replaced
    by a block, lines appended at the end."""

    def __init__(self, path, lines):
        self.path = path
        self.lines = lines
        self.at = []  # (start, end, new lines): lines[start:end] replaced
        self.tail = []

    def insert_after(self, index, new):
        self.at.append((index + 1, index + 1, block(new)))

    def replace(self, start, end, new):
        self.at.append((start, end, block(originals(self.lines[start:end]) + new)))

    def append(self, new):
        self.tail.extend(new)

    def text(self, created):
        lines = list(self.lines)
        for start, end, new in sorted(self.at, reverse=True):
            lines[start:end] = new
        text = "".join(lines)
        if self.tail:
            begin = BEGIN_CREATED if created else BEGIN
            if text and not text.endswith("\n"):
                text, begin = text + "\n", BEGIN_NO_NEWLINE
            text += "".join(block(self.tail, begin))
        return text


def headers(lines):
    """{table key path (tuple): line index} of the [table] header lines."""
    found = {}
    for index, line in enumerate(lines):
        if not re.match(r"\s*\[[^\[]", line):
            continue
        try:
            table = tomllib.loads(line.strip() + "\n")
        except tomllib.TOMLDecodeError:
            continue
        path = []
        while isinstance(table, dict) and len(table) == 1:
            key, table = next(iter(table.items()))
            path.append(key)
        found.setdefault(tuple(path), index)
    return found


def key_span(lines, header, key):
    """(start, end) of the lines holding `key = value` in the table whose header is at line
    `header`, or None."""
    pattern = re.compile(r"\s*(%s|\"%s\"|'%s')\s*=" % ((re.escape(key),) * 3))
    for start in range(header + 1, len(lines)):
        if re.match(r"\s*\[", lines[start]):
            return None
        if pattern.match(lines[start]):
            for end in range(start + 1, len(lines) + 1):
                try:
                    tomllib.loads("".join(lines[start:end]))
                    return start, end
                except tomllib.TOMLDecodeError:
                    pass
            return None
    return None


# --- the callers ---------------------------------------------------------------------------


def containerd_version_for_new_file(exists):
    """3 for containerd 2.x, 2 for 1.x: the layout of a config.toml without settings."""
    try:
        out = subprocess.run(
            ["containerd", "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        if exists:
            return 2
        raise Problem(
            "does not exist and containerd is not installed (its version decides the "
            "config layout): write containerd's defaults first (containerd config default)"
        ) from None
    match = re.search(r"\bv?(\d+)\.\d+", out)
    return 3 if match and int(match.group(1)) >= 2 else 2


def containerd(edit, data, binary, exists):
    body = []
    if not data:
        version = containerd_version_for_new_file(exists)
        body += [f"version = {version}", ""]
        data = {"version": version}
    version = data.get("version")
    if "version" not in data:
        raise Problem(
            "has no version line (containerd 1.x's old version 1 layout): hack/install.sh "
            "writes version 2 and 3 configs only"
        )
    if version not in CONTAINERD_PLUGIN:
        raise Problem(
            f"has config version {version!r}, which hack/install.sh does not know "
            "(2: containerd 1.x, 3: containerd 2.x)"
        )
    plugin = CONTAINERD_PLUGIN[version]
    runtimes = dig(data, "plugins", plugin, "containerd", "runtimes")
    if "runw" in runtimes:
        raise Problem(
            f'already has a runtimes.runw entry (plugins."{plugin}") that hack/install.sh '
            "did not write"
        )
    options = {"BinaryName": binary, "Root": "/run/containerd/runw"}
    systemd = dig(runtimes, "runc", "options").get("SystemdCgroup")
    if isinstance(systemd, bool):
        options["SystemdCgroup"] = systemd  # as runc's entry: the kubelet's cgroup driver
    table = f'plugins."{plugin}".containerd.runtimes.runw'
    body += [
        "# runw, the CRI runtime handler \"runw\" (docs/containerd.md)",
        f"[{table}]",
        '  runtime_type = "io.containerd.runc.v2"',
        f"  pod_annotations = {toml_value(ANNOTATIONS)}",
        f"  container_annotations = {toml_value(ANNOTATIONS)}",
        f"  [{table}.options]",
    ]
    body += [f"    {key} = {toml_value(value)}" for key, value in options.items()]
    edit.append(body)
    expected = copy.deepcopy(data)
    entry = {
        "runtime_type": "io.containerd.runc.v2",
        "pod_annotations": ANNOTATIONS,
        "container_annotations": ANNOTATIONS,
        "options": options,
    }
    put(expected, ["plugins", plugin, "containerd", "runtimes", "runw"], entry)
    return expected


def podman(edit, data, binary, exists):
    engine = dig(data, "engine")
    if "runw" in dig(engine, "runtimes"):
        raise Problem(
            "already has an [engine.runtimes] runw entry that hack/install.sh did not write"
        )
    found = headers(edit.lines)
    expected = copy.deepcopy(data)
    tail = []
    supports = engine.get("runtime_supports_json")
    if supports is None:
        value = PODMAN_SUPPORTS_JSON + ["runw"]
        line = f"runtime_supports_json = {toml_value(value)}"
        if ("engine",) in found:
            edit.insert_after(found[("engine",)], [line])
        else:
            tail += ["[engine]", line, ""]
        put(expected, ["engine", "runtime_supports_json"], value)
    elif "runw" not in supports:
        span = None
        if ("engine",) in found:
            span = key_span(edit.lines, found[("engine",)], "runtime_supports_json")
        if span is None or not isinstance(supports, list):
            raise Problem("has a runtime_supports_json that hack/install.sh cannot add runw to")
        value = supports + ["runw"]
        edit.replace(*span, [f"runtime_supports_json = {toml_value(value)}"])
        put(expected, ["engine", "runtime_supports_json"], value)
    line = f"runw = {toml_value([binary])}"
    if ("engine", "runtimes") in found:
        edit.insert_after(found[("engine", "runtimes")], [line])
    elif "runtimes" in engine:
        raise Problem("has [engine] runtimes that is not an [engine.runtimes] table")
    else:
        tail += ["[engine.runtimes]", line]
    if tail:
        edit.append(["# runw (docs/podman.md)"] + tail)
    put(expected, ["engine", "runtimes", "runw"], [binary])
    return expected


def crio(edit, data, binary, exists):
    if data or "".join(edit.lines).strip():
        raise Problem("exists and was not written by hack/install.sh")
    directory = os.path.dirname(os.path.abspath(edit.path))
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        other = os.path.join(directory, name)
        if name.endswith(".conf") and other != os.path.abspath(edit.path):
            try:
                with open(other, "rb") as f:
                    runtimes = dig(tomllib.load(f), "crio", "runtime", "runtimes")
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if "runw" in runtimes:
                raise Problem(f"{other} already has a [crio.runtime.runtimes.runw] entry")
    entry = {
        "runtime_path": binary,
        "runtime_type": "oci",
        "runtime_root": "/run/runw",
        "allowed_annotations": ["run.oci.handler", "module.wasm.image/variant"],
    }
    body = ["# runw, the CRI runtime handler \"runw\" (docs/kubernetes.md)"]
    body += ["[crio.runtime.runtimes.runw]"]
    body += [f"{key} = {toml_value(value)}" for key, value in entry.items()]
    edit.append(body)
    return {"crio": {"runtime": {"runtimes": {"runw": entry}}}}


CALLERS = {"containerd": containerd, "podman": podman, "crio": crio}


# --- files ---------------------------------------------------------------------------------


def read(path):
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read(), True
    except FileNotFoundError:
        return "", False
    except (OSError, UnicodeDecodeError) as err:
        raise Problem(f"cannot be read ({err.strerror or err})") from None


def added(kind, text, binary, exists, path):
    base, created = strip(text)
    data = parse(base)
    edit = Edit(path, base.splitlines(keepends=True))
    expected = CALLERS[kind](edit, data, binary, exists)
    new = edit.text(created or not exists)
    if parse(new, "the edited file") != expected:
        raise Problem("cannot add runw's entry without changing other settings: edit it by hand")
    return new


def removed(text):
    base, created = strip(text)
    return (None if created and not base.strip() else base)


def write(path, text, exists):
    """Replaces `path` (a symlink's target) by `text`, keeping its mode and owner; an
    existing file is first copied to FILE.runw-backup."""
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    if exists:
        shutil.copy2(target, path + ".runw-backup")
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".runw-install.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        if exists:
            shutil.copymode(target, tmp)
            st = os.stat(target)
            os.chown(tmp, st.st_uid, st.st_gid)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv):
    if len(argv) not in (4, 5) or argv[0] not in CALLERS or argv[1] not in ("add", "remove"):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    kind, action, path, binary = argv[:4]
    mode = argv[4] if len(argv) == 5 else ""
    try:
        text, exists = read(path)
        if action == "add":
            new = added(kind, text, binary, exists, path)
        else:
            new = removed(text)
            if new is not None:
                parse(new, "without runw's entry it")
    except Problem as problem:
        sys.stderr.write(f"install.sh: error: {path}: {problem}\n")
        return 1
    if mode == "--check":
        return 0
    if new == text and (exists or action == "remove"):
        print(f"{kind}: {path}: unchanged")
        return 0
    verb = {"add": "add runw to", "remove": "remove runw from"}[action]
    what = f"{verb} {path}" if new is not None else f"remove {path} (it only holds runw's entry)"
    if mode == "--dry-run":
        print(f"{kind}: would {what}")
        return 0
    try:
        if new is None:
            os.unlink(path)
        else:
            write(path, new, exists)
    except OSError as err:
        sys.stderr.write(f"install.sh: error: {path}: cannot write it ({err.strerror})\n")
        return 1
    done = {"add": "added runw to", "remove": "removed runw from"}[action]
    if new is None:
        print(f"{kind}: removed {path} (it only held runw's entry); {RESTART[kind]}")
    else:
        backup = f" (backup: {path}.runw-backup)" if exists else ""
        print(f"{kind}: {done} {path}{backup}; {RESTART[kind]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
