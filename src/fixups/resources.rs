//! Resource settings libcontainer 0.7 applies differently from runc (see `fixups`).

use anyhow::{Context, Result};
use libcgroups::common::{CgroupManager, ControllerOpt};
use libcontainer::container::Container;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType};

use super::cgroupv2;
use crate::container;

/// libcontainer 0.7 applies the cgroup with `disable_oom_killer: false` whatever
/// `linux.resources.memory.disableOOMKiller` says; apply the memory section again with it.
pub fn disable_oom_killer(container: &Container, spec: &oci_spec::runtime::Spec) -> Result<()> {
    let Some(resources) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return Ok(());
    };
    let disable = resources
        .memory()
        .as_ref()
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false);
    if !disable {
        return Ok(());
    }
    let mut memory_only = oci_spec::runtime::LinuxResources::default();
    memory_only.set_memory(*resources.memory());
    container::cgroup_manager(container)?
        .apply(&ControllerOpt {
            resources: &memory_only,
            disable_oom_killer: true,
            oom_score_adj: None,
            freezer_state: None,
        })
        .context("cannot disable the OOM killer")
}

/// On cgroup v1, libcgroups 0.7 writes the device rules as they are, on top of the allow-all
/// that a new devices cgroup inherits; runc (and libcgroups on v2) start from deny-all, so
/// that only the listed and the default devices are allowed. When the rules do not begin
/// with a deny-all, apply them again behind one.
pub fn default_deny_devices(container: &Container, spec: &oci_spec::runtime::Spec) -> Result<()> {
    if cgroupv2::is_unified() {
        return Ok(());
    }
    let rules = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    let deny_all =
        |r: &LinuxDeviceCgroup| !r.allow() && matches!(r.typ(), None | Some(LinuxDeviceType::A));
    if rules.first().is_some_and(deny_all) {
        return Ok(());
    }
    let mut devices = vec![LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()?];
    devices.extend(rules);
    let mut devices_only = oci_spec::runtime::LinuxResources::default();
    devices_only.set_devices(Some(devices));
    container::cgroup_manager(container)?
        .apply(&ControllerOpt {
            resources: &devices_only,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        })
        .context("cannot apply the device rules")
}
