//! The container's terminal: the pty master handed to a `--console-socket`, and the relay of
//! a foreground `run` or `exec -t` without one (runw at a person's terminal, as runc).

mod common;
mod wasm_common;

use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Runtime, TIMEOUT};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::json;

/// A shell at the terminal of a foreground `run`: busybox's prompt, its terminal named by
/// `tty`, job control on (ash prints "can't access tty; job control turned off" otherwise),
/// the window size at start and after a resize, Ctrl-C reaching the foreground process,
/// Ctrl-Z stopping one, and `exit 7` as runw's status; the caller's terminal is cooked again
/// afterwards. runc behaves the same (checked side by side when this was written).
#[test]
fn run_relays_an_interactive_shell() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("tty-run");
    let bundle = terminal_bundle(&rt, &id, &["sh"]);
    let mut term = rt.spawn_at_terminal(&["run", "--bundle", bundle.path_str(), &id], (24, 80));
    term.expect("/ # ");
    assert!(
        !term.is_cooked(),
        "runw's terminal is not in raw mode while it relays"
    );
    // Each command is typed at a prompt: ash reads its line after asking the terminal where
    // the cursor is, and text typed earlier may be taken for the answer.
    term.send("tty; echo flags=$-\n");
    term.expect("/dev/pts/0");
    term.expect("flags=smi");
    term.expect("/ # ");
    term.send("stty size\n");
    term.expect("24 80");
    term.expect("/ # ");
    term.resize(40, 120);
    // SIGWINCH reaches runw asynchronously: ask until the container's terminal follows.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !term.seen.contains("40 120") {
        assert!(Instant::now() < deadline, "no resize:\n{}", term.seen);
        term.send("stty size\n");
        term.expect("/ # ");
    }
    term.send("sleep 30\n");
    std::thread::sleep(Duration::from_millis(300));
    term.send("\x03");
    term.expect("/ # ");
    term.send("echo status=$?\n");
    term.expect("status=130");
    term.expect("/ # ");
    term.send("sleep 20\n");
    std::thread::sleep(Duration::from_millis(300));
    term.send("\x1a");
    term.expect("Stopped");
    term.expect("/ # ");
    // (ash refuses to exit while a job is stopped; SIGKILL ends a stopped process.) Quoted so
    // that the echo of the typed line does not match.
    term.send("kill -9 %1; wait %1; echo kill\"\"ed\n");
    term.expect("killed");
    // ash may drop a line typed while it reports the job's end: type until it answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        term.send("echo rea\"\"dy\n");
        if term.appears("ready", Duration::from_secs(1)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the shell stopped answering:\n{}",
            term.seen
        );
    }
    term.expect("/ # ");
    term.send("exit 7\n");
    assert_eq!(term.wait(), 7, "runw's status:\n{}", term.seen);
    assert!(
        !term.seen.contains("job control turned off"),
        "{}",
        term.seen
    );
    assert!(term.is_cooked(), "runw left the terminal in raw mode");
}

/// `exec -t` into a running container without a terminal of its own: the exec'd shell gets
/// a new pty of the container, relayed the same way, and its status is runw's.
#[test]
fn exec_t_relays_a_terminal() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("tty-exec");
    let mut term = rt.spawn_at_terminal(&["exec", "-t", &id, "sh"], (30, 100));
    term.expect("/ # ");
    term.send("tty; stty size\n");
    term.expect("/dev/pts/0");
    term.expect("30 100");
    term.expect("/ # ");
    term.send("sleep 30\n");
    std::thread::sleep(Duration::from_millis(300));
    term.send("\x03");
    term.expect("/ # ");
    term.send("echo status=$?\n");
    term.expect("status=130");
    term.expect("/ # ");
    term.send("exit 5\n");
    assert_eq!(term.wait(), 5, "{}", term.seen);
    assert!(term.is_cooked(), "runw left the terminal in raw mode");
    assert_eq!(rt.status(&id), "running");
}

/// A Wasm module's stdio is the container's terminal too: its "\n" comes out as "\r\n"
/// (the terminal's output processing), which only a pty does.
#[test]
fn run_relays_a_wasm_modules_terminal() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("tty-wasm");
    let mut bundle = wasm_common::Bundle::new(&id, &["/hello.wasm"]);
    bundle.add(
        "/hello.wasm",
        &wasm_common::wat(&wasm_common::wat_hello("hello from wasm\n")),
    );
    bundle.set("/process/terminal", json!(true));
    let mut term = rt.spawn_at_terminal(&["run", "--bundle", bundle.dir_str(), &id], (24, 80));
    term.expect("hello from wasm\r\n");
    assert_eq!(term.wait(), 0, "{}", term.seen);
}

/// With no terminal anywhere (stdio are files, no controlling terminal), `terminal: true`
/// cannot be relayed: one error line, exit 1 (255 for exec, as runc's exec failures), and
/// nothing left (Runtime's drop checks the root, cgroups and processes).
#[test]
fn terminal_without_a_terminal_is_refused() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("tty-none");
    let bundle = terminal_bundle(&rt, &id, &["true"]);
    let out = run_without_terminal(&rt, &["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(out.0, 1, "{out:?}");
    assert_one_error_line(&out.1, "are not terminals");
    rt.assert_clean(&id);

    let (running, _bundle) = rt.sleeper("tty-none-exec");
    let out = run_without_terminal(&rt, &["exec", "-t", &running, "true"]);
    assert_eq!(out.0, 255, "{out:?}");
    assert_one_error_line(&out.1, "exec failed: cannot relay the container's terminal");
}

/// `--detach` with `terminal: true` needs a console socket: runc's message, naming runw.
#[test]
fn detached_terminal_without_console_socket_is_refused_like_runc() {
    require_root!();
    for rt in [Runtime::runw(), Runtime::runc()] {
        let id = rt.id("tty-d");
        let bundle = terminal_bundle(&rt, &id, &["sh"]);
        let needle = format!(
            "cannot allocate tty if {} will detach without setting console socket",
            rt.name()
        );
        rt.run(&["run", "-d", "--bundle", bundle.path_str(), &id])
            .fails_with(&[&needle]);
        rt.assert_clean(&id);
        let (running, _bundle) = rt.sleeper("tty-d-exec");
        rt.run(&["exec", "-t", "-d", &running, "true"])
            .exec_fails_with(&[&needle]);
    }
}

/// `runw spec` writes a config for a person at a terminal, as `runc spec` does.
#[test]
fn spec_asks_for_a_terminal_like_runc() {
    for rt in [Runtime::runw(), Runtime::runc()] {
        let dir = tempfile::tempdir().unwrap();
        rt.ok(&["spec", "--bundle", dir.path().to_str().unwrap()]);
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["process"]["terminal"], json!(true), "{}", rt.name());
    }
}

/// A busybox bundle for `id` running `args` with `terminal: true`.
fn terminal_bundle(rt: &Runtime, id: &str, args: &[&str]) -> common::Bundle {
    let mut bundle = rt.bundle(id, args);
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    bundle
}

/// Runs `args` with files as stdio and in a new session (no controlling terminal).
fn run_without_terminal(rt: &Runtime, args: &[&str]) -> (i32, String) {
    let (mut cmd, text) = rt.command(args);
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    cmd.stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("{text}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn assert_one_error_line(stderr: &str, needle: &str) {
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(
        stderr.contains("level=error") && stderr.contains(needle),
        "{needle:?} expected: {stderr}"
    );
}
/// Accepts one connection on `listener` and receives the pty master sent with SCM_RIGHTS.
/// Returns the fd and the payload (the pty's name).
fn receive_pty(listener: &UnixListener, timeout: Duration) -> (RawFd, String) {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + timeout;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "nobody connected to the socket");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let (fds, len) = {
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .expect("recvmsg on the console socket");
        let mut fds = Vec::new();
        for cmsg in msg.cmsgs().expect("control messages") {
            if let ControlMessageOwned::ScmRights(rights) = cmsg {
                fds.extend(rights);
            }
        }
        (fds, msg.bytes)
    };
    assert_eq!(fds.len(), 1, "expected exactly one fd, got {fds:?}");
    (fds[0], String::from_utf8_lossy(&buf[..len]).into_owned())
}

/// Reads the pty master until the container's side closes (EIO) or `timeout` passes.
fn read_pty(master: &File, timeout: Duration) -> String {
    let rx = common::pty::read_in_background(master.try_clone().unwrap());
    let deadline = Instant::now() + timeout;
    let mut text = Vec::new();
    while let Ok(chunk) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        text.extend(chunk);
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[test]
fn console_socket_receives_the_pty_master() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("tty");
    let bundle = terminal_bundle(&rt, &id, &["sh"]);
    let sock = bundle.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let running = rt.spawn(&[
        "run",
        "--detach",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        bundle.path_str(),
        &id,
    ]);
    // The payload is the master's name (runc sends "/dev/ptmx"); go-runc ignores it.
    let (fd, _name) = receive_pty(&listener, TIMEOUT);
    running.wait(TIMEOUT).ok();
    // SAFETY: the fd was just received and is owned by nobody else.
    let mut master = unsafe { File::from_raw_fd(fd) };
    assert_eq!(rt.status(&id), "running");
    master.write_all(b"echo hi; exit 7\n").unwrap();
    let text = read_pty(&master, Duration::from_secs(10));
    assert!(
        text.lines().any(|l| l.trim_end_matches('\r') == "hi"),
        "no 'hi' line in the pty output: {text:?}"
    );
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id);
}

/// runc refuses `run --console-socket` without --detach (it would be its own console).
#[test]
fn console_socket_without_detach_is_refused_like_runc() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("tty-fg");
    let bundle = terminal_bundle(&rt, &id, &["sh"]);
    let sock = bundle.path().join("console.sock");
    let _listener = UnixListener::bind(&sock).unwrap();
    let out = rt
        .run(&[
            "run",
            "--console-socket",
            sock.to_str().unwrap(),
            "--bundle",
            bundle.path_str(),
            &id,
        ])
        .fails_with(&["console socket"]);
    assert!(
        !out.stderr.contains("youki"),
        "messages should name runw, not youki: {out}"
    );
    rt.assert_clean(&id);
}

#[test]
fn console_socket_with_create_and_start() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("tty-create");
    let bundle = terminal_bundle(&rt, &id, &["sh"]);
    let sock = bundle.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let creating = rt.spawn(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        bundle.path_str(),
        &id,
    ]);
    let (fd, _name) = receive_pty(&listener, TIMEOUT);
    creating.wait(TIMEOUT).ok();
    // SAFETY: the fd was just received and is owned by nobody else.
    let mut master = unsafe { File::from_raw_fd(fd) };
    rt.ok(&["start", &id]);
    master.write_all(b"echo from-tty; exit 0\n").unwrap();
    rt.wait_status(&id, "stopped", Duration::from_secs(10));
    let mut text = Vec::new();
    let _ = master.read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("from-tty"), "{text:?}");
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id);
}

/// `exec -t -d --console-socket S` (runc's command-line form; containerd's shim passes a
/// process file instead): the exec'd process gets a terminal whose master goes to S. Before
/// runw set `terminal` for `-t`, libcontainer refused the socket ("cannot use console socket
/// if runw will not detach or allocate tty").
#[test]
fn exec_t_with_a_console_socket_sends_the_master() {
    require_root!();
    let rt = Runtime::runw();
    let (id, bundle) = rt.sleeper("tty-exec-sock");
    let sock = bundle.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let execing = rt.spawn(&[
        "exec",
        "-t",
        "-d",
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "tty; exit 0",
    ]);
    let (fd, _name) = receive_pty(&listener, TIMEOUT);
    execing.wait(TIMEOUT).ok();
    // SAFETY: the fd was just received and is owned by nobody else.
    let master = unsafe { File::from_raw_fd(fd) };
    let text = read_pty(&master, Duration::from_secs(10));
    assert!(
        text.contains("/dev/pts/"),
        "no tty name at the terminal: {text:?}"
    );
}
