//! `runw pause` / `runw resume`: freeze and thaw the container's cgroup.

use anyhow::{bail, Result};

use crate::cli::GlobalOpts;
use crate::container;

pub fn pause(id: &str, global: &GlobalOpts) -> Result<i32> {
    let (mut container, _lock) = container::open_exclusive(&global.root, id)?;
    if !container.can_pause() {
        bail!("container {id} is not running");
    }
    container.pause()?;
    Ok(0)
}

pub fn resume(id: &str, global: &GlobalOpts) -> Result<i32> {
    let (mut container, _lock) = container::open_exclusive(&global.root, id)?;
    if !container.can_resume() {
        bail!("container {id} is not paused");
    }
    container.resume()?;
    Ok(0)
}
