//! Bundles: a busybox rootfs with the checker, and the default config.json.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// The busybox applets linked into /bin.
const APPLETS: &[&str] = &[
    "sh", "true", "false", "sleep", "cat", "touch", "echo", "ls", "id", "mkdir", "test", "kill",
    "ps", "mount", "env", "pwd", "hostname", "grep", "rm",
];

/// Where the checker finds its copy of the configuration.
pub const SPEC_IN_ROOTFS: &str = "runtimetest-spec.json";

/// runtime-tools' default capability set (generate.New).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The configuration every case starts from: runtime-tools' default
/// generator (runc's `spec` plus its capability list), running the checker.
pub fn default_config() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/runtimetest", "default"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS, "permitted": DEFAULT_CAPS,
                "inheritable": [], "ambient": []
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "mrsdalloway",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

fn mkdir_mode(p: &Path, mode: u32) -> Result<()> {
    fs::create_dir_all(p).with_context(|| format!("mkdir {}", p.display()))?;
    fs::set_permissions(p, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Build the template rootfs once; bundles hard-link from it.
pub fn build_template(dir: &Path, busybox: &Path, checker: &Path) -> Result<PathBuf> {
    let root = dir.join("template-rootfs");
    for (d, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
    ] {
        mkdir_mode(&root.join(d), mode)?;
    }
    mkdir_mode(&root.join("tmp"), 0o1777)?;
    mkdir_mode(&root.join("root"), 0o700)?;
    fs::copy(busybox, root.join("bin/busybox")).context("copy busybox")?;
    fs::copy(checker, root.join("runtimetest")).context("copy checker")?;
    for f in ["bin/busybox", "runtimetest"] {
        fs::set_permissions(root.join(f), fs::Permissions::from_mode(0o755))?;
    }
    for a in APPLETS {
        symlink("busybox", root.join("bin").join(a))?;
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    fs::write(
        root.join("etc/group"),
        "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
    )?;
    Ok(root)
}

/// Copy the template tree into `dst`, hard-linking regular files.
pub fn clone_tree(src: &Path, dst: &Path) -> Result<()> {
    let md = fs::symlink_metadata(src)?;
    mkdir_mode(dst, md.permissions().mode() & 0o7777)?;
    for e in fs::read_dir(src)? {
        let e = e?;
        let (s, d) = (e.path(), dst.join(e.file_name()));
        let ft = e.file_type()?;
        if ft.is_dir() {
            clone_tree(&s, &d)?;
        } else if ft.is_symlink() {
            symlink(fs::read_link(&s)?, &d)?;
        } else if fs::hard_link(&s, &d).is_err() {
            fs::copy(&s, &d)?;
        }
    }
    Ok(())
}

/// Write config.json in the bundle and the checker's copy in the rootfs.
pub fn write_config(bundle: &Path, cfg: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(cfg)?;
    fs::write(bundle.join("config.json"), &text)?;
    let rootfs = bundle.join(cfg["root"]["path"].as_str().unwrap_or("rootfs"));
    if rootfs.is_dir() {
        fs::write(rootfs.join(SPEC_IN_ROOTFS), &text)?;
        fs::set_permissions(
            rootfs.join(SPEC_IN_ROOTFS),
            fs::Permissions::from_mode(0o644),
        )?;
    }
    Ok(())
}
