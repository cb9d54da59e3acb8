//! Compilation under bounds. A module is compiled on the host, in `create`, before the
//! container (and its cgroup limits) exist; unbounded, one large module (a 20 MB module
//! needed about 750 MB and 16 s here) takes a node's memory and CPU. runw compiles in a forked
//! child whose data segment is limited (`RLIMIT_DATA`, which counts heap and anonymous
//! mappings) and which is killed after a wall-clock timeout; the child hands the compiled
//! artifact back through a pipe. Only a cache miss pays the fork (about a millisecond).
//!
//! Bounds (global flags, with environment variables for callers that cannot add flags):
//! `--wasm-max-module-size` (checked before reading), `--wasm-compile-memory`,
//! `--wasm-compile-timeout`.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::ForkResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Largest module file runw reads and compiles.
    pub max_module_bytes: u64,
    /// `RLIMIT_DATA` of the compiling child.
    pub memory_bytes: u64,
    pub timeout: Duration,
}

impl Default for CompileLimits {
    fn default() -> Self {
        Self {
            max_module_bytes: 128 << 20,
            memory_bytes: 2 << 30,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Why a bounded compilation gave no artifact.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The compiler's own error (an invalid module).
    Rejected(String),
    /// Killed after the timeout.
    TimedOut(Duration),
    /// Ran out of its memory bound (or died another way: the status says which).
    Died(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Rejected(why) => write!(f, "{why}"),
            Failure::TimedOut(limit) => write!(
                f,
                "compiling it took longer than {}s (--wasm-compile-timeout)",
                limit.as_secs_f64()
            ),
            Failure::Died(how) => write!(f, "{how}"),
        }
    }
}

const OK: u8 = 0;
const REJECTED: u8 = 1;

/// Runs `compile` in a child process under `limits` and returns its output.
pub fn compile(
    limits: &CompileLimits,
    compile: impl FnOnce() -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, Failure> {
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Failure::Died(format!("cannot compile: pipe: {e}")))?;
    // SAFETY: runw is single-threaded on the host side (compilation itself is), so the child
    // may allocate; it leaves with _exit and never returns into runw's code.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(Failure::Died(format!("cannot compile: fork: {e}"))),
        Ok(ForkResult::Child) => {
            drop(read_end);
            child(limits, write_end, compile)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(write_end);
            parent(limits, read_end, child)
        }
    }
}

fn child(
    limits: &CompileLimits,
    write_end: OwnedFd,
    compile: impl FnOnce() -> Result<Vec<u8>, String>,
) -> ! {
    let _ = nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_DATA,
        limits.memory_bytes,
        limits.memory_bytes,
    );
    let (tag, payload) = match compile() {
        Ok(bytes) => (OK, bytes),
        Err(why) => (REJECTED, why.into_bytes()),
    };
    let mut pipe = std::fs::File::from(write_end);
    let ok = pipe
        .write_all(&[tag])
        .and_then(|()| pipe.write_all(&payload));
    // SAFETY: _exit ends the child without running runw's destructors or atexit handlers.
    unsafe { libc::_exit(if ok.is_ok() { 0 } else { 1 }) }
}

fn parent(
    limits: &CompileLimits,
    read_end: OwnedFd,
    child: nix::unistd::Pid,
) -> Result<Vec<u8>, Failure> {
    let deadline = Instant::now() + limits.timeout;
    let mut output = Vec::new();
    let mut pipe = std::fs::File::from(read_end);
    let mut chunk = vec![0u8; 1 << 20];
    let timed_out = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break true;
        }
        let millis = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [nix::poll::PollFd::new(
            pipe.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, millis) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(Failure::Died(format!("cannot compile: poll: {e}"))),
        }
        match pipe.read(&mut chunk) {
            Ok(0) => break false,
            Ok(n) => output.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::Died(format!("cannot compile: read: {e}"))),
        }
    };
    if timed_out {
        let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
    }
    let status = waitpid(child, None);
    if timed_out {
        return Err(Failure::TimedOut(limits.timeout));
    }
    match (status, output.split_first()) {
        (Ok(WaitStatus::Exited(_, 0)), Some((&OK, artifact))) => Ok(artifact.to_vec()),
        (Ok(WaitStatus::Exited(_, 0)), Some((&REJECTED, why))) => {
            Err(Failure::Rejected(String::from_utf8_lossy(why).into_owned()))
        }
        (status, _) => Err(Failure::Died(format!(
            "compiling it needed more than {} MiB of memory (--wasm-compile-memory) or failed ({})",
            limits.memory_bytes >> 20,
            describe(status)
        ))),
    }
}

fn describe(status: nix::Result<WaitStatus>) -> String {
    match status {
        Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(WaitStatus::Signaled(_, signal, _)) => format!("killed by {signal}"),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("waitpid: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(memory_bytes: u64, timeout: Duration) -> CompileLimits {
        CompileLimits {
            max_module_bytes: 1 << 20,
            memory_bytes,
            timeout,
        }
    }

    #[test]
    fn output_and_errors_come_back() {
        let l = limits(1 << 30, Duration::from_secs(10));
        assert_eq!(compile(&l, || Ok(vec![1, 2, 3])), Ok(vec![1, 2, 3]));
        let big = vec![7u8; 3 << 20];
        assert_eq!(compile(&l, || Ok(big.clone())), Ok(big));
        assert_eq!(
            compile(&l, || Err("bad module".into())),
            Err(Failure::Rejected("bad module".into()))
        );
    }

    /// The memory bound is tested end to end (tests/security.rs): an allocation failure in a
    /// child forked from this multi-threaded test harness may wait on a lock that another
    /// thread held at fork time; runw forks from a single thread.
    #[test]
    fn time_is_bounded() {
        let l = limits(1 << 30, Duration::from_millis(200));
        let start = Instant::now();
        let slow = compile(&l, || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(vec![])
        });
        assert_eq!(slow, Err(Failure::TimedOut(Duration::from_millis(200))));
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}
