//! Overlaps the kernel's cgroup-attach grace period with runw's own start-up.
//!
//! Moving a process into a cgroup (a write to `cgroup.procs`, v1 or v2) takes the kernel's
//! global `cgroup_threadgroup_rwsem` for writing. When no writer held it in the last few
//! milliseconds, that waits for a whole RCU grace period (5 to 15 ms on a 2-core VM); after a
//! write it stays cheap for about one more grace period. libcontainer's intermediate process
//! writes itself into the container's cgroups only after runw has read the bundle and cloned
//! it, strictly in sequence, so every `create` paid the whole grace period. (runc overlaps the
//! same wait with its child's start-up.)
//!
//! So `create`, `run` and `exec` start one thread that rewrites runw's pid into the cgroup it
//! already is in: a move to the same cgroup changes nothing but takes the lock, and the grace
//! period then elapses while runw reads the bundle. Failure (rootless, odd mounts) only means
//! no head start.
//!
//! The thread must not allocate once it runs: libcontainer clones the intermediate process with
//! a raw `clone3`, which skips glibc's fork handlers, so a malloc lock held by this thread at
//! that moment would stay locked in the child. The thread therefore only makes raw syscalls and
//! then sleeps until the process exits, with every signal blocked so that signals meant for
//! runw (forwarded to the container by `run`) never land on it.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::fd::{IntoRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SigSet, SigmaskHow};

/// Set by the thread right before its first syscall; nothing after that allocates.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Starts the warm-up in the background. Returns once the thread no longer allocates.
pub fn start() {
    let Some(procs) = own_cgroup_procs_file() else {
        return;
    };
    let mut pid = [0u8; 16];
    let len = {
        let mut cursor = &mut pid[..];
        let _ = write!(cursor, "{}", std::process::id());
        16 - cursor.len()
    };
    // The thread inherits the creator's signal mask: block everything around the spawn.
    let mut saved = SigSet::empty();
    if nix::sys::signal::pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut saved),
    )
    .is_err()
    {
        close(procs);
        return;
    }
    let spawned = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || rewrite_pid_then_sleep(procs, pid, len));
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
    match spawned {
        Ok(_) => {
            while !STARTED.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
        }
        Err(_) => close(procs),
    }
}

fn rewrite_pid_then_sleep(procs: RawFd, pid: [u8; 16], len: usize) {
    STARTED.store(true, Ordering::Release);
    // SAFETY: raw syscalls on a descriptor this thread owns and a buffer it owns.
    unsafe {
        libc::write(procs, pid.as_ptr().cast(), len);
        libc::close(procs);
    }
    loop {
        // SAFETY: pause has no preconditions; with all signals blocked it sleeps until exit.
        unsafe { libc::pause() };
    }
}

/// `cgroup.procs` of the cgroup runw runs in, opened for writing: the unified hierarchy when
/// mounted (v2, or hybrid's `/sys/fs/cgroup/unified`), else the first v1 hierarchy.
fn own_cgroup_procs_file() -> Option<RawFd> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    candidates(&own)
        .into_iter()
        .find_map(|path| OpenOptions::new().write(true).open(path).ok())
        .map(IntoRawFd::into_raw_fd)
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

fn close(fd: RawFd) {
    // SAFETY: `fd` came from `into_raw_fd` and is closed once.
    unsafe { libc::close(fd) };
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
