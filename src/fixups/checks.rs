//! runc's checks of a container process that libcontainer 0.7 lacks or reports badly, made
//! before anything is created (for `create`/`run`) or cloned (for `exec`):
//!
//! * user ids: a uid or gid of 4294967295 is `-1` to `setresuid`/`setresgid`, "leave it
//!   unchanged", so the process would silently stay root; runc refuses every id above
//!   2147483647 ("uids and gids must be in range 0-2147483647").
//! * `process.cwd` must be absolute (runc: "Cwd must be an absolute path"); libcontainer
//!   joins a relative one to `/`.
//! * an AppArmor profile on a host without AppArmor: libcontainer fails reading
//!   `/sys/module/apparmor/parameters/enabled` with a bare "No such file or directory".
//! * `process.oomScoreAdj` outside -1000..1000 and an environment variable holding a NUL:
//!   libcontainer fails with a bare "io error", or panics in the init.
//!
//! And of the rest of config.json ([`spec`]), where libcontainer accepts what runc refuses or
//! fails without naming the field:
//!
//! * a namespace listed twice (runc: "duplicated ns"), a namespace path that is relative or
//!   missing (libcontainer: a bare ENOENT);
//! * a relative hook path (libcontainer looks it up in `$PATH`), a missing prestart or
//!   createRuntime hook (libcontainer: "failed to execute hook command");
//! * an empty mount destination;
//! * cgroup values the kernel refuses ([`resources`], also for `update`): a memory limit
//!   below -1, cpu shares outside 2..262144 (runc: "the maximum allowed cpu-shares is
//!   262144"), a blkio weight outside 10..1000 (libcontainer names the file, or a missing
//!   `blkio.bfq.weight`).

use std::path::Path;

use anyhow::{bail, Result};
use oci_spec::runtime::{Hook, LinuxNamespace, LinuxResources, Mount, Process, Spec};

use crate::cli::ExecArgs;

/// The largest uid or gid runc accepts (`math.MaxInt32`).
pub const MAX_ID: u32 = i32::MAX as u32;

const APPARMOR_ENABLED: &str = "/sys/module/apparmor/parameters/enabled";

/// Checks the process of config.json (or of `exec --process`); `what` names it in errors
/// ("process" or the process file).
pub fn process(process: &Process, what: &str) -> Result<()> {
    let user = process.user();
    id(&format!("{what}.user.uid"), user.uid())?;
    id(&format!("{what}.user.gid"), user.gid())?;
    for gid in user.additional_gids().iter().flatten() {
        id(&format!("{what}.user.additionalGids"), *gid)?;
    }
    cwd(&format!("{what}.cwd"), process.cwd())?;
    oom_score_adj(&format!("{what}.oomScoreAdj"), process.oom_score_adj())?;
    for (i, var) in process.env().iter().flatten().enumerate() {
        if var.contains('\0') {
            // runc: "environment variable value can't contain null(\x00)".
            bail!("invalid {what}.env[{i}] {var:?}: an environment variable can't contain NUL");
        }
    }
    apparmor(process.apparmor_profile().as_deref())
}

/// The kernel's range of /proc/PID/oom_score_adj.
fn oom_score_adj(what: &str, value: Option<i32>) -> Result<()> {
    match value {
        Some(v) if !(-1000..=1000).contains(&v) => {
            bail!("invalid {what} {v}: must be in range -1000 to 1000")
        }
        _ => Ok(()),
    }
}

/// Checks config.json beyond its process (see the module's comment).
pub fn spec(spec: &Spec) -> Result<()> {
    if let Some(linux) = spec.linux() {
        namespaces(linux.namespaces().as_deref().unwrap_or_default())?;
        if let Some(r) = linux.resources() {
            resources(r, "linux.resources.")?;
        }
    }
    if let Some(hooks) = spec.hooks() {
        let kinds = [
            ("prestart", hooks.prestart(), true),
            ("createRuntime", hooks.create_runtime(), true),
            ("createContainer", hooks.create_container(), false),
            ("startContainer", hooks.start_container(), false),
            ("poststart", hooks.poststart(), false),
            ("poststop", hooks.poststop(), false),
        ];
        for (kind, list, on_host) in kinds {
            for (i, hook) in list.iter().flatten().enumerate() {
                hook_path(&format!("hooks.{kind}[{i}].path"), hook, on_host)?;
            }
        }
    }
    for (i, mount) in spec.mounts().iter().flatten().enumerate() {
        mount_destination(i, mount)?;
    }
    Ok(())
}

fn namespaces(list: &[LinuxNamespace]) -> Result<()> {
    for (i, ns) in list.iter().enumerate() {
        let name = serde_json::to_value(ns.typ()).unwrap_or_default();
        let name = name.as_str().unwrap_or_default();
        if list[..i].iter().any(|other| other.typ() == ns.typ()) {
            bail!("invalid linux.namespaces[{i}]: duplicated namespace {name:?}");
        }
        let Some(path) = ns.path() else {
            continue;
        };
        let what = format!("linux.namespaces[{i}].path");
        if !path.is_absolute() {
            bail!("invalid {what} {path:?}: the {name} namespace path must be absolute");
        }
        if let Err(err) = std::fs::symlink_metadata(path) {
            bail!("invalid {what}: {}: {err}", path.display());
        }
    }
    Ok(())
}

/// runtime-spec: a hook's path is absolute. Hooks run on the host before the container
/// exists (prestart, createRuntime) must exist there too.
fn hook_path(what: &str, hook: &Hook, on_host: bool) -> Result<()> {
    let path = hook.path();
    if !path.is_absolute() {
        bail!("invalid {what} {path:?}: a hook path must be absolute");
    }
    if on_host {
        if let Err(err) = std::fs::metadata(path) {
            bail!("invalid {what}: {}: {err}", path.display());
        }
    }
    Ok(())
}

fn mount_destination(i: usize, mount: &Mount) -> Result<()> {
    if mount.destination().as_os_str().is_empty() {
        bail!("invalid mounts[{i}].destination: must not be empty");
    }
    Ok(())
}

/// Cgroup values the kernel refuses, named by their field (`prefix` is `linux.resources.` for
/// config.json, empty for `update`).
pub fn resources(r: &LinuxResources, prefix: &str) -> Result<()> {
    if let Some(memory) = r.memory() {
        let fields = [
            ("limit", memory.limit()),
            ("reservation", memory.reservation()),
            ("swap", memory.swap()),
        ];
        for (field, value) in fields {
            if let Some(v) = value.filter(|v| *v < -1) {
                bail!("invalid {prefix}memory.{field} {v}: must be -1 (unlimited) or a number of bytes");
            }
        }
    }
    if let Some(limit) = r.pids().as_ref().map(|p| p.limit()).filter(|v| *v < -1) {
        // runc writes it as it is on cgroup v2 (the kernel refuses it) and as "max" on v1;
        // libcgroups writes "max" on both. Refused everywhere, as memory limits below -1.
        bail!("invalid {prefix}pids.limit {limit}: must be -1 (unlimited) or a number of tasks");
    }
    if let Some(shares) = r.cpu().as_ref().and_then(|c| c.shares()) {
        // The kernel clamps cpu.shares to 2..262144; runc reads it back and refuses a change.
        match shares {
            0 | 2..=262144 => {}
            1 => bail!("invalid {prefix}cpu.shares 1: the minimum allowed cpu-shares is 2"),
            _ => bail!(
                "invalid {prefix}cpu.shares {shares}: the maximum allowed cpu-shares is 262144"
            ),
        }
    }
    if let Some(blkio) = r.block_io() {
        for (field, value) in [
            ("weight", blkio.weight()),
            ("leafWeight", blkio.leaf_weight()),
        ] {
            if let Some(v) = value.filter(|v| *v != 0 && !(10..=1000).contains(v)) {
                bail!("invalid {prefix}blockIO.{field} {v}: must be between 10 and 1000");
            }
        }
    }
    Ok(())
}

/// `--console-socket` must be a socket: libcontainer says only "failed to create console
/// socket: ECONNREFUSED" (runc: "dial unix PATH: connect: connection refused").
pub fn console_socket(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => Ok(()),
        Ok(_) => bail!("invalid --console-socket {}: not a socket", path.display()),
        Err(err) => bail!("invalid --console-socket {}: {err}", path.display()),
    }
}

/// Checks what `exec` will run: the `--process` file's process (`from_file`, as parsed), or
/// the command line's `--user` (parsed into `user` and `group`), `--additional-gids`, `--cwd`
/// and `--apparmor`.
pub fn exec(
    args: &ExecArgs,
    from_file: Option<&Process>,
    user: Option<u32>,
    group: Option<u32>,
) -> Result<()> {
    if let (Some(path), Some(p)) = (&args.process, from_file) {
        return process(p, &format!("{}: process", path.display()));
    }
    exec_overrides(
        user,
        group,
        &args.additional_gids,
        args.cwd.as_deref(),
        args.apparmor.as_deref(),
    )
}

/// Checks the overrides of `exec`'s command line.
fn exec_overrides(
    user: Option<u32>,
    group: Option<u32>,
    additional_gids: &[u32],
    cwd_flag: Option<&Path>,
    apparmor_flag: Option<&str>,
) -> Result<()> {
    if let Some(uid) = user {
        id("--user uid", uid)?;
    }
    if let Some(gid) = group {
        id("--user gid", gid)?;
    }
    for gid in additional_gids {
        id("--additional-gids", *gid)?;
    }
    if let Some(dir) = cwd_flag {
        cwd("--cwd", dir)?;
    }
    apparmor(apparmor_flag)
}

fn id(what: &str, value: u32) -> Result<()> {
    if value > MAX_ID {
        bail!("invalid {what} {value}: uids and gids must be in range 0-{MAX_ID}");
    }
    Ok(())
}

fn cwd(what: &str, dir: &Path) -> Result<()> {
    if !dir.is_absolute() {
        bail!("invalid {what} {dir:?}: Cwd must be an absolute path");
    }
    Ok(())
}

fn apparmor(profile: Option<&str>) -> Result<()> {
    match profile {
        Some(profile) if !profile.is_empty() && !apparmor_enabled() => {
            bail!("cannot apply AppArmor profile {profile:?}: AppArmor is not enabled on this host")
        }
        _ => Ok(()),
    }
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string(APPARMOR_ENABLED).is_ok_and(|v| v.starts_with('Y'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{ProcessBuilder, UserBuilder};

    fn with_user(uid: u32, gid: u32, extra: Vec<u32>) -> Process {
        ProcessBuilder::default()
            .args(vec!["sh".to_string()])
            .cwd("/")
            .user(
                UserBuilder::default()
                    .uid(uid)
                    .gid(gid)
                    .additional_gids(extra)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn ids_above_max_int32_are_refused() {
        assert!(process(&with_user(0, 0, vec![]), "process").is_ok());
        assert!(process(&with_user(MAX_ID, MAX_ID, vec![MAX_ID]), "process").is_ok());
        for p in [
            with_user(u32::MAX, 0, vec![]),
            with_user(0, MAX_ID + 1, vec![]),
            with_user(0, 0, vec![1, u32::MAX]),
        ] {
            let msg = format!("{:#}", process(&p, "process").unwrap_err());
            assert!(
                msg.contains("uids and gids must be in range 0-2147483647"),
                "{msg}"
            );
        }
        let msg = format!(
            "{:#}",
            exec_overrides(Some(u32::MAX), None, &[], None, None).unwrap_err()
        );
        assert!(msg.contains("--user uid 4294967295"), "{msg}");
        assert!(exec_overrides(None, None, &[u32::MAX], None, None).is_err());
        assert!(exec_overrides(Some(0), Some(0), &[5], None, None).is_ok());
    }

    #[test]
    fn resources_the_kernel_refuses() {
        let parse = |json: &str| serde_json::from_str::<LinuxResources>(json).unwrap();
        for bad in [
            r#"{"memory":{"limit":-5}}"#,
            r#"{"cpu":{"shares":262145}}"#,
            r#"{"blockIO":{"weight":2000}}"#,
        ] {
            let msg = format!(
                "{:#}",
                resources(&parse(bad), "linux.resources.").unwrap_err()
            );
            assert!(msg.starts_with("invalid linux.resources."), "{msg}");
        }
        for good in [
            r#"{"memory":{"limit":-1}}"#,
            r#"{"cpu":{"shares":0,"quota":-2}}"#,
            r#"{"blockIO":{"weight":0}}"#,
        ] {
            assert!(resources(&parse(good), "").is_ok(), "{good}");
        }
    }

    #[test]
    fn relative_cwd_is_refused() {
        let mut p = with_user(0, 0, vec![]);
        p.set_cwd("tmp".into());
        let msg = format!("{:#}", process(&p, "process").unwrap_err());
        assert!(msg.contains("Cwd must be an absolute path"), "{msg}");
        assert!(exec_overrides(None, None, &[], Some(Path::new("tmp")), None).is_err());
        assert!(exec_overrides(None, None, &[], Some(Path::new("/tmp")), None).is_ok());
    }
}
