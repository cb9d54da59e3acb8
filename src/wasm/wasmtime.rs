//! The wasmtime backend: core modules with WASI preview 1 (`_start`) and components with WASI
//! 0.2 (`wasi:cli/command`), from wasmtime-wasi. Components that export
//! `wasi:http/incoming-handler` instead are HTTP handlers, served by `http.rs`.
//!
//! Two process-model constraints shape it:
//! * Compilation runs in the runw process that libcontainer then *clones* (no exec) into the
//!   container. A thread alive at that moment could hold a malloc lock forever in the child, so
//!   compilation is single-threaded (`parallel_compilation(false)`) and nothing else here starts
//!   a thread on the host side.
//! * In the container, wasmtime-wasi's synchronous API would start its own multi-threaded tokio
//!   runtime. runw instead uses the async API on a current-thread runtime it owns, and lets
//!   filesystem calls block that thread: the init stays a single thread.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use wasmtime::component::{Component, ResourceTable};
use wasmtime::{
    Config, Engine, InstancePre, Linker, Module, Store, StoreLimits, StoreLimitsBuilder,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bounded::{self, CompileLimits};
use super::cache::Cache;
use super::http::{self, ComponentKind};
use super::{Backend, ModuleBinary, Outcome, PrepareError, Prepared, Wasi};

const VERSION: &str = env!("RUNW_WASMTIME_VERSION");

pub struct Wasmtime;

/// The engine, built once per runw process. Its settings are part of the cache key.
fn engine() -> Result<&'static Engine, PrepareError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            // No compiler thread pool: the process is cloned right after compiling.
            config.parallel_compilation(false);
            Engine::new(&config).map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map_err(|e| PrepareError::Other(anyhow::anyhow!("cannot start wasmtime: {e}")))
}

/// Engine name, version, settings fingerprint and artifact kind: the cache key's engine part.
fn cache_tag(engine: &Engine, component: bool) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let kind = if component { "component" } else { "module" };
    format!("wasmtime {VERSION} {:016x} {kind}", hasher.finish())
}

impl Backend for Wasmtime {
    fn name(&self) -> &'static str {
        "wasmtime"
    }

    fn version(&self) -> String {
        VERSION.to_string()
    }

    fn prepare(
        &self,
        module: &ModuleBinary<'_>,
        cache: Option<&Cache>,
    ) -> Result<Arc<dyn Prepared>, PrepareError> {
        let kind = module
            .component
            .then(|| http::component_kind(module.binary));
        if kind == Some(ComponentKind::HttpHandler) {
            let engine = http::engine()?;
            // SAFETY: as below.
            let component = compile(
                engine,
                module.binary,
                cache,
                true,
                &module.limits,
                |b| unsafe { Component::deserialize(engine, b) },
            )?;
            return Ok(Arc::new(http::link(engine, &component)?));
        }
        let engine = engine()?;
        // SAFETY (both `deserialize` calls): the bytes are wasmtime's own output, either just
        // compiled or read from a cache entry whose HMAC under the host key proves runw wrote
        // it (see `cache`); they are copied into anonymous memory, no file stays mapped.
        let artifact = if module.component {
            Artifact::Component(compile(
                engine,
                module.binary,
                cache,
                true,
                &module.limits,
                |bytes| unsafe { Component::deserialize(engine, bytes) },
            )?)
        } else {
            Artifact::Module(compile(
                engine,
                module.binary,
                cache,
                false,
                &module.limits,
                |bytes| unsafe { Module::deserialize(engine, bytes) },
            )?)
        };
        let prepared = match artifact {
            Artifact::Module(m) => link_core(engine, &m)?,
            Artifact::Component(c) => link_component(engine, &c, kind)?,
        };
        Ok(Arc::new(prepared))
    }
}

enum Artifact {
    Module(Module),
    Component(Component),
}

/// Fetches the compiled artifact from the cache, or compiles (and stores) it.
/// Compiling runs in a bounded child (`bounded`); the artifact comes back as bytes.
fn compile<A>(
    engine: &Engine,
    binary: &[u8],
    cache: Option<&Cache>,
    component: bool,
    limits: &CompileLimits,
    load: impl Fn(&[u8]) -> wasmtime::Result<A>,
) -> Result<A, PrepareError> {
    let invalid =
        |e: wasmtime::Error| PrepareError::Invalid(format!("{:#}", anyhow::Error::from(e)));
    let precompile = || {
        bounded::compile(limits, || {
            if component {
                engine.precompile_component(binary)
            } else {
                engine.precompile_module(binary)
            }
            .map_err(|e| format!("{:#}", anyhow::Error::from(e)))
        })
        .map_err(|failure| match failure {
            bounded::Failure::Rejected(why) => PrepareError::Invalid(why),
            other => PrepareError::Other(anyhow::anyhow!("{other}")),
        })
    };
    let Some(cache) = cache else {
        return load(&precompile()?).map_err(invalid);
    };
    cache.open_dir().map_err(PrepareError::Other)?;
    let key = Cache::key(binary, &cache_tag(engine, component));
    if let Some(artifact) = cache.lookup(&key) {
        match load(&artifact) {
            Ok(artifact) => return Ok(artifact),
            // MAC fine but refused by the engine: a foreign entry. Rebuild it.
            Err(err) => {
                tracing::debug!("wasm cache entry {key} refused: {err:#}");
                cache.discard(&key);
            }
        }
    }
    let precompiled = precompile()?;
    if let Err(err) = cache.store(&key, &precompiled) {
        tracing::debug!("cannot write the wasm cache: {err:#}");
    }
    load(&precompiled).map_err(|e| PrepareError::Other(e.into()))
}

/// The name between the first pair of backticks of wasmtime's "unknown import" errors.
fn import_name(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

pub(super) fn unsatisfiable(err: wasmtime::Error) -> PrepareError {
    let message = format!("{:#}", anyhow::Error::from(err));
    match import_name(&message) {
        Some(name) => PrepareError::Unsatisfiable(name),
        None => PrepareError::Invalid(message),
    }
}

struct CoreHost {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

struct ComponentHost {
    ctx: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for ComponentHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

enum Linked {
    Core(InstancePre<CoreHost>),
    Component(CommandPre<ComponentHost>),
}

struct WasmtimeModule {
    engine: Engine,
    linked: Linked,
}

fn link_core(engine: &Engine, module: &Module) -> Result<WasmtimeModule, PrepareError> {
    if let Some(import) = module
        .imports()
        .find(|i| i.module() != "wasi_snapshot_preview1")
    {
        return Err(PrepareError::Unsatisfiable(format!(
            "{}::{}",
            import.module(),
            import.name()
        )));
    }
    if !matches!(
        module.get_export("_start"),
        Some(wasmtime::ExternType::Func(_))
    ) {
        return Err(PrepareError::Invalid(
            "it exports no _start function (runw runs WASI commands)".into(),
        ));
    }
    let mut linker: Linker<CoreHost> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |h| &mut h.wasi)
        .map_err(|e| PrepareError::Other(e.into()))?;
    let pre = linker.instantiate_pre(module).map_err(unsatisfiable)?;
    Ok(WasmtimeModule {
        engine: engine.clone(),
        linked: Linked::Core(pre),
    })
}

fn link_component(
    engine: &Engine,
    component: &Component,
    kind: Option<ComponentKind>,
) -> Result<WasmtimeModule, PrepareError> {
    let mut linker = wasmtime::component::Linker::<ComponentHost>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| PrepareError::Other(e.into()))?;
    let pre = linker.instantiate_pre(component).map_err(unsatisfiable)?;
    let pre = CommandPre::new(pre).map_err(|e| match &kind {
        Some(ComponentKind::Neither(exports)) => {
            PrepareError::Invalid(http::neither_reason(exports))
        }
        _ => PrepareError::Invalid(format!(
            "it is not a wasi:cli/command component: {:#}",
            anyhow::Error::from(e)
        )),
    })?;
    Ok(WasmtimeModule {
        engine: engine.clone(),
        linked: Linked::Component(pre),
    })
}

/// The WASI context every module gets (see `Wasi`).
pub(super) fn wasi_builder(wasi: &Wasi) -> wasmtime::Result<WasiCtxBuilder> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .args(&wasi.args)
        .envs(&wasi.env)
        .inherit_stdio()
        .initial_cwd(&wasi.cwd)
        .inherit_network()
        .allow_ip_name_lookup(true)
        // Must precede `preopened_dir`: file I/O then runs on this thread, not a pool.
        .allow_blocking_current_thread(true);
    // The kernel still enforces read-only mounts, masked paths and the container's user.
    // Only `/`: wasi-libc strips `/` and `.` from preopen names alike, so a second preopen for
    // the cwd would capture absolute paths too. Relative paths resolve against `/` unless
    // the module chdir()s (components also get `initial-cwd`).
    builder.preopened_dir("/", "/", FsPerms::ReadWrite)?;
    Ok(builder)
}

pub(super) fn limits(wasi: &Wasi) -> StoreLimits {
    let mut limits = StoreLimitsBuilder::new();
    if let Some(limit) = wasi.memory_limit {
        limits = limits.memory_size(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    limits.build()
}

/// Separates "could not start" from "ran and ended" for the exit-code policy.
enum RunError {
    Instantiate(wasmtime::Error),
    Run(wasmtime::Error),
}

impl WasmtimeModule {
    async fn run_core(&self, pre: &InstancePre<CoreHost>, wasi: &Wasi) -> Result<i32, RunError> {
        let ctx = wasi_builder(wasi)
            .map_err(RunError::Instantiate)?
            .build_p1();
        let mut store = Store::new(
            &self.engine,
            CoreHost {
                wasi: ctx,
                limits: limits(wasi),
            },
        );
        store.limiter(|h| &mut h.limits);
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(RunError::Instantiate)?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(RunError::Instantiate)?;
        super::trim::drop_code_pages();
        start
            .call_async(&mut store, ())
            .await
            .map_err(RunError::Run)?;
        Ok(0)
    }

    async fn run_component(
        &self,
        pre: &CommandPre<ComponentHost>,
        wasi: &Wasi,
    ) -> Result<i32, RunError> {
        let ctx = wasi_builder(wasi).map_err(RunError::Instantiate)?.build();
        let mut store = Store::new(
            &self.engine,
            ComponentHost {
                ctx,
                table: ResourceTable::new(),
                limits: limits(wasi),
            },
        );
        store.limiter(|h| &mut h.limits);
        let command = pre
            .instantiate_async(&mut store)
            .await
            .map_err(RunError::Instantiate)?;
        super::trim::drop_code_pages();
        let result = command
            .wasi_cli_run()
            .call_run(&mut store)
            .await
            .map_err(RunError::Run)?;
        Ok(if result.is_ok() { 0 } else { 1 })
    }
}

impl Prepared for WasmtimeModule {
    fn run(&self, wasi: &Wasi) -> Outcome {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => return Outcome::Failed(format!("cannot start the WASI runtime: {err}")),
        };
        let result = runtime.block_on(async {
            match &self.linked {
                Linked::Core(pre) => self.run_core(pre, wasi).await,
                Linked::Component(pre) => self.run_component(pre, wasi).await,
            }
        });
        match result {
            Ok(code) => Outcome::Exited(code),
            Err(RunError::Instantiate(err)) => {
                Outcome::Failed(format!("{:#}", anyhow::Error::from(err)))
            }
            Err(RunError::Run(err)) => match err.downcast_ref::<I32Exit>() {
                Some(exit) => Outcome::Exited(exit.0),
                None => Outcome::Trapped(trap_report(&err)),
            },
        }
    }
}

/// The trap (root cause) and the Wasm backtrace (the error's context), without a Rust
/// backtrace of runw itself.
pub(super) fn trap_report(err: &wasmtime::Error) -> String {
    let mut chain = err.chain().map(|e| e.to_string()).collect::<Vec<_>>();
    let root = chain.pop().unwrap_or_default();
    chain.insert(0, root);
    chain.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare(wat: &str) -> Result<Arc<dyn Prepared>, PrepareError> {
        let binary = wat::parse_str(wat).unwrap();
        let module = ModuleBinary {
            binary: &binary,
            component: super::super::detect::is_component(&binary),
            limits: CompileLimits::default(),
        };
        Wasmtime.prepare(&module, None)
    }

    #[test]
    fn foreign_imports_are_named() {
        let err = prepare(r#"(module (import "env" "f" (func)) (func (export "_start")))"#)
            .err()
            .unwrap();
        assert!(
            matches!(err, PrepareError::Unsatisfiable(ref n) if n == "env::f"),
            "{err:?}"
        );
        let err = prepare(
            r#"(module (import "wasi_snapshot_preview1" "no_such_call" (func)) (func (export "_start")))"#,
        )
        .err()
        .unwrap();
        assert!(
            matches!(err, PrepareError::Unsatisfiable(ref n) if n.contains("no_such_call")),
            "{err:?}"
        );
    }

    #[test]
    fn component_imports_are_named() {
        let err = prepare(
            r#"(component (import "wasi:nope/thing@1.0.0" (instance (export "f" (func)))))"#,
        )
        .err()
        .unwrap();
        assert!(
            matches!(err, PrepareError::Unsatisfiable(ref n) if n.contains("wasi:nope/thing")),
            "{err:?}"
        );
    }

    #[test]
    fn reactors_are_not_commands() {
        let err = prepare(r#"(module (func (export "_initialize")))"#)
            .err()
            .unwrap();
        assert!(
            matches!(err, PrepareError::Invalid(ref m) if m.contains("_start")),
            "{err:?}"
        );
    }

    #[test]
    fn exits_and_traps() {
        let exit = r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (func (export "_start") (call $exit (i32.const 7))))"#;
        let wasi = Wasi {
            args: vec!["m".into()],
            env: vec![],
            cwd: "/".into(),
            memory_limit: None,
            cpus: 1,
        };
        assert_eq!(prepare(exit).ok().unwrap().run(&wasi), Outcome::Exited(7));
        let ret = r#"(module (func (export "_start")))"#;
        assert_eq!(prepare(ret).ok().unwrap().run(&wasi), Outcome::Exited(0));
        let trap = r#"(module (func $boom unreachable) (func (export "_start") call $boom))"#;
        let Outcome::Trapped(report) = prepare(trap).ok().unwrap().run(&wasi) else {
            panic!("no trap");
        };
        assert!(report.contains("unreachable"), "{report}");
        assert!(report.contains("wasm backtrace"), "{report}");
    }

    #[test]
    fn memory_limit_fails_memory_grow() {
        // Grows by 64 pages (4 MiB) past a 2 MiB limit: memory.grow must return -1.
        let grow = r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (func (export "_start")
              (call $exit (i32.add (i32.const 10) (memory.grow (i32.const 64))))))"#;
        let wasi = Wasi {
            args: vec![],
            env: vec![],
            cwd: "/".into(),
            memory_limit: Some(2 << 20),
            cpus: 1,
        };
        assert_eq!(prepare(grow).ok().unwrap().run(&wasi), Outcome::Exited(9));
    }

    #[test]
    fn cached_artifacts_are_reused_and_damage_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("c"), 1 << 30);
        let binary = wat::parse_str(r#"(module (func (export "_start")))"#).unwrap();
        let engine = engine().ok().unwrap();
        let load = |b: &[u8]| unsafe { Module::deserialize(engine, b) };
        let limits = CompileLimits::default();
        compile(engine, &binary, Some(&cache), false, &limits, load)
            .ok()
            .unwrap();
        let key = Cache::key(&binary, &cache_tag(engine, false));
        let artifact = cache.lookup(&key).unwrap();
        // A foreign artifact with a valid MAC is refused by wasmtime and replaced.
        cache.store(&key, b"not an artifact").unwrap();
        compile(engine, &binary, Some(&cache), false, &limits, load)
            .ok()
            .unwrap();
        assert_eq!(cache.lookup(&key).unwrap(), artifact);
    }
}
