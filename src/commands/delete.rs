//! `runw delete`: remove a stopped (or, with `--force`, any) container and its resources.

use anyhow::{bail, Context, Result};
use libcontainer::container::{Container, ContainerStatus};

use crate::cli::{DeleteArgs, GlobalOpts};
use crate::container::{self, status_name, ContainerLock};
use crate::hooks;
use crate::state::Meta;

pub fn delete(args: &DeleteArgs, global: &GlobalOpts) -> Result<i32> {
    let id = &args.container_id;
    let root = container::ensure_root(&global.root)?;
    let dir = root.join(id);
    let lock = match ContainerLock::exclusive(&root, id) {
        Ok(lock) => lock,
        // A read-only --root: no lock file can be made, but then nothing can be there to
        // delete either. Answer as runc does (force: done; else: does not exist) instead of
        // failing on the lock (found by hack/stress.sh).
        Err(err) if is_read_only(&err) && !dir.exists() => {
            return if args.force {
                Ok(0)
            } else {
                Err(container::not_found(id))
            };
        }
        Err(err) => return Err(err),
    };
    if !dir.exists() {
        // runc: deleting a missing container is an error, unless forced. A create killed
        // before libcontainer made the directory may have left a cgroup and processes.
        return if args.force {
            lock.remove_unfinished();
            Ok(0)
        } else {
            bail!(container::not_found(id))
        };
    }
    let mut container = match container::load(&root, id, &lock) {
        Ok(container) if !(args.force && unfinished(&container)) => container,
        Ok(_) | Err(_) if args.force => {
            // A create killed half way: remove what it made.
            lock.remove_unfinished();
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove {}", dir.display()))?;
            }
            return Ok(0);
        }
        Ok(container) => container,
        Err(err) => return Err(err),
    };
    let status = container.status();
    let running = matches!(
        status,
        ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Creating
    );
    if running && !args.force {
        bail!(
            "cannot delete container {id} that is not stopped: {}",
            status_name(status)
        );
    }
    delete_container(&mut container, args.force)?;
    Ok(0)
}

/// A create that did not finish (killed, or failed before it could clean up): libcontainer's
/// state says creating, or runw's record of the create, written last, is missing (before the
/// init exists, libcontainer's state has no pid and reads as stopped).
fn unfinished(container: &Container) -> bool {
    container.status() == ContainerStatus::Creating || Meta::load(&container.root).is_none()
}

/// Whether `err` comes from a read-only filesystem (EROFS).
fn is_read_only(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            == Some(libc::EROFS)
    })
}

/// Deletes a container and then runs its poststop hooks (failures are warnings).
pub fn delete_container(container: &mut Container, force: bool) -> Result<()> {
    let meta = Meta::load(&container.root).unwrap_or_default();
    if let Some(root) = container.root.parent() {
        container::remove_scratch_dirs(root, container.id());
    }
    crate::fixups::delete::kill_before_delete(container, force)
        .with_context(|| format!("cannot kill container {}", container.id()))?;
    let id = container.id().to_string();
    crate::fixups::delete::delete(container, force)
        .with_context(|| format!("cannot delete container {id}"))?;
    if let Some(root) = container.root.parent() {
        let _ = std::fs::remove_dir_all(crate::fixups::cgroup_name::private_bundle_dir(
            root,
            container.id(),
        ));
    }
    hooks::run_warning_only("poststop", &meta.poststop, container, None);
    Ok(())
}
