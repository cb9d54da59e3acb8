//! The WasmEdge backend (cargo feature `wasmedge`, linked against an installed WasmEdge: see
//! docs/wasm.md). Core modules with WASI preview 1 only; WasmEdge has no WASI 0.2 components.
//!
//! `prepare` loads and validates the module on the host, so create reports a bad module like
//! the wasmtime backend does. WasmEdge's loader objects are FFI handles, so the init loads the
//! (already validated) bytes again before running them; without the `aot` feature WasmEdge
//! interprets, and runw's compiled-code cache is not used.

use std::collections::HashMap;
use std::sync::Arc;

use wasmedge_sdk::config::{CommonConfigOptions, ConfigBuilder, RuntimeConfigOptions};
use wasmedge_sdk::vm::SyncInst;
use wasmedge_sdk::wasi::WasiModule;
use wasmedge_sdk::{Module, Store, Vm, WasmValue};

use super::cache::Cache;
use super::{Backend, ModuleBinary, Outcome, PrepareError, Prepared, Wasi};

const VERSION: &str = env!("RUNW_WASMEDGE_SDK_VERSION");
const WASI_MODULE: &str = "wasi_snapshot_preview1";
const PAGE: u64 = 64 * 1024;

pub struct WasmEdge;

impl Backend for WasmEdge {
    fn name(&self) -> &'static str {
        "wasmedge"
    }

    fn version(&self) -> String {
        format!("(sdk {VERSION})")
    }

    fn prepare(
        &self,
        module: &ModuleBinary<'_>,
        _cache: Option<&Cache>,
    ) -> Result<Arc<dyn Prepared>, PrepareError> {
        if module.component {
            return Err(PrepareError::Invalid(
                "it is a component, and WasmEdge runs core modules only (use --wasm-engine wasmtime)"
                    .into(),
            ));
        }
        let loaded = Module::from_bytes(None, module.binary)
            .map_err(|e| PrepareError::Invalid(e.to_string()))?;
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
        Ok(Arc::new(WasmEdgeModule {
            binary: module.binary.to_vec(),
        }))
    }
}

struct WasmEdgeModule {
    binary: Vec<u8>,
}

impl WasmEdgeModule {
    fn run_checked(&self, wasi: &Wasi) -> Result<Outcome, String> {
        let mut runtime = RuntimeConfigOptions::new();
        if let Some(limit) = wasi.memory_limit {
            runtime = runtime.max_memory_pages(u32::try_from(limit / PAGE).unwrap_or(u32::MAX));
        }
        let config = ConfigBuilder::new(CommonConfigOptions::default())
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
        let result = {
            let mut instances: HashMap<String, &mut dyn SyncInst> = HashMap::new();
            instances.insert(wasi_module.name().to_string(), wasi_module.as_mut());
            let store = Store::new(Some(&config), instances).map_err(|e| e.to_string())?;
            let mut vm = Vm::new(store);
            let module =
                Module::from_bytes(Some(&config), &self.binary).map_err(|e| e.to_string())?;
            vm.register_module(None, module)
                .map_err(|e| e.to_string())?;
            super::trim::drop_code_pages();
            vm.run_func(None, "_start", std::iter::empty::<WasmValue>())
                .map(|_| ())
        };
        let code = wasi_module.exit_code() as i32;
        Ok(match result {
            Ok(()) => Outcome::Exited(code),
            // proc_exit ends the run with WasmEdge's "terminated" error and sets the exit code.
            Err(err) if err.to_string().contains("terminated") => Outcome::Exited(code),
            Err(err) => Outcome::Trapped(err.to_string()),
        })
    }
}

impl Prepared for WasmEdgeModule {
    fn run(&self, wasi: &Wasi) -> Outcome {
        self.run_checked(wasi).unwrap_or_else(Outcome::Failed)
    }
}
