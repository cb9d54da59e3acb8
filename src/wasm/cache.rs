//! The host-side cache of compiled Wasm code (default `/var/lib/runw/cache`).
//!
//! An entry is `<key>.cwasm`: the engine's precompiled artifact followed by a 48-byte trailer
//! (magic, artifact length, HMAC-SHA-256 of the entry's key and artifact under the host key
//! `<dir>/.key`).
//! The key is a SHA-256 over the module's binary, the engine's name and version and a
//! fingerprint of its settings, so another engine version or configuration never even looks
//! at a foreign entry. Entries are written to a temporary file and renamed into place, so
//! concurrent creates of the same module never see a partial entry. When the directory grows
//! past its size bound the least recently used entries are removed (a hit refreshes the
//! entry's mtime).
//!
//! Compiled code is native code that runw maps executable, so an entry is trusted only when
//! nobody but runw's user could have written it:
//! * the directory, the key file and each entry must be owned by runw's user and not writable
//!   by group or others (a directory that is not is refused with its reason);
//! * an entry must carry a valid HMAC under the host key (a random 32-byte file, mode 0600,
//!   made on first use), so that content written by anything else (a descriptor that leaked,
//!   a copy from another host) is rejected and rebuilt;
//! * an entry is read into memory, checked there and handed to the engine as bytes: no
//!   descriptor or file mapping of it ever reaches a container process.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const DEFAULT_DIR: &str = "/var/lib/runw/cache";

const MAGIC: &[u8; 8] = b"RUNWCWS2";
const MAC_LEN: usize = 32;
const TRAILER_LEN: u64 = 16 + MAC_LEN as u64;
const SUFFIX: &str = "cwasm";
const KEY_FILE: &str = ".key";
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

    /// Makes the directory (0700) if needed and checks that only runw's user can write it.
    pub fn open_dir(&self) -> anyhow::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("cannot create wasm cache {}", self.dir.display()))?;
        let meta = std::fs::symlink_metadata(&self.dir)
            .with_context(|| format!("wasm cache {}", self.dir.display()))?;
        if !meta.is_dir() {
            bail!("wasm cache {} is not a directory", self.dir.display());
        }
        trusted(&meta).map_err(|why| {
            anyhow::anyhow!(
                "refusing wasm cache directory {}: {why} (use a directory only runw's user can write, or --no-wasm-cache)",
                self.dir.display()
            )
        })
    }

    /// The artifact of a valid entry, read into memory. A damaged or foreign entry is removed.
    pub fn lookup(&self, key: &str) -> Option<Vec<u8>> {
        let path = self.path(key);
        let file = open_no_follow(&path).ok()?;
        let entry_key = self.host_key().ok()?;
        match read_verified(&file, key, &entry_key) {
            Some(artifact) => {
                // Best effort: the mtime orders entries for eviction.
                let _ = file.set_modified(SystemTime::now());
                Some(artifact)
            }
            None => {
                tracing::debug!("invalid wasm cache entry {}, rebuilding", path.display());
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores an artifact under `key` (atomically) and returns the entry's path.
    pub fn store(&self, key: &str, artifact: &[u8]) -> anyhow::Result<PathBuf> {
        self.open_dir()?;
        let host_key = self.host_key()?;
        let path = self.path(key);
        let tmp = self.dir.join(format!(
            ".{key}.{}.{}.tmp",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let written =
            write_entry(&tmp, key, artifact, &host_key).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(err.into());
        }
        self.evict(&path);
        Ok(path)
    }

    /// Removes an entry the engine refused although its MAC was right (e.g. written by an
    /// engine build whose settings fingerprint collided).
    pub fn discard(&self, key: &str) {
        let _ = std::fs::remove_file(self.path(key));
    }

    /// The host key, made on first use. Never leaves runw's host-side process: the Wasm init
    /// gets compiled code, not the key.
    fn host_key(&self) -> anyhow::Result<HostKey> {
        let path = self.dir.join(KEY_FILE);
        match open_no_follow(&path) {
            Ok(file) => return HostKey::read(file, &path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("cannot open {}", path.display())),
        }
        let mut key = HostKey([0; MAC_LEN]);
        // SAFETY: getrandom fills the buffer it is given.
        let n = unsafe { libc::getrandom(key.0.as_mut_ptr().cast(), MAC_LEN, 0) };
        if n != MAC_LEN as isize {
            bail!(
                "cannot make the wasm cache key: {}",
                std::io::Error::last_os_error()
            );
        }
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .and_then(|mut f| f.write_all(&key.0).and_then(|()| f.sync_data()));
        match created {
            Ok(()) => Ok(key),
            // Another runw made it first: use theirs.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                HostKey::read(open_no_follow(&path)?, &path)
            }
            Err(err) => Err(err).with_context(|| format!("cannot write {}", path.display())),
        }
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

/// The HMAC key, zeroed when dropped.
struct HostKey([u8; MAC_LEN]);

impl HostKey {
    fn read(mut file: File, path: &Path) -> anyhow::Result<Self> {
        let meta = file.metadata()?;
        trusted(&meta)
            .and_then(|()| {
                if meta.permissions().mode() & 0o077 != 0 {
                    Err("it is readable by group or others".into())
                } else {
                    Ok(())
                }
            })
            .map_err(|why| anyhow::anyhow!("refusing wasm cache key {}: {why}", path.display()))?;
        let mut key = HostKey([0; MAC_LEN]);
        file.read_exact(&mut key.0)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(key)
    }

    /// The MAC of an entry binds its cache key too, so that one valid entry copied over
    /// another's name is rejected.
    fn hmac(&self, entry: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(entry.as_bytes());
        mac.update(&[0]);
        mac
    }
}

impl Drop for HostKey {
    fn drop(&mut self) {
        for byte in self.0.iter_mut() {
            // SAFETY: a valid, aligned byte of our own array; volatile so it is not elided.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

/// Owned by runw's user and not writable by group or others.
fn trusted(meta: &std::fs::Metadata) -> Result<(), String> {
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(format!("it is owned by uid {}, not {euid}", meta.uid()));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err("it is writable by group or others".into());
    }
    Ok(())
}

fn open_no_follow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

fn write_entry(path: &Path, entry: &str, artifact: &[u8], key: &HostKey) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    file.write_all(artifact)?;
    file.write_all(&trailer(entry, artifact, key))?;
    file.sync_data()
}

fn trailer(entry: &str, artifact: &[u8], key: &HostKey) -> [u8; TRAILER_LEN as usize] {
    let mut t = [0u8; TRAILER_LEN as usize];
    t[..8].copy_from_slice(MAGIC);
    t[8..16].copy_from_slice(&(artifact.len() as u64).to_le_bytes());
    let mut mac = key.hmac(entry);
    mac.update(artifact);
    t[16..].copy_from_slice(&mac.finalize().into_bytes());
    t
}

/// Reads a trusted regular file and checks its trailer and MAC; returns the artifact.
fn read_verified(mut file: &File, entry: &str, key: &HostKey) -> Option<Vec<u8>> {
    let meta = file.metadata().ok()?;
    if !meta.is_file() || trusted(&meta).is_err() {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes).ok()?;
    let len = bytes.len().checked_sub(TRAILER_LEN as usize)?;
    let t = &bytes[len..];
    if &t[..8] != MAGIC || u64::from_le_bytes(t[8..16].try_into().ok()?) != len as u64 {
        return None;
    }
    let want: [u8; MAC_LEN] = t[16..].try_into().ok()?;
    bytes.truncate(len);
    let mut mac = key.hmac(entry);
    mac.update(&bytes);
    // Constant-time comparison.
    mac.verify_slice(&want).ok()?;
    Some(bytes)
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
        assert_eq!(cache.lookup("k").as_deref(), Some(&b"compiled code"[..]));
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
    fn entries_of_another_key_are_rejected() {
        // Same layout, right length, but a MAC made under another host's key (or forged).
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("c"), 1 << 30);
        let path = cache.store("k", b"compiled code").unwrap();
        let other = HostKey([7; MAC_LEN]);
        let mut forged = b"evil code!!!!".to_vec();
        forged.extend_from_slice(&trailer("k", b"evil code!!!!", &other));
        std::fs::write(&path, &forged).unwrap();
        assert!(cache.lookup("k").is_none());
        // A valid entry of another key, copied over this one's name.
        let other_entry = cache.store("j", b"other code").unwrap();
        std::fs::copy(other_entry, cache.path("k")).unwrap();
        assert!(cache.lookup("k").is_none());
    }

    #[test]
    fn untrusted_directories_and_entries_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = Cache::new(open, 1 << 30)
            .open_dir()
            .unwrap_err()
            .to_string();
        assert!(err.contains("writable by group or others"), "{err}");

        let cache = Cache::new(dir.path().join("c"), 1 << 30);
        let path = cache.store("k", b"code").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(
            cache.lookup("k").is_none(),
            "a world-writable entry is not loaded"
        );
    }

    #[test]
    fn eviction_keeps_the_cache_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("c"), 2 * (100 + TRAILER_LEN));
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
