//! The container's cgroup when config.json names none.
//!
//! runc names it after the container: `/<id>` with the cgroupfs driver, and the systemd
//! unit `system.slice:runc:<id>` (slice, prefix, name) with `--systemd-cgroup`.
//! libcontainer 0.7 names it `:youki:<id>`, which the cgroupfs managers (v1, and v2 without
//! systemd) take as a directory name. runw names it as runc does, with its own prefix:
//! `/<id>`, or `system.slice:runw:<id>` with `--systemd-cgroup` on a cgroup v2 host
//! (libcgroups has no systemd driver for v1, so there it is `/<id>` too).
//!
//! libcontainer reads the cgroup path only from `<bundle>/config.json`, at create and again
//! at every exec (to join the exec'd process to the container's cgroup). So when config.json
//! has none, runw gives libcontainer a bundle of its own, `<root>/.bundle:<id>` (`:` cannot
//! appear in an id), holding config.json with the path filled in and the rootfs made
//! absolute. libcontainer's state then names that bundle; runw keeps the user's bundle in
//! runw.json, prints it in `state` and `list` and gives it to the hooks it runs. The hooks
//! libcontainer runs itself would see runw's bundle, so with such hooks runw leaves the
//! bundle, and the cgroup name, to libcontainer.
//!
//! runw's bundle also serves a config.json that libcontainer cannot parse but runc accepts
//! (`Bundle::normalized`): it holds the config as runw parsed it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use oci_spec::runtime::Spec;

use crate::bundle::Bundle;
use crate::fixups::cgroupv2;

/// The cgroup path libcontainer is to use: config.json's, or runw's default (libcontainer's
/// when runw cannot hand it its own bundle, see [`own_bundle_possible`]).
pub fn resolve(spec: &Spec, id: &str, systemd: bool) -> PathBuf {
    let configured = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    match configured {
        Some(path) => path,
        None if own_bundle_possible(spec) => default_path(id, systemd && cgroupv2::is_unified()),
        None => libcontainer::utils::get_cgroup_path(&None, id),
    }
}

/// libcontainer runs the prestart, createRuntime, createContainer and startContainer hooks
/// itself, with its state, whose bundle must be the user's (hooks read files there). With
/// such hooks runw cannot substitute its own bundle, and the cgroup keeps libcontainer's
/// default name (a known deviation, docs/architecture.md).
fn own_bundle_possible(spec: &Spec) -> bool {
    let Some(hooks) = spec.hooks() else {
        return spec.linux().is_some();
    };
    let none = |h: &Option<Vec<oci_spec::runtime::Hook>>| h.as_ref().is_none_or(|v| v.is_empty());
    #[allow(deprecated)]
    let prestart = hooks.prestart();
    spec.linux().is_some()
        && none(prestart)
        && none(hooks.create_runtime())
        && none(hooks.create_container())
        && none(hooks.start_container())
}

fn default_path(id: &str, systemd: bool) -> PathBuf {
    if systemd {
        PathBuf::from(format!("system.slice:runw:{id}"))
    } else {
        PathBuf::from(format!("/{id}"))
    }
}

/// runw's own bundle for container `id` (see the module's text).
pub fn private_bundle_dir(root: &Path, id: &str) -> PathBuf {
    root.join(format!(".bundle:{id}"))
}

/// The bundle directory to give libcontainer: the user's when config.json names a cgroup and
/// libcontainer can parse it, otherwise runw's own, written here. (libcontainer refuses what
/// runw, like runc, accepts: invalid UTF-8 and unknown capabilities, see `bundle.rs`.)
pub fn bundle_for_libcontainer(
    root: &Path,
    id: &str,
    bundle: &Bundle,
    cgroup_path: &Path,
) -> Result<PathBuf> {
    let Some(linux) = bundle.spec.linux() else {
        return Ok(bundle.dir.clone());
    };
    let own_needed = linux.cgroups_path().is_none() || bundle.normalized;
    if !own_needed || !own_bundle_possible(&bundle.spec) {
        return Ok(bundle.dir.clone());
    }
    let mut linux = linux.clone();
    linux.set_cgroups_path(Some(cgroup_path.to_path_buf()));
    let mut spec = bundle.spec.clone();
    spec.set_linux(Some(linux));
    if let Some(mut root_conf) = spec.root().clone() {
        root_conf.set_path(bundle.rootfs.clone());
        spec.set_root(Some(root_conf));
    }
    let dir = private_bundle_dir(root, id);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = serde_json::to_vec(&spec)?;
    let config = dir.join("config.json");
    std::fs::write(&config, text).with_context(|| format!("cannot write {}", config.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_like_runc() {
        assert_eq!(default_path("c1", false), PathBuf::from("/c1"));
        assert_eq!(
            default_path("c1", true),
            PathBuf::from("system.slice:runw:c1")
        );
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","root":{"path":"r"},"linux":{"cgroupsPath":"/a/b"}}"#,
        )
        .unwrap();
        assert_eq!(resolve(&spec, "c1", false), PathBuf::from("/a/b"));
        let spec: Spec =
            serde_json::from_str(r#"{"ociVersion":"1.0.2","root":{"path":"r"},"linux":{}}"#)
                .unwrap();
        assert_eq!(resolve(&spec, "c1", false), PathBuf::from("/c1"));
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","root":{"path":"r"},"linux":{},"hooks":{"createRuntime":[{"path":"/bin/true"}]}}"#,
        )
        .unwrap();
        assert_eq!(resolve(&spec, "c1", false), PathBuf::from(":youki:c1"));
    }
}
