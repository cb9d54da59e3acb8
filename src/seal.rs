//! Protection of the host's runw binary against the CVE-2019-5736 class of attacks.
//!
//! Every process runw puts into a container (the init of a Wasm container never execs, so it
//! stays runw for the container's whole life) has runw as `/proc/<pid>/exe`. A process in the
//! container that opens that link for writing would overwrite the host binary.
//!
//! Before such a command does any work, runw re-executes itself from a *detached, read-only
//! bind mount* of its own binary: `open_tree(OPEN_TREE_CLONE)` clones the mount of the file
//! into an anonymous mount namespace (no mount event anywhere, nothing to unmount), and
//! `mount_setattr(MOUNT_ATTR_RDONLY)` makes that clone read-only. Every write through
//! `/proc/<pid>/exe` then fails with EROFS. The cost is one extra `execve` (a few hundred
//! microseconds) and no memory, whatever the binary's size, unlike copying the binary into a
//! sealed memfd (youki, runc < 1.2 fallback), which costs time and RSS proportional to its size.
//! Kernels older than 5.12 lack `mount_setattr`: runw then falls back to a sealed memfd copy.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use anyhow::{bail, Context, Result};
use nix::sys::statvfs::{statvfs, FsFlags};

const SELF_EXE: &str = "/proc/self/exe";

/// True when the running binary lives on a read-only mount (we are already sealed).
pub fn exe_is_read_only() -> bool {
    statvfs(SELF_EXE)
        .map(|s| s.flags().contains(FsFlags::ST_RDONLY))
        .unwrap_or(false)
}

/// Re-executes runw from a read-only view of its binary unless it already runs from one.
/// Returns only if it is already sealed; on success the process image is replaced.
pub fn ensure_sealed() -> Result<()> {
    if exe_is_read_only() {
        return Ok(());
    }
    let fd = match read_only_bind_of_self() {
        Ok(fd) => fd,
        Err(err) => {
            tracing::debug!("read-only bind mount of runw unavailable ({err:#}), using memfd");
            memfd_copy_of_self()?
        }
    };
    reexec(&fd)
}

fn read_only_bind_of_self() -> Result<OwnedFd> {
    let path = CString::new(SELF_EXE)?;
    // SAFETY: plain syscalls with valid, NUL-terminated arguments.
    let raw = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC) as libc::c_uint,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error()).context("open_tree(/proc/self/exe)");
    }
    // SAFETY: open_tree returned a new file descriptor that we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = CString::new("")?;
    // SAFETY: `attr` outlives the call and its size is passed along.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error()).context("mount_setattr(MOUNT_ATTR_RDONLY)");
    }
    Ok(fd)
}

/// Fallback for old kernels: a sealed, immutable in-memory copy of the binary.
fn memfd_copy_of_self() -> Result<OwnedFd> {
    let name = CString::new("runw")?;
    // SAFETY: valid name; flags are constants.
    let raw =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error()).context("memfd_create");
    }
    // SAFETY: memfd_create returned a new descriptor that we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut src = std::fs::File::open(SELF_EXE).context("open /proc/self/exe")?;
    let mut dst = std::fs::File::from(fd.try_clone()?);
    std::io::copy(&mut src, &mut dst).context("copy runw into memfd")?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(std::io::Error::last_os_error()).context("seal memfd");
    }
    Ok(fd)
}

fn reexec(fd: &OwnedFd) -> Result<()> {
    let args: Vec<CString> = std::env::args_os().map(to_cstring).collect::<Result<_>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            to_cstring(kv)
        })
        .collect::<Result<_>>()?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let empty = CString::new("")?;
    // SAFETY: argv/envp are NULL-terminated arrays of valid C strings that outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    bail!(
        "cannot re-execute runw from a sealed binary: {}",
        std::io::Error::last_os_error()
    )
}

fn to_cstring(s: OsString) -> Result<CString> {
    Ok(CString::new(s.as_bytes())?)
}
