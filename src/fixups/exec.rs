//! Exec'ing a Linux container process as runc does.
//!
//! libcontainer 0.7's default executor calls `execvp`, which, like the shell, runs a file the
//! kernel refuses to execute (ENOEXEC: a script without `#!`, a Wasm module with the Linux
//! path forced) with `/bin/sh`. runc looks the program up in `PATH` and calls `execve`, so
//! such a file fails with "exec format error" and nothing runs. runw does the same; the
//! lookup is libcontainer's own (its `validate` already checked the file it finds).
//! Before the exec, every signal gets its default action back (Rust ignores SIGPIPE, and the
//! process would inherit that and whatever runw's caller ignored; runc's processes start with
//! no signal ignored).

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
    reset_signals();
    let err = nix::unistd::execv(&c_program, &c_args).unwrap_err();
    let text = format!("exec {}: {}", program.display(), err.desc().to_lowercase());
    tracing::error!("{text}");
    Err(ExecutorError::Execution(text.into()))
}

/// Every signal back to its default action, none blocked: an ignored signal stays ignored
/// across exec, and runw ignores SIGPIPE (the Rust runtime does) and inherits whatever its
/// caller ignored; runc's processes start with none ignored or blocked. The raw system
/// call, because glibc refuses its own signals (32, 33), which a caller may have ignored.
fn reset_signals() {
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a valid action, no old action, the kernel's set size.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
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
