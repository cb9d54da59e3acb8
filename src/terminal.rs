//! The terminal of a foreground `run`, or `exec -t`, without `--console-socket`, relayed as
//! runc relays it: libcontainer makes the pseudo-terminal inside the container (on its own
//! devpts, so `tty` and job control work there) and sends the master over a console socket;
//! runw listens on a socket of its own, receives the master and relays it to its stdio, with
//! the caller's terminal in raw mode while the process runs (restored when the relay is
//! dropped, on success and on errors), the window size passed at start and on SIGWINCH.
//! Ctrl-C is a byte like any other: the container's terminal turns it into SIGINT for its
//! foreground process group.
//!
//! libcontainer 0.7 has no relay of its own: without a console socket it gives the process
//! runw's stdio even when `terminal` is true.

use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

/// How long the end of the output may take once the process has exited: a process it left
/// in the background can keep the terminal open.
const DRAIN: Duration = Duration::from_secs(2);

/// Whether runw relays the terminal itself: `terminal: true` for a process runw waits for,
/// with no console socket to hand the master to. (`--detach` without a console socket is
/// refused by libcontainer, with runc's message.)
pub fn relayed(terminal: bool, detach: bool, console_socket: Option<&Path>) -> bool {
    terminal && !detach && console_socket.is_none()
}

/// A running relay. Dropping it restores the caller's terminal and removes the socket.
pub struct Relay {
    socket_dir: PathBuf,
    socket: PathBuf,
    master: Arc<OnceLock<File>>,
    output_done: Receiver<()>,
    host: HostConsole,
}

impl Relay {
    /// Puts the caller's terminal in raw mode and listens for the master on a socket in a new
    /// private directory `dir`, which the relay removes. Fails, changing nothing, when runw
    /// has no terminal to relay to.
    pub fn start(dir: PathBuf) -> Result<Relay> {
        let host = HostConsole::find()?;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let socket = dir.join("console.sock");
        let listener = match bind(&dir) {
            Ok(listener) => listener,
            Err(err) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(err);
            }
        };
        let master = Arc::new(OnceLock::new());
        let (done, output_done) = mpsc::channel();
        let size = host.window_size();
        let relay_master = Arc::clone(&master);
        // The relay's threads block every signal: the signals sent to runw are the main
        // thread's to forward (`commands::wait`), and a thread that did not block them would
        // take them with their default action instead.
        with_signals_blocked(|| {
            std::thread::spawn(move || {
                if let Ok(file) = receive_master(&listener) {
                    if let Some(size) = size {
                        set_window_size(file.as_fd(), &size);
                    }
                    if let (Ok(input), Ok(stdin)) = (file.try_clone(), dup_stdio(0)) {
                        std::thread::spawn(move || copy(stdin, input));
                    }
                    if let (Ok(output), Ok(stdout)) = (file.try_clone(), dup_stdio(1)) {
                        let _ = relay_master.set(file);
                        copy(output, stdout);
                        let _ = done.send(());
                    }
                }
            })
        });
        let mut relay = Relay {
            socket_dir: dir,
            socket,
            master,
            output_done,
            host,
        };
        // On failure, dropping the relay removes its directory.
        relay.host.make_raw()?;
        Ok(relay)
    }

    /// The console socket to give libcontainer.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Passes the caller's window size on (SIGWINCH); the container's terminal then signals
    /// its foreground process group.
    pub fn resize(&self) {
        if let (Some(master), Some(size)) = (self.master.get(), self.host.window_size()) {
            set_window_size(master.as_fd(), &size);
        }
    }

    /// Waits, for a bounded time, until the output the process left in the terminal is
    /// written; then the relay can be dropped.
    pub fn finish(&self) {
        let _ = self.output_done.recv_timeout(DRAIN);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.host.restore();
        let _ = std::fs::remove_dir_all(&self.socket_dir);
    }
}

/// The caller's terminal, as runc finds it: stderr, stdout or stdin if one is a terminal,
/// else the controlling terminal (`/dev/tty`).
struct HostConsole {
    file: File,
    saved: Option<Termios>,
}

impl HostConsole {
    fn find() -> Result<HostConsole> {
        for fd in [2, 1, 0] {
            if nix::unistd::isatty(fd).unwrap_or(false) {
                let file = dup_stdio(fd).context("cannot duplicate the terminal's descriptor")?;
                return Ok(HostConsole { file, saved: None });
            }
        }
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
        {
            Ok(file) => Ok(HostConsole { file, saved: None }),
            Err(err) => bail!(
                "cannot relay the container's terminal: runw's stdin, stdout and stderr are not terminals and /dev/tty cannot be opened ({err}); set process.terminal to false, or give --console-socket with --detach"
            ),
        }
    }

    fn make_raw(&mut self) -> Result<()> {
        let saved = termios::tcgetattr(self.file.as_fd())
            .context("cannot read the settings of runw's terminal")?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(self.file.as_fd(), SetArg::TCSANOW, &raw)
            .context("cannot put runw's terminal in raw mode")?;
        self.saved = Some(saved);
        Ok(())
    }

    fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = termios::tcsetattr(self.file.as_fd(), SetArg::TCSANOW, &saved);
        }
    }

    fn window_size(&self) -> Option<libc::winsize> {
        // SAFETY: zeroed is a valid winsize; TIOCGWINSZ fills it.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ on a descriptor we own, with a pointer to a winsize.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
        (rc == 0).then_some(size)
    }
}

fn set_window_size(fd: BorrowedFd<'_>, size: &libc::winsize) {
    // SAFETY: TIOCSWINSZ on a pty master with a pointer to a winsize.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, size) };
}

/// Binds the console socket in `dir` through `/proc/self/fd`, so that a long `--root` cannot
/// exceed the 108 bytes of a socket address.
fn bind(dir: &Path) -> Result<UnixListener> {
    let handle = File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let short = format!("/proc/self/fd/{}/console.sock", handle.as_raw_fd());
    UnixListener::bind(&short)
        .with_context(|| format!("cannot listen on {}", dir.join("console.sock").display()))
}

/// Accepts libcontainer's connection and receives the master (SCM_RIGHTS). libcontainer
/// connects during create and sends the master before the process runs.
fn receive_master(listener: &UnixListener) -> Result<File> {
    let (stream, _) = listener.accept()?;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(rights) = cmsg {
            fds.extend(rights);
        }
    }
    // SAFETY: descriptors received just now belong to this process alone.
    let mut owned: Vec<OwnedFd> = fds
        .into_iter()
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    match owned.pop() {
        Some(fd) => Ok(File::from(fd)),
        None => bail!("the console socket carried no terminal"),
    }
}

/// Copies until end of file or an error (EIO from a master whose terminal is closed).
fn copy(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
                    return;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// A descriptor of its own for one of runw's standard streams (Rust's `Stdout` buffers and
/// locks; the relay writes through as it reads).
fn dup_stdio(fd: RawFd) -> std::io::Result<File> {
    // SAFETY: borrowing a standard descriptor only to duplicate it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(File::from(borrowed.try_clone_to_owned()?))
}

/// Runs `f` with every signal blocked in the calling thread (threads it spawns inherit the
/// mask), then restores the mask.
fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    let previous = SigSet::all().thread_swap_mask(SigmaskHow::SIG_BLOCK);
    let result = f();
    if let Ok(previous) = previous {
        let _ = previous.thread_set_mask();
    }
    result
}
