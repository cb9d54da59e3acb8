//! Checks of the container's filesystem view: root, mounts, devices, paths.

use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use oci_spec::runtime::{Linux, Spec};

use crate::{CheckResult, Verdict};

/// One line of /proc/self/mountinfo.
struct MountInfo {
    mountpoint: String,
    fstype: String,
    source: String,
    super_opts: String,
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let oct: String = chars.by_ref().take(3).collect();
            if let Ok(v) = u8::from_str_radix(&oct, 8) {
                out.push(v as char);
                continue;
            }
            out.push('\\');
            out.push_str(&oct);
        } else {
            out.push(c);
        }
    }
    out
}

fn mountinfo() -> Result<Vec<MountInfo>> {
    let text = fs::read_to_string("/proc/self/mountinfo")?;
    let mut mounts = Vec::new();
    for line in text.lines() {
        let (pre, post) = line
            .split_once(" - ")
            .ok_or_else(|| anyhow!("bad mountinfo line"))?;
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            bail!("bad mountinfo line {line:?}");
        }
        mounts.push(MountInfo {
            mountpoint: unescape(pre[4]),
            fstype: post[0].to_string(),
            source: unescape(post[1]),
            super_opts: post[2].to_string(),
        });
    }
    Ok(mounts)
}

fn linux(spec: &Spec) -> Result<&Linux> {
    spec.linux()
        .as_ref()
        .ok_or_else(|| anyhow!("config has no linux section"))
}

fn is_readonly(path: &str) -> Result<bool> {
    Ok(statvfs(path)
        .with_context(|| format!("statvfs {path}"))?
        .flags()
        .contains(FsFlags::ST_RDONLY))
}

/// Try to create (and remove) a file in `dir`.
fn try_write_in(dir: &str) -> std::io::Result<()> {
    let p = Path::new(dir).join(format!(".runtimetest-write-{}", std::process::id()));
    fs::write(&p, b"x")?;
    fs::remove_file(&p)
}

pub fn check_root(spec: &Spec, _: &str) -> CheckResult {
    let want_ro = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    let write = try_write_in("/");
    let ro = is_readonly("/")?;
    match (want_ro, ro, write) {
        (true, true, Err(e)) if e.raw_os_error() == Some(libc::EROFS) => Ok(Verdict::Ok),
        (true, _, Ok(())) => bail!("root.readonly is true but / is writable"),
        (true, ro, Err(e)) => bail!("root.readonly: / ST_RDONLY={ro}, write gave {e} (want EROFS)"),
        (false, false, Ok(())) => Ok(Verdict::Ok),
        (false, ro, w) => bail!("root.readonly is false but / ST_RDONLY={ro}, write: {w:?}"),
    }
}

fn is_bind(m: &oci_spec::runtime::Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// Where (index in mountinfo) the config mount shows, at or after `from`.
fn find_mount(infos: &[MountInfo], m: &oci_spec::runtime::Mount, from: usize) -> Option<usize> {
    let dest = m
        .destination()
        .to_string_lossy()
        .trim_end_matches('/')
        .to_string();
    let typ = m.typ().clone().unwrap_or_default();
    let src = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned());
    let bind = is_bind(m);
    infos.iter().enumerate().skip(from).find_map(|(i, info)| {
        if info.mountpoint != dest {
            return None;
        }
        let ok = bind
            || (info.fstype == typ && src.as_deref().is_none_or(|s| s == info.source))
            // cgroup v1: runtimes mount a tmpfs with one cgroup mount per hierarchy.
            || (typ == "cgroup" && (info.fstype == "tmpfs" || info.fstype == "cgroup2"));
        ok.then_some(i)
    })
}

pub fn check_mounts(spec: &Spec, _: &str) -> CheckResult {
    let mounts = spec.mounts().clone().unwrap_or_default();
    if mounts.is_empty() {
        return Ok(Verdict::Unset("config sets no mounts".into()));
    }
    let infos = mountinfo()?;
    let mut last = 0;
    for (n, m) in mounts.iter().enumerate() {
        let dest = m.destination().display();
        match find_mount(&infos, m, last) {
            Some(i) => last = i,
            None if find_mount(&infos, m, 0).is_some() => {
                bail!("mounts[{n}] {dest} is mounted before an earlier config mount")
            }
            None => bail!(
                "mounts[{n}] {dest} (type {:?}, source {:?}) is not mounted",
                m.typ(),
                m.source()
            ),
        }
    }
    Ok(Verdict::Ok)
}

pub fn check_default_fs(_: &Spec, _: &str) -> CheckResult {
    let infos = mountinfo()?;
    for (dest, typ) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
    ] {
        if !infos
            .iter()
            .any(|i| i.mountpoint == dest && i.fstype == typ)
        {
            bail!("{dest} is not a {typ} mount");
        }
    }
    Ok(Verdict::Ok)
}

pub fn check_default_symlinks(_: &Spec, _: &str) -> CheckResult {
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let got = fs::read_link(link).with_context(|| format!("readlink {link}"))?;
        if got != Path::new(target) {
            bail!("{link} points to {}, expected {target}", got.display());
        }
    }
    Ok(Verdict::Ok)
}

pub fn check_default_devices(spec: &Spec, _: &str) -> CheckResult {
    let mut devices = vec![
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
        ("/dev/ptmx", 5, 2),
    ];
    if spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
    {
        devices.push(("/dev/console", 136, u64::MAX));
    }
    for (path, major, minor) in devices {
        let md = fs::metadata(path).with_context(|| format!("stat {path}"))?;
        if !md.file_type().is_char_device() {
            bail!("{path} is not a character device");
        }
        let rdev = md.rdev();
        let (ma, mi) = (libc::major(rdev) as u64, libc::minor(rdev) as u64);
        if path == "/dev/console" {
            continue;
        }
        if (ma, mi) != (major, minor) {
            bail!("{path} is {ma}:{mi}, expected {major}:{minor}");
        }
    }
    Ok(Verdict::Ok)
}

fn check_device(d: &oci_spec::runtime::LinuxDevice) -> Result<()> {
    let path = d.path().display().to_string();
    let md = fs::metadata(d.path()).with_context(|| format!("stat {path}"))?;
    let ft = md.file_type();
    let got = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else if ft.is_fifo() {
        "p"
    } else {
        "other"
    };
    let typ = d.typ();
    let want = match typ.as_str() {
        "u" => "c",
        t => t,
    };
    if got != want {
        bail!("{path} is of type {got}, config asks for {want}");
    }
    if want != "p" {
        let (ma, mi) = (libc::major(md.rdev()) as i64, libc::minor(md.rdev()) as i64);
        if ma != d.major() || mi != d.minor() {
            bail!(
                "{path} is {ma}:{mi}, config asks for {}:{}",
                d.major(),
                d.minor()
            );
        }
    }
    if let Some(mode) = d.file_mode() {
        let got = md.permissions().mode() & 0o777;
        if got != mode & 0o777 {
            bail!(
                "{path} has mode {got:o}, config asks for {:o}",
                mode & 0o777
            );
        }
    }
    if d.uid().is_some_and(|u| u != md.uid()) || d.gid().is_some_and(|g| g != md.gid()) {
        bail!(
            "{path} is owned by {}:{}, config asks for {:?}:{:?}",
            md.uid(),
            md.gid(),
            d.uid(),
            d.gid()
        );
    }
    Ok(())
}

pub fn check_devices(spec: &Spec, _: &str) -> CheckResult {
    let devices = linux(spec)?.devices().clone().unwrap_or_default();
    if devices.is_empty() {
        return Ok(Verdict::Unset("config sets no linux.devices".into()));
    }
    for d in &devices {
        check_device(d)?;
    }
    Ok(Verdict::Ok)
}

pub fn check_masked_paths(spec: &Spec, _: &str) -> CheckResult {
    let paths = linux(spec)?.masked_paths().clone().unwrap_or_default();
    if paths.is_empty() {
        return Ok(Verdict::Unset("config sets no maskedPaths".into()));
    }
    let mut checked = 0;
    for p in &paths {
        let md = match fs::metadata(p) {
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            r => r.with_context(|| format!("stat masked path {p}"))?,
        };
        checked += 1;
        if md.is_dir() {
            if fs::read_dir(p)?.next().is_some() {
                bail!("masked directory {p} is not empty");
            }
            continue;
        }
        let mut buf = [0u8; 1];
        let n = fs::File::open(p)
            .and_then(|mut f| f.read(&mut buf))
            .with_context(|| format!("read masked path {p}"))?;
        if n != 0 {
            bail!("masked file {p} is readable");
        }
    }
    if checked == 0 {
        return Ok(Verdict::Unset(format!(
            "none of the maskedPaths {paths:?} exists in the container"
        )));
    }
    Ok(Verdict::Ok)
}

pub fn check_readonly_paths(spec: &Spec, _: &str) -> CheckResult {
    let paths = linux(spec)?.readonly_paths().clone().unwrap_or_default();
    if paths.is_empty() {
        return Ok(Verdict::Unset("config sets no readonlyPaths".into()));
    }
    let mut checked = 0;
    for p in &paths {
        let md = match fs::metadata(p) {
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            r => r.with_context(|| format!("stat readonly path {p}"))?,
        };
        checked += 1;
        if !is_readonly(p)? {
            bail!("{p} is not on a read-only mount");
        }
        let write = if md.is_dir() {
            try_write_in(p)
        } else {
            fs::OpenOptions::new().write(true).open(p).map(drop)
        };
        // On a read-only mount any write fails (in /proc a new name can
        // fail with ENOENT before EROFS is considered).
        if write.is_ok() {
            bail!("{p} is writable");
        }
    }
    if checked == 0 {
        return Ok(Verdict::Unset(format!(
            "none of the readonlyPaths {paths:?} exists in the container"
        )));
    }
    Ok(Verdict::Ok)
}

struct TmpDir(PathBuf);

impl TmpDir {
    fn new(name: &str) -> Result<Self> {
        let p = PathBuf::from(format!("/rt-{name}-{}", std::process::id()));
        fs::create_dir_all(&p).with_context(|| format!("mkdir {}", p.display()))?;
        Ok(TmpDir(p))
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn bind(src: &Path, dst: &Path) -> nix::Result<()> {
    mount(
        Some(src),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
}

/// runtime-tools' test: bind "/" on a target, then mount something under "/"
/// and look whether it shows under the target (it does iff "/" is shared).
fn propagates() -> Result<bool> {
    let target = TmpDir::new("target")?;
    let mnt = TmpDir::new("mount")?;
    let test = TmpDir::new("test")?;
    fs::write(test.0.join("example"), b"x")?;
    bind(Path::new("/"), &target.0).context("bind / on target")?;
    bind(&test.0, &mnt.0).context("bind test dir on mount dir")?;
    let seen = target
        .0
        .join(mnt.0.strip_prefix("/")?)
        .join("example")
        .exists();
    let _ = umount2(&mnt.0, MntFlags::MNT_DETACH);
    Ok(seen)
}

pub fn check_rootfs_propagation(spec: &Spec, _: &str) -> CheckResult {
    let Some(prop) = linux(spec)?.rootfs_propagation().clone() else {
        return Ok(Verdict::Unset("config sets no rootfsPropagation".into()));
    };
    match prop.trim_start_matches('r') {
        "shared" if propagates()? => Ok(Verdict::Ok),
        "shared" => bail!("a mount under / does not propagate to a bind of /: / is not shared"),
        "slave" | "private" if propagates()? => bail!("/ is shared, config asks for {prop}"),
        "slave" | "private" => Ok(Verdict::Ok),
        "unbindable" => {
            let target = TmpDir::new("target")?;
            match bind(Path::new("/"), &target.0) {
                Err(nix::errno::Errno::EINVAL) => Ok(Verdict::Ok),
                Err(e) => bail!("bind of / gave {e}, expected EINVAL (unbindable)"),
                Ok(()) => bail!("/ could be bind-mounted: it is not unbindable"),
            }
        }
        _ => Ok(Verdict::Skip(format!("unknown rootfsPropagation {prop:?}"))),
    }
}

pub fn check_mount_label(spec: &Spec, _: &str) -> CheckResult {
    let Some(label) = linux(spec)?.mount_label().clone() else {
        return Ok(Verdict::Unset("config sets no mountLabel".into()));
    };
    if !Path::new("/sys/fs/selinux/enforce").exists() {
        return Ok(Verdict::Skip("SELinux is not enabled".into()));
    }
    let infos = mountinfo()?;
    let shm = infos
        .iter()
        .find(|i| i.mountpoint == "/dev/shm")
        .ok_or_else(|| anyhow!("/dev/shm not mounted"))?;
    if !shm.super_opts.contains(&label) {
        bail!(
            "/dev/shm options {:?} lack context {label:?}",
            shm.super_opts
        );
    }
    Ok(Verdict::Ok)
}

pub fn check_exists(_: &Spec, path: &str) -> CheckResult {
    if fs::symlink_metadata(path).is_err() {
        bail!("{path} does not exist");
    }
    Ok(Verdict::Ok)
}

pub fn check_absent(_: &Spec, path: &str) -> CheckResult {
    if fs::symlink_metadata(path).is_ok() {
        bail!("{path} exists");
    }
    Ok(Verdict::Ok)
}
