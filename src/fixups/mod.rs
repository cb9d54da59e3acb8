//! Corrections runw applies around libcontainer 0.7, each where libcontainer falls short of
//! runc (the reference). They live here together so that a libcontainer upgrade can drop them
//! one by one: each names what it corrects, and a test in `tests/` fails without it.
//!
//! After `ContainerBuilder::build` (the init is waiting for `start`; no workload code has run):
//! * [`resources::disable_oom_killer`]: libcontainer applies the memory controller with
//!   `disable_oom_killer: false` whatever `linux.resources.memory.disableOOMKiller` says.
//! * [`resources::default_deny_devices`]: on cgroup v1 libcgroups writes the device rules on
//!   top of the allow-all a new devices cgroup inherits; runc starts from deny-all.
//! * [`cgroupv2::fix_resources`]: on cgroup v2 libcgroups leaves `memory.swap.max` at `max`
//!   when swap equals the limit and overflows the blkio weight's conversion to `io.weight`
//!   (also applied after `update`).
//! * [`cgroup_mount::make_read_only`]: libcontainer mounts the cgroup v1 hierarchies
//!   read-write (and without nosuid/nodev/noexec when it bind-mounts them), whatever the
//!   spec's cgroup mount says; a container could lift its own limits. runc honours `ro`.
//!
//! Before `build`:
//! * [`checks::process`]: libcontainer accepts a uid or gid above 2147483647 (4294967295 is
//!   -1 to `setresuid`, and the process stays root), a relative `process.cwd`, and reports an
//!   AppArmor profile on a host without AppArmor as a bare ENOENT; runc refuses all three.
//!   Also for `exec` ([`checks::exec`]). Likewise an `oomScoreAdj` out of range or an
//!   environment variable with a NUL (libcontainer: "io error", a panic in the init).
//! * [`checks::spec`]: a namespace listed twice, relative or missing namespace and hook paths,
//!   an empty mount destination, cgroup values the kernel refuses ([`checks::resources`],
//!   also for `update`): libcontainer accepts them or fails without naming the field.
//! * [`cgroup_name::bundle_for_libcontainer`]: libcontainer refuses a config.json with invalid
//!   UTF-8 or an unknown capability, which runc accepts: it gets runw's normalized copy.
//! * [`cgroup_name::resolve`]: with no `linux.cgroupsPath`, libcontainer names the cgroup
//!   `:youki:<id>` (a directory of that name with cgroupfs); runc's `/<id>`, runw's
//!   `system.slice:runw:<id>` with `--systemd-cgroup`.
//! * [`cgroupv2::create_parents`]: libcgroups makes a cgroup's missing parents racily.
//!
//! During `build`, in libcontainer's clones (through runw's tracing layer):
//! * [`clones`]: names the set-up processes `runw:[1:INTER]`/`runw:[2:INIT]` (libcontainer:
//!   `youki:`), makes the intermediate die with runw (a killed `create` left it orphaned),
//!   and collects the errors raised there, whose innermost cause libcontainer drops.
//!
//! In the init, at `start`:
//! * [`exec::exec_linux`]: libcontainer's `execvp` runs a file the kernel refuses (ENOEXEC)
//!   with `/bin/sh`; runc `execve`s it and fails with "exec format error". And the process
//!   inherited runw's ignored SIGPIPE (and its caller's ignored signals).
//!
//! Before `delete`:
//! * [`delete::kill_before_delete`]: libcontainer's forced delete removes the cgroup about
//!   100 ms after SIGKILL whether or not the processes are gone, and fails if they are not.
//! * [`delete::wait_for_setup_clones`]: after a killed create, libcontainer's intermediate
//!   can make the container's cgroup after `delete --force` removed it (runw waits for it).
//!
//! Whenever a container is loaded:
//! * [`pid_reuse::forget_reused_pid`]: libcontainer takes a container to be running while its
//!   init's pid exists, so once the pid is reused `kill` and `delete --force` signal another
//!   process; runc compares the init's start time, and so does runw.
//! * [`pid_reuse::load`]: libcontainer's load fails when the init exits between its check of
//!   `/proc/<pid>` and its read of `/proc/<pid>/stat`; runw loads once more.
//!
//! Instead of libcontainer:
//! * [`pid_file::write`]: libcontainer writes `--pid-file` with a plain write that follows a
//!   symlink planted at that path (e.g. inside the container's rootfs); runw writes it as runc
//!   does, to a temporary file renamed over the path.

pub mod cgroup_mount;
pub mod cgroup_name;
pub mod cgroupv2;
pub mod checks;
pub mod clones;
pub mod delete;
pub mod exec;
pub mod pid_file;
pub mod pid_reuse;
pub mod resources;

use anyhow::{Context, Result};
use libcontainer::container::Container;
use oci_spec::runtime::Spec;

/// The corrections that follow a successful `build` of a new container.
pub fn after_build(container: &Container, spec: &Spec) -> Result<()> {
    resources::disable_oom_killer(container, spec)?;
    resources::default_deny_devices(container, spec)?;
    if let (Some(resources), Some(pid)) = (
        spec.linux().as_ref().and_then(|l| l.resources().as_ref()),
        container.pid(),
    ) {
        cgroupv2::fix_resources(pid.as_raw(), resources).context("cannot apply linux.resources")?;
    }
    if let Some(pid) = container.pid() {
        cgroup_mount::make_read_only(pid.as_raw(), spec)?;
    }
    Ok(())
}
