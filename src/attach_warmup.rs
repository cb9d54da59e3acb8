//! Overlaps the kernel's cgroup-attach grace period with runw's own start-up.
//!
//! Moving a process into a cgroup (a write to `cgroup.procs`, v1 or v2) takes the kernel's
//! global `cgroup_threadgroup_rwsem` for writing. When no writer held it in the last few
//! milliseconds, that waits for a whole RCU grace period (5 to 15 ms on a 2-core VM); after a
//! write it stays cheap for about one more grace period. libcontainer's intermediate process
//! writes itself into the container's cgroups only after runw has re-executed itself (the
//! seal), read the bundle and cloned it, strictly in sequence, so every `create` paid the
//! whole grace period on top. (runc overlaps the same wait with its child's start-up.)
//!
//! So `create`, `run` and `exec`, before anything else, fork a tiny child that writes its own
//! pid into the cgroup it already is in: a move to the same cgroup changes nothing but takes
//! the lock, and the grace period elapses while runw seals itself and reads the bundle. A
//! child, not a thread: the seal's `execve` would wait for a thread stuck in that write. The
//! child's pid crosses the seal's re-exec in `RUNW_ATTACH_WARMUP`, so that the foreground
//! commands, which outlive it, can reap it. Failure (rootless, odd mounts) only means no
//! head start.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::sync::OnceLock;

use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};

const ENV: &str = "RUNW_ATTACH_WARMUP";

/// The warm-up child of this process, if one was started.
static CHILD: OnceLock<Pid> = OnceLock::new();

/// Starts the warm-up, or adopts the child forked before the seal's re-exec. Call it while
/// runw is still single-threaded.
pub fn start() {
    let child = match std::env::var(ENV).ok().and_then(|v| v.parse().ok()) {
        Some(pid) => Pid::from_raw(pid),
        None => match fork_writer() {
            Some(pid) => pid,
            None => return,
        },
    };
    let _ = CHILD.set(child);
    // For the image the seal may exec next; `forget_env` drops it once sealed.
    std::env::set_var(ENV, child.to_string());
}

/// Removes the hand-over variable, so that nothing runw starts later inherits it.
pub fn forget_env() {
    std::env::remove_var(ENV);
}

/// Reaps the warm-up child (long done by the time a container runs): for the commands that
/// stay alive with the container, so that no zombie is left beside it.
pub fn reap() {
    if let Some(child) = CHILD.get() {
        let _ = waitpid(*child, None);
    }
}

/// Forks the child that rewrites its own pid into its own cgroup, then exits.
fn fork_writer() -> Option<Pid> {
    let mut procs = own_cgroup_procs_file()?;
    // SAFETY: runw is single-threaded here (called first thing in `main`); the child only
    // writes to an open descriptor and calls `_exit`.
    match unsafe { fork() }.ok()? {
        ForkResult::Parent { child } => Some(child),
        ForkResult::Child => {
            let _ = write!(procs, "{}", std::process::id());
            // SAFETY: _exit ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(0) }
        }
    }
}

/// `cgroup.procs` of the cgroup runw runs in, opened for writing: the unified hierarchy when
/// mounted (v2, or hybrid's `/sys/fs/cgroup/unified`), else the first v1 hierarchy.
fn own_cgroup_procs_file() -> Option<std::fs::File> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    candidates(&own)
        .into_iter()
        .find_map(|path| OpenOptions::new().write(true).open(path).ok())
}

/// Possible `cgroup.procs` paths for the lines of `/proc/self/cgroup`, best first.
fn candidates(proc_self_cgroup: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let path = path.trim_end_matches('/');
        if controllers.is_empty() {
            paths.insert(0, format!("/sys/fs/cgroup/unified{path}/cgroup.procs"));
            paths.insert(1, format!("/sys/fs/cgroup{path}/cgroup.procs"));
        } else if let Some(name) = controllers.strip_prefix("name=") {
            paths.push(format!("/sys/fs/cgroup/{name}{path}/cgroup.procs"));
        } else {
            paths.push(format!("/sys/fs/cgroup/{controllers}{path}/cgroup.procs"));
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_prefers_the_unified_hierarchy() {
        let own = "4:memory:/a/b\n1:cpu,cpuacct:/\n0::/user.slice\n";
        assert_eq!(
            candidates(own),
            [
                "/sys/fs/cgroup/unified/user.slice/cgroup.procs",
                "/sys/fs/cgroup/user.slice/cgroup.procs",
                "/sys/fs/cgroup/memory/a/b/cgroup.procs",
                "/sys/fs/cgroup/cpu,cpuacct/cgroup.procs",
            ]
        );
    }

    #[test]
    fn root_cgroup_has_no_double_slash() {
        assert_eq!(
            candidates("0::/\n"),
            [
                "/sys/fs/cgroup/unified/cgroup.procs",
                "/sys/fs/cgroup/cgroup.procs"
            ]
        );
    }
}
