//! The workload executor that libcontainer calls inside the container's init process, after
//! namespaces, cgroups, mounts and pivot_root are set up.
//!
//! `validate` runs before `create` returns (so its errors are create errors); `exec` runs after
//! `start` and must not return on success. A Linux workload is exec'd as runc does
//! (`fixups/exec.rs`; libcontainer's default executor still validates it and sets its env); a Wasm workload, compiled on the host before the clone (see `wasm/`),
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
    /// A new container's init (not an `exec`'d process, whose errors `exec` itself reports).
    init: bool,
}

impl WorkloadExecutor {
    /// The executor of a new container's init; `None` runs the process as a Linux binary.
    pub fn for_init(wasm: Option<WasmWorkload>) -> Self {
        Self { wasm, init: true }
    }

    /// The executor of a process `exec`'d into a container.
    pub fn for_exec(wasm: Option<WasmWorkload>) -> Self {
        Self { wasm, init: false }
    }
}

impl Executor for WorkloadExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        match &self.wasm {
            Some(wasm) => crate::wasm::run(wasm, spec),
            None => crate::fixups::exec::exec_linux(spec),
        }
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        reopen_dev_null_for_writing();
        match &self.wasm {
            // Found, read, compiled and linked on the host already; what it needs from the
            // container (a server's socket) is taken now, so that a failure fails create.
            Some(wasm) => crate::wasm::acquire(wasm, spec)
                .map_err(ExecutorValidationError::ArgValidationError),
            None => DefaultExecutor {}.validate(spec),
        }
    }

    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        match &self.wasm {
            // The module gets process.env through WASI; runw's own environment stays as is.
            Some(_) => {}
            None => DefaultExecutor {}.setup_envs(envs)?,
        }
        // libcontainer's last step before the init tells `create` it is ready.
        if self.init {
            crate::fixups::clones::mark_past_create();
        }
        Ok(())
    }
}

/// libcontainer 0.7 points stdio fds that refer to the host's /dev/null at the container's
/// /dev/null, but opens that read-only: a container started with stdout on /dev/null (runc
/// works) then gets EBADF on every write. Runs in the init after that step: stdout and stderr
/// on a read-only /dev/null get a write-only one.
fn reopen_dev_null_for_writing() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(null) = std::fs::metadata("/dev/null") else {
        return;
    };
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        let Ok(stat) = nix::sys::stat::fstat(fd) else {
            continue;
        };
        // SAFETY: F_GETFL on a descriptor number only reads its flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        let read_only = flags >= 0 && flags & libc::O_ACCMODE == libc::O_RDONLY;
        if stat.st_rdev == null.rdev() && stat.st_mode & libc::S_IFMT == libc::S_IFCHR && read_only
        {
            if let Ok(file) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
                // SAFETY: dup2 onto a standard descriptor of this process.
                unsafe { libc::dup2(file.as_raw_fd(), fd) };
            }
        }
    }
}

/// The Wasm engines compiled into this binary, e.g. `["wasmtime 48.0.8"]`.
pub fn wasm_engines() -> Vec<String> {
    crate::wasm::engines()
}
