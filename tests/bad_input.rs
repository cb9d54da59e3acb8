//! The bad-input table (issue #13): malformed bundles and command lines, each run through
//! runw and runc 1.1.5 side by side (each with its own `--root`).
//!
//! * [`Expect::Refused`]: runc refuses it too; runw exits 1 with one line on stderr that
//!   names the field or path, leaves nothing behind, and a `create` of the same id with a good
//!   config works afterwards.
//! * [`Expect::Stricter`]: runc accepts it, runw refuses it (as above) on purpose; the case
//!   says why.
//! * [`Expect::SameAsRunc`]: runc accepts it, and so must runw.
//!
//! Every case is checked against both runtimes and a test fails listing every mismatching
//! case at once. Run with `--nocapture` to see the observed table (docs/reliability.md).
//! Cases covered by tests/errors.rs are not repeated here: missing config.json, bundle or
//! rootfs, config.json a directory, empty or `[1, 2]`, missing ociVersion/root/process, empty
//! args, ociVersion "2.0.0", relative process.cwd, uids above 2147483647, bad container ids
//! ("", "../x", "a/b", 201 characters), `kill` with "SIGFOO", `exec` without a command.

mod common;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Bundle, Runtime};
use serde_json::{json, Value};

/// Where a symlink in a rootfs points to escape it; a mount through it must not reach the host.
const ESCAPE: &str = "/runw-bad-input-escape";

enum Expect {
    /// Both refuse; runw's line holds every needle.
    Refused(&'static [&'static str]),
    /// runc accepts, runw refuses with a line holding every needle; the reason.
    Stricter(&'static [&'static str], &'static str),
    /// runc accepts, and so does runw.
    SameAsRunc,
}

/// How a case breaks things.
enum How {
    /// Changes the bundle of a `create` (the config, its bytes, the rootfs).
    Create(fn(&mut Bundle)),
    /// Runs a command line of its own (the id's container may be made first).
    Command(fn(&Runtime, &Bundle, &str) -> Outcome),
}

struct Case {
    name: &'static str,
    how: How,
    expect: Expect,
    /// The exit status of a refusal: 1, or 255 for `exec` (runc's "exec failed").
    status: i32,
}

/// What a runtime did with a case.
struct Outcome {
    code: i32,
    stderr: String,
}

impl Outcome {
    fn of(out: common::Out) -> Outcome {
        let code = if out.timed_out { -1 } else { out.code };
        Outcome {
            code,
            stderr: out.stderr,
        }
    }

    /// The last stderr line (runc prints warnings before the error).
    fn message(&self) -> &str {
        self.stderr.trim_end().lines().last().unwrap_or("")
    }
}

fn create(name: &'static str, edit: fn(&mut Bundle), expect: Expect) -> Case {
    Case {
        name,
        how: How::Create(edit),
        expect,
        status: 1,
    }
}

fn command(
    name: &'static str,
    run: fn(&Runtime, &Bundle, &str) -> Outcome,
    expect: Expect,
) -> Case {
    Case {
        name,
        how: How::Command(run),
        expect,
        status: 1,
    }
}

fn exec_command(
    name: &'static str,
    run: fn(&Runtime, &Bundle, &str) -> Outcome,
    expect: Expect,
) -> Case {
    Case {
        status: 255,
        ..command(name, run, expect)
    }
}

fn resources(c: &mut Value) -> &mut Value {
    if !c["linux"]["resources"].is_object() {
        c["linux"]["resources"] = json!({});
    }
    &mut c["linux"]["resources"]
}

fn push_mount(c: &mut Value, mount: Value) {
    c["mounts"].as_array_mut().unwrap().push(mount);
}

fn push_namespace(c: &mut Value, ns: Value) {
    c["linux"]["namespaces"].as_array_mut().unwrap().push(ns);
}

/// Replaces the namespace of type `typ` with `ns`.
fn replace_namespace(c: &mut Value, typ: &str, ns: Value) {
    let list = c["linux"]["namespaces"].as_array_mut().unwrap();
    list.retain(|n| n["type"] != typ);
    list.push(ns);
}

fn rlimit(soft: Value, hard: Value) -> Value {
    json!([{"type": "RLIMIT_NOFILE", "soft": soft, "hard": hard}])
}

/// Replaces config.json's bytes: `from` (first occurrence) becomes `to`.
fn replace_bytes(b: &Bundle, from: &[u8], to: &[u8]) {
    let bytes = fs::read(b.config_path()).unwrap();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not in config.json", String::from_utf8_lossy(from)));
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&bytes[at + from.len()..]);
    fs::write(b.config_path(), out).unwrap();
}

/// A tmpfs mount on `/lnk/x` where `/lnk` is a symlink in the rootfs to `target`.
fn mount_through_symlink(b: &mut Bundle, target: &str) {
    std::os::unix::fs::symlink(target, b.rootfs().join("lnk")).unwrap();
    b.edit(|c| {
        push_mount(
            c,
            json!({"destination": "/lnk/x", "type": "tmpfs", "source": "tmpfs"}),
        )
    });
}

/// Wrong JSON types and values serde or runc's Go decoder refuses.
fn type_cases() -> Vec<Case> {
    use Expect::*;
    vec![
        create(
            "process.args is a string",
            |b| b.edit(|c| c["process"]["args"] = json!("sleep 600")),
            Refused(&["process.args", "invalid type: string"]),
        ),
        create(
            "process.env holds numbers",
            |b| b.edit(|c| c["process"]["env"] = json!([1, 2])),
            Refused(&["process.env[0]", "expected a string"]),
        ),
        create(
            "process.user.uid is a string",
            |b| b.edit(|c| c["process"]["user"]["uid"] = json!("0")),
            Refused(&["process.user.uid", "invalid type: string"]),
        ),
        create(
            "process.user.uid is negative",
            |b| b.edit(|c| c["process"]["user"]["uid"] = json!(-1)),
            Refused(&["process.user.uid", "-1"]),
        ),
        create(
            "process.user.uid is a float",
            |b| b.edit(|c| c["process"]["user"]["uid"] = json!(1.5)),
            Refused(&["process.user.uid", "1.5"]),
        ),
        create(
            "process.user.uid is 2^40",
            |b| b.edit(|c| c["process"]["user"]["uid"] = json!(1u64 << 40)),
            Refused(&["process.user.uid", "1099511627776"]),
        ),
        create(
            "process.user.gid is null",
            |b| b.edit(|c| c["process"]["user"]["gid"] = Value::Null),
            Stricter(
                &["process.user.gid", "null"],
                "Go decodes null into a number as 'leave it' (gid 0); serde refuses it, and a null id is more likely a mistake than a wish for root",
            ),
        ),
        create(
            "process.terminal is a string",
            |b| b.edit(|c| c["process"]["terminal"] = json!("yes")),
            Refused(&["process.terminal", "expected a boolean"]),
        ),
        create(
            "linux.resources.memory.limit is a string",
            |b| b.edit(|c| resources(c)["memory"] = json!({"limit": "1g"})),
            Refused(&["linux.resources.memory.limit", "invalid type: string"]),
        ),
        create(
            "hostname is a number",
            |b| b.edit(|c| c["hostname"] = json!(42)),
            Refused(&["hostname", "42"]),
        ),
        create(
            "mounts is an object",
            |b| b.edit(|c| c["mounts"] = json!({"destination": "/x"})),
            Refused(&["mounts", "expected a sequence"]),
        ),
        create(
            "root.path is a number",
            |b| b.edit(|c| c["root"]["path"] = json!(5)),
            Refused(&["root.path"]),
        ),
        create(
            "namespace of unknown type \"foo\"",
            |b| b.edit(|c| push_namespace(c, json!({"type": "foo"}))),
            Refused(&["linux.namespaces[", "].type", "foo"]),
        ),
        create(
            "rlimit of unknown type RLIMIT_FOO",
            |b| {
                b.edit(|c| {
                    c["process"]["rlimits"] = json!([{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}])
                })
            },
            Refused(&["process.rlimits[0].type", "RLIMIT_FOO"]),
        ),
        create(
            "seccomp with unknown action",
            |b| b.edit(|c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_FOO"})),
            Refused(&["linux.seccomp.defaultAction", "SCMP_ACT_FOO"]),
        ),
        create(
            "seccomp with unknown architecture",
            |b| {
                b.edit(|c| {
                    c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                        "architectures": ["SCMP_ARCH_FOO"]})
                })
            },
            Refused(&["linux.seccomp.architectures[0]", "SCMP_ARCH_FOO"]),
        ),
        create(
            "seccomp with unknown syscall",
            |b| {
                b.edit(|c| {
                    c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"}]})
                })
            },
            SameAsRunc,
        ),
        create(
            "device of unknown type \"x\"",
            |b| {
                b.edit(|c| {
                    c["linux"]["devices"] =
                        json!([{"path": "/dev/foo", "type": "x", "major": 1, "minor": 3}])
                })
            },
            Refused(&["linux.devices[0].type", "`x`"]),
        ),
        create(
            "unknown capability CAP_FOO",
            |b| {
                b.edit(|c| {
                    c["process"]["capabilities"]["bounding"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!("CAP_FOO"))
                })
            },
            SameAsRunc,
        ),
        create(
            "unknown top-level field",
            |b| b.edit(|c| c["fooBar"] = json!({"x": 1})),
            SameAsRunc,
        ),
        create(
            "unknown nested fields",
            |b| {
                b.edit(|c| {
                    c["process"]["fooBar"] = json!(1);
                    resources(c)["memory"] = json!({"fooBar": 1, "limit": 104857600});
                })
            },
            SameAsRunc,
        ),
        create(
            "ociVersion \"abc\"",
            |b| b.edit(|c| c["ociVersion"] = json!("abc")),
            Stricter(
                &["ociVersion", "abc"],
                "runc never reads ociVersion; runw refuses a version it does not implement (runtime-spec 1.x), as for \"2.0.0\" and a missing one (tests/errors.rs)",
            ),
        ),
        create(
            "environment variable holding a NUL",
            |b| b.edit(|c| c["process"]["env"] = json!(["PATH=/bin", "X=a\u{0}b"])),
            Refused(&["process.env[1]", "NUL"]),
        ),
        create(
            "sysctl outside any namespace",
            |b| b.edit(|c| c["linux"]["sysctl"] = json!({"foo.bar": "1"})),
            Refused(&["sysctl foo.bar"]),
        ),
        create(
            "hostname without a UTS namespace",
            |b| {
                b.edit(|c| {
                    c["hostname"] = json!("x");
                    let list = c["linux"]["namespaces"].as_array_mut().unwrap();
                    list.retain(|n| n["type"] != "uts");
                })
            },
            Refused(&["hostname", "UTS namespace"]),
        ),
    ]
}

/// Huge values and negative limits.
fn limit_cases() -> Vec<Case> {
    use Expect::*;
    vec![
        create(
            "memory.limit 2^70",
            |b| {
                b.edit(|c| {
                    resources(c)["memory"] =
                        serde_json::from_str(r#"{"limit": 1180591620717411303424}"#).unwrap()
                })
            },
            Refused(&["linux.resources.memory.limit", "expected i64"]),
        ),
        create(
            "memory.limit -5",
            |b| b.edit(|c| resources(c)["memory"] = json!({"limit": -5})),
            Refused(&["linux.resources.memory.limit", "-5"]),
        ),
        create(
            "memory.limit -1 (unlimited)",
            |b| b.edit(|c| resources(c)["memory"] = json!({"limit": -1})),
            SameAsRunc,
        ),
        create(
            "pids.limit 2^64",
            |b| {
                b.edit(|c| {
                    resources(c)["pids"] =
                        serde_json::from_str(r#"{"limit": 18446744073709551616}"#).unwrap()
                })
            },
            Refused(&["linux.resources.pids.limit"]),
        ),
        create(
            "pids.limit 2^63-1",
            |b| b.edit(|c| resources(c)["pids"] = json!({"limit": i64::MAX})),
            // The kernel refuses the value; runw names the cgroup file and the value.
            Refused(&["pids.max", "9223372036854775807"]),
        ),
        create(
            "pids.limit -2",
            |b| b.edit(|c| resources(c)["pids"] = json!({"limit": -2})),
            if common::cgroup_v2_only() {
                // runc 1.1 writes "-2" to pids.max, which the kernel refuses.
                Refused(&["linux.resources.pids.limit", "-2"])
            } else {
                Stricter(
                    &["linux.resources.pids.limit", "-2"],
                    "runc 1.1 writes \"max\" on cgroup v1 (and \"-2\", refused by the kernel, on v2): runw refuses it on both, as memory limits below -1",
                )
            },
        ),
        create(
            "cpu.shares -1",
            |b| b.edit(|c| resources(c)["cpu"] = json!({"shares": -1})),
            Refused(&["linux.resources.cpu.shares", "-1"]),
        ),
        create(
            "cpu.shares 2^40",
            |b| b.edit(|c| resources(c)["cpu"] = json!({"shares": 1u64 << 40})),
            Refused(&["linux.resources.cpu.shares", "262144"]),
        ),
        create(
            "cpu.quota -2",
            |b| b.edit(|c| resources(c)["cpu"] = json!({"quota": -2})),
            SameAsRunc,
        ),
        create(
            "blockIO.weight 0",
            |b| b.edit(|c| resources(c)["blockIO"] = json!({"weight": 0})),
            SameAsRunc,
        ),
        create(
            "blockIO.weight 2000",
            |b| b.edit(|c| resources(c)["blockIO"] = json!({"weight": 2000})),
            Refused(&["linux.resources.blockIO.weight", "2000"]),
        ),
        create(
            "oomScoreAdj 5000",
            |b| b.edit(|c| c["process"]["oomScoreAdj"] = json!(5000)),
            Refused(&["process.oomScoreAdj", "5000"]),
        ),
        create(
            "oomScoreAdj -5000",
            |b| b.edit(|c| c["process"]["oomScoreAdj"] = json!(-5000)),
            Refused(&["process.oomScoreAdj", "-5000"]),
        ),
        create(
            "RLIMIT_NOFILE 2^63",
            |b| b.edit(|c| c["process"]["rlimits"] = rlimit(json!(1u64 << 63), json!(1u64 << 63))),
            Refused(&["RLIMIT_NOFILE", "9223372036854775808"]),
        ),
        create(
            "RLIMIT_NOFILE 2^64",
            |b| {
                b.edit(|c| {
                    let big: Value = serde_json::from_str("18446744073709551616").unwrap();
                    c["process"]["rlimits"] = rlimit(big.clone(), big);
                })
            },
            // serde reads the fields in the order of the file: "hard" first.
            Refused(&["process.rlimits[0].hard", "expected u64"]),
        ),
        create(
            "RLIMIT_NOFILE -1",
            |b| b.edit(|c| c["process"]["rlimits"] = rlimit(json!(-1), json!(-1))),
            Refused(&["process.rlimits[0].hard", "-1"]),
        ),
        create(
            "RLIMIT_NOFILE soft above hard",
            |b| b.edit(|c| c["process"]["rlimits"] = rlimit(json!(2048), json!(1024))),
            Refused(&[
                "RLIMIT_NOFILE",
                "soft limit 2048 is above the hard limit 1024",
            ]),
        ),
        create(
            "20 MB config.json (one annotation)",
            |b| b.edit(|c| c["annotations"] = json!({"big": "x".repeat(20 << 20)})),
            SameAsRunc,
        ),
    ]
}

/// Relative paths where absolute ones are required, mounts over symlinks, missing files.
fn path_cases() -> Vec<Case> {
    use Expect::*;
    vec![
        create(
            "mount destination relative",
            |b| b.edit(|c| push_mount(c, json!({"destination": "mnt", "type": "tmpfs", "source": "tmpfs"}))),
            // runc 1.1 warns ("will be removed in a future release") and mounts on /mnt.
            SameAsRunc,
        ),
        create(
            "mount destination empty",
            |b| b.edit(|c| push_mount(c, json!({"destination": "", "type": "tmpfs", "source": "tmpfs"}))),
            Refused(&["mounts[", "].destination", "must not be empty"]),
        ),
        create(
            "bind mount of a missing source",
            |b| {
                b.edit(|c| {
                    push_mount(c, json!({"destination": "/mnt", "type": "bind",
                        "source": "/no/such/source", "options": ["bind"]}))
                })
            },
            Refused(&["/no/such/source"]),
        ),
        create(
            "mount through a symlink to an absolute path",
            |b| mount_through_symlink(b, ESCAPE),
            Stricter(
                &["/lnk/x"],
                "runc resolves the symlink inside the rootfs and mounts there; libcontainer refuses to mount through a symlink (nothing reaches the host either way)",
            ),
        ),
        create(
            "mount through a symlink to ../../..",
            |b| mount_through_symlink(b, "../../../../runw-bad-input-escape"),
            Stricter(
                &["/lnk/x"],
                "as above: runc mounts inside the rootfs, libcontainer refuses",
            ),
        ),
        create(
            "linux.cgroupsPath relative",
            |b| {
                b.edit(|c| {
                    let path = c["linux"]["cgroupsPath"].as_str().unwrap().trim_start_matches('/').to_string();
                    c["linux"]["cgroupsPath"] = json!(path);
                })
            },
            // Both make it under their own cgroup.
            SameAsRunc,
        ),
        create(
            "namespace path relative",
            |b| b.edit(|c| replace_namespace(c, "uts", json!({"type": "uts", "path": "proc/1/ns/uts"}))),
            Refused(&["linux.namespaces[", "].path", "proc/1/ns/uts", "must be absolute"]),
        ),
        create(
            "namespace path missing",
            |b| b.edit(|c| replace_namespace(c, "uts", json!({"type": "uts", "path": "/no/such/ns"}))),
            Refused(&["linux.namespaces[", "].path", "/no/such/ns"]),
        ),
        create(
            "namespace listed twice",
            |b| b.edit(|c| push_namespace(c, json!({"type": "pid"}))),
            Refused(&["linux.namespaces[", "duplicated namespace", "pid"]),
        ),
        create(
            "user namespace without mappings",
            |b| b.edit(|c| push_namespace(c, json!({"type": "user"}))),
            Refused(&["user namespace", "mappings"]),
        ),
        create(
            "hook path relative",
            |b| b.edit(|c| c["hooks"] = json!({"createRuntime": [{"path": "true"}]})),
            Refused(&["hooks.createRuntime[0].path", "must be absolute"]),
        ),
        create(
            "hook path missing",
            |b| b.edit(|c| c["hooks"] = json!({"createRuntime": [{"path": "/no/such/hook"}]})),
            Refused(&["hooks.createRuntime[0].path", "/no/such/hook"]),
        ),
        create(
            "device path relative",
            |b| {
                b.edit(|c| {
                    c["linux"]["devices"] =
                        json!([{"path": "dev/foo", "type": "c", "major": 1, "minor": 3}])
                })
            },
            Stricter(
                &["dev/foo", "/dev"],
                "runc creates the device relative to the rootfs; libcontainer wants a path under /dev, as runtime-spec's \"full path\" says",
            ),
        ),
        create(
            "rootfs is a file",
            |b| {
                fs::write(b.path().join("afile"), "").unwrap();
                b.edit(|c| c["root"]["path"] = json!("afile"));
            },
            Refused(&["afile", "is not a directory"]),
        ),
    ]
}

/// config.json's bytes.
fn file_cases() -> Vec<Case> {
    use Expect::*;
    vec![
        create(
            "config.json truncated",
            |b| {
                let bytes = fs::read(b.config_path()).unwrap();
                fs::write(b.config_path(), &bytes[..bytes.len() / 2]).unwrap();
            },
            Refused(&["invalid JSON", "EOF while parsing"]),
        ),
        create(
            "config.json with a UTF-8 byte order mark",
            |b| {
                let mut bytes = b"\xef\xbb\xbf".to_vec();
                bytes.extend(fs::read(b.config_path()).unwrap());
                fs::write(b.config_path(), bytes).unwrap();
            },
            Refused(&["invalid JSON", "line 1 column 1"]),
        ),
        create(
            "invalid UTF-8 in a value",
            |b| replace_bytes(b, b"\"TERM=xterm\"", b"\"TERM=\xff\xfe\""),
            // Go replaces it with U+FFFD; so does runw.
            SameAsRunc,
        ),
        create(
            "invalid UTF-8 in a key",
            |b| replace_bytes(b, b"\"hostname\"", b"\"host\xffname\""),
            // An unknown field then: ignored.
            SameAsRunc,
        ),
        create(
            "a key given twice",
            |b| {
                replace_bytes(
                    b,
                    b"\"ociVersion\"",
                    b"\"hostname\": \"a\", \"hostname\": \"b\", \"ociVersion\"",
                )
            },
            Stricter(
                &["duplicate field `hostname`"],
                "Go keeps the last value; serde refuses the ambiguity",
            ),
        ),
    ]
}

/// Makes the id's container, running (a command case's target).
fn created(rt: &Runtime, id: &str, bundle: &Bundle) {
    rt.run_detached(id, bundle);
}

fn update_with(rt: &Runtime, bundle: &Bundle, id: &str, json: &str) -> Outcome {
    created(rt, id, bundle);
    let file = bundle.path().join("resources.json");
    fs::write(&file, json).unwrap();
    Outcome::of(rt.run(&["update", "--resources", file.to_str().unwrap(), id]))
}

fn exec_process(rt: &Runtime, bundle: &Bundle, id: &str, json: &str) -> Outcome {
    created(rt, id, bundle);
    let file = bundle.path().join("process.json");
    fs::write(&file, json).unwrap();
    Outcome::of(rt.run(&["exec", "--process", file.to_str().unwrap(), id]))
}

/// `create --pid-file rel.pid` run in the bundle directory: the file must be written there.
fn relative_pid_file(rt: &Runtime, bundle: &Bundle, id: &str) -> Outcome {
    let (mut cmd, _) = rt.command(&[
        "create",
        "--bundle",
        bundle.path_str(),
        "--pid-file",
        "rel.pid",
        id,
    ]);
    let err = rt.scratch.path().join(format!("{id}.err"));
    cmd.current_dir(bundle.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).unwrap());
    let status = cmd.status().unwrap();
    let mut outcome = Outcome {
        code: status.code().unwrap_or(-1),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    };
    if outcome.code == 0 && !bundle.path().join("rel.pid").is_file() {
        outcome.code = -2;
        outcome.stderr = "rel.pid was not written in the working directory".into();
    }
    outcome
}

/// A process with a terminal and `--console-socket` naming a regular file.
fn console_socket_not_a_socket(rt: &Runtime, bundle: &Bundle, id: &str) -> Outcome {
    let mut config = bundle.config.clone();
    config["process"]["terminal"] = json!(true);
    fs::write(bundle.config_path(), config.to_string()).unwrap();
    let file = bundle.path().join("not-a-socket");
    fs::write(&file, "").unwrap();
    Outcome::of(rt.run(&[
        "create",
        "--bundle",
        bundle.path_str(),
        "--console-socket",
        file.to_str().unwrap(),
        id,
    ]))
}

fn command_cases() -> Vec<Case> {
    use Expect::*;
    vec![
        command(
            "update: unknown field",
            |rt, b, id| update_with(rt, b, id, r#"{"fooBar": 1, "pids": {"limit": 50}}"#),
            SameAsRunc,
        ),
        command(
            "update: memory.limit is a string",
            |rt, b, id| update_with(rt, b, id, r#"{"memory": {"limit": "x"}}"#),
            Refused(&["memory.limit", "invalid type: string"]),
        ),
        command(
            "update: cpu.shares -1",
            |rt, b, id| update_with(rt, b, id, r#"{"cpu": {"shares": -1}}"#),
            Refused(&["cpu.shares", "-1"]),
        ),
        command(
            "update: memory.limit -5",
            |rt, b, id| update_with(rt, b, id, r#"{"memory": {"limit": -5}}"#),
            Refused(&["memory.limit", "-5"]),
        ),
        command(
            "update: truncated JSON",
            |rt, b, id| update_with(rt, b, id, r#"{"memory": "#),
            Refused(&["invalid resources JSON", "EOF"]),
        ),
        command("create --pid-file relative", relative_pid_file, SameAsRunc),
        command(
            "create --console-socket that is not a socket",
            console_socket_not_a_socket,
            Refused(&["--console-socket", "not a socket"]),
        ),
        exec_command(
            "exec --process with invalid JSON",
            |rt, b, id| exec_process(rt, b, id, "not json"),
            Refused(&["exec failed", "invalid process file", "line 1"]),
        ),
        exec_command(
            "exec --process with args a string",
            |rt, b, id| exec_process(rt, b, id, r#"{"args": "true", "cwd": "/"}"#),
            Refused(&["exec failed", "args", "invalid type: string"]),
        ),
    ]
}

/// Everything left of `id` (polling a little: a runtime's processes take a moment to go).
fn leftovers(rt: &Runtime, id: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = rt.leftovers(id);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `case` with `rt` on a fresh bundle; removes what it made when it was accepted.
fn attempt(rt: &Runtime, case: &Case) -> (String, Outcome) {
    let id = rt.id("bad");
    let mut bundle = rt.bundle(&id, &["sleep", "600"]);
    let outcome = match &case.how {
        How::Create(edit) => {
            edit(&mut bundle);
            Outcome::of(rt.run(&["create", "--bundle", bundle.path_str(), &id]))
        }
        How::Command(run) => run(rt, &bundle, &id),
    };
    if outcome.code == 0 || matches!(case.how, How::Command(_)) {
        rt.run(&["delete", "--force", &id]);
    }
    (id, outcome)
}

/// What is wrong with runw's refusal of a case, if anything.
fn check_refusal(
    rt: &Runtime,
    case: &Case,
    id: &str,
    out: &Outcome,
    needles: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    if out.code != case.status {
        problems.push(format!("exit status {}, want {}", out.code, case.status));
    }
    let lines = out.stderr.trim_end().lines().count();
    if lines != 1 {
        problems.push(format!("{lines} lines on stderr, want 1"));
    }
    for needle in needles {
        if !out.stderr.contains(needle) {
            problems.push(format!("stderr lacks {needle:?}"));
        }
    }
    let left = leftovers(rt, id);
    if !left.is_empty() {
        problems.push(format!("left behind: {left:?}"));
        return problems;
    }
    // The id is free again: a good config creates it.
    let good = rt.bundle(id, &["sleep", "600"]);
    let again = rt.run(&["create", "--bundle", good.path_str(), id]);
    if again.code != 0 {
        problems.push(format!(
            "create of the same id with a good config failed: {again}"
        ));
    }
    rt.run(&["delete", "--force", id]);
    let left = leftovers(rt, id);
    if !left.is_empty() {
        problems.push(format!("left behind after the good create: {left:?}"));
    }
    problems
}

/// Runs every case with runc and runw; fails listing every case that does not behave as its
/// row says. Prints the observed table.
fn check_table(cases: Vec<Case>) {
    let runc = Runtime::runc();
    let runw = Runtime::runw();
    let mut failures = Vec::new();
    let mut table = String::new();
    for case in &cases {
        let (_, by_runc) = attempt(&runc, case);
        let (id, by_runw) = attempt(&runw, case);
        let _ = writeln_row(&mut table, case, &by_runw, &by_runc);
        let runc_refuses = by_runc.code != 0;
        let mut problems = Vec::new();
        match &case.expect {
            Expect::Refused(needles) => {
                if !runc_refuses {
                    problems.push(
                        "runc accepts it: mark it Stricter (with the reason) or SameAsRunc".into(),
                    );
                }
                problems.extend(check_refusal(&runw, case, &id, &by_runw, needles));
            }
            Expect::Stricter(needles, _why) => {
                if runc_refuses {
                    problems.push(format!(
                        "runc refuses it too ({}): mark it Refused",
                        by_runc.message()
                    ));
                }
                problems.extend(check_refusal(&runw, case, &id, &by_runw, needles));
            }
            Expect::SameAsRunc => {
                if runc_refuses {
                    problems.push(format!(
                        "runc refuses it ({}): mark it Refused",
                        by_runc.message()
                    ));
                }
                if by_runw.code != 0 {
                    problems.push(format!(
                        "runw refuses it (exit {}): {}",
                        by_runw.code,
                        by_runw.stderr.trim_end()
                    ));
                }
                let left = leftovers(&runw, &id);
                if !left.is_empty() {
                    problems.push(format!("left behind after delete -f: {left:?}"));
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}:\n    {}\n    runw: exit {} {}",
                case.name,
                problems.join("\n    "),
                by_runw.code,
                by_runw.stderr.trim_end()
            ));
        }
    }
    eprintln!("{table}");
    assert!(
        !Path::new(ESCAPE).exists(),
        "a mount through a symlink reached the host: {ESCAPE}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// One row of the observed table: case | runw | runc.
fn writeln_row(
    table: &mut String,
    case: &Case,
    runw: &Outcome,
    runc: &Outcome,
) -> std::fmt::Result {
    use std::fmt::Write as _;
    let show = |o: &Outcome| {
        if o.code == 0 {
            "accepted".to_string()
        } else {
            format!("exit {}: {}", o.code, strip_log_prefix(o.message()))
        }
    };
    writeln!(table, "| {} | {} | {} |", case.name, show(runw), show(runc))
}

/// `msg="..."` of a logrus line, or the line.
fn strip_log_prefix(line: &str) -> &str {
    line.split_once("msg=\"")
        .map(|(_, m)| m.strip_suffix('"').unwrap_or(m))
        .unwrap_or(line)
}

#[test]
fn wrong_types_and_values() {
    require_root!();
    check_table(type_cases());
}

#[test]
fn huge_and_negative_limits() {
    require_root!();
    check_table(limit_cases());
}

#[test]
fn paths_and_symlinks() {
    require_root!();
    check_table(path_cases());
}

#[test]
fn config_bytes() {
    require_root!();
    check_table(file_cases());
}

#[test]
fn command_lines() {
    require_root!();
    check_table(command_cases());
}

/// The table holds at least 40 cases (issue #13).
#[test]
fn table_size() {
    let n = type_cases().len()
        + limit_cases().len()
        + path_cases().len()
        + file_cases().len()
        + command_cases().len();
    assert!(n >= 40, "{n} cases");
}
