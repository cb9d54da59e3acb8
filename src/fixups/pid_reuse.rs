//! A stopped container's pid that now belongs to another process.
//!
//! libcontainer 0.7 takes a container's init to be alive while `/proc/<pid>` exists and is
//! not a zombie (`Container::refresh_status`). Once the init has exited and been reaped, the
//! kernel may give its pid to any new process, and libcontainer then reports the container
//! as running: `kill` would signal that stranger and `delete --force` would SIGKILL it. runc
//! records the init's start time at create (state.json's `init_process_start`) and takes a
//! pid whose start time differs for a stopped container. runw records it in `runw.json`
//! ([`crate::state::Meta`]) and forgets such a pid whenever it loads a container.

use std::path::PathBuf;

use libcontainer::container::{Container, ContainerStatus};

/// `Container::load`, once more if it failed: libcontainer's `refresh_status` checks that
/// `/proc/<pid>` exists and then reads `/proc/<pid>/stat`, so an init that exits and is
/// reaped in between fails the load with "File not found: /proc/<pid>/stat" (seen as `events`
/// exiting 1 when its container was killed). The second load finds no `/proc/<pid>`: stopped.
pub fn load(dir: PathBuf) -> Result<Container, libcontainer::error::LibcontainerError> {
    Container::load(dir.clone()).or_else(|_| Container::load(dir))
}

/// The start time of process `pid`, in clock ticks after boot (field 22 of
/// `/proc/<pid>/stat`): with the pid, it names one process for the life of the host.
pub fn start_time(pid: i32) -> Option<u64> {
    let process = procfs::process::Process::new(pid).ok()?;
    process.stat().ok().map(|stat| stat.starttime)
}

/// Marks `container` stopped, without a pid, when its recorded init start time no longer
/// matches the process with that pid. Without a record (a create killed before runw wrote
/// it) nothing changes. Only the loaded copy changes; libcontainer saves it if it saves.
pub fn forget_reused_pid(container: &mut Container, recorded_start_time: Option<u64>) {
    let (Some(pid), Some(recorded)) = (container.pid(), recorded_start_time) else {
        return;
    };
    match start_time(pid.as_raw()) {
        Some(now) if now == recorded => {}
        // Gone, or another process: either way the init is no more.
        _ => {
            container.state.pid = None;
            container.set_status(ContainerStatus::Stopped);
        }
    }
}
