//! cgroup v2 corrections on top of libcgroups 0.7, which on the unified hierarchy writes two
//! limits differently from runc (the reference, checked side by side on a v2-only kernel):
//!
//! * `memory.swap` equal to `memory.limit` means "no swap" (OCI's swap is memory+swap):
//!   runc writes `memory.swap.max` = 0; libcgroups skips the write (swap - limit = 0 is its
//!   "unset" value), leaving `max`, so the container may swap without bound.
//! * `blockIO.weight` without BFQ goes to `io.weight` as `1 + (weight - 10) * 9999 / 990`;
//!   libcgroups computes that in u16, which overflows (weight 500 gives 51 instead of 4950).
//!
//! [`fix_resources`] rewrites those two files after libcgroups applied a resources section
//! (at `create` and `update`). On cgroup v1 it does nothing.
//!
//! libcgroups also creates a cgroup's missing parents with `exists()` then `create_dir()`, so
//! two containers created at once under a new parent race and one fails with "failed to
//! create dir ...: File exists"; [`create_parents`] makes them first, as runc's MkdirAll.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use oci_spec::runtime::LinuxResources;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// True when /sys/fs/cgroup is the cgroup v2 (unified) hierarchy.
pub fn is_unified() -> bool {
    nix::sys::statfs::statfs(CGROUP_ROOT)
        .map(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// The cgroup v2 directory of process `pid` (the `0::PATH` line of /proc/PID/cgroup), whatever
/// manager (cgroupfs or systemd) placed it there.
fn dir_of(pid: i32) -> Result<PathBuf> {
    let file = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?;
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .with_context(|| format!("no cgroup v2 entry in {file}"))?;
    Ok(Path::new(CGROUP_ROOT).join(path.trim_start_matches('/')))
}

/// Creates the parent directories of the container's cgroup on v2 before libcgroups does
/// (see the module documentation), tolerating ones that exist or appear meanwhile. Only for
/// libcgroups' cgroupfs manager (`systemd`: whether libcontainer uses its systemd manager for
/// a relative path), and only for a plain path (no `..`); a no-op on cgroup v1.
pub fn create_parents(cgroups_path: Option<&Path>, systemd: bool) -> Result<()> {
    let Some(path) = cgroups_path else {
        return Ok(()); // libcontainer's default, `:youki:<id>`: right under the root
    };
    if (path.is_relative() && systemd)
        || path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        || !is_unified()
    {
        return Ok(());
    }
    let full = Path::new(CGROUP_ROOT).join(path.strip_prefix("/").unwrap_or(path));
    match full.parent() {
        Some(parent) if parent != Path::new(CGROUP_ROOT) => std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the cgroup {}", parent.display())),
        _ => Ok(()),
    }
}

/// What libcgroups 0.7 writes wrongly for `resources` on v2: (file, value) pairs.
fn corrections(resources: &LinuxResources, bfq: bool) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(memory) = resources.memory() {
        if let (Some(limit), Some(swap)) = (memory.limit(), memory.swap()) {
            if limit > 0 && swap == limit {
                out.push(("memory.swap.max", "0".to_string()));
            }
        }
    }
    if let Some(weight) = resources.block_io().as_ref().and_then(|b| b.weight()) {
        if weight > 0 && !bfq {
            out.push(("io.weight", io_weight(weight).to_string()));
        }
    }
    out
}

/// runc's conversion of a blkio weight (10..1000) to an io.weight (1..10000).
fn io_weight(blkio_weight: u16) -> u64 {
    1 + u64::from(blkio_weight).saturating_sub(10) * 9999 / 990
}

/// Rewrites, in the cgroup of process `pid`, what libcgroups 0.7 sets wrongly on cgroup v2
/// for `resources` (see the module documentation). A no-op on cgroup v1.
pub fn fix_resources(pid: i32, resources: &LinuxResources) -> Result<()> {
    if !is_unified() {
        return Ok(());
    }
    let dir = dir_of(pid)?;
    for (file, value) in corrections(resources, dir.join("io.bfq.weight").exists()) {
        let path = dir.join(file);
        match std::fs::write(&path, &value) {
            // Like runc: without swap accounting there is no memory.swap.max, and no swap
            // to disable.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file == "memory.swap.max" => {}
            result => {
                result.with_context(|| format!("cannot write {value} to {}", path.display()))?
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resources(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn swap_equal_to_limit_disables_swap() {
        let r = resources(json!({"memory": {"limit": 1048576, "swap": 1048576}}));
        assert_eq!(
            corrections(&r, false),
            vec![("memory.swap.max", "0".to_string())]
        );
        // libcgroups gets these right: nothing to correct.
        for memory in [
            json!({"limit": 1048576, "swap": 2097152}),
            json!({"limit": 1048576, "swap": -1}),
            json!({"limit": -1, "swap": -1}),
            json!({"limit": 1048576}),
        ] {
            assert!(corrections(&resources(json!({ "memory": memory })), false).is_empty());
        }
    }

    #[test]
    fn blkio_weight_like_runc() {
        assert_eq!(io_weight(10), 1);
        assert_eq!(io_weight(500), 4950);
        assert_eq!(io_weight(1000), 10000);
        assert_eq!(io_weight(1), 1);
        let r = resources(json!({"blockIO": {"weight": 500}}));
        assert_eq!(
            corrections(&r, false),
            vec![("io.weight", "4950".to_string())]
        );
        // With BFQ, libcgroups writes the weight unconverted to io.bfq.weight, as runc does.
        assert!(corrections(&r, true).is_empty());
    }
}
