//! Loading an OCI bundle with errors that name the real problem.
//!
//! libcontainer reports a bad bundle as, e.g., "failed to load spec" or "io error"; runw checks
//! the bundle first so that the shim and podman show "rootfs /x/rootfs does not exist" or
//! "config.json is not valid JSON: expected `,` or `}` at line 3 column 5".

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Capability, Spec};

/// The major version of the runtime-spec runw implements (1.x.y).
pub const SUPPORTED_OCI_MAJOR: &str = "1";

pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    pub spec: Spec,
    /// Absolute path of the container's root filesystem.
    pub rootfs: PathBuf,
    /// runw changed config.json to parse it as runc does (invalid UTF-8, unknown
    /// capabilities): libcontainer, which reads the file itself, must get runw's copy
    /// (`fixups::cgroup_name::bundle_for_libcontainer`).
    pub normalized: bool,
}

/// Loads `<bundle>/config.json` and checks what `create` needs.
pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir = canonical_bundle_dir(bundle)?;
    let config_path = dir.join("config.json");
    let bytes = std::fs::read(&config_path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => {
            anyhow::anyhow!("config.json not found in bundle {}", dir.display())
        }
        _ => anyhow::anyhow!("cannot read {}: {err}", config_path.display()),
    })?;
    // Go's encoding/json replaces invalid UTF-8 with U+FFFD, so runc accepts such a
    // config.json (an odd byte in an annotation, say): so does runw.
    let text = String::from_utf8_lossy(&bytes);
    let (spec, dropped) = parse_config(&text).with_context(|| config_path.display().to_string())?;
    let normalized = dropped || matches!(text, std::borrow::Cow::Owned(_));
    let rootfs = rootfs_of(&dir, &spec)?;
    check_rlimits(&spec)?;
    if let Some(process) = spec.process() {
        crate::fixups::checks::process(process, "process")?;
    }
    crate::fixups::checks::spec(&spec)?;
    Ok(Bundle {
        dir,
        spec,
        rootfs,
        normalized,
    })
}

fn canonical_bundle_dir(bundle: &Path) -> Result<PathBuf> {
    let dir = std::fs::canonicalize(bundle).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => {
            anyhow::anyhow!("bundle {} does not exist", bundle.display())
        }
        _ => anyhow::anyhow!("cannot open bundle {}: {err}", bundle.display()),
    })?;
    if !dir.is_dir() {
        bail!("bundle {} is not a directory", bundle.display());
    }
    Ok(dir)
}

/// Parses config.json text: syntax errors name line and column, a field of the wrong type or
/// value is named by its path (`process.user.uid: invalid type: ...`), and missing or
/// unsupported required fields are named.
/// Also says whether unknown capabilities were dropped.
pub fn parse_config(text: &str) -> Result<(Spec, bool)> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("invalid JSON: {e}"))?;
    let Some(object) = value.as_object() else {
        bail!("invalid configuration: the top level must be a JSON object");
    };
    match object.get("ociVersion") {
        Some(serde_json::Value::String(version)) => check_oci_version(version)?,
        Some(_) => bail!("invalid configuration: ociVersion must be a string"),
        None => bail!("invalid configuration: missing required field ociVersion"),
    }
    if !object.contains_key("root") {
        bail!("invalid configuration: missing required field root");
    }
    let unknown = drop_unknown_capabilities(&mut value);
    let parsed = if unknown.is_empty() {
        // From the text, so that an error also gives its line and column.
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
    } else {
        // Same words as runc 1.1.
        crate::logging::report_warning(&format!(
            "ignoring unknown or unavailable capabilities: [{}]",
            unknown.join(" ")
        ));
        serde_path_to_error::deserialize(value)
    };
    let spec: Spec = parsed.map_err(|e| field_error("invalid configuration", &e))?;
    let args_empty = spec
        .process()
        .as_ref()
        .map(|p| p.args().as_ref().is_none_or(|a| a.is_empty()));
    match args_empty {
        None => bail!("invalid configuration: missing required field process"),
        Some(true) => bail!("invalid configuration: process.args must not be empty"),
        Some(false) => Ok((spec, !unknown.is_empty())),
    }
}

/// `<what>: <field path>: <serde's message>`; the path is left out when serde gave none (an
/// error of the whole document). One line: the path's map keys and the values serde quotes
/// are the input's, so their control characters are escaped.
pub fn field_error(
    what: &str,
    err: &serde_path_to_error::Error<serde_json::Error>,
) -> anyhow::Error {
    let path = escape_controls(&err.path().to_string());
    let inner = escape_controls(&err.inner().to_string());
    if path == "." || path == "?" {
        anyhow::anyhow!("{what}: {inner}")
    } else {
        anyhow::anyhow!("{what}: {path}: {inner}")
    }
}

/// `text` with its control characters (newlines, NUL, ...) written as escapes.
fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// runc 1.1 ignores a capability it does not know (with a warning); oci-spec refuses to parse
/// it. Removes the unknown names from `process.capabilities` and returns them. A value that is
/// not a string stays, to be reported as a type error.
fn drop_unknown_capabilities(config: &mut serde_json::Value) -> Vec<String> {
    let mut unknown = Vec::new();
    let sets = config
        .pointer_mut("/process/capabilities")
        .and_then(serde_json::Value::as_object_mut);
    for names in sets.into_iter().flat_map(|s| s.values_mut()) {
        let Some(names) = names.as_array_mut() else {
            continue;
        };
        names.retain(|name| {
            let Some(text) = name.as_str() else {
                return true;
            };
            let known = serde_json::from_value::<Capability>(name.clone()).is_ok();
            if !known && !unknown.iter().any(|u| u == text) {
                unknown.push(text.to_string());
            }
            known
        });
    }
    unknown
}

fn check_oci_version(version: &str) -> Result<()> {
    let major = version.split('.').next().unwrap_or_default();
    if major != SUPPORTED_OCI_MAJOR || version.split('.').count() < 2 {
        bail!(
            "unsupported ociVersion {version:?}: runw supports runtime-spec {SUPPORTED_OCI_MAJOR}.x (up to {})",
            oci_spec::runtime::VERSION
        );
    }
    Ok(())
}

/// Raising a hard rlimit needs CAP_SYS_RESOURCE. Without it libcontainer fails deep in the
/// intermediate process with a bare "EPERM"; say which limit instead, before creating anything.
/// Likewise for the limits no process may set (a bare "EINVAL" or "EPERM" from setrlimit).
fn check_rlimits(spec: &Spec) -> Result<()> {
    let rlimits = spec.process().as_ref().and_then(|p| p.rlimits().as_ref());
    let Some(rlimits) = rlimits else {
        return Ok(());
    };
    for rlimit in rlimits {
        check_rlimit_values(rlimit)?;
    }
    let privileged = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(false);
    if privileged {
        return Ok(());
    }
    for rlimit in rlimits {
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct we pass; the enum's order is the kernel's.
        if unsafe { libc::getrlimit(rlimit.typ() as libc::__rlimit_resource_t, &mut current) } != 0
        {
            continue;
        }
        if current.rlim_max != libc::RLIM_INFINITY && rlimit.hard() > current.rlim_max {
            bail!(
                "cannot set rlimit {}: hard limit {} is above the current hard limit {} and runw lacks CAP_SYS_RESOURCE",
                rlimit.typ(),
                rlimit.hard(),
                current.rlim_max
            );
        }
    }
    Ok(())
}

/// The kernel's own bounds: soft at most hard, and RLIMIT_NOFILE at most fs.nr_open (even
/// with CAP_SYS_RESOURCE).
fn check_rlimit_values(rlimit: &oci_spec::runtime::PosixRlimit) -> Result<()> {
    if rlimit.soft() > rlimit.hard() {
        bail!(
            "invalid rlimit {}: soft limit {} is above the hard limit {}",
            rlimit.typ(),
            rlimit.soft(),
            rlimit.hard()
        );
    }
    if rlimit.typ() == oci_spec::runtime::PosixRlimitType::RlimitNofile {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(nr_open) = nr_open.filter(|max| rlimit.hard() > *max) {
            bail!(
                "cannot set rlimit {}: hard limit {} is above fs.nr_open ({nr_open})",
                rlimit.typ(),
                rlimit.hard()
            );
        }
    }
    Ok(())
}

fn rootfs_of(dir: &Path, spec: &Spec) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .context("invalid configuration: missing required field root")?;
    let rootfs = dir.join(root.path());
    if !rootfs.exists() {
        bail!("rootfs {} does not exist", rootfs.display());
    }
    if !rootfs.is_dir() {
        bail!("rootfs {} is not a directory", rootfs.display());
    }
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}}}"#;

    #[test]
    fn minimal_config_parses() {
        let (spec, _) = parse_config(MINIMAL).unwrap();
        assert_eq!(spec.version(), "1.0.2");
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let err = parse_config("{\n  \"ociVersion\": \"1.0.2\"\n  \"root\": {}\n}").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("invalid JSON"), "{msg}");
        assert!(msg.contains("line 3 column 3"), "{msg}");
    }

    #[test]
    fn missing_fields_are_named() {
        let msg = format!(
            "{:#}",
            parse_config(r#"{"root":{"path":"r"}}"#).unwrap_err()
        );
        assert!(msg.contains("missing required field ociVersion"), "{msg}");
        let msg = format!(
            "{:#}",
            parse_config(r#"{"ociVersion":"1.0.0"}"#).unwrap_err()
        );
        assert!(msg.contains("missing required field root"), "{msg}");
        let no_process = r#"{"ociVersion":"1.0.0","root":{"path":"r"}}"#;
        let msg = format!("{:#}", parse_config(no_process).unwrap_err());
        assert!(msg.contains("missing required field process"), "{msg}");
    }

    #[test]
    fn unsupported_versions_are_refused() {
        let cfg = MINIMAL.replace("1.0.2", "2.0.0");
        let msg = format!("{:#}", parse_config(&cfg).unwrap_err());
        assert!(msg.contains("unsupported ociVersion \"2.0.0\""), "{msg}");
        let cfg = MINIMAL.replace("1.0.2", "banana");
        assert!(parse_config(&cfg).is_err());
    }

    #[test]
    fn type_errors_name_the_field() {
        let cfg = MINIMAL.replace(r#""uid":0"#, r#""uid":"x""#);
        let msg = format!("{:#}", parse_config(&cfg).unwrap_err());
        assert!(
            msg.contains("process.user.uid: invalid type: string"),
            "{msg}"
        );
        assert!(msg.contains("at line 1 column"), "{msg}");
    }

    #[test]
    fn unknown_capabilities_are_dropped() {
        let cfg = MINIMAL.replace(
            r#""cwd":"/""#,
            r#""cwd":"/","capabilities":{"bounding":["CAP_CHOWN","CAP_FOO"]}"#,
        );
        let (spec, dropped) = parse_config(&cfg).unwrap();
        assert!(dropped);
        let process = spec.process().as_ref().unwrap();
        let bounding = process.capabilities().as_ref().unwrap().bounding();
        assert_eq!(bounding.as_ref().unwrap().len(), 1);
        assert!(!parse_config(MINIMAL).unwrap().1);
    }

    #[test]
    fn empty_args_are_refused() {
        let cfg = MINIMAL.replace(r#"["sh"]"#, "[]");
        let msg = format!("{:#}", parse_config(&cfg).unwrap_err());
        assert!(msg.contains("process.args must not be empty"), "{msg}");
    }
}
