//! The host-side cache of compiled Wasm code (default `/var/lib/runw/cache`).
//!
//! An entry is `<key>.cwasm`: the engine's precompiled artifact followed by a 24-byte trailer
//! (magic, artifact length, CRC-32 of the artifact). The key is a SHA-256 over the module's
//! binary, the engine's name and version and a fingerprint of its settings, so another engine
//! version or configuration never even looks at a foreign entry; a truncated or damaged entry
//! fails the trailer check and is rebuilt. Entries are written to a temporary file and renamed
//! into place, so concurrent creates of the same module never see a partial entry. When the
//! directory grows past its size bound the least recently used entries are removed (a hit
//! refreshes the entry's mtime).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

pub const DEFAULT_DIR: &str = "/var/lib/runw/cache";

const MAGIC: &[u8; 8] = b"RUNWCWSM";
const TRAILER_LEN: u64 = 24;
const SUFFIX: &str = "cwasm";
/// Temporary files older than this are left over from a crashed runw.
const STALE_TMP: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
}

impl Cache {
    pub fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self { dir, max_bytes }
    }

    /// The cache key of a module binary for an engine tag (name, version, settings).
    pub fn key(binary: &[u8], engine_tag: &str) -> String {
        let mut hash = Sha256::new();
        hash.update(engine_tag.as_bytes());
        hash.update([0]);
        hash.update(binary);
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.{SUFFIX}"))
    }

    /// The path of a valid entry and the artifact's length (the file is longer by the
    /// trailer). A damaged entry is removed.
    pub fn lookup(&self, key: &str) -> Option<(PathBuf, u64)> {
        let path = self.path(key);
        let file = File::open(&path).ok()?;
        match verify(&file) {
            Some(len) => {
                // Best effort: the mtime orders entries for eviction.
                let _ = file.set_modified(SystemTime::now());
                Some((path, len))
            }
            None => {
                tracing::debug!("damaged wasm cache entry {}, rebuilding", path.display());
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores an artifact under `key` (atomically) and returns the entry's path.
    pub fn store(&self, key: &str, artifact: &[u8]) -> std::io::Result<PathBuf> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let path = self.path(key);
        let tmp = self.dir.join(format!(
            ".{key}.{}.{}.tmp",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let written = write_entry(&tmp, artifact).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(err);
        }
        self.evict(&path);
        Ok(path)
    }

    /// Removes an entry the engine refused although its checksum was right (e.g. written by
    /// an engine build whose settings fingerprint collided).
    pub fn discard(&self, key: &str) {
        let _ = std::fs::remove_file(self.path(key));
    }

    /// Removes least recently used entries until the cache fits its bound, keeping `keep`.
    fn evict(&self, keep: &Path) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut entries = Vec::new();
        for entry in dir.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".tmp") {
                if now.duration_since(mtime).unwrap_or_default() > STALE_TMP {
                    let _ = std::fs::remove_file(&path);
                }
                continue;
            }
            if path.extension().is_some_and(|e| e == SUFFIX) {
                entries.push((mtime, meta.len(), path));
            }
        }
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if path != keep && std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

fn write_entry(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(artifact)?;
    file.write_all(&trailer(artifact))?;
    file.sync_data()
}

fn trailer(artifact: &[u8]) -> [u8; TRAILER_LEN as usize] {
    let mut t = [0u8; TRAILER_LEN as usize];
    t[..8].copy_from_slice(MAGIC);
    t[8..16].copy_from_slice(&(artifact.len() as u64).to_le_bytes());
    t[16..20].copy_from_slice(&crc32fast::hash(artifact).to_le_bytes());
    t
}

/// Checks an entry's trailer and checksum; returns the artifact's length.
fn verify(mut file: &File) -> Option<u64> {
    let total = file.metadata().ok()?.len();
    let len = total.checked_sub(TRAILER_LEN)?;
    let mut t = [0u8; TRAILER_LEN as usize];
    file.seek(SeekFrom::Start(len)).ok()?;
    file.read_exact(&mut t).ok()?;
    if &t[..8] != MAGIC || u64::from_le_bytes(t[8..16].try_into().ok()?) != len {
        return None;
    }
    let want = u32::from_le_bytes(t[16..20].try_into().ok()?);
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = file.read(&mut buf[..want]).ok()?;
        if n == 0 {
            return None;
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    (hasher.finalize() == want).then_some(len)
}

/// Parses a size like `512M`, `1G`, `1048576` (binary units).
pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid size {text:?}: expected e.g. 512M or 2G"))?;
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => anyhow::bail!("invalid size {text:?}: unknown unit {unit:?}"),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| anyhow::anyhow!("invalid size {text:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_module_and_engine() {
        let a = Cache::key(b"module", "wasmtime 48");
        assert_eq!(a.len(), 64);
        assert_eq!(a, Cache::key(b"module", "wasmtime 48"));
        assert_ne!(a, Cache::key(b"module2", "wasmtime 48"));
        assert_ne!(a, Cache::key(b"module", "wasmtime 49"));
    }

    #[test]
    fn entries_round_trip_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("c"), 1 << 30);
        assert!(cache.lookup("k").is_none());
        let path = cache.store("k", b"compiled code").unwrap();
        assert_eq!(cache.lookup("k"), Some((path.clone(), 13)));
        assert!(std::fs::read(&path).unwrap().starts_with(b"compiled code"));

        // Flip one byte of the artifact: rejected and removed.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(cache.lookup("k").is_none());
        assert!(!path.exists());

        // Truncated: rejected.
        cache.store("k", b"compiled code").unwrap();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(20).unwrap();
        assert!(cache.lookup("k").is_none());
    }

    #[test]
    fn eviction_keeps_the_cache_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf(), 2 * (100 + TRAILER_LEN));
        let old = SystemTime::now() - Duration::from_secs(100);
        for (i, key) in ["a", "b"].iter().enumerate() {
            let p = cache.store(key, &[0u8; 100]).unwrap();
            let f = File::options().write(true).open(p).unwrap();
            f.set_modified(old + Duration::from_secs(i as u64)).unwrap();
        }
        cache.store("c", &[0u8; 100]).unwrap();
        assert!(cache.lookup("a").is_none(), "oldest entry must be evicted");
        assert!(cache.lookup("b").is_some());
        assert!(cache.lookup("c").is_some());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
    }
}
