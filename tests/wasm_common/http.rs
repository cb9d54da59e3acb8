//! `wasi:http/proxy` handler components built the way users build them, and a small HTTP client
//! for the tests that serve them.
//!
//! * Python: componentize-py ([`COMPONENTIZE_PY`], from the Python registry, installed into a
//!   virtualenv under `target/`) with `-w wasi:http/proxy`, from `http/app.py`.
//! * JavaScript: ComponentizeJS through jco ([`JCO`], [`COMPONENTIZE_JS`], from the npm
//!   registry, installed under `target/`), from `http/app.js`.
//!
//! Both need the `wasi:http` WIT files, which ship in the `wasmtime-wasi-http` crate that runw
//! builds with ([`wasi_http_wit`]). Built components are cached under `target/tmp/` by a hash
//! of the source, the tool's version and the WIT files: a rebuild happens when one changes.
//! `hack/build-http-handlers.sh` does the same from the shell.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The componentize-py release the tests build with (pip's `componentize-py==`).
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// The jco and ComponentizeJS releases the tests build with (npm).
pub const JCO: &str = "1.35.0";
pub const COMPONENTIZE_JS: &str = "0.23.0";

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// `target/`, where the tools are installed and (under `tmp/`) the components cached.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn source(name: &str) -> PathBuf {
    Path::new(MANIFEST_DIR)
        .join("tests/wasm_common/http")
        .join(name)
}

/// The `wit/` directory of the `wasmtime-wasi-http` crate runw is built with (its version from
/// Cargo.lock), in cargo's registry sources: `wasi:http/proxy` and the WASI packages it uses.
pub fn wasi_http_wit() -> PathBuf {
    let lock = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"wasmtime-wasi-http\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .expect("wasmtime-wasi-http is not in Cargo.lock");
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".cargo"));
    let registries = home.join("registry/src");
    for entry in std::fs::read_dir(&registries)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", registries.display()))
        .flatten()
    {
        let wit = entry
            .path()
            .join(format!("wasmtime-wasi-http-{version}/wit"));
        if wit.join("deps/http.wit").exists() {
            return wit;
        }
    }
    panic!(
        "wasmtime-wasi-http {version}'s WIT files are not under {} (cargo fetch)",
        registries.display()
    );
}

/// Hash of every file under `dir`, by relative path and contents.
fn hash_tree(hasher: &mut Sha256, dir: &Path) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        hasher.update(entry.file_name().as_encoded_bytes());
        if path.is_dir() {
            hash_tree(hasher, &path);
        } else {
            hasher.update(std::fs::read(&path).unwrap());
        }
    }
}

/// Runs `cmd`, failing the test with its output when it fails.
#[track_caller]
fn check(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One install or build at a time (the tests of a binary run in threads).
static BUILD: Mutex<()> = Mutex::new(());

/// The componentize-py program, installed on first use into `target/componentize-py/` (a
/// virtualenv of the system's python3).
pub fn componentize_py() -> PathBuf {
    let venv = target_dir().join("componentize-py");
    let bin = venv.join("bin/componentize-py");
    let stamp = venv.join(format!("installed-{COMPONENTIZE_PY}"));
    if !stamp.exists() {
        check(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv (apt-get install python3-venv)",
        );
        check(
            Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                &format!("componentize-py=={COMPONENTIZE_PY}"),
            ]),
            "pip install componentize-py",
        );
        std::fs::write(&stamp, "").unwrap();
    }
    bin
}

/// The jco program, installed on first use into `target/jco/` with ComponentizeJS.
pub fn jco() -> PathBuf {
    let dir = target_dir().join("jco");
    let bin = dir.join("node_modules/.bin/jco");
    let stamp = dir.join(format!("installed-{JCO}-{COMPONENTIZE_JS}"));
    if !stamp.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("package.json"),
            r#"{"name":"runw-test-jco","private":true}"#,
        )
        .unwrap();
        check(
            Command::new("npm").current_dir(&dir).args([
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                &format!("@bytecodealliance/jco@{JCO}"),
                &format!("@bytecodealliance/componentize-js@{COMPONENTIZE_JS}"),
            ]),
            "npm install jco (apt-get install npm)",
        );
        std::fs::write(&stamp, "").unwrap();
    }
    bin
}

/// Returns the cached component for `key`, or builds it with `build(out)` and caches it.
fn cached(name: &str, key: Sha256, build: impl FnOnce(&Path)) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("http-components");
    std::fs::create_dir_all(&dir).unwrap();
    let hash: String = key
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = dir.join(format!("{name}-{hash}.wasm"));
    if let Ok(bytes) = std::fs::read(&path) {
        return bytes;
    }
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out.wasm");
    build(&out);
    let bytes = std::fs::read(&out).unwrap();
    let tmp = dir.join(format!(".{name}-{hash}.{}", std::process::id()));
    std::fs::write(&tmp, &bytes).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    bytes
}

/// The Python handler (`http/app.py`) as a `wasi:http/proxy` component:
/// `componentize-py -d WIT -w wasi:http/proxy componentize app -o OUT`.
pub fn python_handler() -> Vec<u8> {
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let wit = wasi_http_wit();
    let app = source("app.py");
    let mut key = Sha256::new();
    key.update(format!("componentize-py {COMPONENTIZE_PY}\n"));
    key.update(std::fs::read(&app).unwrap());
    hash_tree(&mut key, &wit);
    cached("python", key, |out| {
        let tool = componentize_py();
        let work = out.parent().unwrap();
        std::fs::copy(&app, work.join("app.py")).unwrap();
        check(
            Command::new(tool)
                .current_dir(work)
                .arg("-d")
                .arg(&wit)
                .args(["-w", "wasi:http/proxy", "componentize", "app", "-o"])
                .arg(out),
            "componentize-py",
        );
    })
}

/// The JavaScript handler (`http/app.js`) as a `wasi:http/proxy` component:
/// `jco componentize app.js --wit wit -n wasi:http/proxy -o OUT`, with two workarounds:
/// * jco 1.35.0 reads the WIT files through preview2-shim 0.26, which preopens nothing by
///   default (`failed to get path metadata`): node `--import`s a module that preopens `/` in
///   each copy of preview2-shim first;
/// * ComponentizeJS 0.22/0.23's StarlingMonkey implements the fetch event for
///   `wasi:http/incoming-handler@0.2.10` only (`failed to find export of interface
///   wasi:http/incoming-handler@0.2.12`): the copied `wasi:http` package is labelled 0.2.10,
///   its contents and the other WASI packages stay 0.2.12.
pub fn js_handler() -> Vec<u8> {
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let wit = wasi_http_wit();
    let app = source("app.js");
    let mut key = Sha256::new();
    key.update(format!(
        "jco {JCO} componentize-js {COMPONENTIZE_JS} http@0.2.10\n"
    ));
    key.update(std::fs::read(&app).unwrap());
    hash_tree(&mut key, &wit);
    cached("js", key, |out| {
        let jco = jco();
        let work = out.parent().unwrap();
        std::fs::copy(&app, work.join("app.js")).unwrap();
        check(
            Command::new("cp").arg("-r").arg(&wit).arg(work.join("wit")),
            "copying the WIT files",
        );
        let relabel = |file: &str, from: &str, to: &str| {
            let path = work.join("wit").join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains(from), "{} has no {from}", path.display());
            std::fs::write(&path, text.replace(from, to)).unwrap();
        };
        let version = |t: &str| {
            t.rsplit('@')
                .next()
                .unwrap()
                .trim_end_matches(';')
                .to_string()
        };
        let http = std::fs::read_to_string(work.join("wit/deps/http.wit")).unwrap();
        let package = http
            .lines()
            .find(|l| l.starts_with("package wasi:http@"))
            .unwrap();
        let from = version(package);
        relabel(
            "deps/http.wit",
            &format!("wasi:http@{from};"),
            "wasi:http@0.2.10;",
        );
        relabel(
            "world.wit",
            &format!("wasi:http/proxy@{from}"),
            "wasi:http/proxy@0.2.10",
        );
        // node_modules/.bin/jco -> the package's entry point, run by node with the preopens.
        let root = jco.parent().unwrap().parent().unwrap();
        let shims = Command::new("find")
            .arg(root)
            .args(["-path", "*preview2-shim/dist/nodejs/filesystem.js"])
            .output()
            .unwrap();
        let preopen: String = String::from_utf8_lossy(&shims.stdout)
            .lines()
            .enumerate()
            .map(|(i, path)| {
                format!(
                    "import {{ _setPreopens as p{i} }} from {path:?}; p{i}({{ \"/\": \"/\" }});\n"
                )
            })
            .collect();
        assert!(
            !preopen.is_empty(),
            "no preview2-shim under {}",
            root.display()
        );
        std::fs::write(work.join("preopen.mjs"), preopen).unwrap();
        check(
            Command::new("node")
                .current_dir(work)
                .arg("--import")
                .arg(work.join("preopen.mjs"))
                .arg(std::fs::canonicalize(&jco).unwrap())
                .args(["componentize", "app.js", "--wit", "wit"])
                .args(["-n", "wasi:http/proxy", "-o"])
                .arg(out),
            "jco componentize",
        );
    })
}

/// A free TCP port on 127.0.0.1 (free when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_listening(port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on 127.0.0.1:{port}; container output:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An HTTP response as the test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// One HTTP/1.1 request on a new connection (`Connection: close`), read to the end.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("cannot connect to 127.0.0.1:{port}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    parse_reply(&raw).unwrap_or_else(|| {
        panic!(
            "{method} {path}: not an HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// Sends `bytes` as they are and returns what comes back until the server closes.
pub fn raw(port: u16, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

pub fn get(port: u16, path: &str) -> Reply {
    request(port, "GET", path, &[], b"")
}

fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Some(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Serves `body` with 200 to one connection on a free port of 127.0.0.1, in a thread.
pub fn serve_once(body: &'static str) -> (u16, std::thread::JoinHandle<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(reply.as_bytes()).unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    (port, thread)
}
