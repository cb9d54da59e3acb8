//! `runw create`: set up the container and leave its init process waiting for `start`.

use std::path::Path;

use anyhow::{bail, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;

use crate::bundle::{self, Bundle};
use crate::cli::{CreateArgs, GlobalOpts};
use crate::container::{self, ContainerLock};
use crate::executor::WorkloadExecutor;
use crate::fixups::cgroup_name;
use crate::fixups::{self, cgroupv2};
use crate::hooks;
use crate::state::Meta;
use crate::terminal::{self, Relay};
use crate::wasm::{self, detect::RootView, WasmWorkload};

pub fn create(args: &CreateArgs, global: &GlobalOpts) -> Result<i32> {
    let root = container::ensure_root(&global.root)?;
    let lock = ContainerLock::exclusive(&root, &args.container_id)?;
    create_locked(args, global, &root, true, &lock)?;
    Ok(0)
}

/// A created container, and the relay of its terminal when runw is its console (see
/// `terminal.rs`).
pub struct Created {
    pub container: Container,
    pub relay: Option<Relay>,
}

/// Creates a container while the caller holds its exclusive lock. Anything a failed create
/// made (state directory, cgroup, pid file, processes) is removed before the error returns.
pub fn create_locked(
    args: &CreateArgs,
    global: &GlobalOpts,
    root: &Path,
    detach: bool,
    lock: &ContainerLock,
) -> Result<Created> {
    let id = &args.container_id;
    let bundle = bundle::load(&args.bundle)?;
    if root.join(id).exists() {
        // Same words as runc, which callers match on.
        bail!("container with id exists: {id}");
    }
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if let (Some(socket), true) = (&args.console_socket, terminal) {
        // Without a terminal libcontainer refuses the socket itself, in runc's words.
        crate::fixups::checks::console_socket(socket)?;
    }
    let relay = start_relay(terminal, args, root, detach)?;
    let console = Console {
        socket: relay
            .as_ref()
            .map(Relay::socket)
            .or(args.console_socket.as_deref()),
        // libcontainer hands the terminal to a console socket only when it detaches.
        detach: detach || relay.is_some(),
    };
    let pid_file_existed = args.pid_file.as_ref().is_some_and(|p| p.exists());
    let cgroup_path = record_intent(lock, id, &bundle, global)?;
    let capture = crate::fixups::clones::Capture::start();
    match build(args, global, root, &bundle, &console, &cgroup_path) {
        Ok(container) => Ok(Created { container, relay }),
        Err(err) => {
            let err = crate::fixups::clones::explain(err, capture.as_ref());
            lock.remove_unfinished();
            if let (Some(pid_file), false) = (&args.pid_file, pid_file_existed) {
                let _ = std::fs::remove_file(pid_file);
            }
            Err(err)
        }
    }
}

/// What libcontainer is told about the terminal.
struct Console<'a> {
    socket: Option<&'a Path>,
    detach: bool,
}

/// Starts relaying the terminal when the container's process wants one (`terminal`) and runw
/// is its console (a foreground `run` without `--console-socket`).
fn start_relay(
    terminal: bool,
    args: &CreateArgs,
    root: &Path,
    detach: bool,
) -> Result<Option<Relay>> {
    if !terminal::relayed(terminal, detach, args.console_socket.as_deref()) {
        return Ok(None);
    }
    let dir = container::scratch_dir(root, &args.container_id, "console");
    Relay::start(dir).map(Some)
}

/// Removes what an earlier create of this id left when it was killed (no state directory
/// then), and records the cgroup this one is about to make, which `delete --force` removes
/// even if runw is killed before libcontainer writes its state. Returns the cgroup path.
fn record_intent(
    lock: &ContainerLock,
    id: &str,
    bundle: &Bundle,
    global: &GlobalOpts,
) -> Result<std::path::PathBuf> {
    lock.remove_unfinished();
    let cgroup_path = cgroup_name::resolve(&bundle.spec, id, global.systemd_cgroup);
    lock.record(&container::Intent {
        cgroup_path: cgroup_path.clone(),
        systemd: global.systemd_cgroup || new_user_namespace(&bundle.spec),
    })?;
    Ok(cgroup_path)
}

fn build(
    args: &CreateArgs,
    global: &GlobalOpts,
    root: &Path,
    bundle: &Bundle,
    console: &Console,
    cgroup_path: &Path,
) -> Result<Container> {
    check_userns_cgroup(&bundle.spec, cgroup_path, global.systemd_cgroup)?;
    cgroupv2::create_parents(
        Some(cgroup_path),
        global.systemd_cgroup || new_user_namespace(&bundle.spec),
    )?;
    let bundle_dir =
        cgroup_name::bundle_for_libcontainer(root, &args.container_id, bundle, cgroup_path)?;
    let wasm = plan_workload(bundle, global)?.map(|w| w.with_preserved_fds(args.preserve_fds));
    let workload = wasm.as_ref().map_or_else(|| "linux".into(), |w| w.label());
    let container = ContainerBuilder::new(args.container_id.clone(), SyscallType::default())
        .with_executor(WorkloadExecutor::for_init(wasm))
        .with_console_socket(console.socket)
        .with_root_path(root)?
        .with_preserved_fds(args.preserve_fds)
        .as_init(&bundle_dir)
        .with_systemd(global.systemd_cgroup)
        .with_detach(console.detach)
        .with_no_pivot(args.no_pivot)
        .build()
        .map_err(anyhow::Error::from)?;
    fixups::after_build(&container, &bundle.spec)?;
    if let (Some(path), Some(pid)) = (&args.pid_file, container.pid()) {
        fixups::pid_file::write(path, pid.as_raw())?;
    }
    let hooks = hooks::take_from_libcontainer(&container)?;
    Meta {
        oci_version: bundle.spec.version().clone(),
        rootfs: bundle.rootfs.clone(),
        bundle: Some(bundle.dir.clone()),
        workload,
        poststart: hooks.poststart,
        poststop: hooks.poststop,
        init_start_time: container
            .pid()
            .and_then(|pid| fixups::pid_reuse::start_time(pid.as_raw())),
    }
    .save(&container.root)?;
    Ok(container)
}

/// Linux or Wasm: for Wasm, the module is found, read and compiled here, on the host, before
/// libcontainer clones the init (which then only instantiates it).
fn plan_workload(bundle: &Bundle, global: &GlobalOpts) -> Result<Option<WasmWorkload>> {
    let Some(process) = bundle.spec.process() else {
        return Ok(None);
    };
    let settings = wasm::Settings::from_global(global)?;
    let view = RootView::of_bundle(&bundle.rootfs, &bundle.spec);
    wasm::plan(
        process,
        bundle.spec.annotations().as_ref(),
        &view,
        &settings,
        wasm::Role::Init,
        wasm::memory_limit(&bundle.spec),
    )
}

/// On cgroup v2, libcontainer 0.7 manages the cgroup of a container with a new user namespace
/// (not one joined by path) through systemd unless the cgroup path is absolute (runw's
/// default is, without `--systemd-cgroup`), with or without `--systemd-cgroup`. Without
/// systemd that fails deep inside create with a message about a "systemd cgroup flag": say
/// up front what is wrong.
fn check_userns_cgroup(
    spec: &oci_spec::runtime::Spec,
    cgroup_path: &Path,
    systemd_flag: bool,
) -> Result<()> {
    let absolute = cgroup_path.is_absolute();
    if new_user_namespace(spec)
        && !absolute
        && !systemd_flag
        && cgroupv2::is_unified()
        && !libcgroups::systemd::booted()
    {
        bail!(
            "a container with a user namespace needs an absolute linux.cgroupsPath on this cgroup v2 host without systemd (libcontainer 0.7 manages its cgroup through systemd otherwise)"
        );
    }
    Ok(())
}

/// The config asks for a new user namespace (not one joined by path).
fn new_user_namespace(spec: &oci_spec::runtime::Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User && n.path().is_none())
}
