//! Shared harness of runw's integration tests with containerd, podman and the CRI:
//! a tiny test runner (one daemon per test binary, torn down after the last test),
//! command helpers with timeouts, OCI image archives built from scratch, Wasm modules,
//! a pty, mount/cgroup leak checks and a minimal CRI (gRPC over a unix socket) client.

pub mod cni;
pub mod containerd;
pub mod cri;
pub mod http;
pub mod image;
pub mod podman;
pub mod wasm;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The runw binary under test: `$RUNW_BIN`, else `<repo>/target/release/runw`.
pub fn runw_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RUNW_BIN") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/runw");
    assert!(
        p.exists(),
        "{} not found: run `cargo build --release` in the repository first (or set RUNW_BIN)",
        p.display()
    );
    p.canonicalize().unwrap()
}

/// runc, for comparison entries.
pub fn runc_bin() -> PathBuf {
    for p in ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("runc not found")
}

/// Whether the runw under test has the Wasm handler (its `--version` names an engine).
pub fn runw_has_wasm() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        let out = Command::new(runw_bin()).arg("--version").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        text.contains("wasmtime") || text.contains("wasmedge")
    })
}

/// Fails the calling (Wasm) test at once, clearly, when runw has no Wasm engine.
#[track_caller]
pub fn require_wasm() {
    assert!(
        runw_has_wasm(),
        "{} has no Wasm engine (`runw --version` lists none): build runw with the Wasm handler",
        runw_bin().display()
    );
}

/// The result of a finished command.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Panics (showing everything) unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(self.code, code, "{what}: unexpected exit code\n{self:#?}");
        self
    }
    #[track_caller]
    pub fn ok(&self, what: &str) -> &Self {
        self.expect_code(0, what)
    }
}

/// Runs `cmd` with stdin from /dev/null, capturing its output; kills it after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Out {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = so.read_to_end(&mut s);
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = se.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let so = String::from_utf8_lossy(&t1.join().unwrap()).into_owned();
            let se = String::from_utf8_lossy(&t2.join().unwrap()).into_owned();
            panic!("timed out after {timeout:?}: {desc}\nstdout: {so}\nstderr: {se}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Out {
        code,
        stdout: String::from_utf8_lossy(&t1.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t2.join().unwrap()).into_owned(),
    }
}

/// Polls `f` every 20 ms until it returns `Some`, panicking with `what` after `timeout`.
#[track_caller]
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A private temporary directory under /tmp (ext4/tmpfs: overlayfs works there).
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap()
}

/// Mount points at or under `dir` (from /proc/self/mountinfo).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter(|m| m == &dir || m.starts_with(&format!("{dir}/")))
        .collect()
}

/// Unmounts (lazily, deepest first) whatever is still mounted under `dir`; returns what was.
pub fn unmount_all_under(dir: &Path) -> Vec<String> {
    let mut ms = mounts_under(dir);
    ms.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in &ms {
        let c = std::ffi::CString::new(m.as_str()).unwrap();
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    ms
}

fn cgroup_roots() -> Vec<PathBuf> {
    let mut roots = vec![];
    for l in std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
    {
        let f: Vec<&str> = l.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-").unwrap_or(0);
        if f.get(sep + 1)
            .is_some_and(|t| *t == "cgroup" || *t == "cgroup2")
        {
            roots.push(PathBuf::from(f[4]));
        }
    }
    roots
}

/// The directories of cgroup `rel` (e.g. `/runw-it-123/pod-x`) in every mounted hierarchy,
/// and of its descendants.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let rel = rel.trim_start_matches('/');
    let mut found = vec![];
    let mut stack: Vec<PathBuf> = cgroup_roots().iter().map(|r| r.join(rel)).collect();
    while let Some(d) = stack.pop() {
        if d.is_dir() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(e.path());
                }
            }
            found.push(d);
        }
    }
    found
}

/// SIGKILLs (after thawing) every process in the cgroup `rel` and below, in every
/// hierarchy; returns the pids found.
pub fn kill_cgroup_tree(rel: &str) -> Vec<i32> {
    let rel = rel.trim_start_matches('/');
    let mut pids = vec![];
    for r in cgroup_roots() {
        let d = r.join(rel);
        if !d.is_dir() {
            continue;
        }
        let mut stack = vec![d];
        while let Some(d) = stack.pop() {
            let _ = std::fs::write(d.join("freezer.state"), "THAWED");
            let _ = std::fs::write(d.join("cgroup.freeze"), "0");
            for p in std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
            {
                if let Ok(pid) = p.parse::<i32>() {
                    if !pids.contains(&pid) {
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        pids.push(pid);
                    }
                }
            }
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(e.path());
                }
            }
        }
    }
    if !pids.is_empty() {
        std::thread::sleep(Duration::from_millis(200));
    }
    pids
}

/// Removes the cgroup directory `rel` (e.g. `/runw-it-123`) and its children in every
/// mounted hierarchy; returns the directories that still held processes or could not go.
pub fn remove_cgroup_tree(rel: &str) -> Vec<PathBuf> {
    let rel = rel.trim_start_matches('/');
    let mut failed = vec![];
    for r in cgroup_roots() {
        let d = r.join(rel);
        if d.is_dir() {
            rmdir_tree(&d, &mut failed);
        }
    }
    failed
}

fn rmdir_tree(d: &Path, failed: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path(), failed);
            }
        }
    }
    if std::fs::remove_dir(d).is_err() {
        failed.push(d.to_owned());
    }
}

/// Processes whose command line mentions `needle` (leak check for shims, conmon, inits).
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id();
    let mut v = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(needle) {
                v.push(format!("{pid}: {c}"));
            }
        }
    }
    v
}

/// A named test of a `harness = false` test binary.
pub type Test = (&'static str, fn());

/// `setup`, then the tests whose name contains the first free argument (all if none), in
/// parallel (`--test-threads N` or `RUNW_IT_THREADS`, default 4), then `teardown` (always).
/// Exits non-zero on any failure or leak.
pub fn run_tests(tests: &[Test], setup: impl FnOnce(), teardown: impl FnOnce() -> Vec<String>) {
    // libtest-like arguments: a name filter, --exact, --list, --test-threads N.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filter = None;
    let mut threads: usize = std::env::var("RUNW_IT_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let (mut list, mut exact) = (false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => list = true,
            "--exact" => exact = true,
            "--test-threads" => threads = it.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            _ if a.starts_with("--test-threads=") => {
                threads = a["--test-threads=".len()..].parse().unwrap_or(1)
            }
            _ if a.starts_with('-') => {}
            _ => filter = Some(a.clone()),
        }
    }
    let threads = threads.max(1);
    if list {
        for (n, _) in tests {
            println!("{n}: test");
        }
        return;
    }
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|(n, _)| match &filter {
            None => true,
            Some(f) if exact => n == f,
            Some(f) => n.contains(f.as_str()),
        })
        .collect();
    if selected.is_empty() {
        println!("\nrunning 0 tests");
        return;
    }
    let t = Instant::now();
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(setup)).is_err() {
        println!("set-up FAILED");
        // Whatever was started before the failure must still go.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(teardown));
        std::process::exit(101);
    }
    println!("set up in {:.1}s", t.elapsed().as_secs_f64());
    println!("\nrunning {} tests", selected.len());
    let start = Instant::now();
    let queue = Mutex::new(selected.into_iter());
    let results = Mutex::new(Vec::<(&str, bool, Duration)>::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let next = queue.lock().unwrap().next();
                let Some((name, f)) = next else { break };
                let t = Instant::now();
                let ok = std::panic::catch_unwind(*f).is_ok();
                let d = t.elapsed();
                println!(
                    "test {name} ... {} ({:.1}s)",
                    if ok { "ok" } else { "FAILED" },
                    d.as_secs_f64()
                );
                results.lock().unwrap().push((name, ok, d));
            });
        }
    });
    let leaks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(teardown))
        .unwrap_or_else(|_| vec!["teardown failed".to_string()]);
    let results = results.into_inner().unwrap();
    let failed: Vec<&str> = results.iter().filter(|r| !r.1).map(|r| r.0).collect();
    for l in &leaks {
        println!("LEAK: {l}");
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; finished in {:.1}s",
        if failed.is_empty() && leaks.is_empty() {
            "ok"
        } else {
            "FAILED"
        },
        results.len() - failed.len(),
        failed.len(),
        start.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        println!("failures: {}", failed.join(", "));
    }
    if !failed.is_empty() || !leaks.is_empty() {
        std::process::exit(101);
    }
}

/// A daemon child process, killed (SIGTERM, then SIGKILL) on drop.
pub struct Daemon {
    pub child: std::process::Child,
    pub name: String,
}

impl Daemon {
    /// Starts `cmd` in its own process group, output appended to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Daemon {
        let f = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon {
            child,
            name: name.into(),
        }
    }

    /// SIGTERM, wait up to 10 s, then SIGKILL.
    pub fn stop(&mut self) {
        if self.child.try_wait().unwrap().is_some() {
            return;
        }
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop on SIGTERM: killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A pseudo-terminal pair: `(master, slave)`.
pub fn openpty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut m, mut s) = (0, 0);
    let r = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    unsafe { (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s)) }
}

/// Runs `cmd` with a new pty as its controlling terminal and stdio; returns its exit code
/// and everything written to the terminal.
pub fn run_with_tty(cmd: &mut Command, timeout: Duration) -> (i32, String) {
    let (mut master, slave) = openpty();
    let desc = format!("{cmd:?}");
    unsafe {
        cmd.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap())
            .pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
    }
    let mut child = cmd.spawn().unwrap();
    drop(slave);
    // Closing the slave in the child(ren) makes reads on the master fail with EIO.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = tx.send(buf[..n].to_vec());
                }
            }
        }
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out after {timeout:?}: {desc}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = Vec::new();
    // Whatever is still buffered in the master; a leftover holder of the slave must not hang us.
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(500)) {
        out.extend(chunk);
    }
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out).into_owned(),
    )
}

/// A unique suffix for names made by this process.
pub fn uniq() -> String {
    format!("{}", std::process::id())
}
