//! The workload executor that libcontainer calls inside the container's init process, after
//! namespaces, cgroups, mounts and pivot_root are set up.
//!
//! `validate` runs before `create` returns (so its errors are create errors); `exec` runs after
//! `start` and must not return on success. A Linux workload is exec'd by libcontainer's
//! default executor; a Wasm workload, compiled on the host before the clone (see `wasm/`),
//! runs in this same process.

use std::collections::HashMap;

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use oci_spec::runtime::Spec;

use crate::wasm::WasmWorkload;

#[derive(Clone, Default)]
pub struct WorkloadExecutor {
    wasm: Option<WasmWorkload>,
}

impl WorkloadExecutor {
    /// `None` runs the process as a Linux binary.
    pub fn new(wasm: Option<WasmWorkload>) -> Self {
        Self { wasm }
    }
}

impl Executor for WorkloadExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        match &self.wasm {
            Some(wasm) => crate::wasm::run(wasm, spec),
            None => DefaultExecutor {}.exec(spec),
        }
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        match &self.wasm {
            // Found, read, compiled and linked on the host already.
            Some(_) => Ok(()),
            None => DefaultExecutor {}.validate(spec),
        }
    }

    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        match &self.wasm {
            // The module gets process.env through WASI; runw's own environment stays as is.
            Some(_) => Ok(()),
            None => DefaultExecutor {}.setup_envs(envs),
        }
    }
}

/// The Wasm engines compiled into this binary, e.g. `["wasmtime 48.0.8"]`.
pub fn wasm_engines() -> Vec<String> {
    crate::wasm::engines()
}
