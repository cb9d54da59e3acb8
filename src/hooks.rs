//! poststart and poststop hooks, run by runw instead of libcontainer.
//!
//! runtime-spec: when a poststart or poststop hook fails, the runtime MUST log a warning and
//! the remaining hooks and the lifecycle continue. libcontainer 0.7 stops at the first failing
//! hook and fails `start`/`delete`, so `create` takes these hooks out of libcontainer's saved
//! config, records them in runw.json, and runw runs them with libcontainer's hook runner, one
//! at a time.

use std::path::Path;

use anyhow::{Context, Result};
use libcontainer::config::YoukiConfig;
use libcontainer::container::Container;
use oci_spec::runtime::Hook;

use crate::logging;

/// The hooks runw runs itself.
#[derive(Default)]
pub struct RuntimeHooks {
    pub poststart: Vec<Hook>,
    pub poststop: Vec<Hook>,
}

/// Removes poststart and poststop from the config libcontainer saved at create.
pub fn take_from_libcontainer(container: &Container) -> Result<RuntimeHooks> {
    let mut config = YoukiConfig::load(&container.root)
        .with_context(|| format!("cannot read the saved config of {}", container.id()))?;
    let Some(hooks) = config.hooks.as_mut() else {
        return Ok(RuntimeHooks::default());
    };
    let taken = RuntimeHooks {
        poststart: hooks.poststart().clone().unwrap_or_default(),
        poststop: hooks.poststop().clone().unwrap_or_default(),
    };
    if !taken.poststart.is_empty() || !taken.poststop.is_empty() {
        hooks.set_poststart(None);
        hooks.set_poststop(None);
        config
            .save(&container.root)
            .with_context(|| format!("cannot save the config of {}", container.id()))?;
    }
    Ok(taken)
}

/// Runs `hooks` in order with the container's state on stdin; a failure is a warning.
pub fn run_warning_only(kind: &str, hooks: &[Hook], container: &Container, cwd: Option<&Path>) {
    // The hooks see the user's bundle, not runw's own (fixups/cgroup_name.rs).
    let mut state = container.state.clone();
    if let Some(bundle) = crate::state::Meta::load(&container.root).and_then(|m| m.bundle) {
        state.bundle = bundle;
    }
    for hook in hooks {
        let one = vec![hook.clone()];
        if let Err(err) = libcontainer::hooks::run_hooks(Some(&one), Some(&state), cwd, None, None)
        {
            logging::report_warning(&format!(
                "{kind} hook {} failed: {err}",
                hook.path().display()
            ));
        }
    }
}
