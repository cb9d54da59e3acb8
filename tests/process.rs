//! What the container's process sees: hostname, env, cwd, user, mounts, rlimits, and
//! processes added with `exec`. (Its terminal: tests/terminal.rs.)

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::Runtime;
use serde_json::json;

#[test]
fn hostname_env_cwd_and_user() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("proc");
    let mut bundle = rt.bundle(
        &id,
        &[
            "sh",
            "-c",
            "hostname; echo \"$GREETING\"; pwd; id -u; id -g; id -G",
        ],
    );
    bundle.edit(|c| {
        c["hostname"] = json!("runw-it-host");
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("GREETING=hello world"));
        c["process"]["cwd"] = json!("/tmp");
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]});
    });
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "runw-it-host",
            "hello world",
            "/tmp",
            "1000",
            "1000",
            "1000 2000"
        ],
        "{out}"
    );
}

#[test]
fn user_1000_id_output() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("uid");
    let mut bundle = rt.bundle(&id, &["id"]);
    bundle.edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(
        out.stdout.starts_with("uid=1000(user) gid=1000(user)"),
        "{out}"
    );
}

#[test]
fn bind_tmpfs_and_read_only_mounts() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("mounts");
    let host = tempfile::tempdir().unwrap();
    let host_ro = tempfile::tempdir().unwrap();
    std::fs::write(host_ro.path().join("hostfile"), "from-host\n").unwrap();
    let script = "echo written > /data/out && echo bind-ok; \
                  echo x > /scratch/x && echo tmpfs-ok; \
                  grep ' /scratch ' /proc/mounts | cut -d' ' -f3; \
                  cat /ro/hostfile; \
                  if touch /ro/new 2>/dev/null; then echo ro-WRITABLE; else echo ro-refused; fi";
    let mut bundle = rt.bundle(&id, &["sh", "-c", script]);
    bundle.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/data", "type": "bind",
            "source": host.path(), "options": ["rbind", "rw"]}));
        mounts.push(json!({"destination": "/scratch", "type": "tmpfs",
            "source": "tmpfs", "options": ["nosuid", "nodev", "size=1m"]}));
        mounts.push(json!({"destination": "/ro", "type": "bind",
            "source": host_ro.path(), "options": ["rbind", "ro"]}));
    });
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        ["bind-ok", "tmpfs-ok", "tmpfs", "from-host", "ro-refused"],
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap(),
        "written\n"
    );
    assert!(!host_ro.path().join("new").exists());
}

#[test]
fn rlimits_within_the_hard_limit() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("rlimit");
    let mut bundle = rt.bundle(&id, &["sh", "-c", "ulimit -n; ulimit -Hn"]);
    bundle.edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]);
    });
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(out.stdout, "512\n1024\n", "{out}");

    let id = rt.id("rlimit-default");
    let bundle = rt.bundle(&id, &["sh", "-c", "ulimit -n"]);
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(
        out.stdout, "1024\n",
        "runw spec's RLIMIT_NOFILE 1024: {out}"
    );
}

#[test]
fn exec_detached_shows_in_ps() {
    require_root!();
    let rt = Runtime::runw();
    let (id, bundle) = rt.sleeper("exec-d");
    let pid_file = bundle.path().join("exec.pid");
    rt.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "300",
    ]);
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .expect("exec --pid-file written")
        .trim()
        .parse()
        .expect("pid file holds a number");
    let init = rt.state(&id)["pid"].as_i64().unwrap();
    assert_ne!(pid, init);
    let ps = rt.ok(&["ps", "--format", "json", &id]).json();
    let pids: Vec<i64> = ps
        .as_array()
        .expect("ps json is an array")
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    assert!(pids.contains(&pid), "exec pid {pid} not in {pids:?}");
    assert!(pids.contains(&init), "init pid {init} not in {pids:?}");
    let table = rt.ok(&["ps", &id]).stdout;
    assert!(table.lines().next().unwrap().contains("PID"), "{table}");
    assert!(
        table.lines().any(|l| l.contains("sleep 300")),
        "ps table lacks the exec'd process:\n{table}"
    );
}

#[test]
fn exec_foreground_output_and_exit_code() {
    require_root!();
    let rt = Runtime::runw();
    let (id, bundle) = rt.sleeper("exec-fg");
    let out = rt.run(&["exec", &id, "sh", "-c", "echo out; echo err >&2; exit 5"]);
    assert_eq!(out.code, 5, "{out}");
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    let out = rt.ok(&["exec", &id, "hostname"]);
    assert_eq!(
        out.stdout.trim(),
        bundle.config["hostname"].as_str().unwrap()
    );
    assert_eq!(rt.status(&id), "running");
}

#[test]
fn exec_env_cwd_user() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("exec-opts");
    let out = rt.ok(&[
        "exec",
        "--env",
        "FOO=bar baz",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1000",
        &id,
        "sh",
        "-c",
        "echo \"$FOO\"; pwd; id -u; id -g",
    ]);
    assert_eq!(out.stdout, "bar baz\n/tmp\n1000\n1000\n", "{out}");
    // Without --env the config's environment is used.
    let out = rt.ok(&["exec", &id, "sh", "-c", "echo $RUNW_IT_MARK"]);
    assert_eq!(out.stdout.trim(), id, "{out}");
}

#[test]
fn exec_process_file() {
    require_root!();
    let rt = Runtime::runw();
    let (id, bundle) = rt.sleeper("exec-p");
    let process = json!({
        "terminal": false,
        "user": {"uid": 1000, "gid": 1000},
        "args": ["sh", "-c", "echo \"$FOO\"; pwd; id -u; exit 4"],
        "env": ["PATH=/bin", "FOO=from-process-file"],
        "cwd": "/tmp"
    });
    let file = common::write_file(bundle.path(), "process.json", &process.to_string());
    let out = rt.run(&["exec", "--process", file.to_str().unwrap(), &id]);
    assert_eq!(out.code, 4, "{out}");
    assert_eq!(out.stdout, "from-process-file\n/tmp\n1000\n", "{out}");
    // Detached, as containerd and conmon call it.
    let pid_file = bundle.path().join("p.pid");
    let process = json!({"args": ["sleep", "300"], "cwd": "/", "env": ["PATH=/bin"],
        "user": {"uid": 0, "gid": 0}});
    let file = common::write_file(bundle.path(), "process2.json", &process.to_string());
    rt.ok(&[
        "exec",
        "--process",
        file.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let pid: i32 = common::read_trim(&pid_file).parse().unwrap();
    assert!(common::alive(pid));
}

/// `exec --process` reads the file once, as runc does, so a pipe works (`-p <(...)`, a FIFO);
/// runw used to read it three times before libcontainer read it again, and hung on the
/// second read of a pipe whose writer had gone.
#[test]
fn exec_process_file_is_read_once() {
    require_root!();
    for rt in [Runtime::runw(), Runtime::runc()] {
        let (id, bundle) = rt.sleeper("exec-fifo");
        let fifo = bundle.path().join("process.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let process = json!({"args": ["sh", "-c", "echo from-a-pipe"], "cwd": "/",
            "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}});
        let writer = {
            let (fifo, text) = (fifo.clone(), process.to_string());
            std::thread::spawn(move || std::fs::write(fifo, text))
        };
        let out = rt.run(&["exec", "--process", fifo.to_str().unwrap(), &id]);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "from-a-pipe\n"),
            "{out}"
        );
        writer.join().unwrap().unwrap();
    }
}

#[test]
fn exec_into_stopped_container_fails() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("exec-stopped");
    let bundle = rt.bundle(&id, &["true"]);
    rt.run_detached(&id, &bundle);
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    rt.run(&["exec", &id, "true"]).exec_fails_with(&["stopped"]);
    rt.run(&["exec", "-d", &id, "true"])
        .exec_fails_with(&["stopped"]);
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id);
}

/// Regression: a file the kernel cannot execute (here an executable script without `#!`)
/// is not run with /bin/sh, for the container's process and for `exec`. libcontainer's
/// `execvp` did that; runc `execve`s it and fails with "exec format error", as runw now does.
#[test]
fn a_file_the_kernel_cannot_execute_is_not_run_by_the_shell() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("noexec");
    let bundle = rt.bundle(&id, &["/script"]);
    let script = common::write_file(&bundle.rootfs(), "script", "echo the shell ran it\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
    assert_ne!(out.code, 0, "{out}");
    assert!(!out.stdout.contains("the shell ran it"), "{out}");
    assert!(out.stderr.contains("exec format error"), "{out}");
    rt.run(&["delete", "--force", &id]);

    let (id, _bundle) = rt.sleeper("noexec-exec");
    let script = common::write_file(&_bundle.rootfs(), "script", "echo the shell ran it\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = rt.run(&["exec", &id, "/script"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(!out.stdout.contains("the shell ran it"), "{out}");
    assert!(out.stderr.contains("exec format error"), "{out}");
}

/// The capability bits of `status`'s `CapEff:` line.
fn effective_caps(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no CapEff in {status:?}"))
}

/// `exec --cap` adds a capability to the exec'd process only; `--no-new-privs` sets its
/// no_new_privs bit where the container's process has it off.
#[test]
fn exec_cap_and_no_new_privs() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("exec-caps");
    let mut bundle = rt.bundle(&id, &["sleep", "600"]);
    bundle.edit(|c| c["process"]["noNewPrivileges"] = json!(false));
    rt.run_detached(&id, &bundle);
    const CAP_NET_ADMIN: u64 = 1 << 12;
    let plain = effective_caps(&rt.ok(&["exec", &id, "cat", "/proc/self/status"]).stdout);
    assert_eq!(
        plain & CAP_NET_ADMIN,
        0,
        "the default set has no CAP_NET_ADMIN"
    );
    let out = rt.ok(&[
        "exec",
        "--cap",
        "CAP_NET_ADMIN",
        &id,
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(effective_caps(&out.stdout), plain | CAP_NET_ADMIN);

    let nnp = |args: &[&str]| {
        let mut cmd = vec!["exec"];
        cmd.extend_from_slice(args);
        cmd.extend_from_slice(&[&id, "grep", "NoNewPrivs", "/proc/self/status"]);
        rt.ok(&cmd)
            .stdout
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(nnp(&[]), "0");
    assert_eq!(nnp(&["--no-new-privs"]), "1");
}

/// `exec --preserve-fds N` passes fds 3..3+N to the exec'd process, and no others.
#[test]
fn exec_preserve_fds() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("exec-fds");
    let file = common::write_file(rt.scratch.path(), "passed", "through fd 3\n");
    let run_with_fd3 = |extra: &[&str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&id, "sh", "-c", "cat <&3 || echo no fd 3"]);
        let (mut cmd, _) = rt.command(&args);
        let fd3 = File::open(&file).unwrap();
        use std::os::unix::process::CommandExt;
        let raw = fd3.as_raw_fd();
        // SAFETY: dup2/fcntl between fork and exec, on fds this process owns.
        unsafe {
            cmd.pre_exec(move || {
                // dup2 onto itself keeps close-on-exec: clear it then.
                let ok = if raw == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0) == 0
                } else {
                    libc::dup2(raw, 3) == 3
                };
                if !ok {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        drop(fd3);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(run_with_fd3(&["--preserve-fds", "1"]), "through fd 3\n");
    assert_eq!(run_with_fd3(&[]), "no fd 3\n");
}

/// A container whose stdout and stderr are /dev/null writes without error (libcontainer
/// reopens them read-only; runw's executor gives them a writable /dev/null), and its exit
/// status comes through.
#[test]
fn stdio_on_dev_null() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("devnull");
    let script = "echo out || exit 11; echo err >&2 || exit 12; exit 4";
    let bundle = rt.bundle(&id, &["sh", "-c", script]);
    let (mut cmd, _) = rt.command(&["run", "--bundle", bundle.path_str(), &id]);
    let status = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(4), "a write to /dev/null failed");
}

/// Regression: runw (Rust) ignores SIGPIPE and the container's process inherited that (an
/// ignored signal stays ignored across exec), so `yes | head` in a container printed EPIPE
/// errors where under runc `yes` dies quietly; signals runw's caller ignored reached the
/// container too. Processes start with no signal ignored, as runc's do, for `run` and
/// `exec`, also when runw's caller ignores some (this test's runtime ignores SIGQUIT).
#[test]
fn processes_start_with_no_signal_ignored() {
    require_root!();
    let rt = Runtime::runw();
    // The runtime runs with SIGQUIT ignored, as a caller may leave it.
    let run_ignoring_quit = |args: &[&str]| {
        let (mut cmd, text) = rt.command(args);
        use std::os::unix::process::CommandExt;
        // SAFETY: signal() between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGQUIT, libc::SIG_IGN);
                Ok(())
            });
        }
        let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{text}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ignored = |status: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no SigIgn in {status:?}"))
    };
    let id = rt.id("sigign");
    let bundle = rt.bundle(&id, &["cat", "/proc/self/status"]);
    let out = run_ignoring_quit(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(ignored(&out), "0000000000000000", "run");
    let (id, _bundle) = rt.sleeper("sigign-exec");
    let out = run_ignoring_quit(&["exec", &id, "cat", "/proc/self/status"]);
    assert_eq!(ignored(&out), "0000000000000000", "exec");
    let out = rt.ok(&["exec", &id, "sh", "-c", "yes | head -n 1"]);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("y\n", ""),
        "{out}"
    );
}
