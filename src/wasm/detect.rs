//! Is a container's entrypoint a Wasm module? Decided in the runw process on the host, before
//! the container exists, from the annotations and the first bytes of `process.args[0]`.
//!
//! The entrypoint is resolved the way the container will see it: relative to `process.cwd`,
//! through `PATH` from `process.env`, with symlinks resolved *inside* the container's root
//! (openat2 `RESOLVE_IN_ROOT`, via libpathrs), so a symlink in an image cannot make runw read a
//! host file.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Result};
use oci_spec::runtime::Spec;

/// crun's handler annotation: `wasm` or `wasm-smart`.
pub const HANDLER: &str = "run.oci.handler";
/// The WasmEdge/containerd image annotation: `compat` or `compat-smart`.
pub const VARIANT: &str = "module.wasm.image/variant";
/// Kubernetes marks the pod's sandbox (pause) container with one of these set to `sandbox`.
pub const SANDBOX_KEYS: [&str; 2] = [
    "io.kubernetes.cri.container-type",
    "io.kubernetes.cri-o.ContainerType",
];

/// Used when `process.env` has no `PATH` (what execvp and runc fall back to).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the annotations ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// A Kubernetes sandbox container: always a Linux process.
    Linux,
    /// `run.oci.handler=wasm`, `module.wasm.image/variant=compat`: always Wasm.
    Always,
    /// `wasm-smart`, `compat-smart`: Wasm when the entrypoint is a Wasm module (binary or text).
    Smart,
    /// No annotation: Wasm when the entrypoint starts with the Wasm magic bytes.
    Auto,
}

/// The policy the annotations of a container select.
pub fn policy(annotations: Option<&HashMap<String, String>>) -> Result<Policy> {
    let Some(annotations) = annotations else {
        return Ok(Policy::Auto);
    };
    let get = |key: &str| annotations.get(key).map(String::as_str);
    if SANDBOX_KEYS.iter().any(|k| get(k) == Some("sandbox")) {
        return Ok(Policy::Linux);
    }
    let by_handler = match get(HANDLER) {
        None => None,
        Some("wasm") => Some(Policy::Always),
        Some("wasm-smart") => Some(Policy::Smart),
        // Another runtime's handler (krun, ...) asks for isolation runw does not have:
        // refusing is safer than running the container as a plain Linux process.
        Some(other) => bail!(
            "unsupported annotation {HANDLER}={other:?}: runw supports \"wasm\" and \"wasm-smart\""
        ),
    };
    let by_variant = match get(VARIANT) {
        Some("compat") => Some(Policy::Always),
        Some("compat-smart") => Some(Policy::Smart),
        _ => None,
    };
    Ok(by_handler.or(by_variant).unwrap_or(Policy::Auto))
}

/// What a file holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Content {
    /// Binary Wasm (core module or component), as read.
    Binary(Vec<u8>),
    /// WebAssembly text, converted to binary.
    Text(Vec<u8>),
    /// Looks like WebAssembly text (starts with `(` or a comment) but does not parse.
    BadText(String),
    /// Anything else (ELF, scripts, data).
    Other,
}

pub const MAGIC: &[u8; 4] = b"\0asm";

/// Classifies file contents by their first bytes, parsing text only when it could be text.
pub fn classify(bytes: Vec<u8>) -> Content {
    if bytes.starts_with(MAGIC) {
        return Content::Binary(bytes);
    }
    if !looks_like_text_wasm(&bytes) {
        return Content::Other;
    }
    match wat::parse_bytes(&bytes) {
        Ok(binary) => Content::Text(binary.into_owned()),
        Err(err) => Content::BadText(err.to_string()),
    }
}

/// WebAssembly text starts, after blanks, with `(module`/`(component` or a `;;`/`(;` comment.
fn looks_like_text_wasm(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let rest = &bytes[start.unwrap_or(bytes.len())..];
    rest.starts_with(b"(") || rest.starts_with(b";;")
}

/// True for a component (layer 1), false for a core module.
pub fn is_component(binary: &[u8]) -> bool {
    binary.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00])
}

/// The container's file tree as seen from the host.
pub struct RootView {
    root: PathBuf,
    /// Bind mounts of the spec, (destination in the container, source on the host), longest
    /// destination first: a module bind-mounted into the container is read from its source.
    binds: Vec<(PathBuf, PathBuf)>,
}

impl RootView {
    /// Before create: the bundle's rootfs plus the spec's bind mounts.
    pub fn of_bundle(rootfs: &Path, spec: &Spec) -> Self {
        let mut binds: Vec<(PathBuf, PathBuf)> = spec
            .mounts()
            .iter()
            .flatten()
            .filter(|m| {
                m.typ().as_deref() == Some("bind")
                    || m.options()
                        .iter()
                        .flatten()
                        .any(|o| o == "bind" || o == "rbind")
            })
            .filter_map(|m| Some((normalize(m.destination()), m.source().clone()?)))
            .collect();
        binds.sort_by_key(|(dest, _)| std::cmp::Reverse(dest.components().count()));
        Self {
            root: rootfs.to_path_buf(),
            binds,
        }
    }

    /// A running container: its init's root, which shows every mount the container has.
    pub fn of_process(pid: i32) -> Self {
        Self {
            root: PathBuf::from(format!("/proc/{pid}/root")),
            binds: Vec::new(),
        }
    }

    /// Opens an absolute container path; `Ok(None)` when it does not exist or is not a file.
    fn open(&self, guest: &Path) -> Result<Option<File>> {
        let guest = normalize(guest);
        let (root, inner) = self
            .binds
            .iter()
            .find_map(|(dest, src)| Some((src.as_path(), guest.strip_prefix(dest).ok()?)))
            .unwrap_or((
                self.root.as_path(),
                guest.strip_prefix("/").unwrap_or(&guest),
            ));
        if root.is_file() && inner.as_os_str().is_empty() {
            // A file bind-mounted onto the path itself.
            return Ok(File::open(root).ok());
        }
        // Opened with std, not `Root::open`, which refuses a magic link like /proc/PID/root.
        use std::os::unix::fs::OpenOptionsExt;
        let dir = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(root)
        {
            Ok(dir) => dir,
            Err(_) => return Ok(None),
        };
        let root = pathrs::Root::from_fd(std::os::fd::OwnedFd::from(dir));
        // O_NONBLOCK: a FIFO named as the entrypoint must not hang create.
        use pathrs::flags::OpenFlags;
        let flags = OpenFlags::O_RDONLY | OpenFlags::O_NONBLOCK | OpenFlags::O_NOCTTY;
        match root.open_subpath(inner, flags) {
            Ok(file) if file.metadata().is_ok_and(|m| m.is_file()) => Ok(Some(file)),
            Ok(_) => Ok(None),
            Err(err) => match err.kind() {
                pathrs::error::ErrorKind::OsError(Some(libc::ENOENT | libc::ENOTDIR)) => Ok(None),
                _ => bail!("cannot open {} in the container: {err}", guest.display()),
            },
        }
    }
}

/// The entrypoint found for `args[0]`.
pub struct Entrypoint {
    /// Its absolute path inside the container.
    pub path: PathBuf,
    pub file: File,
}

/// Finds `args[0]` as the container would: a path with a `/` is taken relative to `cwd`, a bare
/// name is looked up in `PATH` and then, as crun and runwasi do for Wasm, in `cwd`.
pub fn find_entrypoint(
    view: &RootView,
    arg0: &str,
    cwd: &Path,
    env: &[String],
) -> Result<Option<Entrypoint>> {
    let mut candidates = Vec::new();
    if arg0.contains('/') {
        candidates.push(cwd.join(arg0));
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        candidates.extend(
            path.split(':')
                .filter(|d| !d.is_empty())
                .map(|d| cwd.join(d).join(arg0)),
        );
        candidates.push(cwd.join(arg0));
    }
    for candidate in candidates {
        if let Some(file) = view.open(&candidate)? {
            return Ok(Some(Entrypoint {
                path: normalize(&candidate),
                file,
            }));
        }
    }
    Ok(None)
}

/// Reads and classifies an entrypoint. Only the first bytes are read unless they show binary
/// Wasm, or text Wasm is `allow_text`: a Linux binary costs one small read.
pub fn load(entry: &Entrypoint, allow_text: bool, max_bytes: u64) -> Result<Content> {
    let mut head = Vec::with_capacity(512);
    (&entry.file)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", entry.path.display()))?;
    let wanted = head.starts_with(MAGIC) || (allow_text && looks_like_text_wasm(&head));
    if !wanted {
        return Ok(Content::Other);
    }
    let rest = read_rest(entry, head.len() as u64, max_bytes)?;
    head.extend(rest);
    Ok(classify(head))
}

/// Reads the rest of an entrypoint of which `done` bytes were read already; a whole of more
/// than `max_bytes` is an error (`--wasm-max-module-size`).
fn read_rest(entry: &Entrypoint, done: u64, max_bytes: u64) -> Result<Vec<u8>> {
    let budget = max_bytes.saturating_sub(done);
    let mut bytes = Vec::new();
    (&entry.file)
        .take(budget.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", entry.path.display()))?;
    if bytes.len() as u64 > budget {
        let size = entry.file.metadata().map(|m| m.len()).unwrap_or(0);
        bail!(
            "wasm module {} is {}, more than the {} runw compiles (--wasm-max-module-size)",
            entry.path.display(),
            human_size(size),
            human_size(max_bytes)
        );
    }
    Ok(bytes)
}

/// `n` bytes in the largest binary unit that shows it exactly ("128 MiB", "1500 bytes").
fn human_size(n: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{} {unit}", n >> shift);
        }
    }
    if n >= 1 << 20 {
        return format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64);
    }
    format!("{n} bytes")
}

/// Lexical normalization of an absolute container path (`.` and `..` removed; `..` stops at
/// `/`), for matching mount destinations. Symlinks are resolved later, inside the root.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn annotation_matrix() {
        let cases = [
            (vec![], Policy::Auto),
            (vec![(HANDLER, "wasm")], Policy::Always),
            (vec![(HANDLER, "wasm-smart")], Policy::Smart),
            (vec![(VARIANT, "compat")], Policy::Always),
            (vec![(VARIANT, "compat-smart")], Policy::Smart),
            (vec![(VARIANT, "something-else")], Policy::Auto),
            (
                vec![(HANDLER, "wasm"), (SANDBOX_KEYS[0], "sandbox")],
                Policy::Linux,
            ),
            (
                vec![(VARIANT, "compat"), (SANDBOX_KEYS[1], "sandbox")],
                Policy::Linux,
            ),
            (
                vec![(HANDLER, "wasm"), (SANDBOX_KEYS[0], "container")],
                Policy::Always,
            ),
        ];
        for (pairs, want) in cases {
            let a = annotations(&pairs);
            assert_eq!(policy(Some(&a)).unwrap(), want, "{pairs:?}");
        }
        assert_eq!(policy(None).unwrap(), Policy::Auto);
    }

    #[test]
    fn foreign_handlers_are_refused() {
        let a = annotations(&[(HANDLER, "krun")]);
        let msg = policy(Some(&a)).unwrap_err().to_string();
        assert!(msg.contains("run.oci.handler=\"krun\""), "{msg}");
    }

    #[test]
    fn smart_detection_looks_at_content_not_names() {
        assert!(matches!(
            classify(b"\0asm\x01\0\0\0".to_vec()),
            Content::Binary(_)
        ));
        let Content::Text(bin) = classify(b"  ;; hi\n(module)".to_vec()) else {
            panic!("text module not recognised");
        };
        assert!(bin.starts_with(MAGIC) && !is_component(&bin));
        let Content::Text(bin) = classify(b"(component)".to_vec()) else {
            panic!("text component not recognised");
        };
        assert!(is_component(&bin));
        assert_eq!(classify(b"\x7fELF\x02\x01".to_vec()), Content::Other);
        assert_eq!(classify(b"#!/bin/sh\necho".to_vec()), Content::Other);
        assert!(matches!(
            classify(b"(module (func $f (ret)))".to_vec()),
            Content::BadText(_)
        ));
    }

    #[test]
    fn entrypoints_resolve_in_root_through_path_and_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::fs::write(root.join("usr/bin/tool"), b"\0asm").unwrap();
        std::fs::write(root.join("app/mod.wasm"), b"\0asm").unwrap();
        // An absolute symlink must stay inside the root.
        std::os::unix::fs::symlink("/app/mod.wasm", root.join("app/link.wasm")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("app/escape")).unwrap();
        let view = RootView {
            root: root.to_path_buf(),
            binds: vec![],
        };
        let env = vec!["PATH=/usr/bin".to_string()];
        let find = |arg0: &str, cwd: &str| {
            find_entrypoint(&view, arg0, Path::new(cwd), &env)
                .unwrap()
                .map(|e| e.path)
        };
        assert_eq!(find("tool", "/"), Some(PathBuf::from("/usr/bin/tool")));
        assert_eq!(
            find("mod.wasm", "/app"),
            Some(PathBuf::from("/app/mod.wasm"))
        );
        assert_eq!(
            find("./mod.wasm", "/app"),
            Some(PathBuf::from("/app/mod.wasm"))
        );
        assert_eq!(
            find("/app/link.wasm", "/"),
            Some(PathBuf::from("/app/link.wasm"))
        );
        assert_eq!(
            find("../app/mod.wasm", "/usr"),
            Some(PathBuf::from("/app/mod.wasm"))
        );
        assert_eq!(find("/app/escape", "/"), None);
        assert_eq!(find("missing", "/"), None);
    }

    #[test]
    fn bind_mounted_modules_are_read_from_their_source() {
        let rootfs = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("m.wasm"), b"\0asm").unwrap();
        let view = RootView {
            root: rootfs.path().to_path_buf(),
            binds: vec![(PathBuf::from("/mnt/mods"), host.path().to_path_buf())],
        };
        let entry = find_entrypoint(&view, "/mnt/mods/m.wasm", Path::new("/"), &[])
            .unwrap()
            .unwrap();
        assert_eq!(read_rest(&entry, 0, 4).unwrap(), b"\0asm");
        let entry = find_entrypoint(&view, "/mnt/mods/m.wasm", Path::new("/"), &[])
            .unwrap()
            .unwrap();
        let err = read_rest(&entry, 0, 3).unwrap_err().to_string();
        assert!(err.contains("--wasm-max-module-size"), "{err}");
        assert!(err.contains("is 4 bytes, more than the 3 bytes"), "{err}");
    }

    #[test]
    fn sizes_are_shown_exactly() {
        assert_eq!(human_size(1 << 20), "1 MiB");
        assert_eq!(human_size(128 << 20), "128 MiB");
        assert_eq!(human_size(3_000_008), "2.9 MiB");
        assert_eq!(human_size(1536), "1536 bytes");
    }
}
