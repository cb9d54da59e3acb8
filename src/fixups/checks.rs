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

use std::path::Path;

use anyhow::{bail, Result};
use oci_spec::runtime::Process;

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
    apparmor(process.apparmor_profile().as_deref())
}

/// Checks what `exec` will run: the `--process` file, or the command line's `--user` (parsed
/// into `user` and `group`), `--additional-gids`, `--cwd` and `--apparmor`.
pub fn exec(args: &ExecArgs, user: Option<u32>, group: Option<u32>) -> Result<()> {
    if let Some(path) = &args.process {
        // An unreadable or invalid file is reported where it is parsed.
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Ok(p) = serde_json::from_str::<Process>(&text) {
            return process(&p, &format!("{}: process", path.display()));
        }
        return Ok(());
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
    fn relative_cwd_is_refused() {
        let mut p = with_user(0, 0, vec![]);
        p.set_cwd("tmp".into());
        let msg = format!("{:#}", process(&p, "process").unwrap_err());
        assert!(msg.contains("Cwd must be an absolute path"), "{msg}");
        assert!(exec_overrides(None, None, &[], Some(Path::new("tmp")), None).is_err());
        assert!(exec_overrides(None, None, &[], Some(Path::new("/tmp")), None).is_ok());
    }
}
