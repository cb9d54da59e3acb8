//! `runw update`: change a running container's cgroup limits, from a LinuxResources JSON
//! (`--resources FILE` or `-` for stdin, as the shim and CRI-O send it) and/or flags.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use libcgroups::common::{CgroupManager, ControllerOpt};
use libcontainer::container::ContainerStatus;
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

use crate::cli::{GlobalOpts, UpdateArgs};
use crate::container;
use crate::fixups::cgroupv2;

pub fn update(args: &UpdateArgs, global: &GlobalOpts) -> Result<i32> {
    let resources = resources_from(args)?;
    let (container, _lock) = container::open_exclusive(&global.root, &args.container_id)?;
    if container.status() == ContainerStatus::Stopped {
        bail!("container {} is not running", args.container_id);
    }
    let disable_oom_killer = resources
        .memory()
        .as_ref()
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false);
    container::cgroup_manager(&container)?
        .apply(&ControllerOpt {
            resources: &resources,
            disable_oom_killer,
            oom_score_adj: None,
            freezer_state: None,
        })
        .with_context(|| format!("cannot update the cgroup of {}", args.container_id))?;
    if let Some(pid) = container.pid() {
        cgroupv2::fix_resources(pid.as_raw(), &resources)
            .with_context(|| format!("cannot update the cgroup of {}", args.container_id))?;
    }
    Ok(0)
}

/// Merges the JSON document and the flags (flags win) into LinuxResources.
pub fn resources_from(args: &UpdateArgs) -> Result<LinuxResources> {
    let doc = match &args.resources {
        Some(path) => read_resources(path)?,
        None => json!({}),
    };
    merge_resources(doc, args)
}

/// The resources of a parsed JSON document with the flags of `args` over it (flags win),
/// checked.
pub fn merge_resources(mut doc: Value, args: &UpdateArgs) -> Result<LinuxResources> {
    // runc decodes the document into a struct: anything but an object (or null) is refused
    // (and a flag could not be set in it).
    if !(doc.is_object() || doc.is_null()) {
        bail!("invalid resources: the top level must be a JSON object");
    }
    let mut set = |section: &str, key: &str, value: Value| {
        if !doc[section].is_object() {
            doc[section] = json!({});
        }
        doc[section][key] = value;
    };
    if let Some(v) = &args.memory {
        set("memory", "limit", json!(parse_bytes(v)?));
    }
    if let Some(v) = &args.memory_swap {
        set("memory", "swap", json!(parse_bytes(v)?));
    }
    if let Some(v) = &args.memory_reservation {
        set("memory", "reservation", json!(parse_bytes(v)?));
    }
    if let Some(v) = args.cpu_shares {
        set("cpu", "shares", json!(v));
    }
    if let Some(v) = args.cpu_quota {
        set("cpu", "quota", json!(v));
    }
    if let Some(v) = args.cpu_period {
        set("cpu", "period", json!(v));
    }
    if let Some(v) = &args.cpuset_cpus {
        set("cpu", "cpus", json!(v));
    }
    if let Some(v) = &args.cpuset_mems {
        set("cpu", "mems", json!(v));
    }
    if let Some(v) = args.pids_limit {
        set("pids", "limit", json!(v));
    }
    if let Some(v) = args.blkio_weight {
        set("blockIO", "weight", json!(v));
    }
    let resources = serde_path_to_error::deserialize(doc)
        .map_err(|e| crate::bundle::field_error("invalid resources", &e))?;
    crate::fixups::checks::resources(&resources, "")?;
    Ok(resources)
}

fn read_resources(path: &Path) -> Result<Value> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read resources from stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    parse_resources_json(&text)
}

/// The JSON document of `--resources`.
pub fn parse_resources_json(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| anyhow::anyhow!("invalid resources JSON: {e}"))
}

/// Parses a byte size like runc (go-units RAMInBytes): `1024`, `512k`, `64m`, `1g`, `-1`.
pub fn parse_bytes(input: &str) -> Result<i64> {
    let s = input.trim().to_ascii_lowercase();
    if s == "-1" {
        return Ok(-1);
    }
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid size {input:?}"))?;
    let multiplier: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => bail!("invalid size {input:?}"),
    };
    let bytes = number * multiplier;
    // `as` would saturate: a limit of 2^63 bytes or more is a typo, not "unlimited" (-1).
    if bytes >= i64::MAX as f64 {
        bail!("invalid size {input:?}: too large");
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::UpdateArgs;

    fn args() -> UpdateArgs {
        UpdateArgs {
            resources: None,
            memory: None,
            memory_swap: None,
            memory_reservation: None,
            cpu_shares: None,
            cpu_quota: None,
            cpu_period: None,
            cpuset_cpus: None,
            cpuset_mems: None,
            pids_limit: None,
            blkio_weight: None,
            container_id: "c".into(),
        }
    }

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("512k").unwrap(), 512 * 1024);
        assert_eq!(parse_bytes("64M").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("2mb").unwrap(), 2 << 20);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn flags_become_resources() {
        let mut a = args();
        a.memory = Some("64m".into());
        a.pids_limit = Some(20);
        a.cpu_quota = Some(50000);
        let r = resources_from(&a).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 20);
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(50000));
    }

    #[test]
    fn json_file_and_flags_merge() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.json");
        std::fs::write(&file, r#"{"memory":{"limit":1048576},"pids":{"limit":5}}"#).unwrap();
        let mut a = args();
        a.resources = Some(file);
        a.pids_limit = Some(7);
        let r = resources_from(&a).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(1048576));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 7);
    }
}
