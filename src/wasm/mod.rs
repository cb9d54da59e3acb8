//! The built-in Wasm handler: runw sets a Wasm container up exactly like a Linux one
//! (namespaces, cgroups, mounts, pivot_root, capabilities, seccomp, hooks) and then, instead of
//! `execve`, runs the module inside the container's init process with an embedded engine.
//!
//! The work is split in two, around libcontainer's clone of the init process:
//! * host side, in `create`/`exec` ([`plan`]): decide Linux or Wasm ([`detect`]), read the
//!   module, and compile it or fetch it from the [`cache`]. Errors (missing, not Wasm, invalid,
//!   unsatisfiable imports) are create errors and nothing is left behind.
//! * container side, in the init after `start` ([`run`]): instantiate the compiled module,
//!   give it WASI (argv, env, cwd, `/`, stdio, clocks, random, sockets) and exit with its
//!   status. libcontainer clones (no exec), so the compiled code is already in the init's
//!   memory: this is why no engine thread may exist at clone time (see `wasmtime.rs`).
//!
//! Each engine is a small [`Backend`]; this module holds what is engine-neutral.

pub mod bounded;
pub mod cache;
mod confine;
pub mod detect;
#[cfg(feature = "wasmtime")]
mod http;
mod trim;
#[cfg(feature = "wasmedge")]
mod wasmedge;
#[cfg(feature = "wasmtime")]
mod wasmtime;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Result};
use oci_spec::runtime::{Process, Spec};

use self::bounded::CompileLimits;
use self::cache::Cache;
use self::detect::{Content, Policy, RootView};
use crate::cli::GlobalOpts;

/// Per-container engine choice (overrides `--wasm-engine`).
pub const ENGINE_ANNOTATION: &str = "io.github.runw.wasm.engine";

/// Exit status of a module that trapped (as a process killed by SIGABRT).
pub const TRAP_EXIT: i32 = 134;
/// Exit status when the module could not even be instantiated.
pub const FAILED_EXIT: i32 = 1;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Wasmtime,
    Wasmedge,
}

/// One engine: compiles on the host, runs in the container.
pub trait Backend: Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> String;
    /// Validates, compiles (or fetches from `cache`) and links `module` against WASI, so that
    /// only instantiation is left for the container.
    fn prepare(
        &self,
        module: &ModuleBinary<'_>,
        cache: Option<&Cache>,
    ) -> Result<Arc<dyn Prepared>, PrepareError>;
}

/// A module ready to be instantiated, shared (cheaply cloned) into the init process.
pub trait Prepared: Send + Sync {
    /// Instantiates and runs the module in this process.
    fn run(&self, wasi: &Wasi) -> Outcome;

    /// An HTTP server (`http.rs`): it handles SIGTERM and SIGINT itself (a graceful stop).
    fn serves_http(&self) -> bool {
        false
    }

    /// Checks at create what `run` will take from the process (e.g. a server's settings from
    /// `process.env`), so that a mistake fails create rather than the started container.
    fn validate(&self, _wasi: &Wasi) -> Result<(), String> {
        Ok(())
    }

    /// Runs in the container's init during create, once its namespaces, capabilities and
    /// seccomp filter are in place: takes what must exist before `start` (a server's listening
    /// socket), so that a failure (an address in use) fails create, and only with the
    /// container's own privileges.
    fn acquire(&self, _wasi: &Wasi) -> Result<(), String> {
        Ok(())
    }

    /// The descriptors [`Self::acquire`] opened, which confinement must not close.
    fn kept_fds(&self) -> Vec<std::os::fd::RawFd> {
        Vec::new()
    }
}

pub struct ModuleBinary<'a> {
    pub binary: &'a [u8],
    pub component: bool,
    /// Bounds of an engine's compilation (see `bounded`).
    pub limits: CompileLimits,
}

#[derive(Debug)]
pub enum PrepareError {
    /// The engine rejects the module (with the reason).
    Invalid(String),
    /// The module imports something the engine does not provide (the import's name).
    Unsatisfiable(String),
    Other(anyhow::Error),
}

/// What the module gets through WASI. `/` (the container's root) is preopened as `/`, stdio are
/// the init's fds 0-2, clocks and random are the host's, sockets live in the container's netns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wasi {
    /// `process.args`, `args[0]` as given.
    pub args: Vec<String>,
    /// `process.env`, unchanged (not runw's environment).
    pub env: Vec<(String, String)>,
    /// `process.cwd`.
    pub cwd: String,
    /// `linux.resources.memory.limit`: also the bound of each linear memory.
    pub memory_limit: Option<u64>,
    /// CPUs the container may keep busy at once ([`container_cpus`]; 1 at create): the
    /// worker threads of an HTTP server.
    pub cpus: usize,
}

/// How a module's run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `proc_exit(n)`, `wasi:cli/exit`, or a normal return (0).
    Exited(i32),
    /// A trap, with the engine's message and Wasm backtrace.
    Trapped(String),
    /// Instantiation failed.
    Failed(String),
}

/// Engine, cache and detection settings from the global flags.
pub struct Settings {
    pub engine: Option<EngineKind>,
    pub autodetect: bool,
    pub cache: Option<Cache>,
    pub limits: CompileLimits,
}

impl Settings {
    pub fn from_global(global: &GlobalOpts) -> Result<Self> {
        let max = cache::parse_size(&global.wasm_cache_size)?;
        let cache =
            (!global.no_wasm_cache && max > 0).then(|| Cache::new(global.wasm_cache.clone(), max));
        let timeout = global.wasm_compile_timeout;
        if !(timeout.is_finite() && timeout > 0.0) {
            bail!("invalid --wasm-compile-timeout {timeout}: expected seconds, more than 0");
        }
        Ok(Self {
            engine: global.wasm_engine,
            autodetect: global.wasm_autodetect,
            cache,
            limits: CompileLimits {
                max_module_bytes: cache::parse_size(&global.wasm_max_module_size)?,
                memory_bytes: cache::parse_size(&global.wasm_compile_memory)?,
                timeout: std::time::Duration::from_secs_f64(timeout),
            },
        })
    }

    fn backend(
        &self,
        annotations: Option<&HashMap<String, String>>,
    ) -> Result<&'static dyn Backend> {
        let by_annotation = annotations.and_then(|a| a.get(ENGINE_ANNOTATION));
        let kind = match by_annotation {
            Some(name) => match <EngineKind as clap::ValueEnum>::from_str(name, true) {
                Ok(kind) => Some(kind),
                Err(_) => bail!(
                    "unknown wasm engine {name:?} in annotation {ENGINE_ANNOTATION}: runw knows wasmtime and wasmedge"
                ),
            },
            None => self.engine,
        };
        match kind {
            Some(kind) => backend(kind),
            None => backends()
                .first()
                .copied()
                .ok_or_else(|| anyhow::anyhow!("this runw was built without a wasm engine")),
        }
    }
}

/// The engines compiled into this binary.
pub fn backends() -> &'static [&'static dyn Backend] {
    &[
        #[cfg(feature = "wasmtime")]
        &wasmtime::Wasmtime,
        #[cfg(feature = "wasmedge")]
        &wasmedge::WasmEdge,
    ]
}

fn backend(kind: EngineKind) -> Result<&'static dyn Backend> {
    let name = match kind {
        EngineKind::Wasmtime => "wasmtime",
        EngineKind::Wasmedge => "wasmedge",
    };
    backends()
        .iter()
        .copied()
        .find(|b| b.name() == name)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "wasm engine {name} is not compiled into this runw (build it with --features {name})"
            )
        })
}

/// `["wasmtime 48.0.8", ...]`
pub fn engines() -> Vec<String> {
    backends()
        .iter()
        .map(|b| format!("{} {}", b.name(), b.version()))
        .collect()
}

/// A compiled Wasm workload, carried by the executor into the init process.
#[derive(Clone)]
pub struct WasmWorkload {
    prepared: Arc<dyn Prepared>,
    engine: &'static str,
    /// The module's path inside the container (for messages).
    path: PathBuf,
    memory_limit: Option<u64>,
    /// Bytes of the module's first memory at instantiation (core modules).
    initial_memory: Option<u64>,
    /// `--preserve-fds`: descriptors 3.. the module keeps.
    preserved_fds: i32,
}

impl WasmWorkload {
    pub fn with_preserved_fds(mut self, count: i32) -> Self {
        self.preserved_fds = count;
        self
    }

    /// What `runw.json` records: `wasm:<engine>`.
    pub fn label(&self) -> String {
        format!("wasm:{}", self.engine)
    }
}

/// Whether the process is the container's init (`create`) or an extra process (`exec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Init,
    /// `wasm_init`: the container's init runs Wasm.
    Exec {
        wasm_init: bool,
    },
}

/// Decides how `process` runs and, for Wasm, prepares the module. `Ok(None)` means a Linux
/// process. Runs on the host before the container process is cloned.
pub fn plan(
    process: &Process,
    annotations: Option<&HashMap<String, String>>,
    view: &RootView,
    settings: &Settings,
    role: Role,
    memory_limit: Option<u64>,
) -> Result<Option<WasmWorkload>> {
    let mut policy = detect::policy(annotations)?;
    if let Role::Exec { wasm_init } = role {
        // `exec` into a Wasm container may run a Wasm module or any Linux binary of its
        // rootfs; into a Linux container (not annotated for Wasm) Linux binaries only, so
        // that a planted Wasm file never runs inside a clone of runw.
        match policy {
            Policy::Always => policy = Policy::Smart,
            Policy::Auto if !wasm_init => return Ok(None),
            _ => {}
        }
    }
    if policy == Policy::Linux || (policy == Policy::Auto && !settings.autodetect) {
        return Ok(None);
    }
    let Some(arg0) = process.args().as_ref().and_then(|a| a.first()) else {
        return Ok(None);
    };
    let env = process.env().clone().unwrap_or_default();
    let Some(entry) = detect::find_entrypoint(view, arg0, process.cwd(), &env)? else {
        if policy == Policy::Always {
            bail!(
                "wasm module {arg0} not found in the container (cwd {}, PATH from process.env)",
                process.cwd().display()
            );
        }
        return Ok(None);
    };
    let path = entry.path.clone();
    let content = detect::load(
        &entry,
        policy != Policy::Auto,
        settings.limits.max_module_bytes,
    )?;
    let Some(binary) = wasm_binary(policy, content, &path)? else {
        return Ok(None);
    };
    let backend = settings.backend(annotations)?;
    let module = ModuleBinary {
        binary: &binary,
        component: detect::is_component(&binary),
        limits: settings.limits,
    };
    let prepared = backend
        .prepare(&module, settings.cache.as_ref())
        .map_err(|err| prepare_error(err, &path))?;
    if let Err(reason) = prepared.validate(&wasi_of(Some(process), memory_limit, 1)) {
        bail!("wasm module {}: {reason}", path.display());
    }
    Ok(Some(WasmWorkload {
        prepared,
        engine: backend.name(),
        path,
        memory_limit,
        initial_memory: initial_memory(&binary),
        preserved_fds: 0,
    }))
}

/// The module's binary if the policy makes this content a Wasm workload.
fn wasm_binary(policy: Policy, content: Content, path: &Path) -> Result<Option<Vec<u8>>> {
    let named_wasm = path.extension().is_some_and(|e| e == "wasm" || e == "wat");
    match (policy, content) {
        (_, Content::Binary(binary)) => Ok(Some(binary)),
        (Policy::Always | Policy::Smart, Content::Text(binary)) => Ok(Some(binary)),
        (Policy::Always, Content::BadText(reason)) => {
            bail!("wasm module {} is invalid: {reason}", path.display())
        }
        (Policy::Smart, Content::BadText(reason)) if named_wasm => {
            bail!("wasm module {} is invalid: {reason}", path.display())
        }
        (Policy::Always, Content::Other) => bail!(
            "{} is not a WebAssembly module: it neither starts with the \\0asm magic nor is WebAssembly text",
            path.display()
        ),
        _ => Ok(None),
    }
}

fn prepare_error(err: PrepareError, path: &Path) -> anyhow::Error {
    let path = path.display();
    match err {
        PrepareError::Invalid(reason) => anyhow::anyhow!("wasm module {path} is invalid: {reason}"),
        PrepareError::Unsatisfiable(import) => {
            anyhow::anyhow!("wasm module {path} imports {import} which runw cannot provide")
        }
        PrepareError::Other(err) => anyhow::anyhow!("cannot prepare wasm module {path}: {err:#}"),
    }
}

/// Bytes of a core module's first defined memory at instantiation (`None` for components
/// and modules without memory).
fn initial_memory(binary: &[u8]) -> Option<u64> {
    const PAGE: u64 = 64 * 1024;
    wasmparser::Parser::new(0)
        .parse_all(binary)
        .find_map(|payload| match payload {
            Ok(wasmparser::Payload::MemorySection(memories)) => {
                memories.into_iter().next()?.ok().map(|m| m.initial)
            }
            _ => None,
        })
        .map(|pages| pages.saturating_mul(PAGE))
}

/// Why the module cannot start within `limit`. Checked here, the same for every engine:
/// wasmtime fails instantiation, WasmEdge would shrink the memory to the limit and run.
fn memory_above_limit(initial: Option<u64>, limit: Option<u64>) -> Option<String> {
    let (initial, limit) = (initial?, limit?);
    (initial > limit).then(|| {
        format!(
            "its initial memory of {initial} bytes exceeds the container's memory limit of {limit} bytes (linux.resources.memory.limit)"
        )
    })
}

/// `linux.resources.memory.limit` when it is a real limit.
pub fn memory_limit(spec: &Spec) -> Option<u64> {
    let limit = spec
        .linux()
        .as_ref()?
        .resources()
        .as_ref()?
        .memory()
        .as_ref()?
        .limit()?;
    u64::try_from(limit).ok().filter(|l| *l > 0)
}

/// [`Prepared::acquire`] in the init during create; the error is create's, one line.
pub fn acquire(workload: &WasmWorkload, spec: &Spec) -> Result<(), String> {
    let wasi = wasi_of(spec.process().as_ref(), workload.memory_limit, 1);
    workload
        .prepared
        .acquire(&wasi)
        .map_err(|reason| format!("wasm module {}: {reason}", workload.path.display()))
}

/// Runs the workload in the container's init process and exits with the module's status:
/// never returns.
pub fn run(workload: &WasmWorkload, spec: &Spec) -> ! {
    install_stop_handlers(workload.prepared.serves_http());
    set_process_name(&workload.path);
    // Only a server uses more than one thread. Before confinement: the cgroup's CPU quota is
    // read through /proc/self/cgroup.
    let cpus = if workload.prepared.serves_http() {
        container_cpus(spec)
    } else {
        1
    };
    let wasi = wasi_of(spec.process().as_ref(), workload.memory_limit, cpus);
    if let Err(err) = confine::confine(
        &wasi.args,
        workload.preserved_fds,
        &workload.prepared.kept_fds(),
    ) {
        eprintln!(
            "runw: cannot run wasm module {}: {err:#}",
            workload.path.display()
        );
        std::process::exit(FAILED_EXIT);
    }
    let outcome = match memory_above_limit(workload.initial_memory, workload.memory_limit) {
        Some(reason) => Outcome::Failed(reason),
        None => workload.prepared.run(&wasi),
    };
    let code = exit_code(&outcome, &workload.path);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

/// How many CPUs the container's processes may keep busy at once: the init's CPU affinity
/// (its cpuset) and the CFS quota of its cgroup, as `std::thread::available_parallelism` sees
/// them from inside the container, bounded by the quota of `linux.resources.cpu` (rounded up:
/// 1.5 CPUs is 2), which also holds when the container cannot see its cgroup; at least 1.
/// Taken at start: a later `runw update` of the quota does not change it.
pub fn container_cpus(spec: &Spec) -> usize {
    let visible = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let quota = spec
        .linux()
        .as_ref()
        .and_then(|linux| linux.resources().as_ref())
        .and_then(|resources| resources.cpu().as_ref())
        .and_then(|cpu| cpus_of_quota(cpu.quota()?, cpu.period().unwrap_or(100_000)));
    quota.map_or(visible, |q| q.min(visible)).max(1)
}

/// CPUs a CFS quota of `quota` µs per `period` µs allows, rounded up (`None`: no limit).
fn cpus_of_quota(quota: i64, period: u64) -> Option<usize> {
    let quota = u64::try_from(quota).ok().filter(|q| *q > 0)?;
    (period > 0).then(|| usize::try_from(quota.div_ceil(period)).unwrap_or(usize::MAX))
}

fn wasi_of(process: Option<&Process>, memory_limit: Option<u64>, cpus: usize) -> Wasi {
    let args = process.and_then(|p| p.args().clone()).unwrap_or_default();
    let env = process
        .and_then(|p| p.env().as_ref())
        .map(|env| {
            env.iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.clone(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default();
    let cwd = process
        .map(|p| p.cwd().to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    Wasi {
        args,
        env,
        cwd,
        memory_limit,
        cpus,
    }
}

/// The exit-code policy; traps and failures are reported on the container's stderr.
fn exit_code(outcome: &Outcome, path: &Path) -> i32 {
    match outcome {
        Outcome::Exited(code) => *code,
        Outcome::Trapped(report) => {
            eprintln!("runw: wasm module {} trapped: {report}", path.display());
            TRAP_EXIT
        }
        Outcome::Failed(report) => {
            eprintln!("runw: cannot run wasm module {}: {report}", path.display());
            FAILED_EXIT
        }
    }
}

/// The init of a Wasm container is pid 1 of its pid namespace, and the kernel drops signals
/// that pid 1 has no handler for. The module cannot install handlers, so runw does: SIGTERM,
/// SIGINT, SIGHUP and SIGQUIT end the container with 128+signal, as they would end a process
/// that is not pid 1. (SIGKILL needs no handler.)
///
/// A `server` stops gracefully on SIGTERM and SIGINT instead: they are blocked here, so that
/// the kernel queues them until the server's own handlers are in place and unblock them.
fn install_stop_handlers(server: bool) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    extern "C" fn stop(signal: libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + signal) }
    }
    let signals = [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ];
    let action = SigAction::new(SigHandler::Handler(stop), SaFlags::empty(), SigSet::empty());
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    let mut mask = SigSet::empty();
    let mut held = SigSet::empty();
    for signal in signals {
        if server && matches!(signal, Signal::SIGTERM | Signal::SIGINT) {
            // SAFETY: restores the default disposition (handlers installed later chain to
            // the one they replace).
            let _ = unsafe { sigaction(signal, &default) };
            held.add(signal);
            continue;
        }
        // SAFETY: the handler only calls _exit.
        let _ = unsafe { sigaction(signal, &action) };
        mask.add(signal);
    }
    let _ = mask.thread_unblock();
    let _ = held.thread_block();
}

/// Lets the signals that `install_stop_handlers` held for a server through.
#[cfg(feature = "wasmtime")]
fn unblock_stop_signals() {
    use nix::sys::signal::{SigSet, Signal};
    let mut held = SigSet::empty();
    held.add(Signal::SIGTERM);
    held.add(Signal::SIGINT);
    let _ = held.thread_unblock();
}

/// Names the init after its module (`ps -o comm`), instead of libcontainer's `youki:[2:INIT]`.
fn set_process_name(path: &Path) {
    if let Some(name) = path.file_name() {
        let name: Vec<u8> = name.as_encoded_bytes().iter().copied().take(15).collect();
        if let Ok(name) = std::ffi::CString::new(name) {
            let _ = nix::sys::prctl::set_name(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::ProcessBuilder;

    #[test]
    fn exit_code_policy() {
        let p = Path::new("/m.wasm");
        assert_eq!(exit_code(&Outcome::Exited(0), p), 0);
        assert_eq!(exit_code(&Outcome::Exited(42), p), 42);
        assert_eq!(exit_code(&Outcome::Trapped("unreachable".into()), p), 134);
        assert_eq!(exit_code(&Outcome::Failed("no memory".into()), p), 1);
    }

    #[test]
    fn wasi_gets_the_process_not_runw() {
        let process = ProcessBuilder::default()
            .args(vec!["/app/x.wasm".to_string(), "a b".to_string()])
            .env(vec![
                "A=1".to_string(),
                "B=x=y".to_string(),
                "C".to_string(),
            ])
            .cwd("/app")
            .build()
            .unwrap();
        let wasi = wasi_of(Some(&process), Some(1 << 20), 1);
        assert_eq!(wasi.args, ["/app/x.wasm", "a b"]);
        assert_eq!(
            wasi.env,
            [
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "x=y".to_string()),
                ("C".to_string(), String::new())
            ]
        );
        assert_eq!(wasi.cwd, "/app");
        assert_eq!(wasi.memory_limit, Some(1 << 20));
    }

    #[test]
    fn smart_and_always_policies_on_content() {
        let p = Path::new("/app/x.wasm");
        let bin = || Content::Binary(b"\0asm\x01\0\0\0".to_vec());
        for policy in [Policy::Auto, Policy::Smart, Policy::Always] {
            assert!(wasm_binary(policy, bin(), p).unwrap().is_some());
        }
        let text = || Content::Text(b"\0asm".to_vec());
        assert!(wasm_binary(Policy::Auto, text(), p).unwrap().is_none());
        assert!(wasm_binary(Policy::Smart, text(), p).unwrap().is_some());
        assert!(wasm_binary(Policy::Smart, Content::Other, p)
            .unwrap()
            .is_none());
        let msg = wasm_binary(Policy::Always, Content::Other, Path::new("/bin/sh"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/bin/sh is not a WebAssembly module"), "{msg}");
        let bad = || Content::BadText("expected `(`".into());
        assert!(wasm_binary(Policy::Smart, bad(), p).is_err());
        assert!(wasm_binary(Policy::Smart, bad(), Path::new("/bin/script"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn engine_annotation_is_checked() {
        let settings = Settings {
            engine: None,
            autodetect: true,
            cache: None,
            limits: CompileLimits::default(),
        };
        let bad = HashMap::from([(ENGINE_ANNOTATION.to_string(), "v8".to_string())]);
        let msg = settings.backend(Some(&bad)).err().unwrap().to_string();
        assert!(msg.contains("unknown wasm engine \"v8\""), "{msg}");
        #[cfg(feature = "wasmtime")]
        {
            let ok = HashMap::from([(ENGINE_ANNOTATION.to_string(), "wasmtime".to_string())]);
            assert_eq!(settings.backend(Some(&ok)).unwrap().name(), "wasmtime");
        }
    }

    #[test]
    fn initial_memory_against_the_limit() {
        let module = |pages: u32| wat::parse_str(format!("(module (memory {pages}))")).unwrap();
        assert_eq!(initial_memory(&module(4000)), Some(4000 * 65536));
        assert_eq!(initial_memory(&wat::parse_str("(module)").unwrap()), None);
        let too_big = memory_above_limit(Some(4000 * 65536), Some(64 << 20)).unwrap();
        assert!(
            too_big.contains("initial memory of 262144000 bytes exceeds"),
            "{too_big}"
        );
        assert_eq!(memory_above_limit(Some(1024 * 65536), Some(64 << 20)), None);
        assert_eq!(memory_above_limit(Some(1 << 40), None), None);
    }

    #[test]
    fn memory_limits_from_the_spec() {
        let mut spec = Spec::default();
        assert_eq!(memory_limit(&spec), None);
        let json = r#"{"ociVersion":"1.0.2","linux":{"resources":{"memory":{"limit":67108864}}}}"#;
        spec = serde_json::from_str(json).unwrap();
        assert_eq!(memory_limit(&spec), Some(64 << 20));
        let json = r#"{"ociVersion":"1.0.2","linux":{"resources":{"memory":{"limit":-1}}}}"#;
        spec = serde_json::from_str(json).unwrap();
        assert_eq!(memory_limit(&spec), None);
    }

    #[test]
    fn cpus_from_the_quota() {
        assert_eq!(cpus_of_quota(50_000, 100_000), Some(1));
        assert_eq!(cpus_of_quota(150_000, 100_000), Some(2));
        assert_eq!(cpus_of_quota(400_000, 100_000), Some(4));
        assert_eq!(cpus_of_quota(-1, 100_000), None);
        assert_eq!(cpus_of_quota(0, 100_000), None);
        assert_eq!(cpus_of_quota(50_000, 0), None);
        let visible = std::thread::available_parallelism().unwrap().get();
        assert_eq!(container_cpus(&Spec::default()), visible);
        let json = r#"{"ociVersion":"1.0.2","linux":{"resources":{"cpu":{"quota":50000,"period":100000}}}}"#;
        assert_eq!(container_cpus(&serde_json::from_str(json).unwrap()), 1);
        let json = r#"{"ociVersion":"1.0.2","linux":{"resources":{"cpu":{"quota":-1}}}}"#;
        assert_eq!(
            container_cpus(&serde_json::from_str(json).unwrap()),
            visible
        );
    }
}
