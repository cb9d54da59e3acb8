//! A runtime command run at a terminal, as a person runs it: its stdin, stdout and stderr are
//! the slave of a pseudo-terminal that is also its controlling terminal (a new session); the
//! test types into the master and reads what appears there.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use nix::sys::termios::{self, LocalFlags};

use super::{Runtime, TIMEOUT};

/// How long [`AtTerminal::expect`] waits for text.
const EXPECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct AtTerminal {
    master: File,
    child: Child,
    cmd: String,
    output: Receiver<Vec<u8>>,
    /// Everything read from the terminal so far.
    pub seen: String,
    /// How much of `seen` earlier [`AtTerminal::expect`] calls consumed.
    consumed: usize,
}

impl Runtime {
    /// Starts `args` at a new terminal of `rows` x `cols`.
    pub fn spawn_at_terminal(&self, args: &[&str], (rows, cols): (u16, u16)) -> AtTerminal {
        let size = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let (mut cmd, text) = self.command(args);
        let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
        cmd.stdin(stdio(&pty.slave))
            .stdout(stdio(&pty.slave))
            .stderr(stdio(&pty.slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {text}: {e}"));
        // Only the runtime holds the slave now: reading the master ends (EIO) when it exits.
        drop(pty.slave);
        let master = File::from(pty.master);
        let output = read_in_background(master.try_clone().unwrap());
        AtTerminal {
            master,
            child,
            cmd: text,
            output,
            seen: String::new(),
            consumed: 0,
        }
    }
}

/// Sends every chunk read from `master` until it reports the terminal closed (EIO).
pub fn read_in_background(mut master: File) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

impl AtTerminal {
    /// Types `text`.
    pub fn send(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
    }

    /// Waits until `needle` appears after what earlier calls consumed, and consumes up to its
    /// end. Panics with everything seen when it does not appear.
    #[track_caller]
    pub fn expect(&mut self, needle: &str) {
        if !self.appears(needle, EXPECT_TIMEOUT) {
            panic!(
                "{}: {needle:?} did not appear at the terminal; it shows:\n{}",
                self.cmd, self.seen
            );
        }
    }

    /// Like [`AtTerminal::expect`], but says whether `needle` appeared within `timeout`.
    pub fn appears(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.seen[self.consumed..].find(needle) {
                self.consumed += at + needle.len();
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => return false,
            }
        }
    }

    /// Resizes the terminal: the kernel sends SIGWINCH to the runtime (its foreground
    /// process group).
    pub fn resize(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ on the master we own, with a pointer to a winsize.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    /// Whether the terminal is in canonical mode with echo, as a shell leaves it (and not in
    /// the raw mode of a relay).
    pub fn is_cooked(&self) -> bool {
        let settings = termios::tcgetattr(&self.master).expect("tcgetattr");
        settings
            .local_flags
            .contains(LocalFlags::ICANON | LocalFlags::ECHO)
    }

    /// Waits for the runtime to exit (at most [`TIMEOUT`]) and returns its exit code; the
    /// rest of its output is read into `seen`.
    #[track_caller]
    pub fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "{} did not exit; the terminal shows:\n{}",
                    self.cmd, self.seen
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(chunk) = self.output.recv_timeout(Duration::from_secs(2)) {
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        use std::os::unix::process::ExitStatusExt;
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
    }
}

impl Drop for AtTerminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
