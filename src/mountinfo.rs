//! Mount points of a mountinfo file (`/proc/<pid|self|thread-self>/mountinfo`), parsed by the
//! procfs crate. procfs keeps the kernel's octal escapes in the paths (space, tab, newline
//! and backslash are written `\040`, `\011`, `\012`, `\134`); they are undone here.

use std::path::{Path, PathBuf};

/// One mount: where it is and its file system type.
pub struct Mount {
    pub point: PathBuf,
    pub fs_type: String,
}

/// The mounts listed in the mountinfo file at `path`.
pub fn read(path: &Path) -> procfs::ProcResult<Vec<Mount>> {
    use procfs::FromRead;
    let infos = procfs::process::MountInfos::from_file(path)?;
    Ok(infos
        .into_iter()
        .map(|m| Mount {
            point: PathBuf::from(unescape(&m.mount_point.to_string_lossy())),
            fs_type: m.fs_type,
        })
        .collect())
}

fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_mount_points_are_restored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mountinfo");
        std::fs::write(
            &file,
            "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
             23 1 0:22 / /a\\040b\\134c rw shared:1 - tmpfs tmpfs rw\n",
        )
        .unwrap();
        let mounts = read(&file).unwrap();
        let got: Vec<(&Path, &str)> = mounts
            .iter()
            .map(|m| (m.point.as_path(), m.fs_type.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Path::new("/proc"), "proc"),
                (Path::new("/a b\\c"), "tmpfs")
            ]
        );
    }
}
