//! The WasmEdge backend (cargo feature `wasmedge`, linked against an installed WasmEdge 0.17.1:
//! see docs/wasm.md). Core modules with WASI preview 1 only; WasmEdge has no WASI 0.2
//! components.
//!
//! Host side (`prepare`, in `create`): WasmEdge validates the module (so create reports a bad
//! module as with wasmtime), runw adds its call-depth guard (`guard`), and WasmEdge's AOT
//! compiler makes native code, or runw's cache gives it back (`aot`). Container side (`run`,
//! in the init after `start`): the native code is loaded from memory and run with WasmEdge's
//! WASI. WasmEdge's log never reaches a stdout (`log`); a trap's report quotes it.
//!
//! Where WasmEdge itself differs from wasmtime, runw makes it behave the same:
//! * call depth: the guard traps runaway recursion (WasmEdge has no limit of its own);
//! * an initial memory above `linux.resources.memory.limit` fails (checked for every engine in
//!   `wasm::run`: WasmEdge would shrink it to the limit, log an error and run);
//! * a trap's report names the functions of WasmEdge's calling stack (from the module's name
//!   section), as wasmtime's backtrace does; AOT code names the functions LLVM did not inline;
//! * sleeps survive `pause`/`resume`: WasmEdge's `poll_oneoff` returned the thaw's EINTR to
//!   the module; hack/wasmedge-poll-eintr.patch (applied by hack/install-wasmedge.sh) retries.

mod aot;
mod backtrace;
mod guard;
mod log;

use std::collections::HashMap;
use std::sync::Arc;

use wasmedge_sdk::config::{CommonConfigOptions, ConfigBuilder, RuntimeConfigOptions};
use wasmedge_sdk::vm::SyncInst;
use wasmedge_sdk::wasi::WasiModule;
use wasmedge_sdk::{AsInstance, Module, RunMode, Store, Vm, WasmValue};

use self::aot::Artifact;
use super::cache::Cache;
use super::{Backend, ModuleBinary, Outcome, PrepareError, Prepared, Wasi};

const WASI_MODULE: &str = "wasi_snapshot_preview1";
const PAGE: u64 = 64 * 1024;

pub struct WasmEdge;

/// The linked library's version (`WasmEdge_VersionGet`), not the SDK's.
pub fn library_version() -> String {
    // SAFETY: returns a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(wasmedge_sys::ffi::WasmEdge_VersionGet()) }
        .to_string_lossy()
        .into_owned()
}

/// `message`, followed by what WasmEdge logged meanwhile (where and why), one clause each.
fn with_log(message: &str) -> String {
    log::clause(message, log::take())
}

impl Backend for WasmEdge {
    fn name(&self) -> &'static str {
        "wasmedge"
    }

    fn version(&self) -> String {
        let mode = if aot::compiler_available() {
            "aot"
        } else {
            "interpreter only: the library has no AOT compiler"
        };
        format!("{} ({mode})", library_version())
    }

    fn prepare(
        &self,
        module: &ModuleBinary<'_>,
        cache: Option<&Cache>,
    ) -> Result<Arc<dyn Prepared>, PrepareError> {
        log::capture();
        if module.component {
            return Err(PrepareError::Invalid(
                "it is a component, and WasmEdge runs core modules only (use --wasm-engine wasmtime)"
                    .into(),
            ));
        }
        let artifact = aot::prepare(module.binary, guard::VERSION, cache, &module.limits, || {
            check(module.binary)?;
            guard::guard(module.binary).map_err(PrepareError::Invalid)
        })?;
        Ok(Arc::new(WasmEdgeModule {
            artifact,
            names: backtrace::FunctionNames::of(module.binary),
        }))
    }
}

/// Validates the module and checks it is a WASI command runw can link.
fn check(binary: &[u8]) -> Result<(), PrepareError> {
    let loaded = Module::from_bytes(None, binary)
        .map_err(|e| PrepareError::Invalid(with_log(&e.to_string())))?;
    if let Some(import) = loaded
        .imports()
        .iter()
        .find(|i| i.module_name() != WASI_MODULE)
    {
        return Err(PrepareError::Unsatisfiable(format!(
            "{}::{}",
            import.module_name(),
            import.name()
        )));
    }
    if loaded.get_export("_start").is_none() {
        return Err(PrepareError::Invalid(
            "it exports no _start function (runw runs WASI commands)".into(),
        ));
    }
    log::take();
    Ok(())
}

struct WasmEdgeModule {
    artifact: Artifact,
    names: backtrace::FunctionNames,
}

impl WasmEdgeModule {
    fn run_checked(&self, wasi: &Wasi) -> Result<Outcome, String> {
        log::capture();
        let native = matches!(self.artifact, Artifact::Native(_));
        let (bytes, mode) = match &self.artifact {
            Artifact::Native(bytes) => (bytes, RunMode::Aot),
            Artifact::Interpreted(bytes) => (bytes, RunMode::Interpreter),
        };
        let mut runtime = RuntimeConfigOptions::new();
        if let Some(limit) = wasi.memory_limit {
            runtime = runtime.max_memory_pages(u32::try_from(limit / PAGE).unwrap_or(u32::MAX));
        }
        let config = ConfigBuilder::new(CommonConfigOptions::default().run_mode(mode))
            .with_runtime_config(runtime)
            .build()
            .map_err(|e| e.to_string())?;
        let env: Vec<String> = wasi.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        // Only `/`, as with wasmtime (see wasmtime.rs `wasi_builder`).
        let preopens = ["/:/".to_string()];
        let mut wasi_module = WasiModule::create(
            Some(wasi.args.iter().map(String::as_str).collect()),
            Some(env.iter().map(String::as_str).collect()),
            Some(preopens.iter().map(String::as_str).collect()),
        )
        .map_err(|e| e.to_string())?;
        let (result, depth) = {
            let mut instances: HashMap<String, &mut dyn SyncInst> = HashMap::new();
            instances.insert(wasi_module.name().to_string(), wasi_module.as_mut());
            let store = Store::new(Some(&config), instances).map_err(|e| e.to_string())?;
            let mut vm = Vm::new(store);
            let module =
                Module::from_bytes(Some(&config), bytes).map_err(|e| with_log(&e.to_string()))?;
            vm.register_module(None, module)
                .map_err(|e| with_log(&e.to_string()))?;
            super::trim::drop_code_pages();
            let result = vm
                .run_func(None, "_start", std::iter::empty::<WasmValue>())
                .map(|_| ());
            let depth = vm
                .active_module()
                .and_then(|m| m.get_global(guard::DEPTH_EXPORT).ok())
                .map(|g| g.get_value().to_i32());
            (result, depth)
        };
        let code = wasi_module.exit_code() as i32;
        Ok(match result {
            Ok(()) => Outcome::Exited(code),
            // proc_exit ends the run with WasmEdge's "terminated" error and sets the exit code.
            Err(err) if err.to_string().contains("terminated") => Outcome::Exited(code),
            Err(_) if depth.is_some_and(|d| d > guard::MAX_DEPTH) => {
                let why = format!(
                    "call stack exhausted: more than {} nested calls",
                    guard::MAX_DEPTH
                );
                Outcome::Trapped(self.names.report(&why, log::take(), native))
            }
            Err(err) => Outcome::Trapped(self.names.report(&err.to_string(), log::take(), native)),
        })
    }
}

impl Prepared for WasmEdgeModule {
    fn run(&self, wasi: &Wasi) -> Outcome {
        self.run_checked(wasi).unwrap_or_else(Outcome::Failed)
    }
}
