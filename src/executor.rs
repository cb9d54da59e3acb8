//! The workload executor that libcontainer calls inside the container's init process, after
//! namespaces, cgroups, mounts and pivot_root are set up.
//!
//! `validate` runs before `create` returns (so its errors are create errors); `exec` runs after
//! `start` and must not return on success. A Linux workload is exec'd by libcontainer's
//! default executor; a Wasm workload (see `wasm/`) will run in this same process.

use std::collections::HashMap;

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use oci_spec::runtime::Spec;

#[derive(Clone, Default)]
pub struct WorkloadExecutor {}

impl WorkloadExecutor {
    pub fn new() -> Self {
        Self {}
    }
}

impl Executor for WorkloadExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }

    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        DefaultExecutor {}.setup_envs(envs)
    }
}

/// The Wasm engines compiled into this binary, e.g. `["wasmtime 48.0.8"]`.
pub fn wasm_engines() -> Vec<String> {
    Vec::new()
}
