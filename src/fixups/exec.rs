//! Exec'ing a Linux container process as runc does.
//!
//! libcontainer 0.7's default executor calls `execvp`, which, like the shell, runs a file the
//! kernel refuses to execute (ENOEXEC: a script without `#!`, a Wasm module with the Linux
//! path forced) with `/bin/sh`. runc looks the program up in `PATH` and calls `execve`, so
//! such a file fails with "exec format error" and nothing runs. runw does the same; the
//! lookup is libcontainer's own (its `validate` already checked the file it finds).
//! Before the exec, SIGPIPE gets its default action back (Rust ignores it, and the process
//! would inherit that; runc's processes start with no signal ignored).

use std::ffi::CString;
use std::path::PathBuf;

use libcontainer::workload::ExecutorError;
use oci_spec::runtime::Spec;

/// Replaces the process with the spec's program (never returns on success).
pub fn exec_linux(spec: &Spec) -> Result<(), ExecutorError> {
    let args = spec
        .process()
        .as_ref()
        .and_then(|p| p.args().as_ref())
        .filter(|a| !a.is_empty())
        .ok_or(ExecutorError::InvalidArg)?;
    // libcontainer's setup_envs has made the process environment the container's.
    let path_var = std::env::var("PATH").unwrap_or_default();
    let program = lookup(&args[0], &path_var);
    let c_program = cstring(program.as_os_str().as_encoded_bytes())?;
    let c_args = args
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    // runw (Rust) ignores SIGPIPE, and an ignored signal stays ignored across exec: the
    // process would start with SIGPIPE ignored, where runc's start with the default.
    crate::signal::restore_sigpipe();
    let err = nix::unistd::execv(&c_program, &c_args).unwrap_err();
    tracing::error!("exec {}: {}", program.display(), err.desc());
    Err(ExecutorError::Execution(
        format!("exec {}: {}", program.display(), err.desc().to_lowercase()).into(),
    ))
}

/// `name` itself when it holds a `/`, else the first `PATH` entry holding it (what
/// libcontainer's `validate` found), else `name`.
fn lookup(name: &str, path_var: &str) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    path_var
        .split(':')
        .map(|dir| PathBuf::from(dir).join(name))
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn cstring(bytes: &[u8]) -> Result<CString, ExecutorError> {
    CString::new(bytes).map_err(|_| ExecutorError::InvalidArg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_follows_path_order() {
        assert_eq!(lookup("/bin/x", "/usr/bin"), PathBuf::from("/bin/x"));
        assert_eq!(lookup("sh", "/nonexistent:/bin"), PathBuf::from("/bin/sh"));
        assert_eq!(
            lookup("no-such-program", "/bin"),
            PathBuf::from("no-such-program")
        );
    }
}
