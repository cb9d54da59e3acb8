//! `runw create`: set up the container and leave its init process waiting for `start`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use libcgroups::common::{CgroupConfig, CgroupManager};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;

use crate::bundle::{self, Bundle};
use crate::cli::{CreateArgs, GlobalOpts};
use crate::container::{self, ContainerLock};
use crate::executor::WorkloadExecutor;
use crate::fixups::{self, cgroupv2};
use crate::hooks;
use crate::state::Meta;
use crate::wasm::{self, detect::RootView, WasmWorkload};

pub fn create(args: &CreateArgs, global: &GlobalOpts) -> Result<i32> {
    let root = container::ensure_root(&global.root)?;
    let lock = ContainerLock::exclusive(&root, &args.container_id)?;
    create_locked(args, global, &root, true, &lock)?;
    Ok(0)
}

/// Creates a container while the caller holds its exclusive lock. Anything a failed create
/// made (state directory, cgroup, pid file, processes) is removed before the error returns.
pub fn create_locked(
    args: &CreateArgs,
    global: &GlobalOpts,
    root: &Path,
    detach: bool,
    _lock: &ContainerLock,
) -> Result<Container> {
    let id = &args.container_id;
    let bundle = bundle::load(&args.bundle)?;
    if root.join(id).exists() {
        // Same words as runc, which callers match on.
        bail!("container with id exists: {id}");
    }
    let pid_file_existed = args.pid_file.as_ref().is_some_and(|p| p.exists());
    match build(args, global, root, &bundle, detach) {
        Ok(container) => Ok(container),
        Err(err) => {
            remove_leftovers(root, id, &bundle, global.systemd_cgroup);
            if let (Some(pid_file), false) = (&args.pid_file, pid_file_existed) {
                let _ = std::fs::remove_file(pid_file);
            }
            Err(err)
        }
    }
}

fn build(
    args: &CreateArgs,
    global: &GlobalOpts,
    root: &Path,
    bundle: &Bundle,
    detach: bool,
) -> Result<Container> {
    check_userns_cgroup(&bundle.spec, global.systemd_cgroup)?;
    let cgroups_path = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone());
    cgroupv2::create_parents(
        cgroups_path.as_deref(),
        global.systemd_cgroup || new_user_namespace(&bundle.spec),
    )?;
    let wasm = plan_workload(bundle, global)?.map(|w| w.with_preserved_fds(args.preserve_fds));
    let workload = wasm.as_ref().map_or_else(|| "linux".into(), |w| w.label());
    let container = ContainerBuilder::new(args.container_id.clone(), SyscallType::default())
        .with_executor(WorkloadExecutor::new(wasm))
        .with_console_socket(args.console_socket.as_ref())
        .with_root_path(root)?
        .with_preserved_fds(args.preserve_fds)
        .as_init(&bundle.dir)
        .with_systemd(global.systemd_cgroup)
        .with_detach(detach)
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
        workload,
        poststart: hooks.poststart,
        poststop: hooks.poststop,
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
/// (not one joined by path) through systemd unless cgroupsPath is absolute (absent, it names
/// it `:youki:<id>`), with or without `--systemd-cgroup`. Without systemd that fails deep
/// inside create with a message about a "systemd cgroup flag": say up front what is wrong.
fn check_userns_cgroup(spec: &oci_spec::runtime::Spec, systemd_flag: bool) -> Result<()> {
    let absolute = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .is_some_and(|p| p.is_absolute());
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

/// Best-effort removal of what a failed create may have left: processes in the container's
/// cgroup, the cgroup itself and the state directory.
fn remove_leftovers(root: &Path, id: &str, bundle: &Bundle, systemd: bool) {
    let cgroups_path = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone());
    let cgroup_path = libcontainer::utils::get_cgroup_path(&cgroups_path, id);
    if let Ok(manager) = libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path,
        systemd_cgroup: systemd,
        container_name: id.to_string(),
    }) {
        if let Ok(pids) = manager.get_all_pids() {
            for pid in pids {
                let _ = crate::signal::send(pid.as_raw(), libc::SIGKILL);
            }
        }
        let _ = manager.remove();
    }
    let dir = root.join(id);
    if dir.exists() {
        let _ = std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()));
    }
}
