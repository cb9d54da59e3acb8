#!/usr/bin/env python3
"""Stress and fault suite for runc-compatible runtimes (issue #13, item 1).

Runs the same scenarios against every `--runtime` given and prints one side-by-side Markdown
report. Each scenario counts failures and then checks that nothing is left: state entries
under its `--root`, cgroup directories in every mounted hierarchy (v1 and v2), mounts,
processes, the driver's own open descriptors (and containerd's in the ctr scenario); host
memory (/proc/meminfo) is reported, never judged. What is found is counted, then removed, so
one scenario cannot spoil the next. See docs/reliability.md ("Stress and faults").

Standard library only. Run as root: hack/stress.sh (a thin wrapper) or directly.
"""

import argparse
import concurrent.futures
import csv
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUSYBOX = "/bin/busybox"
CGROUP_TOP = "runw-stress"  # cgroupsPath: /runw-stress/<mark>/<scenario>-<runtime>/<id>
TIMEOUT = 60  # seconds for one runtime command; a hang is a failure, never a stuck suite
MARK_VAR = "RUNW_STRESS_MARK"  # in the environment of the driver, runtimes and containers

SCALES = {
    # ci: the whole suite against runw alone in about 4 minutes on a 2-core VM.
    "ci": dict(seq=100, conc=20, conc_rounds=2, kill_trials=10, pidreuse=1, ctr=40, ctr_par=20),
    # full: the numbers.
    "full": dict(seq=1000, conc=100, conc_rounds=3, kill_trials=50, pidreuse=5, ctr=500,
                 ctr_par=20),
}
SCENARIOS = ["sequential", "concurrent", "sigkill", "faults", "pidreuse", "ctr"]


# ------------------------------------------------------------------ small helpers ---------

def log(msg):
    print(f"[stress {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Result:
    """The outcome of one command: exit code (128+signal if killed, -1 on timeout)."""

    def __init__(self, code, out, err, secs):
        self.code, self.out, self.err, self.secs = code, out, err, secs

    def error_line(self):
        """The last non-empty line of stderr (runc's and runw's error line), or of stdout."""
        for text in (self.err, self.out):
            lines = [l.strip() for l in text.splitlines() if l.strip()]
            if lines:
                return lines[-1][:300]
        return ""

    def describe(self):
        """`exit N: <error line>`; a `state` that worked shows the status instead."""
        if self.code == -1:
            return "timeout"
        if self.code == 0:
            try:
                return "exit 0, status " + json.loads(self.out)["status"]
            except (ValueError, KeyError, TypeError):
                return "exit 0"
        line = self.error_line()
        return f"exit {self.code}" + (f": `{line}`" if line else "")


def run(cmd, timeout=TIMEOUT, stdout=None):
    """Runs cmd with stdin from /dev/null. Output goes to unlinked temporary files, not pipes:
    a container started by `create` inherits the runtime's stdio and would hold a pipe open.
    `stdout`, if given, is a file object that receives stdout instead (and is not read)."""
    err = tempfile.TemporaryFile()
    out = stdout or tempfile.TemporaryFile()
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    except OSError as e:
        return Result(127, "", str(e), 0.0)
    try:
        code = p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        code = -1
    secs = time.monotonic() - t0
    if code < 0 and code != -1:
        code = 128 - code
    err.seek(0)
    errtext = err.read().decode(errors="replace")
    err.close()
    outtext = ""
    if stdout is None:
        out.seek(0)
        outtext = out.read().decode(errors="replace")
        out.close()
    return Result(code, outtext, errtext, secs)


def median_ms(xs):
    return statistics.median(xs) * 1000 if xs else float("nan")


def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return b"" if "b" in mode else ""


# ------------------------------------------------------------------ host observation ------

def cgroup_mounts():
    """Mount points of every cgroup (v1) and cgroup2 hierarchy, from /proc/self/mountinfo."""
    roots = []
    for line in read("/proc/self/mountinfo").splitlines():
        f = line.split(" ")
        sep = f.index("-")
        if f[sep + 1] in ("cgroup", "cgroup2") and f[4] not in roots:
            roots.append(f[4])
    return roots


def mount_points():
    return {line.split(" ")[4] for line in read("/proc/self/mountinfo").splitlines()}


def meminfo():
    vals = {}
    for line in read("/proc/meminfo").splitlines():
        k, v = line.split(":", 1)
        vals[k] = int(v.split()[0])
    return vals


def fd_count(pid="self"):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def cgroup_dirs_below(rel):
    """Every directory strictly below cgroup path `rel`, in every hierarchy, deepest first."""
    found = []
    for root in cgroup_mounts():
        top = os.path.join(root, rel.strip("/"))
        for dirpath, dirnames, _ in os.walk(top, topdown=False):
            if dirpath != top:
                found.append(dirpath)
    return found


def pids_in_cgroup_dir(d):
    return [int(p) for p in read(os.path.join(d, "cgroup.procs")).split()]


def process_info(pid):
    """`pid comm (state S, ppid P, wchan W, cgroup C): command line`, for the report."""
    comm = read(f"/proc/{pid}/comm").strip()
    cmd = read(f"/proc/{pid}/cmdline", "rb").replace(b"\0", b" ").decode(errors="replace")
    status = dict(l.split(":\t", 1) for l in read(f"/proc/{pid}/status").splitlines()
                  if ":\t" in l)
    cg = next((l.split(":", 2)[2] for l in read(f"/proc/{pid}/cgroup").splitlines()
               if ":pids:" in l or l.startswith("0::")), "?")
    return (f"{pid} {comm} (state {status.get('State', '?')[:1]}, ppid {status.get('PPid')}, "
            f"wchan {read(f'/proc/{pid}/wchan')}, cgroup {cg}): {cmd.strip()[:100]}")


def marked_processes(mark, needles=(), exclude=()):
    """Processes that belong to a scenario: in a cgroup below /runw-stress/ (any hierarchy),
    or whose environment holds the scenario's mark (runtimes, their clones, containers,
    shims), or whose command line holds one of `needles`. Returns {pid: description}."""
    me = os.getpid()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me or pid in exclude:
            continue
        cg = read(f"/proc/{pid}/cgroup")
        env = read(f"/proc/{pid}/environ", "rb")
        cmd = read(f"/proc/{pid}/cmdline", "rb")
        ours = f":/{CGROUP_TOP}/{mark}/" in cg or mark.encode() in env
        ours = ours or any(n.encode() in cmd for n in needles)
        if ours and read(f"/proc/{pid}/stat").split(") ")[-1][:1] not in ("Z", "X", ""):
            found[pid] = process_info(pid)
    return found


class Snapshot:
    """What the host looked like before a scenario."""

    def __init__(self):
        self.mounts = mount_points()
        self.fds = fd_count()
        self.mem = meminfo()
        self.load = os.getloadavg()[0]


class Leaks:
    """Leftovers by kind (state, cgroup, mount, process, fd, ...), each with its details."""

    def __init__(self):
        self.kinds = {}

    def add(self, kind, items):
        items = list(items)
        if items:
            self.kinds.setdefault(kind, []).extend(items)

    def merge(self, other):
        for k, v in other.kinds.items():
            self.add(k, v)

    def total(self):
        return sum(len(v) for v in self.kinds.values())

    def summary(self):
        if not self.kinds:
            return "0"
        return f"{self.total()} (" + ", ".join(f"{k} {len(v)}" for k, v in
                                             sorted(self.kinds.items())) + ")"


def kill_dir_tree(top):
    """SIGKILLs (after thawing a v1 freezer) every process in cgroup directory `top` and
    below."""
    for dirpath, _, _ in os.walk(top):
        freezer = os.path.join(dirpath, "freezer.state")
        if os.path.exists(freezer):
            try:
                with open(freezer, "w") as f:
                    f.write("THAWED")
            except OSError:
                pass
        for pid in pids_in_cgroup_dir(dirpath):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def kill_cgroup_tree(rel):
    """kill_dir_tree of cgroup path `rel` in every hierarchy."""
    for root in cgroup_mounts():
        kill_dir_tree(os.path.join(root, rel.strip("/")))


def remove_cgroup_tree(rel):
    """Removes cgroup `rel` (and below) in every hierarchy; retries while processes exit."""
    for _ in range(100):
        left = []
        for root in cgroup_mounts():
            top = os.path.join(root, rel.strip("/"))
            for dirpath, _, _ in os.walk(top, topdown=False):
                try:
                    os.rmdir(dirpath)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(dirpath)
        if not left:
            return []
        kill_cgroup_tree(rel)
        time.sleep(0.05)
    return left


def wait_gone(pids, secs=3.0):
    """Waits for processes to exit (a killed container's processes take a moment)."""
    deadline = time.monotonic() + secs
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if os.path.exists(f"/proc/{p}") and
                read(f"/proc/{p}/stat").split(") ")[-1][:1] not in ("Z", "X", "")]
        if pids:
            time.sleep(0.02)
    return pids


# ------------------------------------------------------------------ Wasm and bundles ------

def _leb(n, signed=False):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        done = (n == 0 and not b & 0x40) or (n == -1 and b & 0x40) if signed else n == 0
        out.append(b if done else b | 0x80)
        if done:
            return bytes(out)


def _vec(items):
    return _leb(len(items)) + b"".join(items)


def _name(s):
    return _leb(len(s)) + s.encode()


def wasm_module(msg, sleep):
    """A WASI preview 1 module that writes `msg` to stdout, then exits 0 (proc_exit) or, if
    `sleep`, sleeps forever in 100 ms poll_oneoff steps. Assembled here (no wat2wasm needed);
    the same program as integration/src/wasm.rs."""
    i32c = lambda v: b"\x41" + _leb(v, True)  # noqa: E731
    i64c = lambda v: b"\x42" + _leb(v, True)  # noqa: E731
    store32, store64, call, drop = b"\x36\x02\x00", b"\x37\x03\x00", b"\x10", b"\x1a"
    i32 = b"\x7f"
    types = _vec([b"\x60" + _vec([i32] * 4) + _vec([i32]),  # fd_write, poll_oneoff
                  b"\x60" + _vec([i32]) + _vec([]),  # proc_exit
                  b"\x60" + _vec([]) + _vec([])])  # _start
    wasi = "wasi_snapshot_preview1"
    imports = _vec([_name(wasi) + _name("fd_write") + b"\x00\x00",
                    _name(wasi) + _name("proc_exit") + b"\x00\x01",
                    _name(wasi) + _name("poll_oneoff") + b"\x00\x00"])
    body = (i32c(0) + i32c(256) + store32 + i32c(4) + i32c(len(msg)) + store32 +
            i32c(1) + i32c(0) + i32c(1) + i32c(8) + call + b"\x00" + drop)
    if sleep:
        # subscription at 64: clock id @80 = 1 (monotonic), timeout @88 = 100 ms.
        body += (b"\x03\x40" + i32c(80) + i32c(1) + store32 + i32c(88) + i64c(100_000_000) +
                 store64 + i32c(64) + i32c(128) + i32c(1) + i32c(160) + call + b"\x02" +
                 drop + b"\x0c\x00\x0b")
    else:
        body += i32c(0) + call + b"\x01"
    code = _vec([]) + body + b"\x0b"  # no locals
    code = _leb(len(code)) + code
    data = _vec([b"\x00" + i32c(256) + b"\x0b" + _vec([bytes([c]) for c in msg.encode()])])

    def section(sid, payload):
        return bytes([sid]) + _leb(len(payload)) + payload

    return (b"\0asm\x01\0\0\0" + section(1, types) + section(2, imports) +
            section(3, _vec([b"\x02"])) + section(5, _vec([b"\x00\x01"])) +
            section(7, _vec([_name("memory") + b"\x02\x00", _name("_start") + b"\x00\x03"])) +
            section(10, _vec([code])) + section(11, data))


def make_busybox_rootfs(d):
    """busybox-static with a symlink per applet (as hack/make-bundle.sh makes it)."""
    for sub in ("bin", "proc", "sys", "dev", "tmp", "etc", "root"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    os.chmod(os.path.join(d, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(d, "bin/busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True).stdout
    for a in applets.split():
        if a != "busybox":
            os.symlink("busybox", os.path.join(d, "bin", a))
    with open(os.path.join(d, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(d, "etc/group"), "w") as f:
        f.write("root:x:0:\n")


def make_wasm_rootfs(d):
    """A root holding only the two modules (and the directories the spec mounts over)."""
    for sub in ("proc", "sys", "dev", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for name, sleep in (("hello.wasm", False), ("sleep.wasm", True)):
        with open(os.path.join(d, name), "wb") as f:
            f.write(wasm_module("ok\n", sleep))


class Bundles:
    """Shared read-only root filesystems and a config.json template; each container gets its
    own small bundle directory (its own cgroupsPath), pointing at a shared root by absolute
    path."""

    LINUX_ECHO = ["sh", "-c", "echo ok"]
    LINUX_SLEEP = ["sleep", "1000"]
    WASM_ECHO = ["/hello.wasm"]
    WASM_SLEEP = ["/sleep.wasm"]

    def __init__(self, work, spec_runtime, mark):
        self.dir = os.path.join(work, "bundles")
        self.linux_root = os.path.join(work, "rootfs-linux")
        self.wasm_root = os.path.join(work, "rootfs-wasm")
        make_busybox_rootfs(self.linux_root)
        make_wasm_rootfs(self.wasm_root)
        tmp = os.path.join(work, "spec")
        os.makedirs(tmp)
        r = run([spec_runtime, "spec", "--bundle", tmp])
        if r.code != 0:
            sys.exit(f"stress: {spec_runtime} spec failed: {r.describe()}")
        with open(os.path.join(tmp, "config.json")) as f:
            self.template = json.load(f)
        self.template["process"]["terminal"] = False
        self.template["process"]["env"].append(f"{MARK_VAR}={mark}")
        self.template["root"]["readonly"] = True

    def make(self, cid, parent, args, rootfs=None, cgroup=None):
        """Writes <bundles>/<cid>/config.json (cgroupsPath: `cgroup`, else <parent>/<cid>);
        returns the bundle directory."""
        conf = json.loads(json.dumps(self.template))
        conf["process"]["args"] = args
        wasm = args[0].endswith(".wasm")
        conf["root"]["path"] = rootfs or (self.wasm_root if wasm else self.linux_root)
        conf["linux"]["cgroupsPath"] = cgroup or f"{parent}/{cid}"
        b = os.path.join(self.dir, cid)
        os.makedirs(b, exist_ok=True)
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(conf, f)
        return b

    def remove(self, cid):
        shutil.rmtree(os.path.join(self.dir, cid), ignore_errors=True)


# ------------------------------------------------------------------ runtimes --------------

class Runtime:
    def __init__(self, path, label):
        self.path = os.path.abspath(path)
        self.label = label
        v = run([self.path, "--version"])
        self.version = v.out.splitlines()[0] if v.out else "?"
        self.wasm = "wasmtime" in v.out.lower() or "wasmedge" in v.out.lower()

    def cmd(self, root, *args):
        return [self.path, "--root", root, *args]


class Scope:
    """One scenario's run on one runtime: its own --root, cgroup group and id prefix; it
    counts trials and failures, and checks for leftovers at the end."""

    def __init__(self, suite, scenario, rt):
        self.suite, self.scenario, self.rt = suite, scenario, rt
        self.group = f"{scenario}-{rt.label}"
        self.cgroup = f"/{CGROUP_TOP}/{suite.mark}/{self.group}"  # the scope's cgroup parent
        self.root = os.path.join(suite.work, "root", self.group)
        os.makedirs(self.root, exist_ok=True)
        self.prefix = f"{suite.mark}-{scenario[:4]}-{rt.label}"
        self.n = 0
        self.trials = 0
        self.failures = []  # (what, detail)
        self.leaks = Leaks()
        self.extra = {}  # scenario-specific figures for the report
        self.snapshot = Snapshot()

    def new_id(self, tag=""):
        self.n += 1
        return f"{self.prefix}-{tag}{self.n}"

    def rt_run(self, *args, timeout=TIMEOUT, stdout=None):
        return run(self.rt.cmd(self.root, *args), timeout=timeout, stdout=stdout)

    def fail(self, what, detail):
        self.failures.append((what, detail))
        if len(self.failures) <= 5:
            log(f"  FAIL {self.group}: {what}: {detail}")

    def status(self, cid):
        r = self.rt_run("state", cid)
        if r.code != 0:
            return None
        try:
            return json.loads(r.out).get("status")
        except ValueError:
            return None

    def wait_status(self, cid, want, secs=30):
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            st = self.status(cid)
            if st == want:
                return True
            time.sleep(0.005)
        return False

    def check_leftovers(self, ids=None, exclude=(), needles=()):
        """Counts what is left (state entries, cgroups, processes, mounts) and removes it.
        `ids`: only the entries of these containers (a per-trial check); None: everything of
        this scope."""
        found = Leaks()
        procs = marked_processes(self.suite.mark, needles, exclude)
        if ids is not None:
            procs = {p: d for p, d in procs.items() if any(i in d for i in ids) or
                     f"{self.cgroup}/" in read(f"/proc/{p}/cgroup")}
        # A runtime's orphaned clone can sit in the kernel (D state: a cgroup write waiting
        # for an RCU grace period) for seconds after a SIGKILL; only what stays is a leak.
        lingering = set(wait_gone(list(procs), 10.0))
        procs = {p: d for p, d in procs.items() if p in lingering}
        found.add("process", procs.values())
        for p in procs:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        wait_gone(list(procs))
        entries = sorted(os.listdir(self.root)) if os.path.isdir(self.root) else []
        if ids is not None:
            entries = [e for e in entries if any(e == i or e.endswith(":" + i) or
                                                 (":" + i + ":") in e for i in ids)]
        found.add("state", (os.path.join(self.root, e) for e in entries))
        for e in entries:
            path = os.path.join(self.root, e)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        rel = self.cgroup
        dirs = cgroup_dirs_below(rel)
        # runtimes' default cgroup names (no cgroupsPath, or libcontainer's :youki:<id>)
        for root in cgroup_mounts():
            for name in os.listdir(root):
                if self.prefix in name and os.path.isdir(os.path.join(root, name)):
                    dirs.append(os.path.join(root, name))
        if ids is not None:
            dirs = [d for d in dirs if any(i in d for i in ids)]
        # One leak per cgroup, whatever the number of hierarchies it is left in.
        by_rel = {}
        for d in dirs:
            root = next(r for r in cgroup_mounts() if d.startswith(r + "/"))
            by_rel.setdefault(d[len(root):], []).append(os.path.basename(root))
        found.add("cgroup", (f"{rel} (in {', '.join(h)})" for rel, h in sorted(by_rel.items())))
        for d in dirs:
            kill_dir_tree(d)
        for d in sorted(dirs, key=len, reverse=True):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    for pid in pids_in_cgroup_dir(d):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass
                    time.sleep(0.05)
        new_mounts = sorted(m for m in mount_points() - self.snapshot.mounts
                            if self.suite.work in m or self.suite.mark in m)
        found.add("mount", new_mounts)
        for m in reversed(new_mounts):
            subprocess.run(["umount", "-l", m], capture_output=True)
        return found

    def finish(self, exclude=(), needles=()):
        """End of the scenario: leftovers, driver descriptors, memory."""
        self.leaks.merge(self.check_leftovers(exclude=exclude, needles=needles))
        remove_cgroup_tree(self.cgroup)
        fds = fd_count()
        if fds > self.snapshot.fds:
            self.leaks.add("driver fd", [f"{fds - self.snapshot.fds} more open descriptors"
                                         f" ({self.snapshot.fds} -> {fds})"])
        after = meminfo()
        self.mem = {k: after[k] - self.snapshot.mem[k]
                    for k in ("MemAvailable", "Slab", "Shmem")}
        self.load = (self.snapshot.load, os.getloadavg()[0])


# ------------------------------------------------------------------ scenarios -------------

def lifecycle_cswd(sc, kind, args):
    """create, start, wait (poll `state` until stopped), delete: returns seconds or None."""
    cid = sc.new_id(kind[0])
    b = sc.suite.bundles.make(cid, sc.cgroup, args)
    out = tempfile.TemporaryFile()
    t0 = time.monotonic()
    ok = True
    for step in (("create", "--bundle", b, cid), ("start", cid)):
        r = sc.rt_run(*step, stdout=out)
        if r.code != 0:
            sc.fail(f"{kind} {step[0]}", r.describe())
            ok = False
            break
    if ok and not sc.wait_status(cid, "stopped"):
        sc.fail(f"{kind} wait", "not stopped after 30 s")
        ok = False
    r = sc.rt_run("delete", *([] if ok else ["--force"]), cid)
    secs = time.monotonic() - t0
    if r.code != 0:
        sc.fail(f"{kind} delete", r.describe())
        ok = False
    out.seek(0)
    text = out.read().decode(errors="replace")
    out.close()
    if ok and text.strip() != "ok":
        sc.fail(f"{kind} output", repr(text[:100]))
        ok = False
    sc.suite.bundles.remove(cid)
    return secs if ok else None


def lifecycle_run(sc, kind, args):
    """`run` in the foreground (create, start, wait, delete in one command)."""
    cid = sc.new_id(kind[0])
    b = sc.suite.bundles.make(cid, sc.cgroup, args)
    r = sc.rt_run("run", "--bundle", b, cid)
    sc.suite.bundles.remove(cid)
    if r.code != 0 or r.out.strip() != "ok":
        sc.fail(f"{kind} run", r.describe() + f" stdout {r.out[:80]!r}")
        sc.rt_run("delete", "--force", cid)
        return None
    return r.secs


def scenario_sequential(sc, n):
    series = [("Linux create/start/wait/delete", lifecycle_cswd, Bundles.LINUX_ECHO),
              ("Linux run", lifecycle_run, Bundles.LINUX_ECHO)]
    if sc.rt.wasm:
        series += [("Wasm create/start/wait/delete", lifecycle_cswd, Bundles.WASM_ECHO),
                   ("Wasm run", lifecycle_run, Bundles.WASM_ECHO)]
    times = {name: [] for name, _, _ in series}
    # Interleaved, so that the curves share one time axis.
    for i in range(n):
        for name, fn, args in series:
            sc.trials += 1
            times[name].append(fn(sc, name.split()[0], args))
        if (i + 1) % max(1, n // 10) == 0:
            log(f"  {sc.group}: {i + 1}/{n}")
    sc.extra["curves"] = times


def parallel(fn, items, workers):
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(fn, items))


def scenario_concurrent(sc, n, rounds):
    """Rounds of n containers at once (half Linux, half Wasm where the runtime runs Wasm):
    create, start, exec, kill, delete, each step for all containers in parallel."""
    round_secs = []
    for rnd in range(rounds):
        conts = []
        for i in range(n):
            wasm = sc.rt.wasm and i % 2 == 1
            cid = sc.new_id("w" if wasm else "l")
            args = Bundles.WASM_SLEEP if wasm else Bundles.LINUX_SLEEP
            conts.append(dict(id=cid, wasm=wasm, ok=True,
                              bundle=sc.suite.bundles.make(cid, sc.cgroup, args)))
        sc.trials += n
        t0 = time.monotonic()

        def step(name, argv_of, check=None):
            def one(c):
                if not c["ok"]:
                    return
                r = sc.rt_run(*argv_of(c))
                if r.code != 0 or (check and not check(c, r)):
                    c["ok"] = False
                    sc.fail(f"{'Wasm' if c['wasm'] else 'Linux'} {name}",
                            r.describe() + (f" stdout {r.out[:60]!r}" if r.code == 0 else ""))
            parallel(one, conts, n)

        step("create", lambda c: ("create", "--bundle", c["bundle"], c["id"]))
        step("start", lambda c: ("start", c["id"]))
        step("exec", lambda c: ("exec", c["id"], *(Bundles.WASM_ECHO if c["wasm"]
                                                    else Bundles.LINUX_ECHO)),
             check=lambda c, r: r.out.strip() == "ok")
        step("kill", lambda c: ("kill", c["id"], "KILL"))

        def wait_stopped(c):
            if c["ok"] and not sc.wait_status(c["id"], "stopped"):
                c["ok"] = False
                sc.fail("wait stopped", f"{c['id']} not stopped 30 s after kill")
        parallel(wait_stopped, conts, n)
        step("delete", lambda c: ("delete", c["id"]))
        for c in conts:
            if not c["ok"]:
                sc.rt_run("delete", "--force", c["id"])
            sc.suite.bundles.remove(c["id"])
        round_secs.append(time.monotonic() - t0)
        log(f"  {sc.group}: round {rnd + 1}/{rounds} in {round_secs[-1]:.1f} s")
    sc.extra["round_secs"] = round_secs


def kill_trial_setup(sc, kind, op):
    """Brings a fresh container (kind Linux or Wasm) to the state `op` starts from; returns
    (id, argv) or None."""
    cid = sc.new_id(kind[0].lower() + op[:2])
    wasm = kind == "Wasm"
    echo = Bundles.WASM_ECHO if wasm else Bundles.LINUX_ECHO
    long_b = sc.suite.bundles.make(cid, sc.cgroup, Bundles.WASM_SLEEP if wasm
                                   else Bundles.LINUX_SLEEP)
    if op == "create":
        return cid, ("create", "--bundle", long_b, cid)
    if op == "run":
        b = sc.suite.bundles.make(cid, sc.cgroup, echo)
        return cid, ("run", "--bundle", b, cid)
    r = sc.rt_run("create", "--bundle", long_b, cid)
    if r.code != 0:
        sc.fail(f"{op} setup create", r.describe())
        return None
    if op == "start":
        return cid, ("start", cid)
    r = sc.rt_run("start", cid)
    if r.code != 0:
        sc.fail(f"{op} setup start", r.describe())
        return None
    if op == "exec":
        return cid, ("exec", cid, *echo)
    return cid, ("delete", "--force", cid)  # op == "delete": a running container


def scenario_sigkill(sc, trials, rng):
    """SIGKILL of the runtime at a random point of each command, then `delete -f`."""
    per_op = {}
    for kind, op in [(k, o) for k in (["Linux", "Wasm"] if sc.rt.wasm else ["Linux"])
                     for o in ("create", "start", "exec", "run", "delete")]:
        # The command's duration, measured un-killed, bounds the random delay.
        durs = []
        for _ in range(3):
            setup = kill_trial_setup(sc, kind, op)
            if setup:
                cid, argv = setup
                durs.append(sc.rt_run(*argv).secs)
                sc.rt_run("delete", "--force", cid)
                sc.suite.bundles.remove(cid)
        dur = statistics.median(durs) if durs else 0.05
        stats = dict(trials=0, killed=0, survived=0, leaks=Leaks(), dur=dur)
        for _ in range(trials):
            setup = kill_trial_setup(sc, kind, op)
            if not setup:
                continue
            cid, argv = setup
            sc.trials += 1
            stats["trials"] += 1
            delay = rng.uniform(0, dur)
            p = subprocess.Popen(sc.rt.cmd(sc.root, *argv), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                stats["killed"] += 1
            p.wait()
            r = sc.rt_run("delete", "--force", cid)
            left = sc.check_leftovers(ids=[cid])
            if r.code != 0 and left.kinds.get("state"):
                sc.fail(f"delete -f after SIGKILL of {kind} {op}", r.describe())
            if left.total() == 0:
                stats["survived"] += 1
            else:
                log(f"  {sc.group}: {kind} {op} killed after {delay * 1000:.0f} ms: left "
                    f"{left.summary()}")
            stats["leaks"].merge(left)
            sc.leaks.merge(left)
            sc.suite.bundles.remove(cid)
        per_op[f"{kind} {op}"] = stats
        log(f"  {sc.group}: {kind} {op}: {stats['survived']}/{stats['trials']} clean "
            f"({stats['killed']} killed, command ~{dur * 1000:.0f} ms)")
    sc.extra["per_op"] = per_op


# --- fault cases ---

def fault_record(sc, case, steps, clean_leaks, expect_error=()):
    """Stores a fault case's commands (exit code and error line) and what delete -f left."""
    sc.trials += 1
    for name, r in steps:
        if r.code == -1 or "panicked" in r.err:
            sc.fail(f"{case}: {name}", r.describe())
        elif name in expect_error and (r.code == 0 or not r.error_line()):
            sc.fail(f"{case}: {name}", "no error: " + r.describe())
    delete = [r for name, r in steps if name == "delete -f"]
    if delete and delete[-1].code != 0:
        sc.fail(f"{case}: delete -f", delete[-1].describe())
    if clean_leaks.total():
        log(f"  {sc.group}: {case}: left {clean_leaks.summary()}")
    sc.leaks.merge(clean_leaks)
    sc.extra.setdefault("cases", []).append(
        dict(case=case, steps=[(n, r.describe()) for n, r in steps],
             leaks=clean_leaks.summary()))


def running_container(sc, tag, rootfs=None, cgroup=None, cid=None):
    """A container running `sleep 1000` (run --detach); returns its id, None on failure."""
    cid = cid or sc.new_id(tag)
    b = sc.suite.bundles.make(cid, sc.cgroup, Bundles.LINUX_SLEEP, rootfs=rootfs, cgroup=cgroup)
    r = sc.rt_run("run", "--detach", "--bundle", b, cid)
    if r.code != 0:
        sc.fail(f"{tag} setup", r.describe())
        return None
    return cid


def init_pid(sc, cid):
    r = sc.rt_run("state", cid)
    try:
        return json.loads(r.out)["pid"]
    except (ValueError, KeyError):
        return 0


def fault_init_killed(sc):
    case = "init killed between create and start"
    cid = sc.new_id("ik")
    b = sc.suite.bundles.make(cid, sc.cgroup, Bundles.LINUX_SLEEP)
    steps = [("create", sc.rt_run("create", "--bundle", b, cid))]
    pid = init_pid(sc, cid)
    if pid > 0:
        os.kill(pid, signal.SIGKILL)
        wait_gone([pid])
    steps += [("start", sc.rt_run("start", cid)), ("state", sc.rt_run("state", cid)),
              ("delete -f", sc.rt_run("delete", "--force", cid))]
    fault_record(sc, case, steps, sc.check_leftovers(ids=[cid]), expect_error=("start",))


def fault_rootfs_removed(sc):
    case = "rootfs removed under a running container"
    rootfs = os.path.join(sc.suite.work, f"rootfs-{sc.group}")
    make_busybox_rootfs(rootfs)
    cid = running_container(sc, "rr", rootfs=rootfs)
    if not cid:
        return
    shutil.rmtree(rootfs)
    steps = [("state", sc.rt_run("state", cid)),
             ("exec", sc.rt_run("exec", cid, *Bundles.LINUX_ECHO)),
             ("kill", sc.rt_run("kill", cid, "KILL")),
             ("delete -f", sc.rt_run("delete", "--force", cid))]
    fault_record(sc, case, steps, sc.check_leftovers(ids=[cid]))


def fault_cgroup_parent_removed(sc):
    """The container's processes killed from outside and its cgroup and the cgroup's parent
    removed in every hierarchy (as an administrator's cleanup or a cgroup manager could)."""
    case = "cgroup and its parent removed"
    cid = sc.new_id("cg")
    parent = f"{sc.cgroup}/parent-{cid}"
    cid = running_container(sc, "cg", cgroup=f"{parent}/{cid}", cid=cid)
    if not cid:
        return
    kill_cgroup_tree(parent)
    left = remove_cgroup_tree(parent)
    steps = [("state", sc.rt_run("state", cid)), ("kill", sc.rt_run("kill", cid, "KILL")),
             ("delete -f", sc.rt_run("delete", "--force", cid))]
    fault_record(sc, case + ("" if not left else f" (could not remove {left})"), steps,
                 sc.check_leftovers(ids=[cid]))


def with_root_mount(sc, tag, options, fill):
    """Runs create and delete -f with --root on a small tmpfs mounted with `options`."""
    mnt = os.path.join(sc.suite.work, f"mnt-{sc.group}-{tag}")
    os.makedirs(mnt, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mnt],
                   check=True)
    try:
        if fill:
            fd = os.open(os.path.join(mnt, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:  # ENOSPC: full
                pass
            finally:
                os.close(fd)
        if options:
            subprocess.run(["mount", "-o", f"remount,{options}", mnt], check=True)
        cid = sc.new_id(tag)
        b = sc.suite.bundles.make(cid, sc.cgroup, Bundles.LINUX_SLEEP)
        root = os.path.join(mnt, "root") if not options else mnt
        cmd = lambda *a: run(sc.rt.cmd(root, *a))  # noqa: E731
        steps = [("create", cmd("create", "--bundle", b, cid)),
                 ("state", cmd("state", cid)),
                 ("delete -f", cmd("delete", "--force", cid))]
        # What the runtime left on that root (the filler excepted), then the usual checks.
        entries = [e for e in os.listdir(mnt) if e != "filler"]
        if os.path.isdir(os.path.join(mnt, "root")):
            entries = os.listdir(os.path.join(mnt, "root"))
        return cid, steps, entries
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        os.rmdir(mnt)


def fault_root_full(sc):
    cid, steps, entries = with_root_mount(sc, "nospc", None, fill=True)
    leaks = sc.check_leftovers(ids=[cid])
    leaks.add("state", entries)
    fault_record(sc, "--root on a full filesystem (ENOSPC)", steps, leaks,
                 expect_error=("create",))


def fault_root_readonly(sc):
    cid, steps, entries = with_root_mount(sc, "ro", "ro", fill=False)
    leaks = sc.check_leftovers(ids=[cid])
    leaks.add("state", entries)
    fault_record(sc, "--root on a read-only filesystem", steps, leaks,
                 expect_error=("create",))


def fault_state_corrupt(sc, how):
    cid = running_container(sc, "sj")
    if not cid:
        return
    path = os.path.join(sc.root, cid, "state.json")
    data = read(path, "rb")
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2] if how == "truncated" else os.urandom(len(data) or 64))
    steps = [("state", sc.rt_run("state", cid)), ("kill", sc.rt_run("kill", cid, "KILL")),
             ("delete -f", sc.rt_run("delete", "--force", cid))]
    fault_record(sc, f"state.json {how}", steps, sc.check_leftovers(ids=[cid]),
                 expect_error=("state",))


def scenario_faults(sc):
    for fn in (fault_init_killed, fault_rootfs_removed, fault_cgroup_parent_removed,
               fault_root_full, fault_root_readonly,
               lambda s: fault_state_corrupt(s, "truncated"),
               lambda s: fault_state_corrupt(s, "garbage")):
        fn(sc)


# --- PID reuse ---

def spawn_with_pid(pid, tries=5000):
    """Forks `sleep 1000` until it gets `pid` (ns_last_pid = pid-1 before each fork);
    returns the child's pid or None."""
    for _ in range(tries):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        child = os.fork()
        if child == 0:
            try:
                os.execv("/bin/sleep", ["sleep", "1000"])
            finally:
                os._exit(127)
        if child == pid:
            return child
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    return None


def victim_alive(pid):
    """Not signalled: the victim (our child) has neither exited nor stopped."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # already reaped here
        return False
    return done == 0


def scenario_pidreuse(sc, trials):
    """The init of a stopped container, its pid now another process's: `kill`, `ps` and
    `delete -f` must leave that process alone (runc compares the process start time)."""
    rows = []
    for _ in range(trials):
        sc.trials += 1
        cid = running_container(sc, "pr")
        if not cid:
            continue
        pid = init_pid(sc, cid)
        os.kill(pid, signal.SIGKILL)  # the init exits (reaped by the host's pid 1)
        wait_gone([pid], 5)
        sc.wait_status(cid, "stopped", 5)
        victim = spawn_with_pid(pid)
        if victim is None:
            sc.fail("pid reuse", f"could not get pid {pid} for another process")
            sc.rt_run("delete", "--force", cid)
            continue
        row = dict(pid=pid, steps=[], signalled=[])
        st = sc.rt_run("state", cid)
        try:
            status = json.loads(st.out).get("status")
        except ValueError:
            status = st.describe()
        row["steps"].append(("state", f"status {status}"))
        for name, argv in (("kill", ("kill", cid, "KILL")), ("ps", ("ps", cid)),
                           ("delete -f", ("delete", "--force", cid))):
            r = sc.rt_run(*argv)
            time.sleep(0.2)  # a SIGKILLed process takes a moment to become a zombie
            listed = name == "ps" and any(line.split()[1:2] == [str(pid)] or
                                          line.split()[:1] == [str(pid)]
                                          for line in r.out.splitlines()[1:])
            alive = victim_alive(victim)
            row["steps"].append((name, r.describe() + (" (lists the pid)" if listed else "")))
            if not alive or listed:
                row["signalled"].append(f"{name} {'signalled' if not alive else 'listed'} "
                                        f"the other process")
                sc.fail(f"pid reuse: {name}", "signalled the other process" if not alive
                        else f"lists pid {pid} (another process)")
            if not alive:
                # The victim is gone; continue with a new one for the next commands.
                victim = spawn_with_pid(pid) or victim
        if victim_alive(victim):
            os.kill(victim, signal.SIGKILL)
        try:
            os.waitpid(victim, 0)
        except ChildProcessError:
            pass
        rows.append(row)
        sc.leaks.merge(sc.check_leftovers(ids=[cid], exclude=(victim,)))
    sc.extra["pidreuse"] = rows


# --- ctr through the stock shim ---

def oci_archive(path, name, files, entrypoint, cmd):
    """Writes an OCI image layout tar (one gzip layer) that `ctr images import` accepts;
    `files`: {path in image: (bytes, mode) | ("->", symlink target) | None (directory)}."""
    layer_io = io.BytesIO()
    with tarfile.open(fileobj=layer_io, mode="w", format=tarfile.GNU_FORMAT) as t:
        for p, v in files.items():
            ti = tarfile.TarInfo(p)
            if v is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o1777 if p == "tmp" else 0o755
                t.addfile(ti)
            elif v[0] == "->":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, v[1], 0o777
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(v[0]), v[1]
                t.addfile(ti, io.BytesIO(v[0]))
    layer_tar = layer_io.getvalue()
    layer = gzip.compress(layer_tar, 1, mtime=0)
    sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()  # noqa: E731
    cfg = {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "WorkingDir": "/"}
    if entrypoint:
        cfg["Entrypoint"] = entrypoint
    if cmd:
        cfg["Cmd"] = cmd
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": cfg,
                         "rootfs": {"type": "layers", "diff_ids": [sha(layer_tar)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha(layer), "size": len(layer)}]}).encode()
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": sha(manifest), "size": len(manifest),
                       "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"io.containerd.image.name": name,
                                       "org.opencontainers.image.ref.name": name}}]}).encode()
    with tarfile.open(path, "w") as t:
        def add(p, data):
            ti = tarfile.TarInfo(p)
            ti.size, ti.mode = len(data), 0o644
            t.addfile(ti, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for blob in (layer, config, manifest):
            add("blobs/sha256/" + sha(blob)[7:], blob)


def make_images(d):
    bb = {"bin": None, "etc": None, "tmp": None, "proc": None, "sys": None, "dev": None,
          "bin/busybox": (read(BUSYBOX, "rb"), 0o755),
          "etc/passwd": (b"root:x:0:0:root:/root:/bin/sh\n", 0o644)}
    for a in subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True).stdout.split():
        if a != "busybox":
            bb[f"bin/{a}"] = ("->", "busybox")
    linux = ("localhost/runw-stress/busybox:latest", os.path.join(d, "busybox.tar"))
    wasm = ("localhost/runw-stress/wasm:latest", os.path.join(d, "wasm.tar"))
    oci_archive(linux[1], linux[0], bb, [], ["sh"])
    oci_archive(wasm[1], wasm[0], {"hello.wasm": (wasm_module("ok\n", False), 0o755)},
                ["/hello.wasm"], [])
    return linux, wasm


class Containerd:
    """A private containerd: config, root, state and sockets in a temporary directory."""

    NS = "runw-stress"

    def __init__(self, work):
        self.dir = os.path.join(work, "containerd")
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "containerd.sock")
        with open(os.path.join(self.dir, "config.toml"), "w") as f:
            f.write(f'''version = 2
root = "{self.dir}/root"
state = "{self.dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{self.dir}/opt"
''')
        self.logf = open(os.path.join(self.dir, "containerd.log"), "w")
        env = dict(os.environ, RUNW_WASM_CACHE=os.path.join(self.dir, "wasm-cache"))
        self.proc = subprocess.Popen(["containerd", "--config",
                                      os.path.join(self.dir, "config.toml")],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=self.logf, env=env)
        for _ in range(200):
            if os.path.exists(self.sock) and self.ctr("version").code == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("containerd did not start: " +
                           read(os.path.join(self.dir, "containerd.log"))[-500:])

    def ctr(self, *args, timeout=TIMEOUT):
        return run(["ctr", "--address", self.sock, "-n", self.NS, *args], timeout=timeout)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()
        for m in sorted((m for m in mount_points() if m.startswith(self.dir)), reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)


def fifo_dirs():
    try:
        return set(os.listdir("/run/containerd/fifo"))
    except OSError:
        return set()


def scenario_ctr(sc, n, par, daemon, images):
    """`ctr run --rm` through the stock shim, `par` at a time; Linux and (runw) Wasm."""
    series = [("Linux", images[0][0], ["sh", "-c", "echo ok"])]
    if sc.rt.wasm:
        series.append(("Wasm", images[1][0], []))
    ctr_root = os.path.join(sc.root, "ctr")
    fifos = fifo_dirs()

    def one(job):
        kind, image, args, i = job
        cid = f"{sc.prefix}-{kind[0].lower()}{i}"
        r = daemon.ctr("run", "--rm", "--runc-binary", sc.rt.path, "--runc-root", ctr_root,
                       "--cgroup", f"{sc.cgroup}/{cid}", image, cid, *args,
                       timeout=120)
        if r.code != 0 or r.out.strip() != "ok":
            sc.fail(f"ctr run {kind}", r.describe() + f" stdout {r.out[:60]!r}")
            daemon.ctr("task", "kill", "-s", "KILL", cid)
            daemon.ctr("task", "rm", "-f", cid)
            daemon.ctr("container", "rm", cid)
            return None
        return r.secs

    # One warm-up run per kind, so that containerd's descriptors are counted after its lazy
    # initialisation.
    for kind, image, args in series:
        one((kind, image, args, "warm"))
    ctrd_fds = fd_count(daemon.proc.pid)
    results = {}
    for kind, image, args in series:
        t0 = time.monotonic()
        secs = parallel(one, [(kind, image, args, i) for i in range(n)], par)
        sc.trials += n
        results[kind] = dict(secs=[s for s in secs if s is not None], wall=time.monotonic() - t0)
        log(f"  {sc.group}: {n} ctr run {kind} in {results[kind]['wall']:.1f} s")
    sc.extra["ctr"] = results
    left = daemon.ctr("containers", "ls", "-q")
    sc.leaks.add("ctr container", left.out.split())
    for c in left.out.split():
        daemon.ctr("task", "rm", "-f", c)
        daemon.ctr("container", "rm", c)
    time.sleep(1)  # the shims exit after the task is deleted
    sc.leaks.add("fifo", sorted(fifo_dirs() - fifos))
    after = fd_count(daemon.proc.pid)
    if after > ctrd_fds:
        sc.leaks.add("containerd fd", [f"{after - ctrd_fds} more ({ctrd_fds} -> {after})"])
    if os.path.isdir(ctr_root):
        for ns in os.listdir(ctr_root):
            sc.leaks.add("state", (os.path.join(ctr_root, ns, e)
                                   for e in os.listdir(os.path.join(ctr_root, ns))))
        shutil.rmtree(ctr_root, ignore_errors=True)


# ------------------------------------------------------------------ the suite -------------

class Suite:
    def __init__(self, opts):
        self.opts = opts
        self.scale = SCALES[opts.scale]
        self.seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(
            1, 2**31)
        self.mark = "rs" + hashlib.sha1(os.urandom(8)).hexdigest()[:6]
        os.environ[MARK_VAR] = self.mark  # inherited by the runtimes and their clones
        self.work = tempfile.mkdtemp(prefix="runw-stress-", dir="/tmp")
        labels = {}
        self.runtimes = []
        for p in opts.runtime:
            base = os.path.basename(p)
            labels[base] = labels.get(base, 0) + 1
            label = base if labels[base] == 1 else f"{base}{labels[base]}"
            self.runtimes.append(Runtime(p, label))
        self.bundles = Bundles(self.work, self.runtimes[0].path, self.mark)
        self.results = []  # Scope objects, in order

    def scope(self, scenario, rt):
        sc = Scope(self, scenario, rt)
        self.results.append(sc)
        return sc

    def run_scenario(self, name):
        s = self.scale
        if name == "ctr":
            return self.run_ctr()
        for rt in self.runtimes:
            log(f"{name} on {rt.label}")
            t0 = time.monotonic()
            sc = self.scope(name, rt)
            try:
                if name == "sequential":
                    scenario_sequential(sc, s["seq"])
                elif name == "concurrent":
                    scenario_concurrent(sc, s["conc"], s["conc_rounds"])
                elif name == "sigkill":
                    scenario_sigkill(sc, s["kill_trials"],
                                     random.Random(f"{self.seed}-{rt.label}"))
                elif name == "faults":
                    scenario_faults(sc)
                elif name == "pidreuse":
                    scenario_pidreuse(sc, s["pidreuse"])
            except Exception as e:  # a broken scenario is a failure, not a crashed suite
                sc.fail("scenario aborted", f"{type(e).__name__}: {e}")
                traceback.print_exc()
            sc.finish()
            sc.secs = time.monotonic() - t0
            log(f"{name} on {rt.label}: {sc.trials} trials, {len(sc.failures)} failures, "
                f"leaks {sc.leaks.summary()} ({sc.secs:.0f} s)")

    def run_ctr(self):
        images = make_images(self.work)
        daemon = Containerd(self.work)
        try:
            for img in images:
                r = daemon.ctr("images", "import", "--all-platforms", img[1])
                if r.code != 0:
                    raise RuntimeError(f"ctr images import {img[1]}: {r.describe()}")
            for rt in self.runtimes:
                log(f"ctr on {rt.label}")
                t0 = time.monotonic()
                sc = self.scope("ctr", rt)
                try:
                    scenario_ctr(sc, self.scale["ctr"], self.scale["ctr_par"], daemon, images)
                except Exception as e:
                    sc.fail("scenario aborted", f"{type(e).__name__}: {e}")
                # The shims are found by their command line (-address <our socket>).
                sc.finish(exclude=(daemon.proc.pid,), needles=(daemon.sock,))
                sc.secs = time.monotonic() - t0
                log(f"ctr on {rt.label}: {sc.trials} runs, {len(sc.failures)} failures, "
                    f"leaks {sc.leaks.summary()} ({sc.secs:.0f} s)")
        finally:
            for img in ("localhost/runw-stress/busybox:latest",
                        "localhost/runw-stress/wasm:latest"):
                daemon.ctr("images", "rm", img)
            daemon.stop()


# ------------------------------------------------------------------ report ----------------

def window(n):
    """Lifecycles compared at the start and the end: 50 of 1000, fewer for small runs."""
    return max(1, min(50, n // 5))


def curve_figures(times):
    ok = [t for t in times if t is not None]
    w = window(len(ok))
    if len(ok) < 2:
        return None
    first, last = median_ms(ok[:w]), median_ms(ok[-w:])
    return dict(n=len(times), w=w, first=first, last=last, ratio=last / first)


def write_report(suite, total_secs, path):
    rts = suite.runtimes
    by = {(sc.scenario, sc.rt.label): sc for sc in suite.results}
    scenarios = [s for s in SCENARIOS if any(k[0] == s for k in by)]
    out = []
    w = out.append
    w(f"# Stress and fault report\n")
    w(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, host: "
      f"{os.uname().nodename}, kernel {os.uname().release}, {os.cpu_count()} CPUs, cgroup "
      f"{'v2' if os.path.exists('/sys/fs/cgroup/cgroup.controllers') else 'v1'}")
    w(f"- scale: {suite.opts.scale} ({', '.join(f'{k}={v}' for k, v in suite.scale.items())})")
    w(f"- seed: {suite.seed} (repeat with `--seed {suite.seed}`)")
    for rt in rts:
        w(f"- {rt.label}: `{rt.path}` ({rt.version}{', Wasm' if rt.wasm else ', no Wasm'})")
    w(f"- duration: {total_secs:.0f} s; judged: {rts[0].label} (the first --runtime)\n")

    w("## Summary\n")
    w("| Scenario | " + " | ".join(f"{rt.label}: trials / failures / leaks" for rt in rts) + " |")
    w("|---|" + "---|" * len(rts))
    for s in scenarios:
        cells = []
        for rt in rts:
            sc = by.get((s, rt.label))
            cells.append("-" if sc is None else
                         f"{sc.trials} / {len(sc.failures)} / {sc.leaks.summary()}")
        w(f"| {s} | " + " | ".join(cells) + " |")
    w("")

    if "sequential" in scenarios:
        w("## Sequential lifecycles: time per lifecycle\n")
        w("Median of the first and of the last lifecycles (window in brackets); ratio = "
          "last / first (target for the judged runtime: at most 1.10).\n")
        w("| Series | " + " | ".join(f"{rt.label}: first / last ms (ratio)" for rt in rts) +
          " |")
        w("|---|" + "---|" * len(rts))
        names = []
        for rt in rts:
            sc = by.get(("sequential", rt.label))
            for name in (sc.extra.get("curves", {}) if sc else {}):
                if name not in names:
                    names.append(name)
        for name in names:
            cells = []
            for rt in rts:
                sc = by.get(("sequential", rt.label))
                f = curve_figures(sc.extra.get("curves", {}).get(name, [])) if sc else None
                if name.startswith("Wasm") and not rt.wasm:
                    cells.append("n/a (no Wasm)")
                elif f is None:
                    cells.append("-")
                else:
                    cells.append(f"{f['first']:.1f} / {f['last']:.1f} ({f['ratio']:.2f}) "
                                 f"[{f['w']} of {f['n']}]")
            w(f"| {name} | " + " | ".join(cells) + " |")
        w("")

    if "concurrent" in scenarios:
        w("## Concurrent containers\n")
        for rt in rts:
            sc = by.get(("concurrent", rt.label))
            if sc and "round_secs" in sc.extra:
                w(f"- {rt.label}: rounds of {suite.scale['conc']} "
                  f"({'half Linux, half Wasm' if rt.wasm else 'Linux only; Wasm n/a'}), "
                  f"each round's create/start/exec/kill/delete took " +
                  ", ".join(f"{s:.1f}" for s in sc.extra["round_secs"]) + " s")
        w("")

    if "sigkill" in scenarios:
        w("## SIGKILL at a random point, then `delete -f`\n")
        w("Clean = `delete -f` succeeded (or the container was already gone) and nothing was "
          "left. Killed = the command was still running when the SIGKILL came.\n")
        w("| Command | " + " | ".join(f"{rt.label}: clean / trials (killed), leaks" for rt in rts)
          + " |")
        w("|---|" + "---|" * len(rts))
        keys = []
        for rt in rts:
            sc = by.get(("sigkill", rt.label))
            keys += [k for k in (sc.extra.get("per_op", {}) if sc else {}) if k not in keys]
        for key in keys:
            cells = []
            for rt in rts:
                sc = by.get(("sigkill", rt.label))
                st = sc.extra.get("per_op", {}).get(key) if sc else None
                cells.append(("n/a (no Wasm)" if key.startswith("Wasm") else "-") if not st
                             else f"{st['survived']} / {st['trials']} ({st['killed']}), "
                             f"{st['leaks'].summary()} [~{st['dur'] * 1000:.0f} ms]")
            w(f"| {key}{' --force (running)' if key.endswith('delete') else ''} | " +
              " | ".join(cells) + " |")
        w("")

    if "faults" in scenarios:
        w("## Fault cases\n")
        w("| Case | " + " | ".join(rt.label for rt in rts) + " |")
        w("|---|" + "---|" * len(rts))
        cases = []
        for rt in rts:
            sc = by.get(("faults", rt.label))
            for c in (sc.extra.get("cases", []) if sc else []):
                if c["case"] not in cases:
                    cases.append(c["case"])
        for case in cases:
            cells = []
            for rt in rts:
                sc = by.get(("faults", rt.label))
                c = next((c for c in sc.extra.get("cases", []) if c["case"] == case), None) \
                    if sc else None
                cells.append("-" if not c else "<br>".join(
                    f"{n}: {d}".replace("|", "\\|") for n, d in c["steps"]) +
                    f"<br>**left after delete -f: {c['leaks']}**")
            w(f"| {case} | " + " | ".join(cells) + " |")
        w("")

    if "pidreuse" in scenarios:
        w("## PID reuse\n")
        w("The init of a stopped container was killed and reaped; another host process then "
          "got its pid. `kill`, `ps` and `delete -f` must neither signal nor list it.\n")
        for rt in rts:
            sc = by.get(("pidreuse", rt.label))
            for row in (sc.extra.get("pidreuse", []) if sc else []):
                verdict = ("PASS" if not row["signalled"] else
                           "**FAIL: " + "; ".join(row["signalled"]) + "**")
                w(f"- {rt.label}, pid {row['pid']}: {verdict}; " + "; ".join(
                    f"{n}: {d}" for n, d in row["steps"]))
        w("")

    if "ctr" in scenarios:
        w("## ctr run --rm through containerd-shim-runc-v2\n")
        w(f"{suite.scale['ctr']} runs per kind, {suite.scale['ctr_par']} in parallel.\n")
        w("| Kind | " + " | ".join(f"{rt.label}: runs / failures, median s, wall s"
                                   for rt in rts) + " |")
        w("|---|" + "---|" * len(rts))
        for kind in ("Linux", "Wasm"):
            cells = []
            for rt in rts:
                sc = by.get(("ctr", rt.label))
                res = sc.extra.get("ctr", {}).get(kind) if sc else None
                if kind == "Wasm" and not rt.wasm:
                    cells.append("n/a (no Wasm)")
                elif not res:
                    cells.append("-")
                else:
                    fails = sum(1 for f in sc.failures if f[0] == f"ctr run {kind}")
                    cells.append(f"{suite.scale['ctr']} / {fails}, "
                                 f"{statistics.median(res['secs']) if res['secs'] else 0:.2f}, "
                                 f"{res['wall']:.0f}")
            w(f"| {kind} | " + " | ".join(cells) + " |")
        w("")

    w("## Host memory and load\n")
    w("Memory in kB, after - before (reported, not judged); load = 1-minute load average at "
      "the scenario's start and end (other work on the host shows here).\n")
    w("| Scenario | " + " | ".join(f"{rt.label}: MemAvailable / Slab / Shmem, load" for rt in rts)
      + " |")
    w("|---|" + "---|" * len(rts))
    for s in scenarios:
        cells = []
        for rt in rts:
            sc = by.get((s, rt.label))
            m = getattr(sc, "mem", None) if sc else None
            cells.append("-" if not m else
                         f"{m['MemAvailable']:+d} / {m['Slab']:+d} / {m['Shmem']:+d}, "
                         f"{sc.load[0]:.1f} -> {sc.load[1]:.1f}")
        w(f"| {s} | " + " | ".join(cells) + " |")
    w("")

    details = [(sc, f, d) for sc in suite.results for f, d in sc.failures]
    leaks = [(sc, k, v) for sc in suite.results for k, vs in sc.leaks.kinds.items() for v in vs]
    if details or leaks:
        w("## Details\n")
        for sc, f, d in details[:60]:
            w(f"- failure, {sc.group}: {f}: {d}".replace("\n", " "))
        if len(details) > 60:
            w(f"- ... and {len(details) - 60} more failures")
        for sc, k, v in leaks[:100]:
            w(f"- leak ({k}), {sc.group}: {v}")
        if len(leaks) > 100:
            w(f"- ... and {len(leaks) - 100} more leaks")
        w("")
    text = "\n".join(out)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")
        csv_path = os.path.splitext(path)[0] + ".csv"
        with open(csv_path, "w", newline="") as f:
            cw = csv.writer(f)
            cw.writerow(["runtime", "series", "index", "seconds"])
            for sc in suite.results:
                for name, times in sc.extra.get("curves", {}).items():
                    for i, t in enumerate(times):
                        cw.writerow([sc.rt.label, name, i, "" if t is None else f"{t:.5f}"])
    return text


def cleanup(suite):
    """Whatever is left of the suite: cgroups, mounts, the work directory."""
    remove_cgroup_tree(f"/{CGROUP_TOP}/{suite.mark}")
    try:  # the top, unless another run is using it
        for root in cgroup_mounts():
            os.rmdir(os.path.join(root, CGROUP_TOP))
    except OSError:
        pass
    for m in sorted((m for m in mount_points() if m.startswith(suite.work)), reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    shutil.rmtree(suite.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", action="append", required=True,
                    help="runtime binary (repeat to compare; the first one is judged)")
    ap.add_argument("--scale", choices=sorted(SCALES), default="ci")
    ap.add_argument("--only", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    ap.add_argument("--report", help="write the Markdown report here (and the lifecycle "
                    "times as CSV beside it)")
    ap.add_argument("--seed", type=int, help="seed of the SIGKILL delays")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("stress: run as root (the scenarios run real containers)")
    only = opts.only.split(",") if opts.only else SCENARIOS
    for s in only:
        if s not in SCENARIOS:
            sys.exit(f"stress: unknown scenario {s!r} (known: {', '.join(SCENARIOS)})")
    suite = Suite(opts)
    log(f"work {suite.work}, mark {suite.mark}, seed {suite.seed}, scale {opts.scale}")
    t0 = time.monotonic()
    try:
        for s in SCENARIOS:
            if s in only:
                suite.run_scenario(s)
    finally:
        text = write_report(suite, time.monotonic() - t0, opts.report)
        cleanup(suite)
    print(text)
    judged = [sc for sc in suite.results if sc.rt is suite.runtimes[0]]
    bad = sum(len(sc.failures) + sc.leaks.total() for sc in judged)
    if bad:
        log(f"{suite.runtimes[0].label}: {bad} failures and leaks")
        return 1
    log(f"{suite.runtimes[0].label}: no failure, no leak")
    return 0


if __name__ == "__main__":
    sys.exit(main())
