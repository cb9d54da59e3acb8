//! What a Wasm process gives up before its module runs.
//!
//! A Linux container's process is a fresh program (`execve`); a Wasm one is a clone of runw
//! that never execs, so everything runw had is still in the process the module runs in. Right
//! before the module's entry point, after libcontainer's setup (namespaces, mounts,
//! capabilities, seccomp) and `start`, the process:
//!
//! 1. closes every descriptor but stdio, `--preserve-fds` and those the module's host keeps
//!    (an HTTP server's listening socket, bound during create) ([`close_inherited_fds`]):
//!    runw's lock file, log file, libcontainer's exec pipe, cache files;
//! 2. replaces its command line with `process.args` and erases its environment
//!    ([`scrub_process_text`]): `/proc/<pid>/cmdline` and `environ` showed runw's (host paths,
//!    and whatever secrets the caller of runw had in its environment);
//! 3. keeps the module out of procfs with Landlock ([`keep_out_of_procfs`]): through
//!    `/proc/self/mem` (or `/proc/<its pid>/...`, `/proc/thread-self/...`) a module that can
//!    open files could overwrite the code of its own process and run native code. Landlock is
//!    an unprivileged, inherited, irrevocable allow-list of the file hierarchies a process may
//!    open: runw allows everything under `/` except the procfs mounts, plus a few read-only
//!    system-wide procfs files. It works below the WASI layer, so no path trick (symlinks,
//!    `..`, `/dev/fd`, magic links) reaches procfs.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use landlock::{
    Access, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, ABI,
};

/// System-wide procfs files a module may read: nothing in them belongs to a process.
const PROC_FILES_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/version",
];

/// All three steps, in order (the descriptors first: nothing after it opens a host file).
pub fn confine(args: &[String], preserved_fds: i32, kept: &[RawFd]) -> Result<()> {
    close_inherited_fds(preserved_fds, kept);
    scrub_process_text(args);
    keep_out_of_procfs()
}

/// Closes every descriptor from `3 + preserved` up, but those in `kept`.
pub fn close_inherited_fds(preserved: i32, kept: &[RawFd]) {
    let first = 3 + preserved.max(0) as libc::c_uint;
    let mut kept: Vec<libc::c_uint> = kept
        .iter()
        .filter_map(|fd| libc::c_uint::try_from(*fd).ok())
        .filter(|fd| *fd >= first)
        .collect();
    kept.sort_unstable();
    let mut from = first;
    for fd in kept {
        if fd > from {
            close_range(from, fd - 1);
        }
        from = fd + 1;
    }
    close_range(from, libc::c_uint::MAX);
}

/// Closes the descriptors `first..=last`.
fn close_range(first: libc::c_uint, last: libc::c_uint) {
    // SAFETY: close_range only closes descriptors; nothing in this process uses them any more.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    if rc != 0 {
        // Kernels before 5.9: close them one by one.
        let max = nix::unistd::sysconf(nix::unistd::SysconfVar::OPEN_MAX)
            .ok()
            .flatten()
            .unwrap_or(1024) as libc::c_uint;
        for fd in first..=last.min(max) {
            // SAFETY: as above.
            unsafe { libc::close(fd as libc::c_int) };
        }
    }
}

/// Writes `args` over the process's command line (what `ps` and `/proc/<pid>/cmdline` show,
/// truncated to the space runw's own command line had) and erases the environment strings.
pub fn scrub_process_text(args: &[String]) {
    if let Some(areas) = text_areas() {
        let mut cmdline: Vec<u8> = Vec::new();
        for arg in args {
            cmdline.extend_from_slice(arg.as_bytes());
            cmdline.push(0);
        }
        // SAFETY: the ranges are this process's own argv and envp strings (from the kernel),
        // writable stack memory that only these strings use.
        unsafe {
            overwrite(areas.args, &cmdline);
            overwrite(areas.env, &[]);
        }
    } else {
        erase_environ_strings();
    }
    // SAFETY: single-threaded here; nothing holds a pointer into the environment.
    unsafe { libc::clearenv() };
}

/// `[start, end)` of the argv and envp strings, from `/proc/self/stat` (fields 48 to 51).
struct TextAreas {
    args: (usize, usize),
    env: (usize, usize),
}

fn text_areas() -> Option<TextAreas> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let fields: Vec<usize> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |n: usize| fields.get(n - 3).copied().filter(|v| *v != 0);
    Some(TextAreas {
        args: (field(48)?, field(49)?),
        env: (field(50)?, field(51)?),
    })
}

/// Fills `[start, end)` with `text`, truncated so that the area ends with a NUL, and zeros.
///
/// # Safety
/// The range must be writable memory of this process that nothing else relies on.
unsafe fn overwrite((start, end): (usize, usize), text: &[u8]) {
    if end <= start {
        return;
    }
    let area = std::slice::from_raw_parts_mut(start as *mut u8, end - start);
    let n = text.len().min(area.len() - 1);
    area[..n].copy_from_slice(&text[..n]);
    area[n..].fill(0);
}

/// Without procfs: zero each environment string through `environ`.
fn erase_environ_strings() {
    extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }
    // SAFETY: environ is a NULL-terminated array of NUL-terminated strings; single-threaded.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let len = CStr::from_ptr(*entry).to_bytes().len();
            std::ptr::write_bytes(*entry, 0, len);
            entry = entry.add(1);
        }
    }
}

/// Restricts this process (and its future threads) to every file hierarchy but procfs.
pub fn keep_out_of_procfs() -> Result<()> {
    let proc_mounts = procfs_mounts()?;
    let abi = ABI::V5;
    let all = AccessFs::from_all(abi);
    let mut ruleset = Ruleset::default()
        .handle_access(all)
        .context("landlock")?
        .create()
        .context("landlock")?;
    for rule in rules(Path::new("/"), &proc_mounts, all, AccessFs::from_file(abi)) {
        let (path, access) = rule;
        // Entries may vanish or be unreadable to the container's user: skip those.
        if let Ok(fd) = PathFd::new(&path) {
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, access))
                .with_context(|| format!("landlock rule for {}", path.display()))?;
        }
    }
    for file in PROC_FILES_ALLOWED {
        if let Ok(fd) = PathFd::new(file) {
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, AccessFs::ReadFile))
                .with_context(|| format!("landlock rule for {file}"))?;
        }
    }
    let status = ruleset.restrict_self().context("landlock")?;
    if status.ruleset == RulesetStatus::NotEnforced && !proc_mounts.is_empty() {
        bail!(
            "Landlock is not available on this kernel: runw needs it to keep a wasm module out of the procfs mounted at {}",
            proc_mounts[0].display()
        );
    }
    Ok(())
}

/// Mount points of procfs in this mount namespace.
fn procfs_mounts() -> Result<Vec<PathBuf>> {
    let path = Path::new("/proc/self/mountinfo");
    if !path.exists() {
        // No procfs at /proc: then nothing to keep the module out of there.
        return Ok(Vec::new());
    }
    let mounts = crate::mountinfo::read(path).context("cannot read /proc/self/mountinfo")?;
    Ok(mounts
        .into_iter()
        .filter(|m| m.fs_type == "proc")
        .map(|m| m.point)
        .collect())
}

/// The Landlock rules that allow everything below `dir` except the `excluded` hierarchies:
/// a directory with no excluded path below it gets one rule with every right; one that
/// contains an excluded path gets directory rights only (list it, make directories and
/// symlinks, remove entries: rights that reach into procfs harmlessly) and its entries are
/// ruled one by one. So a module cannot make or open a regular file right in such a
/// directory (in practice `/`) unless the file existed before it started.
fn rules(
    dir: &Path,
    excluded: &[PathBuf],
    all: BitFlags<AccessFs>,
    file_rights: BitFlags<AccessFs>,
) -> Vec<(PathBuf, BitFlags<AccessFs>)> {
    if excluded.iter().any(|e| dir.starts_with(e)) {
        return Vec::new();
    }
    if !excluded.iter().any(|e| e.starts_with(dir)) {
        return vec![(dir.to_path_buf(), all)];
    }
    // No MakeReg either: a file created there could not be opened (no file rights), so the
    // creation is refused cleanly instead of leaving an empty file behind.
    let dir_rights = all & !file_rights & !AccessFs::MakeReg;
    let mut out = vec![(dir.to_path_buf(), dir_rights)];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => out.extend(rules(&path, excluded, all, file_rights)),
            // A symlink's rule lands on its target, which is ruled where it lives.
            Ok(t) if t.is_symlink() => {}
            Ok(_) => out.push((path, file_rights)),
            Err(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procfs_is_left_out_and_its_siblings_are_ruled() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["proc", "etc", "mnt/proc", "mnt/data"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("file"), "x").unwrap();
        let all = AccessFs::from_all(ABI::V5);
        let file = AccessFs::from_file(ABI::V5);
        let excluded = [root.join("proc"), root.join("mnt/proc")];
        let mut got = rules(root, &excluded, all, file);
        got.sort();
        let mut want = vec![
            (root.to_path_buf(), all & !file & !AccessFs::MakeReg),
            (root.join("etc"), all),
            (root.join("file"), file),
            (root.join("mnt"), all & !file & !AccessFs::MakeReg),
            (root.join("mnt/data"), all),
        ];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn text_areas_are_found() {
        let areas = text_areas().expect("/proc/self/stat");
        assert!(areas.args.0 < areas.args.1);
        assert!(areas.env.0 <= areas.env.1);
    }
}
