//! `--pid-file` written as runc writes it (see `fixups`).
//!
//! libcontainer 0.7 resolves the path (symlinks included) and then writes it in place, so a
//! symlink planted at that path, e.g. by a container whose rootfs holds the pid file, redirects
//! the write to any host file. runc writes a new file next to the path and renames it over the
//! path: the rename replaces a symlink instead of following it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Writes `pid` (decimal, no newline, as runc) to `path` atomically, never following a
/// symlink at `path` or at the temporary name.
pub fn write(path: &Path, pid: i32) -> Result<()> {
    let path = std::path::absolute(path)
        .with_context(|| format!("invalid pid file path {}", path.display()))?;
    let tmp = temporary_name(&path);
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o644)
            .open(&tmp)?;
        file.write_all(pid.to_string().as_bytes())?;
        file.sync_data()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err).with_context(|| format!("cannot write pid file {}", path.display()));
    }
    Ok(())
}

/// `.<name>.<runw pid>` in the same directory (a rename cannot cross filesystems).
fn temporary_name(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_symlink_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("pid");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write(&link, 4242).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "4242");
        assert!(!std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file is left");
    }
}
