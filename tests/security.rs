//! Regression tests for the attacks of issue #16 (and the exec deadlock of #12): each test
//! performs the attack from inside a real container, or as the operator's command would, and
//! asserts what the attacker must not get. Run as root.

mod common;
mod wasm_common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use wasm_common::*;

/// Opens procfs paths of its own process (and a control file), printing `PATH: OPEN` or
/// `PATH: denied (...)`, then tries to open its memory for writing.
const C_PROC_PROBE: &str = r#"
#include <stdio.h>
#include <fcntl.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    const char *paths[] = {"/proc/self/mem", "/proc/self/maps", "/proc/self/environ",
        "/proc/self/cmdline", "/proc/1/mem", "/proc/1/environ", "/proc/thread-self/maps",
        "/proc/self/exe", "/proc/self/fd/0", "/dev/fd/1", "/proc/cpuinfo", "/etc/msg", 0};
    for (int i = 0; paths[i]; i++) {
        int fd = open(paths[i], O_RDONLY);
        if (fd < 0) printf("%s: denied (%s)\n", paths[i], strerror(errno));
        else { printf("%s: OPEN\n", paths[i]); close(fd); }
    }
    int w = open("/proc/self/mem", O_RDWR);
    printf("mem for writing: %s\n", w < 0 ? "denied" : "OPEN");
    return 0;
}
"#;

const C_SLEEPER: &str = r#"
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("sleeping\n"); fflush(stdout); sleep(60); return 0; }
"#;

/// A process started in the background, killed if the test ends before it.
struct Background(Child);

impl Background {
    /// Waits up to `limit` for the exit status; `None` if it is still running.
    fn wait_for(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn init_pid(runw: &Runw, id: &str) -> i32 {
    runw.state(id)["pid"].as_i64().unwrap() as i32
}

fn start_detached(runw: &Runw, bundle: &Bundle, id: &str) {
    let log = bundle.dir.path().join("container.log");
    assert!(runw.create_detached(bundle, id, &log).success());
    let out = runw.run(&["start", id]);
    assert!(out.status.success(), "start: {}", stderr(&out));
}

/// High 1: with the default spec's `ro` cgroup mount, a container cannot lift its own limits,
/// with or without a cgroup namespace (runc: "Read-only file system").
#[test]
fn cgroup_limits_cannot_be_lifted_from_inside() {
    for cgroupns in [false, true] {
        let runw = Runw::new();
        let id = unique_id("sec-cg");
        // The container sees its own cgroup at the mount's root on v1 (bind-mounted) and with
        // a cgroup namespace (its root).
        let (memory, pids) = if common::cgroup_v2_only() && !cgroupns {
            // Without a cgroup namespace libcontainer mounts the whole cgroup2 hierarchy
            // (read-only): the container's own files are at its cgroup's path.
            let own = format!("/sys/fs/cgroup/{}/{id}", common::CGROUP_PARENT);
            (format!("{own}/memory.max"), format!("{own}/pids.max"))
        } else if common::cgroup_v2_only() {
            (
                "/sys/fs/cgroup/memory.max".to_string(),
                "/sys/fs/cgroup/pids.max".to_string(),
            )
        } else {
            (
                "/sys/fs/cgroup/memory/memory.limit_in_bytes".to_string(),
                "/sys/fs/cgroup/pids/pids.max".to_string(),
            )
        };
        let script = format!(
            "echo -1 > {memory}; echo max > {pids}; echo memory=$(cat {memory}) pids=$(cat {pids})"
        );
        let mut bundle = Bundle::new(&id, &["sh", "-c", &script]);
        bundle.set(
            "/linux/resources",
            json!({"memory": {"limit": 67108864}, "pids": {"limit": 50},
                   "devices": [{"allow": false, "access": "rwm"}]}),
        );
        // `runw spec` has a cgroup namespace: take it out, or keep exactly one (a namespace
        // listed twice is refused, as by runc).
        let namespaces = bundle.config["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|n| n["type"] != "cgroup");
        if cgroupns {
            namespaces.push(json!({"type": "cgroup"}));
        }
        bundle.save();
        let (code, out, err) = runw.run_bundle(&bundle, &id);
        assert_eq!(code, 0, "cgroupns={cgroupns}: {err}");
        assert_eq!(
            err.matches("Read-only file system").count(),
            2,
            "cgroupns={cgroupns}: both writes must fail: {err}"
        );
        assert_eq!(
            out.trim(),
            "memory=67108864 pids=50",
            "cgroupns={cgroupns}: the limits must be unchanged"
        );
    }
}

/// High 3: a Wasm module cannot open its own process's procfs files (memory, maps,
/// environment, command line, descriptors, executable), by any of their names.
#[test]
fn wasm_module_cannot_reach_its_process_through_procfs() {
    let runw = Runw::new();
    let id = unique_id("sec-proc");
    let bundle = Bundle::new(&id, &["/probe.wasm"]);
    bundle.add("/probe.wasm", &c_module(C_PROC_PROBE));
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(code, 0, "{out}{err}");
    for line in out.lines() {
        let control = line.starts_with("/proc/cpuinfo") || line.starts_with("/etc/msg");
        if control {
            assert!(line.ends_with("OPEN"), "{line} (the control must open)");
        } else {
            assert!(
                !line.contains("OPEN"),
                "the module reached its process: {line}\n{out}"
            );
        }
    }
    assert!(out.contains("mem for writing: denied"), "{out}");
    assert_eq!(out.lines().count(), 13, "{out}");
}

/// High 2 and Medium 4/5: the running Wasm init holds no descriptor of runw's (lock file,
/// cache entry, log), and its command line and environment are not runw's.
#[test]
fn wasm_init_keeps_nothing_of_runw() {
    let runw = Runw::new();
    let id = unique_id("sec-fds");
    let bundle = Bundle::new(&id, &["/sleeper.wasm", "one"]);
    bundle.add("/sleeper.wasm", &c_module(C_SLEEPER));
    let log = bundle.dir.path().join("runw.log");
    let output = bundle.dir.path().join("container.out");
    let mut create = runw.command(&["--log", log.to_str().unwrap(), "create", "--bundle"]);
    create
        .arg(bundle.dir.path())
        .arg(&id)
        .env("SECRET_TOKEN", "hunter2")
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(Stdio::null());
    assert!(create.status().unwrap().success());
    let out = runw.run(&["start", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = init_pid(&runw, &id);
    // The module prints once it runs, i.e. after runw's part is done.
    assert!(common::wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&output).is_ok_and(|l| l.contains("sleeping"))
    }));
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let target = std::fs::read_link(fd.path()).unwrap();
        let shown = target.to_string_lossy();
        for host in [runw.root.path(), runw.cache.path(), log.as_path()] {
            assert!(
                !target.starts_with(host),
                "fd {:?} of the Wasm init is runw's {shown}",
                fd.file_name()
            );
        }
    }
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        !String::from_utf8_lossy(&environ).contains("hunter2"),
        "runw's environment is visible in the Wasm init"
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(
        cmdline.starts_with("/sleeper.wasm\0one\0"),
        "cmdline: {cmdline:?}"
    );
    assert!(!cmdline.contains(runw.root.path().to_str().unwrap()));
    let out = runw.run(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Medium 4: a foreground Wasm `exec` holds no lock while its module runs: `delete -f` of the
/// container goes through at once.
#[test]
fn a_running_wasm_exec_does_not_block_delete() {
    let runw = Runw::new();
    let id = unique_id("sec-exec");
    let bundle = Bundle::new(&id, &["/sleeper.wasm"]);
    bundle.add("/sleeper.wasm", &c_module(C_SLEEPER));
    start_detached(&runw, &bundle, &id);
    let mut exec = Background(
        runw.command(&["exec", &id, "/sleeper.wasm"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut first = [0u8; 8];
    std::io::Read::read_exact(exec.0.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"sleeping");
    let mut delete = Background(
        runw.command(&["delete", "--force", &id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let status = delete.wait_for(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "delete -f waited for the exec'd module: {status:?}"
    );
    assert!(exec.wait_for(Duration::from_secs(5)).is_some());
}

/// Medium 6: an operator's `exec` of a Linux container's binary never runs a Wasm file that
/// the container planted there.
#[test]
fn exec_into_a_linux_container_runs_no_planted_wasm() {
    let runw = Runw::new();
    let id = unique_id("sec-plant");
    let bundle = Bundle::new(&id, &["sleep", "60"]);
    start_detached(&runw, &bundle, &id);
    let planted = bundle.rootfs().join("bin/true");
    std::fs::remove_file(&planted).unwrap();
    std::fs::write(&planted, wat(&wat_hello("planted wasm ran\n"))).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = runw.run(&["exec", &id, "/bin/true"]);
    assert!(
        !stdout(&out).contains("planted wasm ran"),
        "the planted module ran"
    );
    assert!(!out.status.success(), "a non-ELF file cannot exec as Linux");
}

/// Medium 7: `--pid-file` at a symlink (planted in the rootfs) replaces the symlink instead
/// of writing through it, for `create` and `exec`.
#[test]
fn pid_file_never_follows_a_symlink() {
    let runw = Runw::new();
    let id = unique_id("sec-pid");
    let bundle = Bundle::new(&id, &["sleep", "60"]);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let link = bundle.rootfs().join("tmp/p");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let log = bundle.dir.path().join("container.log");
    let status = runw
        .command(&["create", "--pid-file", link.to_str().unwrap(), "--bundle"])
        .arg(bundle.dir.path())
        .arg(&id)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    runw.run(&["start", &id]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(
        std::fs::read_to_string(&link).unwrap(),
        init_pid(&runw, &id).to_string()
    );
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let out = runw.run(&["exec", "--pid-file", link.to_str().unwrap(), &id, "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
    runw.run(&["delete", "--force", &id]);
}

/// High 2 and Low 9: a cache entry replaced by another valid entry is not run, and a cache
/// directory that others can write is refused.
#[test]
fn cache_entries_are_verified_and_the_directory_trusted() {
    let runw = Runw::new();
    let run_module = |text: &str| {
        let id = unique_id("sec-cache");
        let bundle = Bundle::new(&id, &["/m.wasm"]);
        bundle.add("/m.wasm", &wat(&wat_hello(text)));
        runw.run_bundle(&bundle, &id)
    };
    let entries = || -> Vec<std::path::PathBuf> {
        let mut e: Vec<_> = std::fs::read_dir(runw.cache.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .collect();
        e.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
        e
    };
    assert_eq!(run_module("module A\n").1, "module A\n");
    let a = entries().pop().unwrap();
    assert_eq!(run_module("module B\n").1, "module B\n");
    let b = entries().into_iter().find(|p| *p != a).unwrap();
    std::fs::copy(&b, &a).unwrap();
    assert_eq!(
        run_module("module A\n").1,
        "module A\n",
        "B's code ran as A"
    );

    std::fs::set_permissions(runw.cache.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, _, err) = run_module("module C\n");
    assert_eq!(code, 1);
    assert!(
        err.contains("refusing wasm cache directory") && err.contains("writable by group"),
        "{err}"
    );
    runw.assert_root_empty();
}

/// Low 10: `runw spec` gives a non-root process no capabilities (runc 1.1's template has no
/// inheritable set; with one, uid 1000 got effective and ambient 0x20000420).
#[test]
fn spec_gives_a_non_root_user_no_capabilities() {
    let runw = Runw::new();
    let id = unique_id("sec-caps");
    let mut bundle = Bundle::new(
        &id,
        &["sh", "-c", "grep -E '^Cap(Eff|Amb|Inh)' /proc/self/status"],
    );
    bundle.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    assert!(bundle.config["process"]["capabilities"]
        .get("inheritable")
        .is_none());
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "CapInh:\t0000000000000000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\n"
    );
}

/// #12.2: `exec --ignore-paused` into a paused container does not deadlock `resume`; the
/// exec'd process then runs to completion.
#[test]
fn exec_into_a_paused_container_lets_resume_through() {
    let runw = Runw::new();
    let id = unique_id("sec-pause");
    let bundle = Bundle::new(&id, &["sleep", "60"]);
    start_detached(&runw, &bundle, &id);
    let out = runw.run(&["pause", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut exec = Background(
        runw.command(&["exec", "--ignore-paused", &id, "echo", "ran after resume"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut resume = Background(
        runw.command(&["resume", &id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let resumed = resume.wait_for(Duration::from_secs(5));
    assert!(resumed.is_some_and(|s| s.success()), "resume: {resumed:?}");
    let status = exec.wait_for(Duration::from_secs(5));
    assert!(status.is_some_and(|s| s.success()), "exec: {status:?}");
    let mut text = String::new();
    std::io::Read::read_to_string(exec.0.stdout.as_mut().unwrap(), &mut text).unwrap();
    assert_eq!(text, "ran after resume\n");
    runw.run(&["delete", "--force", &id]);
}

/// Low 8: compiling a module is bounded in size, memory and time; each bound is named in the
/// error, and nothing is left behind.
#[test]
fn compilation_is_bounded() {
    let functions: String = (0..3000)
        .map(|i| {
            format!("(func $f{i} (param i32) (result i32) local.get 0 i32.const {i} i32.add)\n")
        })
        .collect();
    let module = wat(&format!(
        "(module {functions} (memory (export \"memory\") 1) (func (export \"_start\")))"
    ));
    for (flag, value) in [
        ("--wasm-max-module-size", "1K"),
        ("--wasm-compile-timeout", "0.001"),
        ("--wasm-compile-memory", "1M"),
    ] {
        let mut runw = Runw::new();
        runw.extra = vec![flag.to_string(), value.to_string()];
        let id = unique_id("sec-bound");
        let bundle = Bundle::new(&id, &["/big.wasm"]);
        bundle.add("/big.wasm", &module);
        let (code, _, err) = runw.run_bundle(&bundle, &id);
        assert_eq!(code, 1, "{flag} {value}: {err}");
        assert!(err.contains(flag), "{flag} {value}: {err}");
        runw.assert_root_empty();
        assert_no_cgroup(&id);
    }
    let runw = Runw::new();
    let id = unique_id("sec-bound");
    let bundle = Bundle::new(&id, &["/big.wasm"]);
    bundle.add("/big.wasm", &module);
    let (code, _, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(code, 0, "within the default bounds: {err}");
}
