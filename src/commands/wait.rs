//! Waiting for a foreground process (`run`, `exec` without `--detach`) like runc: signals sent
//! to runw are forwarded to the process, and the exit status is the process's own, or
//! 128+signal when a signal killed it.

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::terminal::Relay;

/// Blocks all signals in runw (after the container process exists: a blocked mask would be
/// inherited by it), forwards them to `pid` and returns its exit status. With a terminal
/// relay, SIGWINCH resizes the container's terminal instead, as runc does (the terminal then
/// signals the process), and the status is returned once the output is relayed.
pub fn forward_signals_and_wait(pid: Pid, relay: Option<&Relay>) -> Result<i32> {
    // runw's own short-lived child, so that no zombie stays beside the container.
    crate::attach_warmup::reap();
    let signals = SigSet::all();
    signals
        .thread_block()
        .context("cannot block signals while waiting for the container")?;
    loop {
        if let Some(status) = reap(pid)? {
            if let Some(relay) = relay {
                relay.finish();
            }
            return Ok(status);
        }
        match (signals.wait().context("sigwait")?, relay) {
            (Signal::SIGCHLD, _) => {}
            (Signal::SIGWINCH, Some(relay)) => relay.resize(),
            (signal, _) => {
                let _ = crate::signal::send(pid.as_raw(), signal as i32);
            }
        }
    }
}

/// Reaps `pid` if it has exited. `__WALL` because libcontainer clones the process.
fn reap(pid: Pid) -> Result<Option<i32>> {
    let flags = WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
    match waitpid(pid, Some(flags)) {
        Ok(status) => Ok(exit_code(status)),
        Err(nix::errno::Errno::ECHILD) => Ok(Some(0)),
        Err(err) => Err(err).context("waitpid"),
    }
}

/// The exit status runc reports for a wait status.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn killed_means_128_plus_signal() {
        let pid = Pid::from_raw(1);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 3)), Some(3));
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }
}
