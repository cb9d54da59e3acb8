//! `runw kill`: send a signal (any of 1-64, by name or number) to the init process, or with
//! `--all` to every process in the container's cgroup.

use anyhow::{bail, Result};
use libcgroups::common::{CgroupManager, FreezerState};
use libcontainer::container::{Container, ContainerStatus};

use crate::cli::{GlobalOpts, KillArgs};
use crate::container;
use crate::signal;

pub fn kill(args: &KillArgs, global: &GlobalOpts) -> Result<i32> {
    let signal = signal::parse(&args.signal)?;
    let (container, _lock) = container::open_exclusive(&global.root, &args.container_id)?;
    let status = container.status();
    match status {
        // containerd and CRI-O match "container not running".
        ContainerStatus::Stopped if !args.all => bail!("container not running"),
        ContainerStatus::Creating => bail!("container {} is still being created", container.id()),
        _ => {}
    }
    if args.all {
        kill_all(&container, signal)?;
    } else if let Some(pid) = container.pid() {
        signal::send(pid.as_raw(), signal)?;
    }
    // A frozen process cannot die: thaw a paused container so SIGKILL takes effect.
    if status == ContainerStatus::Paused && signal == libc::SIGKILL {
        container::cgroup_manager(&container)?.freeze(FreezerState::Thawed)?;
    }
    Ok(0)
}

fn kill_all(container: &Container, signal: i32) -> Result<()> {
    let manager = container::cgroup_manager(container)?;
    // Freeze first so that no process forks away between listing and signalling.
    let frozen = container.status() != ContainerStatus::Paused
        && manager.freeze(FreezerState::Frozen).is_ok();
    let result = manager
        .get_all_pids()
        .map_err(anyhow::Error::from)
        .and_then(|pids| {
            pids.iter()
                .try_for_each(|pid| signal::send(pid.as_raw(), signal))
        });
    if frozen {
        manager.freeze(FreezerState::Thawed)?;
    }
    result
}
