//! Container ids, the per-container lock, and loading a container's libcontainer state.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcgroups::common::{AnyCgroupManager, CgroupConfig};
use libcontainer::container::{Container, ContainerStatus};

/// Longest accepted id. The id names a directory (NAME_MAX 255) and a cgroup.
pub const MAX_ID_LEN: usize = 200;

/// Checks an id the way runc does: `[A-Za-z0-9_.-]+`, not `.` or `..`, bounded length.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("invalid container id: the id must not be empty");
    }
    if id.len() > MAX_ID_LEN {
        bail!(
            "invalid container id: {} characters is longer than {MAX_ID_LEN}",
            id.len()
        );
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !id.chars().all(allowed) || id == "." || id == ".." {
        bail!("invalid container id {id:?}: only [A-Za-z0-9_.-] are allowed");
    }
    Ok(())
}

/// Creates the state root (0700, like runc) if needed.
pub fn ensure_root(root: &Path) -> Result<PathBuf> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .with_context(|| format!("cannot create state directory {}", root.display()))?;
    std::fs::canonicalize(root).with_context(|| format!("invalid root {}", root.display()))
}

/// An exclusive or shared lock on `<root>/.lock:<id>` (`:` cannot occur in an id, so the
/// lock file never collides with a container directory). Every command that changes a
/// container holds it exclusively; readers hold it shared, because libcontainer rewrites
/// state.json in place. The lock file is removed when the lock is dropped and no container
/// directory exists, so a failed create or a delete leaves nothing behind.
pub struct ContainerLock {
    file: File,
    path: PathBuf,
    container_dir: PathBuf,
}

impl ContainerLock {
    pub fn exclusive(root: &Path, id: &str) -> Result<Self> {
        Self::acquire(root, id, libc::F_WRLCK)
    }

    pub fn shared(root: &Path, id: &str) -> Result<Self> {
        Self::acquire(root, id, libc::F_RDLCK)
    }

    fn acquire(root: &Path, id: &str, kind: libc::c_int) -> Result<Self> {
        // The id becomes a path: never lock (or create) anything for an invalid one.
        validate_id(id)?;
        let path = root.join(format!(".lock:{id}"));
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
                .with_context(|| format!("cannot open lock {}", path.display()))?;
            if let Err(err) = lock_whole_file(&file, kind) {
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err).with_context(|| format!("cannot lock {}", path.display()));
            }
            // The holder before us may have removed the file: then our lock guards nothing
            // and we start over on the new file.
            if same_file(&file, &path) {
                return Ok(Self {
                    file,
                    path,
                    container_dir: root.join(id),
                });
            }
        }
    }
}

/// A private copy of a container's state for libcontainer's exec (tenant) builder, at
/// `<root>/.exec:<id>:<runw pid>/<id>/state.json`. The builder reads the state when it starts
/// and then waits for the new process; with the copy, runw holds the container's lock only
/// while it copies. Removed on drop; `delete` removes any a killed runw left.
pub struct StateSnapshot {
    root: PathBuf,
}

impl StateSnapshot {
    pub fn take(root: &Path, id: &str, _lock: &ContainerLock) -> Result<Self> {
        let snapshot_root = scratch_dir(root, id, "exec");
        let dir = snapshot_root.join(id);
        let _ = std::fs::remove_dir_all(&snapshot_root);
        let snapshot = Self {
            root: snapshot_root,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::copy(root.join(id).join("state.json"), dir.join("state.json"))
            .with_context(|| format!("cannot copy the state of container {id}"))?;
        Ok(snapshot)
    }

    /// The `--root` to give libcontainer.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for StateSnapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The kinds of [`scratch_dir`]: an exec's state snapshot, a terminal relay's socket.
const SCRATCH_KINDS: [&str; 2] = ["exec", "console"];

/// A private directory of this runw process for container `id`:
/// `<root>/.<kind>:<id>:<runw pid>`, hidden from `list` (no state.json in it).
pub fn scratch_dir(root: &Path, id: &str, kind: &str) -> PathBuf {
    debug_assert!(SCRATCH_KINDS.contains(&kind));
    root.join(format!(".{kind}:{id}:{}", std::process::id()))
}

/// Removes the scratch directories of container `id` that a killed runw left behind.
pub fn remove_scratch_dirs(root: &Path, id: &str) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let prefixes: Vec<String> = SCRATCH_KINDS
        .iter()
        .map(|kind| format!(".{kind}:{id}:"))
        .collect();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| name.starts_with(p)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Waits for a POSIX record lock on the whole file. Unlike `flock`, a POSIX lock belongs to
/// the process, so the container processes libcontainer clones from runw do not inherit it
/// (an inherited lock would be held by a waiting init until `start`).
fn lock_whole_file(file: &File, kind: libc::c_int) -> std::io::Result<()> {
    // SAFETY: zeroed is a valid `flock` value; fields are set below.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_SETLKW with a valid flock struct on a descriptor we own.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLKW, &lock) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

impl Drop for ContainerLock {
    fn drop(&mut self) {
        if !self.container_dir.exists() {
            let _ = std::fs::remove_file(&self.path);
        }
        let _ = &self.file;
    }
}

/// What a create is about to make, recorded in the lock file before it is made (the lock
/// file exists before anything else and stays if runw is killed). The cgroup is the one
/// thing libcontainer makes outside `<root>/<id>`, and the init process lives in it before
/// state.json names it, so `delete --force` needs this to remove a create killed half way.
#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    pub cgroup_path: PathBuf,
    pub systemd: bool,
}

impl ContainerLock {
    /// Records `intent` in the lock file.
    pub fn record(&self, intent: &Intent) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let text = serde_json::to_vec(intent)?;
        self.file
            .set_len(0)
            .and_then(|()| self.file.write_all_at(&text, 0))
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// What the last create recorded, if anything. Read through the locked descriptor:
    /// closing any other descriptor of the file would release this process's POSIX lock.
    pub fn recorded(&self) -> Option<Intent> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; 64 * 1024];
        let n = self.file.read_at(&mut buf, 0).ok()?;
        serde_json::from_slice(&buf[..n]).ok()
    }

    /// Removes what an unfinished create (killed, or failed before it could clean up) left:
    /// the processes in its cgroup, the cgroup and the state directory. Best effort.
    pub fn remove_unfinished(&self) {
        if let Some(intent) = self.recorded() {
            use crate::fixups::delete::{remove_cgroup, wait_for_setup_clones};
            let id = self.id();
            remove_cgroup(intent.cgroup_path.clone(), intent.systemd, &id);
            // A clone of the killed create may make the cgroup again on its way out, while
            // it is seen or just before it dies: wait for it, then remove what it made.
            wait_for_setup_clones(&id);
            remove_cgroup(intent.cgroup_path, intent.systemd, &id);
        }
        if self.container_dir.exists() {
            let _ = std::fs::remove_dir_all(&self.container_dir);
        }
        self.remove_private_bundle();
    }

    /// Removes runw's own bundle of the container (fixups/cgroup_name.rs), if any.
    pub fn remove_private_bundle(&self) {
        if let Some(root) = self.container_dir.parent() {
            let dir = crate::fixups::cgroup_name::private_bundle_dir(root, &self.id());
            if dir.exists() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    fn id(&self) -> String {
        self.container_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

pub fn not_found(id: &str) -> anyhow::Error {
    // "does not exist" is what containerd's shim matches to treat a delete as done.
    anyhow::anyhow!("container {id} does not exist")
}

/// Loads the container `id` while holding `lock`.
pub fn load(root: &Path, id: &str, _lock: &ContainerLock) -> Result<Container> {
    let dir = root.join(id);
    if !dir.join("state.json").exists() {
        bail!(not_found(id));
    }
    let meta = crate::state::Meta::load(&dir);
    let mut container = crate::fixups::pid_reuse::load(dir)
        .with_context(|| format!("cannot load the state of container {id}"))?;
    let recorded = meta.and_then(|meta| meta.init_start_time);
    crate::fixups::pid_reuse::forget_reused_pid(&mut container, recorded);
    Ok(container)
}

/// Takes the exclusive lock (validating the id) and loads the container.
pub fn open_exclusive(root: &Path, id: &str) -> Result<(Container, ContainerLock)> {
    let root = ensure_root(root)?;
    let lock = ContainerLock::exclusive(&root, id)?;
    let container = load(&root, id, &lock)?;
    Ok((container, lock))
}

/// Takes the shared lock (validating the id) and loads the container.
pub fn open_shared(root: &Path, id: &str) -> Result<(Container, ContainerLock)> {
    let root = ensure_root(root)?;
    let lock = ContainerLock::shared(&root, id)?;
    let container = load(&root, id, &lock)?;
    Ok((container, lock))
}

/// The cgroup manager of a container, from the config saved at create.
pub fn cgroup_manager(container: &Container) -> Result<AnyCgroupManager> {
    let config = container
        .spec()
        .with_context(|| format!("cannot read the saved config of {}", container.id()))?;
    libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: config.cgroup_path,
        systemd_cgroup: container.systemd(),
        container_name: container.id().to_string(),
    })
    .with_context(|| format!("cannot open the cgroup of {}", container.id()))
}

/// runc's name for a status.
pub fn status_name(status: ContainerStatus) -> &'static str {
    match status {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_like_runc() {
        for ok in [
            "a",
            "web-1",
            "x_y.z",
            "0123456789abcdef",
            &"a".repeat(MAX_ID_LEN),
        ] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "/",
            "a/b",
            "a b",
            "a:b",
            &"a".repeat(MAX_ID_LEN + 1),
        ] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lock_file_is_removed_when_no_container_exists() {
        let root = tempfile::tempdir().unwrap();
        {
            let _lock = ContainerLock::exclusive(root.path(), "c1").unwrap();
            assert!(root.path().join(".lock:c1").exists());
        }
        assert!(!root.path().join(".lock:c1").exists());
    }

    #[test]
    fn lock_file_stays_while_the_container_exists() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("c2")).unwrap();
        drop(ContainerLock::shared(root.path(), "c2").unwrap());
        assert!(root.path().join(".lock:c2").exists());
    }
}
