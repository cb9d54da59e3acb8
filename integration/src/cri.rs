//! A minimal CRI client (`runtime.v1.RuntimeService`) the way a kubelet talks to containerd:
//! gRPC over HTTP/2 (h2) on the unix socket, the protobuf messages encoded by hand (only
//! the fields the tests use). Field numbers are those of k8s.io/cri-api `api.proto`.

use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A protobuf message being encoded.
#[derive(Default, Clone)]
pub struct Msg(pub Vec<u8>);

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl Msg {
    pub fn new() -> Msg {
        Msg::default()
    }
    fn key(&mut self, field: u32, wire: u8) {
        varint(&mut self.0, ((field as u64) << 3) | wire as u64);
    }
    /// int32/int64/uint/bool/enum field.
    pub fn int(mut self, field: u32, v: i64) -> Msg {
        self.key(field, 0);
        varint(&mut self.0, v as u64);
        self
    }
    pub fn bytes(mut self, field: u32, b: &[u8]) -> Msg {
        self.key(field, 2);
        varint(&mut self.0, b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    pub fn str(self, field: u32, s: &str) -> Msg {
        self.bytes(field, s.as_bytes())
    }
    pub fn strs(mut self, field: u32, v: &[&str]) -> Msg {
        for s in v {
            self = self.str(field, s);
        }
        self
    }
    pub fn msg(self, field: u32, m: Msg) -> Msg {
        self.bytes(field, &m.0)
    }
    /// One entry of a `map<string, string>` field.
    pub fn map(self, field: u32, k: &str, v: &str) -> Msg {
        self.msg(field, Msg::new().str(1, k).str(2, v))
    }
}

/// A decoded protobuf value.
#[derive(Debug, Clone)]
pub enum Val {
    Int(u64),
    Bytes(Vec<u8>),
}

/// A decoded protobuf message: its fields in order.
#[derive(Debug, Clone, Default)]
pub struct Decoded(pub Vec<(u32, Val)>);

impl Decoded {
    pub fn parse(b: &[u8]) -> Decoded {
        fn rd(b: &[u8], i: &mut usize) -> u64 {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let x = b[*i];
                *i += 1;
                v |= ((x & 0x7f) as u64) << shift;
                if x < 0x80 {
                    return v;
                }
                shift += 7;
            }
        }
        let mut out = vec![];
        let mut i = 0;
        while i < b.len() {
            let k = rd(b, &mut i);
            let (field, wire) = ((k >> 3) as u32, k & 7);
            match wire {
                0 => out.push((field, Val::Int(rd(b, &mut i)))),
                1 => {
                    out.push((
                        field,
                        Val::Int(u64::from_le_bytes(b[i..i + 8].try_into().unwrap())),
                    ));
                    i += 8;
                }
                5 => {
                    out.push((
                        field,
                        Val::Int(u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as u64),
                    ));
                    i += 4;
                }
                2 => {
                    let n = rd(b, &mut i) as usize;
                    out.push((field, Val::Bytes(b[i..i + n].to_vec())));
                    i += n;
                }
                w => panic!("unsupported protobuf wire type {w}"),
            }
        }
        Decoded(out)
    }
    pub fn bytes(&self, field: u32) -> Vec<u8> {
        self.all(field).into_iter().next().unwrap_or_default()
    }
    pub fn all(&self, field: u32) -> Vec<Vec<u8>> {
        self.0
            .iter()
            .filter(|(f, _)| *f == field)
            .filter_map(|(_, v)| match v {
                Val::Bytes(b) => Some(b.clone()),
                _ => None,
            })
            .collect()
    }
    pub fn str(&self, field: u32) -> String {
        String::from_utf8_lossy(&self.bytes(field)).into_owned()
    }
    pub fn msg(&self, field: u32) -> Decoded {
        Decoded::parse(&self.bytes(field))
    }
    pub fn int(&self, field: u32) -> i64 {
        self.0
            .iter()
            .rev()
            .find_map(|(f, v)| match v {
                Val::Int(i) if *f == field => Some(*i as i64),
                _ => None,
            })
            .unwrap_or(0)
    }
    /// A map<string,string> field.
    pub fn map(&self, field: u32) -> Vec<(String, String)> {
        self.all(field)
            .iter()
            .map(|e| {
                let d = Decoded::parse(e);
                (d.str(1), d.str(2))
            })
            .collect()
    }
}

/// A gRPC error status.
#[derive(Debug)]
pub struct Status {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "grpc status {}: {}", self.code, self.message)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A CRI runtime client on a unix socket (one HTTP/2 connection per call: simple and robust).
pub struct Client {
    socket: PathBuf,
    rt: tokio::runtime::Runtime,
}

impl Client {
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_owned(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .unwrap(),
        }
    }

    /// Calls `/runtime.v1.RuntimeService/<method>` with `req`.
    pub fn call(&self, method: &str, req: Msg) -> Result<Decoded, Status> {
        self.grpc(&format!("/runtime.v1.RuntimeService/{method}"), req)
    }

    /// Calls `/runtime.v1.ImageService/<method>` with `req`.
    pub fn call_image(&self, method: &str, req: Msg) -> Result<Decoded, Status> {
        self.grpc(&format!("/runtime.v1.ImageService/{method}"), req)
    }

    /// A unary gRPC call.
    pub fn grpc(&self, path: &str, req: Msg) -> Result<Decoded, Status> {
        let path = path.to_string();
        let method = path.clone();
        let socket = self.socket.clone();
        let fut = async move {
            let io = tokio::net::UnixStream::connect(&socket)
                .await
                .map_err(|e| format!("connect {}: {e}", socket.display()))?;
            let (client, conn) = h2::client::handshake(io).await.map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut client = client.ready().await.map_err(|e| e.to_string())?;
            let request = http::Request::builder()
                .method("POST")
                .uri(format!("http://localhost{path}"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(())
                .unwrap();
            let (resp, mut send) = client
                .send_request(request, false)
                .map_err(|e| e.to_string())?;
            let mut frame = vec![0u8];
            frame.extend_from_slice(&(req.0.len() as u32).to_be_bytes());
            frame.extend_from_slice(&req.0);
            send.send_data(Bytes::from(frame), true)
                .map_err(|e| e.to_string())?;
            let resp = resp.await.map_err(|e| e.to_string())?;
            let (parts, mut body) = resp.into_parts();
            let mut data = vec![];
            while let Some(chunk) = body.data().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                let _ = body.flow_control().release_capacity(chunk.len());
                data.extend_from_slice(&chunk);
            }
            let trailers = body.trailers().await.map_err(|e| e.to_string())?;
            let hdr = |name: &str| {
                trailers
                    .as_ref()
                    .and_then(|t| t.get(name))
                    .or_else(|| parts.headers.get(name))
                    .map(|v| v.to_str().unwrap_or("").to_string())
            };
            Ok::<_, String>((
                data,
                hdr("grpc-status").unwrap_or_default(),
                hdr("grpc-message").unwrap_or_default(),
            ))
        };
        let res = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), fut)
                .await
                .unwrap_or_else(|_| Err(format!("{method}: no answer in 60 s")))
        });
        let (data, status, message) = res.map_err(|message| Status { code: -1, message })?;
        let code: i32 = status.parse().unwrap_or(-1);
        if code != 0 {
            return Err(Status {
                code,
                message: percent_decode(&message),
            });
        }
        if data.len() < 5 {
            return Ok(Decoded::default());
        }
        let n = u32::from_be_bytes(data[1..5].try_into().unwrap()) as usize;
        Ok(Decoded::parse(&data[5..5 + n]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_roundtrip() {
        let m = Msg::new()
            .str(1, "pod")
            .int(2, 300)
            .int(3, -1)
            .msg(4, Msg::new().str(1, "inner"))
            .map(5, "k", "v")
            .strs(6, &["a", "b"]);
        let d = Decoded::parse(&m.0);
        assert_eq!(d.str(1), "pod");
        assert_eq!(d.int(2), 300);
        assert_eq!(d.int(3), -1);
        assert_eq!(d.msg(4).str(1), "inner");
        assert_eq!(d.map(5), vec![("k".to_string(), "v".to_string())]);
        assert_eq!(d.all(6), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(d.str(99), "");
    }

    #[test]
    fn grpc_message_is_percent_decoded() {
        assert_eq!(percent_decode("a%20b%3A c%"), "a b: c%");
    }
}
