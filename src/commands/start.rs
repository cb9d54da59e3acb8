//! `runw start`: let a created container run its user process.

use anyhow::{bail, Result};

use libcontainer::container::Container;

use crate::cli::GlobalOpts;
use crate::container::{self, status_name};
use crate::hooks;
use crate::state::Meta;

pub fn start(id: &str, global: &GlobalOpts) -> Result<i32> {
    let (mut container, _lock) = container::open_exclusive(&global.root, id)?;
    if !container.can_start() {
        bail!(
            "cannot start container {id}: it is {}, not created",
            status_name(container.status())
        );
    }
    start_container(&mut container)?;
    Ok(0)
}

/// Starts a created container and runs its poststart hooks (failures are warnings).
pub fn start_container(container: &mut Container) -> Result<()> {
    container.start()?;
    let meta = Meta::load(&container.root).unwrap_or_default();
    hooks::run_warning_only(
        "poststart",
        &meta.poststart,
        container,
        Some(&container.root),
    );
    Ok(())
}
