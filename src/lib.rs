//! runw: a runc-compatible OCI runtime that runs Linux and WebAssembly containers.
//!
//! The library holds all of runw; `main.rs` is the binary's entry point. It is a library so
//! that the fuzz targets (`fuzz/`) reach the parsers of untrusted input directly.

pub mod attach_warmup;
pub mod bundle;
pub mod cli;
pub mod commands;
pub mod container;
pub mod executor;
pub mod fixups;
pub mod hooks;
pub mod logging;
pub mod mountinfo;
pub mod seal;
pub mod signal;
pub mod state;
pub mod stats;
pub mod terminal;
pub mod wasm;
