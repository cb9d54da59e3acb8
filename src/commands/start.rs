//! `runw start`: let a created container run its user process.

use anyhow::{bail, Result};

use crate::cli::GlobalOpts;
use crate::container::{self, status_name};

pub fn start(id: &str, global: &GlobalOpts) -> Result<i32> {
    let (mut container, _lock) = container::open_exclusive(&global.root, id)?;
    if !container.can_start() {
        bail!(
            "cannot start container {id}: it is {}, not created",
            status_name(container.status())
        );
    }
    container.start()?;
    Ok(0)
}
