//! Ahead-of-time compilation with WasmEdge's LLVM compiler, and runw's compiled-code cache.
//!
//! `create` compiles the (guarded) module into WasmEdge's "universal WASM": the module with
//! its native code in a custom section, which WasmEdge's loader takes from bytes in
//! `RunMode::Aot`. Compiling runs in a bounded child (`bounded`), as wasmtime's does; the
//! artifact goes into the cache keyed by the module's content, the library's version, the
//! compiler settings and the guard's version, and comes back from it as bytes checked under
//! the host key (`cache`), never as a file the engine maps or a container can reach.
//!
//! WasmEdge's compiler writes its output to a file and makes temporary files beside it
//! (found free by name, then created), so it writes into a fresh directory of the system's
//! temporary directory that only root can enter; the compiling child removes it, and so does
//! runw when the child was killed.

use std::path::PathBuf;
use std::sync::OnceLock;

use wasmedge_sdk::config::{CommonConfigOptions, CompilerConfigOptions, ConfigBuilder};
use wasmedge_sdk::{Compiler, CompilerOptimizationLevel, CompilerOutputFormat};

use super::super::bounded::{self, CompileLimits};
use super::super::cache::Cache;
use super::super::PrepareError;

/// What `create` hands to the init: native code, or the module for the interpreter.
pub enum Artifact {
    /// Universal WASM made by runw's compiler, for `RunMode::Aot`.
    Native(Vec<u8>),
    /// The library has no compiler (built without LLVM): WasmEdge interprets.
    Interpreted(Vec<u8>),
}

/// Whether the linked library has the AOT compiler (asked once per process).
pub fn compiler_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| Compiler::new(None).is_ok())
}

/// The cache key's engine part: library version, output format, optimisation, guard version.
fn cache_tag(guard_version: &str) -> String {
    format!(
        "wasmedge {} universal-wasm O2 {guard_version}",
        super::library_version()
    )
}

/// The native artifact of the module (from `cache`, or compiled from what `checked_and_guarded`
/// makes of it), or that for the interpreter when the library cannot compile. A cache hit
/// skips the checks: runw stored the entry after they passed on the same bytes.
pub fn prepare(
    original: &[u8],
    guard_version: &str,
    cache: Option<&Cache>,
    limits: &CompileLimits,
    checked_and_guarded: impl FnOnce() -> Result<Vec<u8>, PrepareError>,
) -> Result<Artifact, PrepareError> {
    if !compiler_available() {
        return checked_and_guarded().map(Artifact::Interpreted);
    }
    let Some(cache) = cache else {
        return compile(&checked_and_guarded()?, limits).map(Artifact::Native);
    };
    cache.open_dir().map_err(PrepareError::Other)?;
    // Keyed by the container's bytes: the guard is a function of them and of its version.
    let key = Cache::key(original, &cache_tag(guard_version));
    if let Some(artifact) = cache.lookup(&key) {
        return Ok(Artifact::Native(artifact));
    }
    let artifact = compile(&checked_and_guarded()?, limits)?;
    if let Err(err) = cache.store(&key, &artifact) {
        tracing::debug!("cannot write the wasm cache: {err:#}");
    }
    Ok(Artifact::Native(artifact))
}

/// Compiles in a bounded child, in a private directory.
fn compile(guarded: &[u8], limits: &CompileLimits) -> Result<Vec<u8>, PrepareError> {
    let work = WorkDir::new().map_err(PrepareError::Other)?;
    bounded::compile(limits, || {
        super::log::capture();
        let config = ConfigBuilder::new(CommonConfigOptions::default())
            .with_compiler_config(
                CompilerConfigOptions::new()
                    .out_format(CompilerOutputFormat::Wasm)
                    .optimization_level(CompilerOptimizationLevel::O2),
            )
            .build()
            .map_err(|e| e.to_string())?;
        let compiler = Compiler::new(Some(&config)).map_err(|e| e.to_string())?;
        let output = compiler
            .compile_from_bytes(guarded, "module", &work.path)
            .map_err(|e| super::with_log(&e.to_string()));
        let artifact = output.and_then(|path| {
            std::fs::read(path).map_err(|e| format!("cannot read WasmEdge's output: {e}"))
        });
        let _ = std::fs::remove_dir_all(&work.path);
        artifact
    })
    .map_err(|failure| match failure {
        bounded::Failure::Rejected(why) => PrepareError::Invalid(why),
        other => PrepareError::Other(anyhow::anyhow!("{other}")),
    })
}

/// A directory only root can enter, removed on drop.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn new() -> anyhow::Result<Self> {
        let parent = std::env::temp_dir();
        let template = parent.join(".runw-aot-XXXXXX");
        // mkdtemp: a new directory, mode 0700.
        let path = nix::unistd::mkdtemp(&template).map_err(|e| {
            anyhow::anyhow!(
                "cannot make a directory in {} to compile in: {e}",
                parent.display()
            )
        })?;
        Ok(Self { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
