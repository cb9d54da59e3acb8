//! The container's cgroup mount made read-only when the spec says `ro` (see `fixups`).
//!
//! libcontainer 0.7 ignores the options of the spec's `cgroup` mount on cgroup v1: it mounts a
//! tmpfs at the destination and then each hierarchy, either bind-mounted `rw` from the host
//! (no cgroup namespace) or mounted with nosuid/nodev/noexec only (cgroup namespace). The
//! container then can write its own `memory.limit_in_bytes` or `pids.max` and lift every
//! limit. On cgroup v2 its bind-mount fallback drops `ro` as well. runc mounts all of them
//! read-only (`Read-only file system` in the container).
//!
//! runw corrects it right after `build`, while the init waits for `start` and no workload
//! code has run: a thread enters the init's mount namespace and sets read-only, nosuid, nodev
//! and noexec on the whole mount tree at each such destination (`mount_setattr` with
//! `AT_RECURSIVE`; a remount of each mount on kernels before 5.12).

use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oci_spec::runtime::Spec;

/// The destinations of the spec's cgroup mounts that ask for `ro`.
fn read_only_destinations(spec: &Spec) -> Vec<PathBuf> {
    spec.mounts()
        .iter()
        .flatten()
        .filter(|m| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")))
        .filter(|m| m.options().iter().flatten().any(|o| o == "ro"))
        .map(|m| m.destination().clone())
        .collect()
}

/// Makes the cgroup mounts of the container whose init is `pid` read-only.
pub fn make_read_only(pid: i32, spec: &Spec) -> Result<()> {
    let destinations = read_only_destinations(spec);
    if destinations.is_empty() {
        return Ok(());
    }
    let ns_path = format!("/proc/{pid}/ns/mnt");
    let ns = File::open(&ns_path).with_context(|| format!("cannot open {ns_path}"))?;
    // Without a mount namespace of its own the container's mounts are runw's: nothing to
    // enter, and "/sys/fs/cgroup" here would be the host's.
    if ns.metadata()?.ino() == std::fs::metadata("/proc/self/ns/mnt")?.ino() {
        return Ok(());
    }
    // setns(CLONE_NEWNS) changes only the calling thread once it has its own fs_struct, so
    // runw's other threads (and its view of the host) stay as they are.
    std::thread::spawn(move || -> Result<()> {
        nix::sched::unshare(CloneFlags::CLONE_FS).context("unshare(CLONE_FS)")?;
        nix::sched::setns(&ns, CloneFlags::CLONE_NEWNS).context("setns into the container")?;
        for destination in &destinations {
            seal_tree(destination).with_context(|| {
                format!(
                    "cannot make the cgroup mount {} read-only",
                    destination.display()
                )
            })?;
        }
        Ok(())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the cgroup mount thread panicked"))?
}

const SEALED: u64 = libc::MOUNT_ATTR_RDONLY
    | libc::MOUNT_ATTR_NOSUID
    | libc::MOUNT_ATTR_NODEV
    | libc::MOUNT_ATTR_NOEXEC;

fn seal_tree(destination: &Path) -> Result<()> {
    let path = CString::new(destination.as_os_str().as_bytes())?;
    let attr = libc::mount_attr {
        attr_set: SEALED,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `path` and `attr` outlive the call and the attribute size is passed along.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        bail!("mount_setattr: {err}");
    }
    remount_each(destination)
}

/// Kernels before 5.12: remount every mount at or below `destination`, parents first.
fn remount_each(destination: &Path) -> Result<()> {
    // thread-self: this thread is in the container's mount namespace, not the process.
    let mounts = crate::mountinfo::read(Path::new("/proc/thread-self/mountinfo"))?;
    let mut points: Vec<PathBuf> = mounts
        .into_iter()
        .map(|m| m.point)
        .filter(|p| p.starts_with(destination))
        .collect();
    points.sort();
    points.dedup();
    for point in points {
        let kept = nix::sys::statvfs::statvfs(&point)?.flags();
        let mut flags = MsFlags::MS_REMOUNT
            | MsFlags::MS_BIND
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        use nix::sys::statvfs::FsFlags;
        for (has, flag) in [
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if kept.contains(has) {
                flags |= flag;
            }
        }
        nix::mount::mount(None::<&str>, &point, None::<&str>, flags, None::<&str>)
            .with_context(|| format!("remount {}", point.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cgroup_mounts_that_ask_for_ro() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","mounts":[
                {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","ro"]},
                {"destination":"/cg2","type":"cgroup2","source":"cgroup","options":["rw"]},
                {"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["ro"]}]}"#,
        )
        .unwrap();
        assert_eq!(
            read_only_destinations(&spec),
            [PathBuf::from("/sys/fs/cgroup")]
        );
    }
}
