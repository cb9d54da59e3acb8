//! `runw exec`: run another process in a running container, detached (`--detach`, as the shim
//! and conmon do) or in the foreground with runw's stdio (as CRI-O's `kubectl exec` does),
//! exiting with the process's status.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::syscall::syscall::SyscallType;

use super::wait::forward_signals_and_wait;
use crate::cli::{ExecArgs, GlobalOpts};
use crate::container::{self, StateSnapshot};
use crate::executor::WorkloadExecutor;
use crate::fixups;
use crate::state::Meta;
use crate::wasm::{self, detect::RootView, WasmWorkload};
use oci_spec::runtime::{Process, ProcessBuilder, Spec};

/// Marks an error of `exec` past its argument checks: runc prints it as "exec failed: ..."
/// and exits 255 (the exec'd process's own status is in 0-255 too, but a caller that gets
/// 255 with an error line knows the process never ran).
#[derive(Debug)]
pub struct ExecFailed;

impl std::fmt::Display for ExecFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("exec failed")
    }
}

pub fn exec(args: &ExecArgs, global: &GlobalOpts) -> Result<i32> {
    if args.process.is_none() && args.command.is_empty() {
        bail!("exec: no command given (use --process FILE or give the command after the id)");
    }
    run_process(args, global).context(ExecFailed)
}

fn run_process(args: &ExecArgs, global: &GlobalOpts) -> Result<i32> {
    let (user, group) = parse_user(args.user.as_deref())?;
    crate::fixups::checks::exec(args, user, group)?;
    let env = parse_env(&args.env)?;
    let id = &args.container_id;
    let root = container::ensure_root(&global.root)?;
    // The lock covers reading the state only. libcontainer's build below waits for the new
    // process, which freezes in a paused container (`--ignore-paused`) and, for a Wasm
    // process, runs in it until it ends: holding the lock then would block `resume`,
    // `delete -f` and `kill` of this container.
    let (snapshot, wasm) = {
        let (container, lock) = container::open_exclusive(&root, id)?;
        match container.status() {
            ContainerStatus::Running => {}
            ContainerStatus::Paused if args.ignore_paused => {}
            status => bail!(
                "cannot exec in container {id}: it is {}, not running",
                container::status_name(status)
            ),
        }
        let wasm = plan_workload(&container, args, &env, global)?
            .map(|w| w.with_preserved_fds(args.preserve_fds));
        (StateSnapshot::take(&root, id, &lock)?, wasm)
    };
    let capture = fixups::clones::Capture::start();
    let pid = ContainerBuilder::new(id.clone(), SyscallType::default())
        .with_executor(WorkloadExecutor::for_exec(wasm))
        .with_root_path(snapshot.root())?
        .with_console_socket(args.console_socket.as_ref())
        .with_preserved_fds(args.preserve_fds)
        .as_tenant()
        .with_detach(args.detach)
        .with_cwd(args.cwd.as_ref())
        .with_env(env)
        .with_process(args.process.as_ref())
        .with_no_new_privs(args.no_new_privs)
        .with_container_args(args.command.clone())
        .with_additional_gids(args.additional_gids.clone())
        .with_user(user)
        .with_group(group)
        .with_capabilities(args.cap.clone())
        .with_ignore_paused(args.ignore_paused)
        .with_sub_cgroup(args.cgroup.clone())
        .with_apparmor(args.apparmor.clone())
        .build()
        .map_err(|err| fixups::clones::explain(err.into(), capture.as_ref()))?;
    drop((snapshot, capture));
    if let Some(path) = &args.pid_file {
        fixups::pid_file::write(path, pid.as_raw())?;
    }
    if args.detach {
        return Ok(0);
    }
    forward_signals_and_wait(pid)
}

/// Linux or Wasm for the exec'd process: in a Wasm container (or one annotated for Wasm) a
/// Wasm entrypoint runs as Wasm, anything else as a Linux binary of the container. In a Linux
/// container everything runs as Linux: a Wasm file planted there never runs in a runw clone. The entrypoint
/// is looked up through the init's root, which shows the container's mounts.
fn plan_workload(
    container: &Container,
    args: &ExecArgs,
    env: &HashMap<String, String>,
    global: &GlobalOpts,
) -> Result<Option<WasmWorkload>> {
    let Some(pid) = container.pid() else {
        return Ok(None);
    };
    // libcontainer reads the same file to build the exec'd process.
    let spec = Spec::load(container.bundle().join("config.json")).ok();
    let process = exec_process(args, env, spec.as_ref())?;
    let settings = wasm::Settings::from_global(global)?;
    let wasm_init = Meta::load(&container.root).is_some_and(|m| m.workload.starts_with("wasm"));
    wasm::plan(
        &process,
        container.state.annotations.as_ref(),
        &RootView::of_process(pid.as_raw()),
        &settings,
        wasm::Role::Exec { wasm_init },
        spec.as_ref().and_then(wasm::memory_limit),
    )
}

/// The process libcontainer will run: `--process` or the command line over the container's
/// environment.
fn exec_process(
    args: &ExecArgs,
    env: &HashMap<String, String>,
    spec: Option<&Spec>,
) -> Result<Process> {
    if let Some(path) = &args.process {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("invalid process file {}", path.display()));
    }
    let mut vars: Vec<String> = spec
        .and_then(|s| s.process().as_ref())
        .and_then(|p| p.env().clone())
        .unwrap_or_default();
    vars.retain(|kv| !env.contains_key(kv.split('=').next().unwrap_or_default()));
    vars.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    let mut builder = ProcessBuilder::default()
        .args(args.command.clone())
        .env(vars);
    if let Some(cwd) = &args.cwd {
        builder = builder.cwd(cwd);
    }
    Ok(builder.build()?)
}

/// `UID[:GID]`, numeric as in runc.
fn parse_user(user: Option<&str>) -> Result<(Option<u32>, Option<u32>)> {
    let Some(user) = user else {
        return Ok((None, None));
    };
    let parse = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| anyhow::anyhow!("invalid --user {user:?}: expected UID[:GID]"))
    };
    match user.split_once(':') {
        Some((uid, gid)) => Ok((Some(parse(uid)?), Some(parse(gid)?))),
        None => Ok((Some(parse(user)?), None)),
    }
}

fn parse_env(env: &[String]) -> Result<HashMap<String, String>> {
    env.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("invalid --env {kv:?}: expected KEY=VALUE"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users() {
        assert_eq!(parse_user(None).unwrap(), (None, None));
        assert_eq!(parse_user(Some("1000")).unwrap(), (Some(1000), None));
        assert_eq!(
            parse_user(Some("1000:100")).unwrap(),
            (Some(1000), Some(100))
        );
        assert!(parse_user(Some("bob")).is_err());
    }

    #[test]
    fn env_pairs() {
        let env = parse_env(&["A=1".into(), "B=x=y".into()]).unwrap();
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "x=y");
        assert!(parse_env(&["=1".into()]).is_err());
        assert!(parse_env(&["NOVALUE".into()]).is_err());
    }
}
