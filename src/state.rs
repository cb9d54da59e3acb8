//! runw's own per-container record and the runc-format state JSON printed by `state` and
//! `list`.
//!
//! libcontainer's state.json lacks the bundle's ociVersion and rootfs, and the bundle's
//! config.json may change after create, so runw records them at create in `runw.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libcontainer::container::{Container, ContainerStatus};
use serde::{Deserialize, Serialize};

use crate::container::status_name;

const META_FILE: &str = "runw.json";

/// What runw records about a container at create time.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub oci_version: String,
    pub rootfs: PathBuf,
    /// The user's bundle (libcontainer's state may name runw's own, see fixups/cgroup_name.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<PathBuf>,
    /// "linux" or "wasm:<engine>": how the init process runs its workload.
    #[serde(default)]
    pub workload: String,
    /// poststart and poststop hooks, which runw runs itself (see hooks.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<oci_spec::runtime::Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<oci_spec::runtime::Hook>,
    /// The init's start time (fixups/pid_reuse.rs): tells the init from a later process
    /// that got its pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_start_time: Option<u64>,
}

impl Meta {
    pub fn save(&self, container_dir: &Path) -> Result<()> {
        let path = container_dir.join(META_FILE);
        let tmp = container_dir.join(format!("{META_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(self)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Missing for containers whose create crashed half way: callers then fall back to
    /// what libcontainer knows.
    pub fn load(container_dir: &Path) -> Option<Self> {
        let text = std::fs::read(container_dir.join(META_FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

/// The state JSON of `runc state` (field names and order as runc prints them).
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuncState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
}

impl RuncState {
    pub fn of(container: &Container, owner: String) -> Self {
        let meta = Meta::load(&container.root).unwrap_or_default();
        let status = container.status();
        // runc reports pid 0 once the init process is gone.
        let pid = match status {
            ContainerStatus::Stopped => 0,
            _ => container.pid().map(|p| p.as_raw()).unwrap_or(0),
        };
        let rootfs = if meta.rootfs.as_os_str().is_empty() {
            container.bundle().join("rootfs")
        } else {
            meta.rootfs
        };
        let annotations = container
            .state
            .annotations
            .clone()
            .filter(|a| !a.is_empty());
        Self {
            oci_version: meta.oci_version,
            id: container.id().to_string(),
            pid,
            status: status_name(status).to_string(),
            bundle: meta.bundle.unwrap_or_else(|| container.bundle().clone()),
            rootfs,
            created: container.created().map(go_rfc3339_nano).unwrap_or_default(),
            owner,
            annotations,
        }
    }
}

/// Formats a time as Go's RFC3339Nano does (trailing zeros of the fraction trimmed).
pub fn go_rfc3339_nano(time: chrono::DateTime<chrono::Utc>) -> String {
    let full = time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let Some((head, frac)) = full.trim_end_matches('Z').split_once('.') else {
        return full;
    };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{head}Z")
    } else {
        format!("{head}.{frac}Z")
    }
}

/// The user name owning a container directory, as `runc list` shows it.
pub fn owner_name(container_dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(container_dir) else {
        return String::new();
    };
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(meta.uid())) {
        Ok(Some(user)) => user.name,
        _ => format!("#{}", meta.uid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rfc3339_nano_trims_like_go() {
        let t = chrono::Utc
            .with_ymd_and_hms(2026, 11, 21, 12, 0, 5)
            .unwrap();
        assert_eq!(go_rfc3339_nano(t), "2026-11-21T12:00:05Z");
        let t = t + chrono::Duration::nanoseconds(120_000_000);
        assert_eq!(go_rfc3339_nano(t), "2026-11-21T12:00:05.12Z");
    }

    #[test]
    fn state_json_has_runc_fields_in_order() {
        let state = RuncState {
            oci_version: "1.0.2".into(),
            id: "c".into(),
            pid: 42,
            status: "running".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-11-21T12:00:05Z".into(),
            owner: String::new(),
            annotations: None,
        };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            json,
            r#"{"ociVersion":"1.0.2","id":"c","pid":42,"status":"running","bundle":"/b","rootfs":"/b/rootfs","created":"2026-11-21T12:00:05Z","owner":""}"#
        );
    }

    #[test]
    fn meta_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta {
            oci_version: "1.2.0".into(),
            rootfs: "/r".into(),
            workload: "linux".into(),
            ..Default::default()
        };
        meta.save(dir.path()).unwrap();
        let back = Meta::load(dir.path()).unwrap();
        assert_eq!(back.oci_version, "1.2.0");
        assert_eq!(back.rootfs, PathBuf::from("/r"));
    }
}
