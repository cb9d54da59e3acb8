//! Killing a container's processes before its cgroup is removed, and waiting for them.
//!
//! libcontainer 0.7's `Container::delete(force)` sends SIGKILL to the container's processes
//! and at once removes the cgroup, retrying `rmdir` 4 times over about 100 ms. A process that
//! takes longer to exit keeps the cgroup busy (on a loaded host, or a paused container on
//! cgroup v2, whose frozen processes die only as the cgroup thaws), and `delete --force`
//! fails with "could not delete", leaving the cgroup and the state behind. runc waits for the
//! processes to be gone before it removes the cgroup; so does runw, up to [`GRACE`], and
//! tries the removal again while the kernel still counts a dying process ([`delete`]).

use std::time::{Duration, Instant};

use anyhow::Result;
use libcgroups::common::{AnyCgroupManager, CgroupConfig, CgroupManager};
use libcontainer::container::Container;
use libcontainer::signal::Signal;

/// How long a killed container's processes get to leave its cgroup.
const GRACE: Duration = Duration::from_secs(10);

/// With `force`, kills every process of a container that may have some (created, running,
/// paused) and waits until its cgroup is empty, so that `delete` can remove the cgroup.
pub fn kill_before_delete(container: &mut Container, force: bool) -> Result<()> {
    if !force || !container.can_kill() {
        return Ok(());
    }
    // Freezes, signals and thaws the cgroup, so a paused container's processes die too.
    container.kill(Signal::from(nix::sys::signal::Signal::SIGKILL), true)?;
    let config = container.spec()?;
    if let Ok(manager) = manager(config.cgroup_path, container.systemd(), container.id()) {
        wait_until_empty(&manager);
    }
    Ok(())
}

/// libcontainer's `delete`, tried again while its removal of the cgroup fails because the
/// cgroup is still busy: a killed process that left `cgroup.procs` can keep the cgroup
/// populated until its parent reaps it, and the parent of an `exec`'d process is the `runw
/// exec` waiting for it, which a loaded host may run late (seen in the cgroup v2 lane:
/// "could not delete" with no process left). Each try is complete: the first one saved the
/// state as stopped.
pub fn delete(container: &mut Container, force: bool) -> Result<()> {
    let deadline = Instant::now() + GRACE;
    loop {
        match container.delete(force) {
            Ok(()) => return Ok(()),
            Err(err) if Instant::now() < deadline && cgroup_busy(&err) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// True when libcgroups gave up removing the cgroup (its rmdir retries failed), anywhere in
/// the error's chain.
fn cgroup_busy(err: &libcontainer::error::LibcontainerError) -> bool {
    std::iter::successors(Some(err as &dyn std::error::Error), |e| e.source())
        .any(|e| e.to_string().contains("could not delete"))
}

/// Kills every process in a cgroup, waits for them to leave it and removes it. Best effort:
/// for what a killed `create` left, which has no state to pause or freeze it.
pub fn remove_cgroup(cgroup_path: std::path::PathBuf, systemd: bool, id: &str) {
    let Ok(manager) = manager(cgroup_path, systemd, id) else {
        return;
    };
    if let Ok(pids) = manager.get_all_pids() {
        for pid in pids {
            let _ = crate::signal::send(pid.as_raw(), libc::SIGKILL);
        }
    }
    wait_until_empty(&manager);
    let _ = manager.remove();
}

/// Waits, for at most [`GRACE`], until no set-up clone of a killed create of container `id`
/// is left. A create killed while its intermediate
/// (`runw:[1:INTER]`) waits in the kernel for the cgroup lock (uninterruptibly, for seconds
/// on a loaded host) leaves that clone behind with its parent-death signal pending: it makes
/// the container's cgroup directory after `delete --force` removed it, and only then dies.
/// The clones carry the create's (or run's) command line, which names the container; a runw
/// command of another kind waiting for the container's lock does not count. Not signalled
/// here (one of another `--root` with the same id would be a stranger's): the intermediate
/// is dying, and an init has been killed with the cgroup's processes.
pub fn wait_for_setup_clones(id: &str) {
    let deadline = Instant::now() + GRACE;
    while setup_clone_exists(id) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn setup_clone_exists(id: &str) -> bool {
    let Ok(processes) = procfs::process::all_processes() else {
        return false;
    };
    let me = std::process::id() as i32;
    processes.flatten().any(|process| {
        process.pid != me
            && std::fs::read_to_string(format!("/proc/{}/comm", process.pid))
                .is_ok_and(|comm| is_setup_name(comm.trim_end()))
            && process.cmdline().is_ok_and(|args| {
                args.iter().any(|arg| arg == id)
                    && args.iter().any(|arg| arg == "create" || arg == "run")
            })
            // Not this runw's own children (a create's attach warm-up, attach_warmup.rs).
            && process.stat().is_ok_and(|stat| stat.ppid != me)
    })
}

/// A clone's name over its life: runw's own until libcontainer renames it `youki:[...]`, then
/// runw's `runw:[...]` (fixups/clones.rs).
fn is_setup_name(comm: &str) -> bool {
    comm == "runw" || comm.starts_with("runw:[") || comm.starts_with("youki:[")
}

fn manager(cgroup_path: std::path::PathBuf, systemd: bool, id: &str) -> Result<AnyCgroupManager> {
    Ok(libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path,
        systemd_cgroup: systemd,
        container_name: id.to_string(),
    })?)
}

/// Polls the cgroup until no process is left in it (or it is gone), for at most [`GRACE`].
fn wait_until_empty(manager: &AnyCgroupManager) {
    let deadline = Instant::now() + GRACE;
    let mut pause = Duration::from_millis(1);
    while Instant::now() < deadline {
        match manager.get_all_pids() {
            Ok(pids) if !pids.is_empty() => {}
            _ => return,
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    tracing::warn!("the container's processes are still in its cgroup after {GRACE:?}");
}
