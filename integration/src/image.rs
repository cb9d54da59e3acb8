//! OCI image archives made from scratch (never pulled): an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/...`) in a tar, which `ctr images import`
//! and `podman load` both accept.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One entry of the image's single layer.
pub enum Entry {
    Dir(String),
    File(String, Vec<u8>, u32),
    Symlink(String, String),
}

/// An image: one layer, its config and the manifest annotations.
pub struct Image {
    /// Full reference, e.g. `localhost/runw-it/busybox:latest`.
    pub name: String,
    pub entries: Vec<Entry>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub annotations: BTreeMap<String, String>,
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// busybox-static's /bin/busybox with a symlink per applet, `/tmp`, `/etc/passwd`.
pub fn busybox(name: &str) -> Image {
    let bb = std::fs::read("/bin/busybox").expect("/bin/busybox (apt install busybox-static)");
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    let mut entries = vec![
        Entry::Dir("bin".into()),
        Entry::Dir("etc".into()),
        Entry::Dir("tmp".into()),
        Entry::Dir("proc".into()),
        Entry::Dir("sys".into()),
        Entry::Dir("dev".into()),
        Entry::File("bin/busybox".into(), bb, 0o755),
        Entry::File(
            "etc/passwd".into(),
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n".to_vec(),
            0o644,
        ),
        Entry::File(
            "etc/group".into(),
            b"root:x:0:\nnobody:x:65534:\n".to_vec(),
            0o644,
        ),
    ];
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" {
            entries.push(Entry::Symlink(format!("bin/{applet}"), "busybox".into()));
        }
    }
    Image {
        name: name.into(),
        entries,
        entrypoint: vec![],
        cmd: s(&["sh"]),
        env: vec![PATH_ENV.into()],
        annotations: BTreeMap::new(),
    }
}

/// An image holding only Wasm modules (`(path in the image, bytes)`), annotated
/// `module.wasm.image/variant=compat-smart`.
pub fn wasm(name: &str, modules: &[(&str, Vec<u8>)], entrypoint: &[&str]) -> Image {
    let entries = modules
        .iter()
        .map(|(p, b)| Entry::File(p.trim_start_matches('/').into(), b.clone(), 0o755))
        .collect();
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "module.wasm.image/variant".to_string(),
        "compat-smart".to_string(),
    );
    Image {
        name: name.into(),
        entries,
        entrypoint: s(entrypoint),
        cmd: vec![],
        env: vec![PATH_ENV.into()],
        annotations,
    }
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Entry::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(if p == "tmp" { 0o1777 } else { 0o755 });
                h.set_size(0);
                b.append_data(&mut h, format!("{p}/"), std::io::empty())
                    .unwrap();
            }
            Entry::File(p, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, data.as_slice()).unwrap();
            }
            Entry::Symlink(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Writes `img` as an OCI archive at `out`.
pub fn write_archive(img: &Image, out: &Path) {
    let tar = layer_tar(&img.entries);
    let diff_id = sha(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let layer = gz.finish().unwrap();

    let mut cfg = serde_json::json!({
        "Env": img.env,
        "WorkingDir": "/",
    });
    if !img.entrypoint.is_empty() {
        cfg["Entrypoint"] = serde_json::json!(img.entrypoint);
    }
    if !img.cmd.is_empty() {
        cfg["Cmd"] = serde_json::json!(img.cmd);
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "2026-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "runw integration tests"}],
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha(&config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": sha(&layer),
            "size": layer.len(),
        }],
        "annotations": img.annotations,
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha(&manifest),
            "size": manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {
                "io.containerd.image.name": img.name,
                "org.opencontainers.image.ref.name": img.name,
            },
        }],
    }))
    .unwrap();

    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut add = |path: String, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    };
    add("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json".into(), &index);
    for blob in [&layer[..], &config[..], &manifest[..]] {
        let d = sha(blob);
        add(
            format!("blobs/sha256/{}", d.trim_start_matches("sha256:")),
            blob,
        );
    }
    b.finish().unwrap();
}

/// The images every test uses.
pub const BUSYBOX: &str = "localhost/runw-it/busybox:latest";
pub const WASM: &str = "localhost/runw-it/wasm:latest";
pub const PAUSE: &str = crate::containerd::PAUSE_IMAGE;
/// The HTTP handler image: `/app/handler.wasm`, the Python `wasi:http/proxy` component.
pub const HTTP: &str = "localhost/runw-it/http:latest";

/// The Wasm test image: `/hello.wasm` (entrypoint, prints "hello from wasm"),
/// `/exit7.wasm` (prints "exiting with 7", exits 7), `/sleep.wasm` (prints "sleeping",
/// sleeps), `/tty.wasm` (as exit7, 300 ms later), `/exit7.wat` (exit7 as text: Wasm only
/// when annotated), `/broken.wasm` (the magic, then garbage).
pub fn wasm_test_image() -> Image {
    use crate::wasm::{broken, module, module_text};
    wasm(
        WASM,
        &[
            ("/hello.wasm", module("hello from wasm\n", 0, false)),
            ("/exit7.wasm", module("exiting with 7\n", 7, false)),
            ("/sleep.wasm", module("sleeping\n", 0, true)),
            (
                "/tty.wasm",
                crate::wasm::module_delayed_exit("exiting with 7\n", 7, 300),
            ),
            (
                "/exit7.wat",
                module_text("exiting with 7\n", 7, false).into_bytes(),
            ),
            ("/broken.wasm", broken()),
        ],
        &["/hello.wasm"],
    )
}

/// The HTTP handler image ([`HTTP`]): the Python test handler
/// ([`crate::http::python_handler`]) as `/app/handler.wasm`, its entrypoint; it serves on
/// runw's default address, `0.0.0.0:8080`.
pub fn http_image() -> Image {
    wasm(
        HTTP,
        &[("/app/handler.wasm", crate::http::python_handler())],
        &["/app/handler.wasm"],
    )
}

/// Writes the HTTP handler image's archive into `dir`; returns its path.
pub fn write_http_archive(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("http.tar");
    write_archive(&http_image(), &out);
    out
}

/// The pod sandbox ("pause") image: busybox sleeping.
pub fn pause_image() -> Image {
    let mut pause = busybox(PAUSE);
    pause.entrypoint = vec!["/bin/sleep".into(), "86400".into()];
    pause.cmd = vec![];
    pause
}

/// Writes the busybox, Wasm and pause archives into `dir`; returns their paths.
pub fn write_test_archives(dir: &Path) -> [std::path::PathBuf; 3] {
    let out = [
        dir.join("busybox.tar"),
        dir.join("wasm.tar"),
        dir.join("pause.tar"),
    ];
    write_archive(&busybox(BUSYBOX), &out[0]);
    write_archive(&wasm_test_image(), &out[1]);
    write_archive(&pause_image(), &out[2]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_is_an_oci_layout_with_matching_digests() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.tar");
        write_archive(
            &wasm(
                "localhost/x/w:1",
                &[("/m.wasm", b"\0asm\x01\0\0\0".to_vec())],
                &["/m.wasm"],
            ),
            &p,
        );
        let mut files = std::collections::HashMap::new();
        let mut ar = tar::Archive::new(std::fs::File::open(&p).unwrap());
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let mut b = vec![];
            std::io::Read::read_to_end(&mut e, &mut b).unwrap();
            files.insert(e.path().unwrap().to_string_lossy().into_owned(), b);
        }
        assert!(files.contains_key("oci-layout"));
        let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
        let m = &index["manifests"][0];
        assert_eq!(
            m["annotations"]["io.containerd.image.name"],
            "localhost/x/w:1"
        );
        let blob = |d: &serde_json::Value| {
            let d = d.as_str().unwrap();
            let b = &files[&format!("blobs/sha256/{}", d.trim_start_matches("sha256:"))];
            assert_eq!(sha(b), d);
            b.clone()
        };
        let manifest: serde_json::Value = serde_json::from_slice(&blob(&m["digest"])).unwrap();
        assert_eq!(
            manifest["annotations"]["module.wasm.image/variant"],
            "compat-smart"
        );
        let config: serde_json::Value =
            serde_json::from_slice(&blob(&manifest["config"]["digest"])).unwrap();
        assert_eq!(config["config"]["Entrypoint"][0], "/m.wasm");
        assert_eq!(config["os"], "linux");
        blob(&manifest["layers"][0]["digest"]);
    }
}
