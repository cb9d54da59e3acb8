//! Shared helpers for runw's integration tests: real containers, run as root.
//!
//! * [`Bundle`]: a busybox root filesystem plus a config.json made from `runw spec` (terminal
//!   off, the given args, a per-container cgroupsPath and an environment marker).
//! * [`Runtime`]: one runtime binary (runw, or runc for comparison) with its own temporary
//!   `--root`. Every command runs with a timeout, its stdout/stderr going to files (so a
//!   container that inherits them never blocks the test).
//! * On drop, a `Runtime` `delete --force`s every container it made, then checks that nothing
//!   is left: no entry under `--root` (state dir or `.lock:*`), no cgroup directory, no process.
//!   Leftovers are then removed by hand and reported as a test failure.
#![allow(dead_code)]

pub mod pty;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

pub const RUNW: &str = env!("CARGO_BIN_EXE_runw");
pub const RUNC: &str = "/usr/sbin/runc";
pub const BUSYBOX: &str = "/bin/busybox";

/// Limit for one runtime command. Every command here takes well under a second; a command
/// that hangs (a lock never released, a container that never starts) fails the test instead
/// of hanging the suite.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The cgroup parent of every test container (cgroupsPath `/runw-it/<id>`).
pub const CGROUP_PARENT: &str = "runw-it";

/// capability(7) number of CAP_SYS_RESOURCE (the libc crate does not define it).
const CAP_SYS_RESOURCE: libc::c_ulong = 24;

/// Name of the environment variable marking a test container's processes.
pub const MARK_VAR: &str = "RUNW_IT_MARK";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A container id unique across the tests of all test binaries running at once.
pub fn unique_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// True when running as root: the tests need namespaces and cgroups.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The default config.json of `runw spec`, parsed once per test binary.
pub fn spec_template() -> Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = TempDir::new().unwrap();
            let out = Command::new(RUNW)
                .args(["spec", "--bundle"])
                .arg(dir.path())
                .output()
                .expect("run runw spec");
            assert!(
                out.status.success(),
                "runw spec failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = fs::read_to_string(dir.path().join("config.json")).unwrap();
            serde_json::from_str(&text).expect("runw spec wrote invalid JSON")
        })
        .clone()
}

/// Fills `dir` with a busybox root filesystem: /bin/busybox (a copy, never a link to the
/// host's) and one symlink per applet, as `busybox --install -s` does.
pub fn make_busybox_rootfs(dir: &Path) {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    let applets = APPLETS.get_or_init(|| {
        let out = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox-static must be installed (hack/setup.sh)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|a| !a.is_empty() && *a != "busybox")
            .map(str::to_string)
            .collect()
    });
    for sub in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    fs::copy(BUSYBOX, dir.join("bin/busybox")).unwrap();
    for applet in applets {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n",
    )
    .unwrap();
    fs::write(dir.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
}

/// An OCI bundle in a temporary directory.
pub struct Bundle {
    pub dir: TempDir,
    pub config: Value,
}

impl Bundle {
    /// A busybox bundle for container `id` running `args`; config.json is written.
    pub fn new(id: &str, args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("runw-it-bundle.")
            .tempdir()
            .unwrap();
        make_busybox_rootfs(&dir.path().join("rootfs"));
        let mut config = spec_template();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(format!("{MARK_VAR}={id}")));
        config["linux"]["cgroupsPath"] = json!(format!("/{CGROUP_PARENT}/{id}"));
        let bundle = Bundle { dir, config };
        bundle.write();
        bundle
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_str(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// Writes `self.config` to config.json.
    pub fn write(&self) {
        fs::write(
            self.config_path(),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Edits the config and writes it.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) {
        f(&mut self.config);
        self.write();
    }

    pub fn set_args(&mut self, args: &[&str]) {
        self.edit(|c| c["process"]["args"] = json!(args));
    }
}

/// What a finished command did.
pub struct Out {
    pub cmd: String,
    /// Exit code, or 128+signal when it was killed.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub stdout_path: PathBuf,
    pub timed_out: bool,
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited {}{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd,
            self.code,
            if self.timed_out {
                " (TIMED OUT, killed)"
            } else {
                ""
            },
            self.stdout,
            self.stderr
        )
    }
}

impl Out {
    /// Asserts exit status 0.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert!(
            self.code == 0 && !self.timed_out,
            "expected success: {self}"
        );
        self
    }

    /// Asserts a runc-style failure: exit status 1 and exactly one line on stderr containing
    /// every one of `needles`.
    #[track_caller]
    pub fn fails_with(self, needles: &[&str]) -> Out {
        self.fails_with_status(1, needles)
    }

    /// Asserts a failed `exec` as runc reports it: exit status 255 and one line on stderr
    /// saying "exec failed" and containing every one of `needles`.
    #[track_caller]
    pub fn exec_fails_with(self, needles: &[&str]) -> Out {
        let out = self.fails_with_status(255, needles);
        assert!(out.stderr.contains("exec failed: "), "{out}");
        out
    }

    #[track_caller]
    fn fails_with_status(self, code: i32, needles: &[&str]) -> Out {
        assert!(!self.timed_out, "command hung: {self}");
        assert_eq!(self.code, code, "expected exit status {code}: {self}");
        let text = self.stderr.trim_end();
        assert_eq!(
            text.lines().count(),
            1,
            "expected one line on stderr: {self}"
        );
        for needle in needles {
            assert!(
                text.contains(needle),
                "stderr should contain {needle:?}: {self}"
            );
        }
        self
    }

    /// The container's output when the command was `create`/`run -d`: the container inherits
    /// the command's stdout file, so read it again now.
    pub fn container_stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }
}

/// A command still running in the background.
pub struct Running {
    pub child: Child,
    cmd: String,
    out_path: PathBuf,
    err_path: PathBuf,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The file the command's stdout goes to (readable while it runs).
    pub fn stdout_path(&self) -> &Path {
        &self.out_path
    }

    /// Waits up to `timeout`; kills the command when it is over.
    pub fn wait(mut self, timeout: Duration) -> Out {
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                timed_out = true;
                let _ = self.child.kill();
                break self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Out {
            cmd: self.cmd,
            code,
            stdout: fs::read_to_string(&self.out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&self.err_path).unwrap_or_default(),
            stdout_path: self.out_path,
            timed_out,
        }
    }
}

/// One runtime binary with its own state root.
pub struct Runtime {
    pub bin: PathBuf,
    /// Value of `--root` (not created in advance: the runtime creates it).
    pub root: PathBuf,
    pub scratch: TempDir,
    /// Extra global flags placed before every command.
    pub global: Vec<String>,
    /// With [`Runtime::without_sys_resource`]: the hard RLIMIT_NOFILE the runtime runs with.
    nofile_hard: Option<u64>,
    ids: Mutex<Vec<String>>,
    seq: AtomicUsize,
}

impl Runtime {
    /// runw (the binary under test) with a fresh root.
    pub fn runw() -> Runtime {
        Runtime::with_bin(RUNW)
    }

    /// runc (the reference) with a fresh root.
    pub fn runc() -> Runtime {
        Runtime::with_bin(RUNC)
    }

    pub fn with_bin(bin: impl Into<PathBuf>) -> Runtime {
        let scratch = tempfile::Builder::new()
            .prefix("runw-it-root.")
            .tempdir()
            .unwrap();
        Runtime {
            bin: bin.into(),
            root: scratch.path().join("root"),
            scratch,
            global: Vec::new(),
            nofile_hard: None,
            ids: Mutex::new(Vec::new()),
            seq: AtomicUsize::new(0),
        }
    }

    pub fn name(&self) -> String {
        self.bin.file_name().unwrap().to_string_lossy().into_owned()
    }

    /// A fresh container id; the runtime cleans it up and checks it on drop.
    pub fn id(&self, prefix: &str) -> String {
        let id = unique_id(prefix);
        self.track(&id);
        id
    }

    /// Makes the drop checks cover `id` too (an id not made by [`Runtime::id`]).
    pub fn track(&self, id: &str) {
        self.ids.lock().unwrap().push(id.to_string());
    }

    /// A bundle for `id` running `args`.
    pub fn bundle(&self, id: &str, args: &[&str]) -> Bundle {
        Bundle::new(id, args)
    }

    /// Runs every command without CAP_SYS_RESOURCE (dropped from the bounding set, so the
    /// runtime, exec'd as root, holds it in no set) and with RLIMIT_NOFILE's hard limit at
    /// `nofile_hard`: a host where raising a hard limit fails, whatever this one allows.
    pub fn without_sys_resource(mut self, nofile_hard: u64) -> Runtime {
        self.nofile_hard = Some(nofile_hard);
        self
    }

    /// The runtime's command line for `args` (global flags included) as a `Command`, and its
    /// text for messages; also for a test that needs its own stdio or fds.
    pub fn command(&self, args: &[&str]) -> (Command, String) {
        let mut cmd = Command::new(&self.bin);
        if let Some(hard) = self.nofile_hard {
            use std::os::unix::process::CommandExt;
            let limit = libc::rlimit {
                rlim_cur: hard.min(1024),
                rlim_max: hard,
            };
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0
                        || libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd.arg("--root").arg(&self.root);
        cmd.args(&self.global);
        cmd.args(args);
        let text = format!(
            "{} --root {} {} {}",
            self.name(),
            self.root.display(),
            self.global.join(" "),
            args.join(" ")
        );
        (cmd, text)
    }

    /// Starts `args` in the background; stdin is `stdin` (or /dev/null), stdout and stderr
    /// are files.
    pub fn spawn_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Running {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let out_path = self.scratch.path().join(format!("out.{n}"));
        let err_path = self.scratch.path().join(format!("err.{n}"));
        let (mut cmd, text) = self.command(args);
        cmd.stdout(File::create(&out_path).unwrap());
        cmd.stderr(File::create(&err_path).unwrap());
        match stdin {
            Some(data) => {
                let in_path = self.scratch.path().join(format!("in.{n}"));
                fs::write(&in_path, data).unwrap();
                cmd.stdin(File::open(&in_path).unwrap());
            }
            None => {
                cmd.stdin(Stdio::null());
            }
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        Running {
            child,
            cmd: text,
            out_path,
            err_path,
        }
    }

    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_with_stdin(args, None)
    }

    /// Runs `args` to completion (at most [`TIMEOUT`]).
    pub fn run(&self, args: &[&str]) -> Out {
        self.spawn(args).wait(TIMEOUT)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        self.spawn_with_stdin(args, Some(stdin)).wait(TIMEOUT)
    }

    /// Runs `args` and asserts success.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Out {
        self.run(args).ok()
    }

    /// `create --bundle B id`, asserted to succeed.
    #[track_caller]
    pub fn create(&self, id: &str, bundle: &Bundle) -> Out {
        self.ok(&["create", "--bundle", bundle.path_str(), id])
    }

    /// `run -d --bundle B id`, asserted to succeed: a running container.
    #[track_caller]
    pub fn run_detached(&self, id: &str, bundle: &Bundle) -> Out {
        self.ok(&["run", "-d", "--bundle", bundle.path_str(), id])
    }

    /// A running container executing `sleep 600` (plus anything in `args`).
    #[track_caller]
    pub fn sleeper(&self, prefix: &str) -> (String, Bundle) {
        let id = self.id(prefix);
        let bundle = self.bundle(&id, &["sleep", "600"]);
        self.run_detached(&id, &bundle);
        (id, bundle)
    }

    /// The parsed `state` JSON.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        self.ok(&["state", id]).json()
    }

    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    /// Polls `state` until the status is `want`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.run(&["state", id]);
            let status = if out.code == 0 {
                out.json()["status"].as_str().unwrap_or("").to_string()
            } else {
                String::new()
            };
            if status == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{id}: status {status:?} after {timeout:?}, want {want:?}: {out}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Entries left under `--root` (state directories, `.lock:*` files).
    pub fn root_entries(&self) -> Vec<String> {
        root_entries(&self.root)
    }

    /// What is left of container `id`: entries under root, cgroup dirs, processes.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        leftovers(&self.root, id)
    }

    /// Asserts that nothing of `id` exists: nothing under root, no cgroup, no process.
    #[track_caller]
    pub fn assert_clean(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let left = self.leftovers(id);
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!("{} left behind for {id}: {left:#?}", self.name());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Processes belonging to `id` (see [`processes`]).
    pub fn processes(&self, id: &str) -> Vec<(i32, String)> {
        processes(&self.root, id)
    }

    /// Removes everything of `id` by hand (after a failed `delete --force`).
    fn force_cleanup(&self, id: &str) {
        for _ in 0..20 {
            let procs = self.processes(id);
            if procs.is_empty() {
                break;
            }
            for (pid, _) in procs {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for dir in cgroup_dirs(id) {
            // Thaw first: a frozen cgroup's processes cannot die.
            let _ = fs::write(dir.join("freezer.state"), "THAWED");
            let _ = fs::write(dir.join("cgroup.freeze"), "0");
            for _ in 0..20 {
                if fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let mut ids = self.ids.lock().unwrap().clone();
        // Containers created under other names (e.g. by a test that picked its own id).
        for entry in self.root_entries() {
            let id = entry.rsplit(':').next().unwrap_or(&entry).to_string();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut problems = Vec::new();
        let mut deletes = Vec::new();
        for id in &ids {
            let out = self.spawn(&["delete", "--force", id]).wait(TIMEOUT);
            if out.timed_out {
                problems.push(format!("cleanup: {out}"));
            }
            deletes.push(out);
        }
        for (id, delete) in ids.iter().zip(&deletes) {
            let deadline = Instant::now() + Duration::from_secs(3);
            let left = loop {
                let left = self.leftovers(id);
                if left.is_empty() || Instant::now() > deadline {
                    break left;
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            if !left.is_empty() {
                problems.push(format!(
                    "after `delete --force {id}`, {} left: {left:?}; the delete: {delete}",
                    self.name()
                ));
                self.force_cleanup(id);
            }
        }
        let rest = self.root_entries();
        if !rest.is_empty() {
            problems.push(format!(
                "{} left under --root {}: {rest:?}",
                self.name(),
                self.root.display()
            ));
        }
        if !problems.is_empty() && !std::thread::panicking() {
            panic!("cleanup check failed:\n{}", problems.join("\n"));
        }
    }
}

/// Entries under a runtime's state root (state directories, `.lock:*` files).
pub fn root_entries(root: &Path) -> Vec<String> {
    match fs::read_dir(root) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// What is left of container `id` run with state root `root`: its entries under the root
/// (state directory, `.lock:<id>`, runw's private `.bundle:<id>`), its cgroup directories
/// in every hierarchy, its processes.
pub fn leftovers(root: &Path, id: &str) -> Vec<String> {
    let mut left = Vec::new();
    for entry in root_entries(root) {
        if entry == id || entry.ends_with(&format!(":{id}")) {
            left.push(format!("{}/{entry}", root.display()));
        }
    }
    left.extend(cgroup_dirs(id).into_iter().map(|p| p.display().to_string()));
    left.extend(
        processes(root, id)
            .into_iter()
            .map(|(pid, cmd)| format!("process {pid} ({cmd})")),
    );
    left
}

/// Processes belonging to `id`: its container processes (marked in their environment) and
/// runtime processes working on this root.
pub fn processes(root: &Path, id: &str) -> Vec<(i32, String)> {
    let mark = format!("{MARK_VAR}={id}");
    let root = root.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let environ = fs::read(entry.path().join("environ")).unwrap_or_default();
        let arg_is = |needle: &[u8]| cmdline.split(|b| *b == 0).any(|a| a == needle);
        let mine = environ.split(|b| *b == 0).any(|v| v == mark.as_bytes())
            || (contains(&cmdline, root.as_bytes()) && arg_is(id.as_bytes()));
        if mine {
            let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, cmd));
        }
    }
    found
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Where cgroup hierarchies may be: /sys/fs/cgroup (v2) and the directories in it (v1).
pub fn cgroup_roots() -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        roots.extend(
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir()),
        );
    }
    roots
}

/// Existing cgroup directories of container `id` (any v1 hierarchy or the v2 mount).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for root in cgroup_roots() {
        let dir = root.join(CGROUP_PARENT).join(id);
        if dir.is_dir() && !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// True on a cgroup v2 (unified) host: /sys/fs/cgroup is a cgroup2 file system. A hybrid
/// host (tmpfs with v1 hierarchies, v2 at /sys/fs/cgroup/unified) is a v1 host: the
/// runtimes apply limits through the v1 hierarchies there.
pub fn cgroup_v2_only() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// Path of a cgroup v1 controller file of container `id` (or the v2 file on a v2 host).
pub fn cgroup_file(id: &str, v1_controller: &str, v1_file: &str, v2_file: &str) -> PathBuf {
    if cgroup_v2_only() {
        Path::new("/sys/fs/cgroup")
            .join(CGROUP_PARENT)
            .join(id)
            .join(v2_file)
    } else {
        Path::new("/sys/fs/cgroup")
            .join(v1_controller)
            .join(CGROUP_PARENT)
            .join(id)
            .join(v1_file)
    }
}

pub fn read_trim(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// True while process `pid` exists and is not a zombie.
/// True when process `pid` has a handler for `signal` (its `SigCgt` mask in /proc): a shell
/// has installed its `trap`.
pub fn catches_signal(pid: i32, signal: u32) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
}

pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Waits until `cond` holds, at most `timeout`.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a program that is not a runtime (a script, a tool) to completion, at most `timeout`;
/// stdin is /dev/null, stdout and stderr go to files in `scratch`.
pub fn run_program(mut cmd: Command, scratch: &Path, timeout: Duration) -> Out {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let out_path = scratch.join(format!("out.{n}"));
    let err_path = scratch.join(format!("err.{n}"));
    cmd.stdin(Stdio::null());
    cmd.stdout(File::create(&out_path).unwrap());
    cmd.stderr(File::create(&err_path).unwrap());
    let text = format!("{cmd:?}");
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {text}: {e}"));
    Running {
        child,
        cmd: text,
        out_path,
        err_path,
    }
    .wait(timeout)
}

/// Every file, directory and symlink under `dir` (relative paths): a file's content, `None`
/// for a directory, the target for a symlink. Two equal snapshots: nothing changed.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(base).unwrap().to_path_buf();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(rel, None);
                walk(base, &path, out);
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.insert(rel, Some(target.into_os_string().into_encoded_bytes()));
            } else {
                out.insert(rel, Some(fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Writes `text` to a new file in `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = File::create(&path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    path
}

/// Records that the calling test is skipped and why. libtest has no skip status (a test
/// that returns early reports `ok`), so the reason goes to stderr and, one line per skip, to
/// the file named by `RUNW_TEST_SKIPS`: hack/test.sh sets it and prints the count and the
/// reasons in its summary.
pub fn record_skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let binary = std::env::args()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let binary = binary.rsplit_once('-').map_or(binary.as_str(), |(b, _)| b);
    let line = format!("{binary}::{test}: {reason}");
    eprintln!("SKIPPED {line}");
    if let Some(path) = std::env::var_os("RUNW_TEST_SKIPS") {
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
            // One write per line: lines of tests running in parallel do not interleave.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// Skips the calling test: records the reason (see [`record_skip`]) and returns.
#[macro_export]
macro_rules! skip {
    ($($reason:tt)+) => {{
        common::record_skip(&format!($($reason)+));
        return;
    }};
}

/// Skips the calling test unless running as root (hack/test.sh refuses to run as non-root,
/// so there this never skips).
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            skip!("the integration tests need root (real containers)");
        }
    };
}
