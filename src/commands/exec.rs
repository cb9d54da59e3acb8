//! `runw exec`: run another process in a running container, detached (`--detach`, as the shim
//! and conmon do) or in the foreground with runw's stdio (as CRI-O's `kubectl exec` does),
//! exiting with the process's status.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
use crate::terminal::{self, Relay};
use crate::wasm::{self, detect::RootView, WasmWorkload};
use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, Process, ProcessBuilder, Spec, UserBuilder,
};

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
    // The --process file is read once, here: libcontainer gets runw's copy of it (below), so
    // what runw checked is what runs, even if the file changes meanwhile.
    let from_file = args.process.as_deref().map(read_process_file).transpose()?;
    crate::fixups::checks::exec(args, from_file.as_ref(), user, group)?;
    let env = parse_env(&args.env)?;
    let id = &args.container_id;
    let root = container::ensure_root(&global.root)?;
    // The lock covers reading the state only. libcontainer's build below waits for the new
    // process, which freezes in a paused container (`--ignore-paused`) and, for a Wasm
    // process, runs in it until it ends: holding the lock then would block `resume`,
    // `delete -f` and `kill` of this container.
    let (snapshot, wasm, spec) = {
        let (container, lock) = container::open_exclusive(&root, id)?;
        match container.status() {
            ContainerStatus::Running => {}
            ContainerStatus::Paused if args.ignore_paused => {}
            status => bail!(
                "cannot exec in container {id}: it is {}, not running",
                container::status_name(status)
            ),
        }
        // libcontainer reads the same file to build the exec'd process.
        let spec = Spec::load(container.bundle().join("config.json")).ok();
        let wasm = plan_workload(
            &container,
            args,
            from_file.as_ref(),
            &env,
            spec.as_ref(),
            global,
        )?
        .map(|w| w.with_preserved_fds(args.preserve_fds));
        (StateSnapshot::take(&root, id, &lock)?, wasm, spec)
    };
    let terminal = args.tty || from_file.as_ref().and_then(|p| p.terminal()) == Some(true);
    let process_file = match (from_file, args.tty) {
        (None, false) => None,
        (Some(process), tty) => Some(write_process(process, tty, snapshot.root())?),
        (None, true) => {
            let process = command_line_process(args, &env, (user, group), spec.as_ref())?;
            Some(write_process(process, true, snapshot.root())?)
        }
    };
    let relay = match terminal::relayed(terminal, args.detach, args.console_socket.as_deref()) {
        true => Some(Relay::start(container::scratch_dir(&root, id, "console"))?),
        false => None,
    };
    let console_socket = relay
        .as_ref()
        .map(Relay::socket)
        .or(args.console_socket.as_deref());
    let capture = fixups::clones::Capture::start();
    let pid = ContainerBuilder::new(id.clone(), SyscallType::default())
        .with_executor(WorkloadExecutor::for_exec(wasm))
        .with_root_path(snapshot.root())?
        .with_console_socket(console_socket)
        .with_preserved_fds(args.preserve_fds)
        .as_tenant()
        // libcontainer hands the terminal to a console socket only when it detaches.
        .with_detach(args.detach || relay.is_some())
        .with_cwd(args.cwd.as_ref())
        .with_env(env)
        .with_process(process_file.as_ref())
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
    forward_signals_and_wait(pid, relay.as_ref())
}

/// Writes the process libcontainer's exec is to run into the exec's private directory, with
/// `terminal` set for `exec -t` (libcontainer 0.7's exec takes `terminal` from a process file
/// only; runc sets it over a `--process` file too). For a command line, runw writes the
/// process libcontainer would build from it (`TenantContainerBuilder::adapt_spec_for_tenant`).
fn write_process(mut process: Process, tty: bool, dir: &Path) -> Result<PathBuf> {
    if tty {
        process.set_terminal(Some(true));
    }
    let path = dir.join("process.json");
    std::fs::write(&path, serde_json::to_vec(&process)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The process libcontainer's exec builds from the command line: [`exec_process`] with the
/// user, capabilities (the container's plus `--cap`), no_new_privs, AppArmor profile and CPU
/// affinity as libcontainer 0.7 sets them.
fn command_line_process(
    args: &ExecArgs,
    env: &HashMap<String, String>,
    (user, group): (Option<u32>, Option<u32>),
    spec: Option<&Spec>,
) -> Result<Process> {
    let mut process = exec_process(args, env, spec)?;
    let spec_process = spec.and_then(|s| s.process().as_ref());
    let mut ids = UserBuilder::default();
    if !args.additional_gids.is_empty() {
        ids = ids.additional_gids(args.additional_gids.clone());
    }
    if let Some(uid) = user {
        ids = ids.uid(uid);
    }
    if let Some(gid) = group {
        ids = ids.gid(gid);
    }
    process.set_user(ids.build()?);
    let no_new_privs = match args.no_new_privs {
        true => Some(true),
        false => spec_process.and_then(|p| p.no_new_privileges()),
    };
    process.set_no_new_privileges(no_new_privs);
    process.set_apparmor_profile(args.apparmor.clone());
    process.set_exec_cpu_affinity(spec_process.and_then(|p| p.exec_cpu_affinity().clone()));
    process.set_capabilities(Some(exec_capabilities(
        &args.cap,
        spec_process.and_then(|p| p.capabilities().as_ref()),
    )?));
    Ok(process)
}

/// libcontainer's `get_capabilities`: `--cap` added to the container's bounding, effective
/// and permitted sets (and to its ambient set when it has an inheritable one, which is kept;
/// else no inheritable or ambient capability).
fn exec_capabilities(
    added: &[String],
    container: Option<&LinuxCapabilities>,
) -> Result<LinuxCapabilities> {
    let added: Capabilities = added
        .iter()
        .map(|name| {
            let value = serde_json::Value::String(name.clone());
            serde_json::from_value::<Capability>(value)
                .map_err(|_| anyhow::anyhow!("unknown capability {name:?}"))
        })
        .collect::<Result<_>>()?;
    let with_added = |set: Option<&Capabilities>| -> Capabilities {
        set.cloned()
            .unwrap_or_default()
            .union(&added)
            .copied()
            .collect()
    };
    let mut caps = LinuxCapabilities::default();
    let container = container.cloned().unwrap_or_else(|| {
        let mut empty = LinuxCapabilities::default();
        empty
            .set_bounding(None)
            .set_effective(None)
            .set_permitted(None);
        empty
    });
    caps.set_bounding(Some(with_added(container.bounding().as_ref())))
        .set_effective(Some(with_added(container.effective().as_ref())))
        .set_permitted(Some(with_added(container.permitted().as_ref())));
    match container.inheritable() {
        Some(inheritable) => {
            caps.set_inheritable(Some(inheritable.clone()))
                .set_ambient(Some(with_added(container.ambient().as_ref())));
        }
        None => {
            caps.set_inheritable(None).set_ambient(None);
        }
    }
    Ok(caps)
}

/// Linux or Wasm for the exec'd process: in a Wasm container (or one annotated for Wasm) a
/// Wasm entrypoint runs as Wasm, anything else as a Linux binary of the container. In a Linux
/// container everything runs as Linux: a Wasm file planted there never runs in a runw clone. The entrypoint
/// is looked up through the init's root, which shows the container's mounts.
fn plan_workload(
    container: &Container,
    args: &ExecArgs,
    from_file: Option<&Process>,
    env: &HashMap<String, String>,
    spec: Option<&Spec>,
    global: &GlobalOpts,
) -> Result<Option<WasmWorkload>> {
    let Some(pid) = container.pid() else {
        return Ok(None);
    };
    let process = match from_file {
        Some(process) => process.clone(),
        None => exec_process(args, env, spec)?,
    };
    let settings = wasm::Settings::from_global(global)?;
    let wasm_init = Meta::load(&container.root).is_some_and(|m| m.workload.starts_with("wasm"));
    wasm::plan(
        &process,
        container.state.annotations.as_ref(),
        &RootView::of_process(pid.as_raw()),
        &settings,
        wasm::Role::Exec { wasm_init },
        spec.and_then(wasm::memory_limit),
    )
}

/// The process libcontainer builds from the command line: its arguments over the
/// container's environment.
fn exec_process(
    args: &ExecArgs,
    env: &HashMap<String, String>,
    spec: Option<&Spec>,
) -> Result<Process> {
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

fn read_process_file(path: &Path) -> Result<Process> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_process(&text, &path.display().to_string())
}

/// Parses the text of a `--process` file named `name`.
pub fn parse_process(text: &str, name: &str) -> Result<Process> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
        .map_err(|e| crate::bundle::field_error(&format!("invalid process file {name}"), &e))
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
