//! Test Wasm modules (WASI preview 1), compiled from WebAssembly text with the `wat` crate.

fn escape(s: &str) -> String {
    s.bytes().map(|b| format!("\\{b:02x}")).collect()
}

/// A module that writes `msg` to stdout, then (if `sleep`) sleeps forever in 100 ms
/// `poll_oneoff` steps, else exits with `code` (`proc_exit`).
pub fn module(msg: &str, code: i32, sleep: bool) -> Vec<u8> {
    wat::parse_str(module_text(msg, code, sleep)).unwrap()
}

/// The same module as WebAssembly text (runw accepts `.wat` for annotated containers).
pub fn module_text(msg: &str, code: i32, sleep: bool) -> String {
    let tail = if sleep {
        format!("(loop $l {SLEEP_100MS} (br $l))")
    } else {
        format!("(call $proc_exit (i32.const {code}))")
    };
    text(msg, &tail)
}

/// Writes `msg`, sleeps `ms` milliseconds, exits with `code`.
pub fn module_delayed_exit(msg: &str, code: i32, ms: u32) -> Vec<u8> {
    let n = ms.div_ceil(100);
    let tail = format!(
        "(local.set $i (i32.const {n}))
         (block $done (loop $l
           (br_if $done (i32.eqz (local.get $i)))
           {SLEEP_100MS}
           (local.set $i (i32.sub (local.get $i) (i32.const 1)))
           (br $l)))
         (call $proc_exit (i32.const {code}))"
    );
    wat::parse_str(text(msg, &tail)).unwrap()
}

// subscription at 64: userdata u64, tag u8 @72 (0 = clock), clock id u32 @80 (1 = monotonic),
// timeout u64 @88 (100 ms); event out at 128; nevents at 160.
const SLEEP_100MS: &str = "(i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (i64.const 100000000))
    (drop (call $poll (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 160)))";

fn text(msg: &str, tail: &str) -> String {
    let len = msg.len();
    let data = escape(msg);
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "{data}")
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    {tail}))"#
    )
}

/// Starts with the `\0asm` magic and version 1, then garbage: "invalid" to any engine.
pub fn broken() -> Vec<u8> {
    let mut b = b"\0asm\x01\0\0\0".to_vec();
    b.extend_from_slice(&[0xff, 0x13, 0x37, 0x00, 0x42]);
    b
}
