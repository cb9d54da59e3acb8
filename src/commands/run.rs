//! `runw run`: create, start, and (unless `--detach`) wait for the container, forwarding
//! signals and relaying its terminal when runw is its console, then delete it and exit with
//! its status.

use anyhow::{Context, Result};

use super::create::{create_locked, Created};
use super::delete::delete_container;
use super::start::start_container;
use super::wait::forward_signals_and_wait;
use crate::cli::{GlobalOpts, RunArgs};
use crate::container::{self, ContainerLock};

pub fn run(args: &RunArgs, global: &GlobalOpts) -> Result<i32> {
    let id = &args.create.container_id;
    let root = container::ensure_root(&global.root)?;
    let (pid, relay) = {
        let lock = ContainerLock::exclusive(&root, id)?;
        let Created {
            mut container,
            relay,
        } = create_locked(&args.create, global, &root, args.detach, &lock)?;
        if let Err(err) = start_container(&mut container) {
            let _ = delete_container(&mut container, true);
            return Err(err).with_context(|| format!("cannot start container {id}"));
        }
        (
            container.pid().context("container has no init process")?,
            relay,
        )
    };
    if args.detach {
        return Ok(0);
    }
    let status = forward_signals_and_wait(pid, relay.as_ref())?;
    // The caller's terminal is itself again before anything else is printed.
    drop(relay);
    if !args.keep {
        let (mut container, _lock) = container::open_exclusive(&root, id)?;
        delete_container(&mut container, true)?;
    }
    Ok(status)
}
