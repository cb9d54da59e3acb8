//! Helpers shared by the fuzz targets.

use std::path::{Path, PathBuf};

/// A scratch directory for the targets that go through files. AFL runs the target in
/// children forked one at a time from its fork server, so the directory is named by the fork
/// server's pid (the parent's) and reused by every child; hack/fuzz.sh points `TMPDIR` into
/// its output directory.
pub fn scratch(name: &str) -> PathBuf {
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc_getppid() };
    let dir = std::env::temp_dir().join(format!("runw-fuzz-{name}-{parent}"));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

extern "C" {
    #[link_name = "getppid"]
    fn libc_getppid() -> i32;
}

/// Writes `data` to `path`, replacing it.
pub fn put(path: &Path, data: &[u8]) {
    std::fs::write(path, data).expect("scratch file");
}

/// Formats an error as runw reports it (the whole cause chain), so that its Display code runs.
pub fn report(err: &anyhow::Error) -> String {
    format!("{err:#}")
}
