//! Helpers for the Wasm integration tests: bundles with a busybox rootfs, modules built at test
//! time from WAT and C, and a runw invocation with its own state root and cache.

#![allow(dead_code)]

pub mod http;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const RUNW: &str = env!("CARGO_BIN_EXE_runw");

/// The engine these tests run on: `RUNW_WASM_ENGINE`, which runw reads too (hack/test.sh
/// runs the Wasm tests once per engine compiled in), or runw's default, wasmtime.
pub fn engine() -> String {
    std::env::var("RUNW_WASM_ENGINE").unwrap_or_else(|_| "wasmtime".into())
}

/// WasmEdge runs core modules only; components are refused at create by design.
pub fn engine_runs_components() -> bool {
    engine() == "wasmtime"
}

/// A unique container id for this test process.
pub fn unique_id(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// runw with a private `--root` and `--wasm-cache`; deletes its containers when dropped.
pub struct Runw {
    pub root: tempfile::TempDir,
    pub cache: tempfile::TempDir,
    pub extra: Vec<String>,
    ids: std::sync::Mutex<Vec<String>>,
}

impl Runw {
    pub fn new() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
            cache: tempfile::tempdir().unwrap(),
            extra: Vec::new(),
            ids: Default::default(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(RUNW);
        cmd.arg("--root")
            .arg(self.root.path())
            .arg("--wasm-cache")
            .arg(self.cache.path())
            .args(&self.extra)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs runw to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        if let Some(pos) = args.iter().position(|a| ["create", "run"].contains(a)) {
            if let Some(id) = args.last().filter(|_| pos < args.len() - 1) {
                self.ids.lock().unwrap().push(id.to_string());
            }
        }
        self.command(args).output().expect("cannot run runw")
    }

    /// `runw run --bundle B ID`, returning (exit code, stdout, stderr).
    pub fn run_bundle(&self, bundle: &Bundle, id: &str) -> (i32, String, String) {
        let out = self.run(&["run", "--bundle", bundle.dir_str(), id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `runw create` with the container's stdio (inherited from runw) going to `log`.
    pub fn create_detached(
        &self,
        bundle: &Bundle,
        id: &str,
        log: &Path,
    ) -> std::process::ExitStatus {
        self.ids.lock().unwrap().push(id.to_string());
        let file = std::fs::File::create(log).unwrap();
        self.command(&["create", "--bundle", bundle.dir_str(), id])
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .status()
            .unwrap()
    }

    /// `runw run -d` with the container's stdio (inherited from runw) going to `log`.
    pub fn run_detached(&self, bundle: &Bundle, id: &str, log: &Path) -> std::process::ExitStatus {
        self.ids.lock().unwrap().push(id.to_string());
        let file = std::fs::File::create(log).unwrap();
        self.command(&["run", "-d", "--bundle", bundle.dir_str(), id])
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .status()
            .unwrap()
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        assert!(out.status.success(), "state {id}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    /// Waits until the container reaches `status`.
    pub fn wait_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.status(id) != status {
            assert!(Instant::now() < deadline, "{id} never became {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `id` has stopped, deletes it (plain `delete`, which must work on a stopped
    /// container), and checks that nothing is left: state, cgroup.
    pub fn delete_stopped(&self, id: &str) {
        self.wait_status(id, "stopped");
        let out = self.run(&["delete", id]);
        assert!(out.status.success(), "delete: {}", stderr(&out));
        self.assert_root_empty();
        assert_no_cgroup(id);
    }

    /// What a failed create must not leave: a state directory, or anything but lock files.
    pub fn assert_root_empty(&self) {
        let left: Vec<_> = std::fs::read_dir(self.root.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.is_empty(), "left behind under --root: {left:?}");
    }
}

impl Default for Runw {
    fn default() -> Self {
        Self::new()
    }
}

/// Deletes (`--force`) every container the test made, then checks, as `common::Runtime`
/// does, that nothing is left: a failed delete or a leftover state entry, cgroup or process
/// fails the test.
impl Drop for Runw {
    fn drop(&mut self) {
        let ids = self.ids.lock().unwrap().clone();
        let mut problems = Vec::new();
        for id in &ids {
            match self.command(&["delete", "--force", id]).output() {
                Ok(out) if !out.status.success() => {
                    problems.push(format!("delete --force {id}: {}", stderr(&out)))
                }
                Err(err) => problems.push(format!("delete --force {id}: {err}")),
                Ok(_) => {}
            }
        }
        for id in &ids {
            let left = || crate::common::leftovers(self.root.path(), id);
            if !crate::common::wait_for(Duration::from_secs(3), || left().is_empty()) {
                problems.push(format!("after delete --force {id}, left: {:?}", left()));
            }
        }
        if !problems.is_empty() && !std::thread::panicking() {
            panic!("cleanup check failed:\n{}", problems.join("\n"));
        }
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The cgroupsPath of a test container: under the parent `common::cgroup_dirs` looks in.
pub fn cgroup_path(id: &str) -> String {
    format!("/{}/{id}", crate::common::CGROUP_PARENT)
}

/// Asserts that container `id` has no cgroup directory left in any hierarchy.
#[track_caller]
pub fn assert_no_cgroup(id: &str) {
    let left = crate::common::cgroup_dirs(id);
    assert!(left.is_empty(), "cgroup left behind: {left:?}");
}

/// An OCI bundle whose rootfs holds busybox (for Linux processes) and whatever modules the
/// test adds.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    pub fn new(id: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "app", "proc", "dev", "sys", "tmp", "etc", "out"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "busybox is needed for the test rootfs: apt-get install busybox-static"
        );
        std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
        for applet in ["sh", "echo", "cat", "sleep", "ls", "true"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::write(rootfs.join("etc/msg"), "from the rootfs\n").unwrap();
        let out = Command::new(RUNW)
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "runw spec: {}", stderr(&out));
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["linux"]["cgroupsPath"] = json!(cgroup_path(id));
        let bundle = Self { dir, config };
        bundle.save();
        bundle
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn dir_str(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    pub fn save(&self) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Adds a file to the rootfs (path relative to `/`).
    pub fn add(&self, path: &str, bytes: &[u8]) -> &Self {
        let dest = self.rootfs().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, bytes).unwrap();
        self
    }

    pub fn annotate(&mut self, key: &str, value: &str) -> &mut Self {
        if !self.config["annotations"].is_object() {
            self.config["annotations"] = json!({});
        }
        self.config["annotations"][key] = json!(value);
        self.save();
        self
    }

    pub fn set(&mut self, pointer: &str, value: Value) -> &mut Self {
        *self.config.pointer_mut(pointer).unwrap() = value;
        self.save();
        self
    }

    pub fn push_env(&mut self, kv: &str) -> &mut Self {
        self.config["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(kv));
        self.save();
        self
    }

    pub fn bind(&mut self, source: &Path, dest: &str, ro: bool) -> &mut Self {
        let mut options = vec!["rbind"];
        if ro {
            options.push("ro");
        }
        self.config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": dest,
            "type": "bind",
            "source": source,
            "options": options,
        }));
        self.save();
        self
    }
}

/// A WAT module or component, as binary.
pub fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("test WAT does not parse")
}

/// A core module printing `text` on stdout, then returning.
pub fn wat_hello(text: &str) -> String {
    let escaped: String = text.bytes().map(|b| format!("\\{b:02x}")).collect();
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{escaped}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        len = text.len()
    )
}

/// A core module calling `proc_exit(code)`.
pub fn wat_exit(code: i32) -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const {code}))))"#
    )
}

/// Compiles C to a wasm32-wasi command module with clang and Debian's wasi-libc. Missing tools
/// fail the test with what to install: a test that cannot build its module must not pass.
pub fn c_module(source: &str) -> Vec<u8> {
    let sysroot_libc = Path::new("/usr/lib/wasm32-wasi/libc.a");
    assert!(
        sysroot_libc.exists(),
        "wasi-libc is not installed ({} missing): apt-get install wasi-libc libclang-rt-14-dev-wasm32 clang lld",
        sysroot_libc.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.c");
    let out = dir.path().join("m.wasm");
    std::fs::write(&src, source).unwrap();
    let result = Command::new("clang")
        .args(["--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .output();
    let result = match result {
        Ok(r) => r,
        Err(err) => panic!(
            "cannot run clang ({err}): apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32"
        ),
    };
    assert!(
        result.status.success(),
        "clang failed to build the test module: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::read(out).unwrap()
}
