//! Linux-specific settings: devices, paths, mounts, propagation, seccomp,
//! sysctl, user namespaces, LSMs.

use std::fs;
use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use super::{case, Case};
use crate::bundle::{default_config, DEFAULT_CAPS};
use crate::ctx::{CaseResult, Ctx};
use crate::host::Host;

pub fn cases() -> Vec<Case> {
    vec![
        case("mounts", mounts),
        case("linux_devices", linux_devices),
        case("linux_masked_paths", linux_masked_paths),
        case("linux_readonly_paths", linux_readonly_paths),
        Case {
            name: "linux_mount_label",
            skip: no_selinux,
            run: linux_mount_label,
        },
        Case {
            name: "linux_process_apparmor_profile",
            skip: no_apparmor,
            run: linux_apparmor,
        },
        case("linux_rootfs_propagation_shared", |c| {
            propagation(c, "shared")
        }),
        case("linux_rootfs_propagation_slave", |c| {
            propagation(c, "slave")
        }),
        case("linux_rootfs_propagation_private", |c| {
            propagation(c, "private")
        }),
        case("linux_rootfs_propagation_unbindable", |c| {
            propagation(c, "unbindable")
        }),
        case("linux_seccomp", linux_seccomp),
        case("linux_sysctl", linux_sysctl),
        case("linux_uid_mappings", linux_uid_mappings),
    ]
}

fn no_selinux(h: &Host) -> Option<String> {
    (!h.selinux).then(|| "SELinux is not enabled on this host (no /sys/fs/selinux)".into())
}

fn no_apparmor(h: &Host) -> Option<String> {
    (!h.apparmor).then(|| "AppArmor is not enabled on this host (no /sys/module/apparmor)".into())
}

fn mounts(ctx: &mut Ctx) -> CaseResult {
    let host_dir = ctx.dir.join("bind-source");
    fs::create_dir_all(&host_dir)?;
    fs::write(host_dir.join("marker"), "bind")?;
    let mut cfg = default_config();
    let extra = [
        json!({"destination": "/mnt/tmpfs", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=1m"]}),
        json!({"destination": "/mnt/bind", "type": "bind", "source": host_dir, "options": ["rbind", "ro"]}),
    ];
    if let Some(m) = cfg["mounts"].as_array_mut() {
        m.extend(extra);
    }
    ctx.run_checker(cfg, &["mounts", "default_fs", "exists:/mnt/bind/marker"])
}

fn linux_devices(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["linux"]["devices"] = json!([
        {"path": "/dev/test1", "type": "c", "major": 10, "minor": 666, "fileMode": 0o644, "uid": 0, "gid": 0},
        {"path": "/dev/test2", "type": "b", "major": 8, "minor": 666, "fileMode": 0o600, "uid": 0, "gid": 0},
        {"path": "/dev/test3", "type": "p", "fileMode": 0o640, "uid": 0, "gid": 0}
    ]);
    ctx.run_checker(cfg, &["devices", "default_devices", "default_symlinks"])
}

fn plant(rootfs: &Path, prefix: &str) -> Result<()> {
    fs::create_dir_all(rootfs.join(format!("{prefix}-dir")))?;
    fs::write(rootfs.join(format!("{prefix}-dir/secret")), "secret")?;
    fs::write(rootfs.join(format!("{prefix}-file")), "secret")?;
    Ok(())
}

fn linux_masked_paths(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["linux"]["maskedPaths"] = json!([
        "/masktest-dir",
        "/masktest-file",
        "/masktest-missing",
        "/proc/kcore"
    ]);
    ctx.run_checker_prep(cfg, &["masked_paths"], |b| {
        plant(&b.join("rootfs"), "masktest")
    })
}

fn linux_readonly_paths(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["linux"]["readonlyPaths"] = json!([
        "/rotest-dir",
        "/rotest-file",
        "/rotest-missing",
        "/proc/sys"
    ]);
    ctx.run_checker_prep(cfg, &["readonly_paths"], |b| {
        plant(&b.join("rootfs"), "rotest")
    })
}

fn linux_mount_label(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["linux"]["mountLabel"] = json!("system_u:object_r:svirt_sandbox_file_t:s0:c715,c811");
    ctx.run_checker(cfg, &["mount_label"])
}

fn linux_apparmor(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["process"]["apparmorProfile"] = json!("unconfined");
    ctx.run_checker(cfg, &["apparmor"])
}

/// The default capabilities plus CAP_SYS_ADMIN, so the checker can mount.
fn with_sys_admin() -> Value {
    let mut caps: Vec<&str> = DEFAULT_CAPS.to_vec();
    caps.push("CAP_SYS_ADMIN");
    let mut cfg = default_config();
    cfg["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    cfg
}

fn propagation(ctx: &mut Ctx, mode: &str) -> CaseResult {
    let mut cfg = with_sys_admin();
    cfg["linux"]["rootfsPropagation"] = json!(mode);
    ctx.run_checker(cfg, &["rootfs_propagation"])
}

fn linux_seccomp(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["setdomainname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}
        ]
    });
    ctx.run_checker(cfg, &["seccomp"])
}

fn linux_sysctl(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["linux"]["sysctl"] = json!({
        "net.ipv4.ip_forward": "1",
        "net.core.somaxconn": "256",
        "kernel.shmmni": "2048"
    });
    ctx.run_checker(cfg, &["sysctl"])
}

fn linux_uid_mappings(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    if let Some(ns) = cfg["linux"]["namespaces"].as_array_mut() {
        ns.push(json!({"type": "user"}));
    }
    cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    ctx.run_checker(cfg, &["id_mappings", "user"])
}
