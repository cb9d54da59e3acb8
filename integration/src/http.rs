//! `wasi:http/proxy` handlers under the real callers: the test handler component
//! (`tests/wasm_common/http/app.py`, built by `hack/build-http-handlers.sh`) and a small
//! HTTP/1.1 client the tests talk to it with from the host.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The Python handler component (componentize-py, `wasi:http/proxy`): `$RUNW_HTTP_HANDLER`,
/// else `target/http-handlers/python.wasm` of the repository, (re)built with
/// `hack/build-http-handlers.sh` when it is missing or older than `app.py`.
pub fn python_handler() -> Vec<u8> {
    if let Some(p) = std::env::var_os("RUNW_HTTP_HANDLER") {
        return std::fs::read(&p)
            .unwrap_or_else(|e| panic!("RUNW_HTTP_HANDLER={}: {e}", Path::new(&p).display()));
    }
    let repo = repo();
    let out = repo.join("target/http-handlers/python.wasm");
    let source = repo.join("tests/wasm_common/http/app.py");
    let fresh = || matches!((modified(&out), modified(&source)), (Some(o), Some(s)) if o >= s);
    if !fresh() {
        let script = repo.join("hack/build-http-handlers.sh");
        let o = crate::run(
            Command::new(&script).current_dir(&repo),
            Duration::from_secs(600),
        );
        // The script builds the JavaScript handler too; only the Python one matters here.
        assert!(
            fresh(),
            "{} did not build {}:\n{o:#?}",
            script.display(),
            out.display()
        );
    }
    std::fs::read(&out).unwrap()
}

/// An HTTP response as a client sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request to `addr` on a new connection (`Connection: close`); the response
/// read whole (Content-Length, chunked or until the server closes). Errors are I/O errors
/// (nothing listening yet, connection reset) or a malformed response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;

    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("not an HTTP/1.1 status line: {line:?}")))?;
    let mut headers = vec![];
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').ok_or_else(|| bad(l))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut reply = Reply {
        status,
        headers,
        body: String::new(),
    };
    let mut data = vec![];
    if reply.header("transfer-encoding") == Some("chunked") {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| bad(&line))?;
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            data.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = reply.header("content-length") {
        data.resize(n.parse().map_err(|_| bad(n))?, 0);
        r.read_exact(&mut data)?;
    } else {
        r.read_to_end(&mut data)?;
    }
    reply.body = String::from_utf8_lossy(&data).into_owned();
    Ok(reply)
}

/// `GET target`, retried while nothing answers at `addr` (the server is still starting:
/// the first create of a container compiles the component), until `timeout`.
#[track_caller]
pub fn get_when_up(addr: SocketAddr, target: &str, timeout: Duration) -> Reply {
    let start = Instant::now();
    loop {
        match request(addr, "GET", target, &[], b"") {
            Ok(r) => return r,
            Err(e) if start.elapsed() > timeout => {
                panic!("GET http://{addr}{target}: no answer in {timeout:?}: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Whether connecting to `addr` is refused (nothing listens there any more).
pub fn refused(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

/// A port of 127.0.0.1 that is free when this returns.
pub fn free_local_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
