//! `runw spec`: write a default config.json, like `runc spec`.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDeviceCgroupBuilder, Spec};

use crate::cli::SpecArgs;

pub fn spec(args: &SpecArgs) -> Result<i32> {
    let path = args.bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let mut spec = if args.rootless {
        Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        Spec::default()
    };
    // oci-spec's default names the host after youki; runc's after itself.
    spec.set_hostname(Some("runw".to_string()));
    // runc's template denies every device (the runtime's default devices stay allowed);
    // oci-spec's has no device rule.
    if let Some(resources) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.resources_mut().as_mut())
    {
        resources.set_devices(Some(vec![LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()?]));
    }
    // runc 1.1's template has no inheritable capabilities (CVE-2022-29162): with them, a
    // process of a non-root user would get the listed capabilities through execve.
    if let Some(process) = spec.process_mut().as_mut() {
        // runc's template is for a person at a terminal (`runc spec && runc run ID`), which
        // `run` relays (terminal.rs).
        process.set_terminal(Some(true));
        let mut caps = process.capabilities().clone();
        if let Some(caps) = caps.as_mut() {
            caps.set_inheritable(None);
        }
        process.set_capabilities(caps);
    }
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(0)
}
