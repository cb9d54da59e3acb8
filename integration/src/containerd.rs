//! A private containerd (Debian's 1.6) in a temporary directory: its own config, root,
//! state, sockets; runw and runc as `io.containerd.runc.v2` runtimes (stock shim,
//! `BinaryName`); the CRI plugin with a `runw` runtime handler.

use crate::{run, runc_bin, runw_bin, tempdir, wait_for, Daemon, Out};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct Containerd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub runw: PathBuf,
    /// `--root` of runw under the shim (ctr: `--runc-root`; CRI: the `Root` option).
    pub runw_root: PathBuf,
    pub runc_root: PathBuf,
    /// Cgroup parent of the containers started by the tests (removed at the end).
    pub cgroup_parent: String,
    daemon: std::sync::Mutex<Option<Daemon>>,
}

/// The CRI runtime handler name that RuntimeClasses refer to.
pub const HANDLER: &str = "runw";
/// The sandbox ("pause") image the CRI plugin uses: built by the tests, never pulled.
pub const PAUSE_IMAGE: &str = "localhost/runw-it/pause:latest";

pub fn config(dir: &Path, runw: &Path, runc: &Path) -> String {
    let d = dir.display();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # No CAP_SYS_RESOURCE here: keep the sandbox's oom_score_adj at containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{d}/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}]
      runtime_type = "io.containerd.runc.v2"
      pod_annotations = ["module.wasm.image/variant", "run.oci.handler"]
      container_annotations = ["module.wasm.image/variant", "run.oci.handler"]
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}.options]
        BinaryName = "{runw}"
        Root = "{d}/runw-root"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        Root = "{d}/runc-root"
"#,
        runw = runw.display(),
        runc = runc.display(),
        cni_bin = crate::cni::BIN_DIR,
    )
}

impl Containerd {
    /// Starts containerd and waits until it answers.
    pub fn start(tag: &str) -> Containerd {
        Containerd::start_with_cni(tag, None)
    }

    /// Starts containerd with `network` (if any) in the CRI plugin's CNI `conf_dir`, so that
    /// pods without host networking get an interface on it.
    pub fn start_with_cni(tag: &str, network: Option<&crate::cni::Network>) -> Containerd {
        let dir = tempdir(&format!("runw-it-{tag}-"));
        let runw = runw_bin();
        let cfg = dir.path().join("config.toml");
        std::fs::create_dir_all(dir.path().join("cni")).unwrap();
        if let Some(n) = network {
            n.write_conflist(&dir.path().join("cni"));
        }
        std::fs::write(&cfg, config(dir.path(), &runw, &runc_bin())).unwrap();
        let daemon = Daemon::spawn(
            "containerd",
            Command::new("containerd")
                .arg("--config")
                .arg(&cfg)
                // runw's compiled-code cache (the shim passes its env to runw).
                .env("RUNW_WASM_CACHE", wasm_cache()),
            &dir.path().join("containerd.log"),
        );
        let socket = dir.path().join("containerd.sock");
        let c = Containerd {
            runw_root: dir.path().join("runw-root"),
            runc_root: dir.path().join("runc-root"),
            cgroup_parent: format!("/runw-it-{tag}-{}", std::process::id()),
            socket,
            runw,
            daemon: std::sync::Mutex::new(Some(daemon)),
            dir,
        };
        let log = c.dir.path().join("containerd.log");
        wait_for(Duration::from_secs(20), "containerd to answer", || {
            if let Some(st) = c
                .daemon
                .lock()
                .unwrap()
                .as_mut()
                .unwrap()
                .child
                .try_wait()
                .unwrap()
            {
                panic!(
                    "containerd exited ({st}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if !c.socket.exists() {
                return None;
            }
            (c.ctr_raw("default", &["version"]).code == 0).then_some(())
        });
        c
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr --address <sock> -n <ns> args...`, killed after 30 s.
    pub fn ctr_raw(&self, ns: &str, args: &[&str]) -> Out {
        self.ctr_within(ns, args, Duration::from_secs(30))
    }

    /// `ctr --address <sock> -n <ns> args...`, killed after `timeout`.
    pub fn ctr_within(&self, ns: &str, args: &[&str], timeout: Duration) -> Out {
        run(
            Command::new("ctr")
                .arg("--address")
                .arg(&self.socket)
                .arg("-n")
                .arg(ns)
                .args(args),
            timeout,
        )
    }

    /// Imports an OCI archive into namespace `ns`.
    pub fn import(&self, ns: &str, archive: &Path) {
        self.ctr_raw(
            ns,
            &[
                "images",
                "import",
                "--all-platforms",
                archive.to_str().unwrap(),
            ],
        )
        .ok("ctr images import");
    }

    /// Removes every task, container, image and the namespace `ns`.
    pub fn clean_namespace(&self, ns: &str) {
        let tasks = self.ctr_raw(ns, &["task", "ls", "-q"]);
        for id in tasks.stdout.split_whitespace() {
            self.ctr_raw(ns, &["task", "kill", "-s", "SIGKILL", id]);
            wait_for(Duration::from_secs(10), "task to stop", || {
                let o = self.ctr_raw(ns, &["task", "delete", id]);
                (!o.stderr.contains("running") || o.code == 0).then_some(())
            });
            self.ctr_raw(ns, &["task", "delete", "-f", id]);
        }
        let cs = self.ctr_raw(ns, &["containers", "ls", "-q"]);
        for id in cs.stdout.split_whitespace() {
            self.ctr_raw(ns, &["containers", "delete", id]);
        }
        let imgs = self.ctr_raw(ns, &["images", "ls", "-q"]);
        for r in imgs.stdout.split_whitespace() {
            self.ctr_raw(ns, &["images", "rm", "--sync", r]);
        }
        self.ctr_raw(ns, &["content", "prune", "references"]);
        self.ctr_raw(ns, &["leases", "ls"]);
        self.ctr_raw("default", &["namespaces", "rm", ns]);
    }

    /// Stops containerd and checks that nothing is left: processes, mounts, cgroups,
    /// runw state. Returns the leaks found (and cleans them up as far as possible).
    pub fn stop(&self, namespaces: &[&str]) -> Vec<String> {
        let mut leaks = vec![];
        for ns in namespaces {
            let left = self.ctr_raw(ns, &["containers", "ls", "-q"]);
            if !left.stdout.trim().is_empty() {
                leaks.push(format!("containers left in {ns}: {}", left.stdout.trim()));
            }
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.clean_namespace(ns)));
            if r.is_err() {
                leaks.push(format!("could not clean namespace {ns}"));
            }
        }
        if let Some(mut d) = self.daemon.lock().unwrap().take() {
            d.stop();
        }
        let dir = self.dir.path().to_string_lossy().into_owned();
        let procs = wait_for_quiet(&dir);
        for p in procs {
            leaks.push(format!("process left: {p}"));
            if let Some(pid) = p.split(':').next().and_then(|x| x.parse::<i32>().ok()) {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let mut groups = vec![self.cgroup_parent.clone()];
        // ctr's default cgroup is /<namespace>/<id>: ours are named runw-it-*.
        groups.extend(
            namespaces
                .iter()
                .filter(|n| n.starts_with("runw-it"))
                .map(|n| n.to_string()),
        );
        for g in &groups {
            for p in crate::kill_cgroup_tree(g) {
                leaks.push(format!("process left in cgroup {g}: {p}"));
            }
        }
        for m in crate::unmount_all_under(self.dir.path()) {
            // containerd unmounts its own /run-like bind mounts only partially on exit; the
            // snapshots and task rootfs must be gone, though.
            if m.contains("/rootfs") || m.contains("/snapshots/") {
                leaks.push(format!("mount left: {m}"));
            }
        }
        // ctr's stdio fifos (in containerd's fixed /run/containerd/fifo): ours are named
        // <id>-stdout etc., and every test id ends with -<pid>.
        let tag = format!("-{}-std", std::process::id());
        for d in std::fs::read_dir("/run/containerd/fifo")
            .into_iter()
            .flatten()
            .flatten()
        {
            let names: Vec<String> = std::fs::read_dir(d.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            if names.iter().any(|n| n.contains(&tag)) {
                leaks.push(format!("fifos left: {} {names:?}", d.path().display()));
                let _ = std::fs::remove_dir_all(d.path());
            }
        }
        for root in [&self.runw_root, &self.runc_root] {
            for ns in std::fs::read_dir(root).into_iter().flatten().flatten() {
                for c in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                    leaks.push(format!("runtime state left: {}", c.path().display()));
                }
            }
        }
        for g in &groups {
            for d in crate::remove_cgroup_tree(g) {
                leaks.push(format!("cgroup left: {}", d.display()));
            }
        }
        leaks
    }
}

/// runw's compiled-code cache for the daemons of the tests: `$RUNW_IT_WASM_CACHE`, else
/// `integration/target/wasm-cache`, kept from run to run like the test binaries: compiling
/// the HTTP handler (an 18 MB component) takes 15-30 s, loading it from the cache 0.3 s.
/// runw keys entries by module and engine, and checks them (HMAC under the cache's own key).
pub fn wasm_cache() -> PathBuf {
    let dir = std::env::var_os("RUNW_IT_WASM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wasm-cache"));
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    }
    dir
}

/// Waits (up to 5 s) for processes mentioning `needle` to go; returns those that stay.
fn wait_for_quiet(needle: &str) -> Vec<String> {
    for _ in 0..250 {
        if crate::processes_mentioning(needle).is_empty() {
            return vec![];
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::processes_mentioning(needle)
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.lock().unwrap().take() {
            d.stop();
        }
        crate::unmount_all_under(self.dir.path());
    }
}
