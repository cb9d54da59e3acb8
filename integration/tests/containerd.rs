//! runw under containerd's stock `containerd-shim-runc-v2` (option `BinaryName`), driven
//! with `ctr`. One private containerd per test binary; images made here and imported.

use runw_integration::containerd::Containerd;
use runw_integration::{image, run_with_tty, wait_for, Out};
use std::sync::OnceLock;
use std::time::Duration;

use runw_integration::http::{free_local_addr, get_when_up, refused, request};
use runw_integration::image::{BUSYBOX, HTTP, WASM};

struct Env {
    cd: Containerd,
    ns: String,
}

static ENV: OnceLock<Env> = OnceLock::new();

fn env() -> &'static Env {
    ENV.get().expect("environment not set up")
}

/// `ctr -n <ns> run [pre...] --runc-binary <bin> --runc-root <root> IMAGE ID [args...]`
fn ctr_run(runtime: &str, pre: &[&str], img: &str, id: &str, args: &[&str]) -> Out {
    let e = env();
    let (bin, root) = match runtime {
        "runc" => (runw_integration::runc_bin(), e.cd.runc_root.clone()),
        _ => (e.cd.runw.clone(), e.cd.runw_root.clone()),
    };
    let mut a: Vec<String> = vec!["run".into()];
    a.extend(pre.iter().map(|s| s.to_string()));
    a.extend([
        "--runc-binary".into(),
        bin.display().to_string(),
        "--runc-root".into(),
        root.display().to_string(),
        "--cgroup".into(),
        format!("{}/{id}", e.cd.cgroup_parent),
        img.into(),
        id.into(),
    ]);
    a.extend(args.iter().map(|s| s.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    // runw's create compiles a module that is not in its cache yet: 15-30 s for the HTTP
    // handler.
    e.cd.ctr_within(&e.ns, &a, Duration::from_secs(120))
}

fn ctr(args: &[&str]) -> Out {
    let e = env();
    e.cd.ctr_raw(&e.ns, args)
}

fn id(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// The `task ls` row of `id`: (pid, status).
fn task_row(id: &str) -> Option<(u32, String)> {
    let o = ctr(&["task", "ls"]);
    o.stdout.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 3 && f[0] == id).then(|| (f[1].parse().unwrap_or(0), f[2].to_string()))
    })
}

#[track_caller]
fn wait_status(id: &str, status: &str) -> u32 {
    wait_for(Duration::from_secs(10), &format!("{id} {status}"), || {
        task_row(id).and_then(|(pid, s)| (s == status).then_some(pid))
    })
}

/// `ctr events` of the test namespace, collected from setup to teardown.
struct Events {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    child: std::sync::Mutex<std::process::Child>,
}

static EVENTS: OnceLock<Events> = OnceLock::new();

fn start_events(cd: &Containerd, ns: &str) {
    let mut child = std::process::Command::new("ctr")
        .arg("--address")
        .arg(&cd.socket)
        .args(["-n", ns, "events"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let l2 = lines.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            l2.lock().unwrap().push(line);
        }
    });
    let _ = EVENTS.set(Events {
        lines,
        child: std::sync::Mutex::new(child),
    });
}

/// The exit status of task `id`'s init, from its `/tasks/exit` event.
fn exit_status(id: &str) -> i32 {
    let (cid, pid) = (
        format!("\"container_id\":\"{id}\""),
        format!("\"id\":\"{id}\""),
    );
    let line = wait_for(
        Duration::from_secs(10),
        &format!("/tasks/exit of {id}"),
        || {
            EVENTS
                .get()
                .unwrap()
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(" /tasks/exit ") && l.contains(&cid) && l.contains(&pid))
                .cloned()
        },
    );
    // exit_status is omitted from the JSON when 0.
    line.split("\"exit_status\":")
        .nth(1)
        .map(|r| {
            r.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Waits for the task to stop, then `ctr task delete` and `ctr containers delete`; returns
/// the task's exit status.
fn stop_and_delete(id: &str) -> i32 {
    let code = exit_status(id);
    wait_status(id, "STOPPED");
    ctr(&["task", "delete", id]).ok("task delete");
    ctr(&["containers", "delete", id]).ok("containers delete");
    code
}

fn assert_gone(id: &str) {
    let o = ctr(&["containers", "ls", "-q"]);
    assert!(
        !o.stdout.lines().any(|l| l == id),
        "container {id} left behind: {o:?}"
    );
    assert!(
        !env().cd.runw_root.join(&env().ns).join(id).exists(),
        "runw state of {id} left behind"
    );
}

// ---------------------------------------------------------------------------------------

fn linux_run_rm_output_and_exit_code() {
    for rt in ["runw", "runc"] {
        let id = id(&format!("linux-rm-{rt}"));
        let o = ctr_run(
            rt,
            &["--rm"],
            BUSYBOX,
            &id,
            &[
                "sh",
                "-c",
                "echo hello from linux; echo to-stderr >&2; exit 3",
            ],
        );
        o.expect_code(3, &format!("{rt}: ctr run --rm"));
        assert_eq!(o.stdout, "hello from linux\n", "{rt}: {o:?}");
        assert!(o.stderr.contains("to-stderr"), "{rt}: {o:?}");
        assert_gone(&id);
    }
}

fn linux_failing_create_shows_runw_error() {
    let id = id("linux-noexec");
    let o = ctr_run("runw", &["--rm"], BUSYBOX, &id, &["/no/such/program"]);
    assert_ne!(o.code, 0, "{o:?}");
    // The shim reports the last error of runw's JSON log: "OCI runtime create failed: <msg>"
    // (exec failures may surface at start instead, depending on the runtime).
    assert!(
        o.stderr.contains("OCI runtime") && o.stderr.contains("/no/such/program"),
        "ctr does not show runw's error: {o:?}"
    );
    assert_gone(&id);
}

fn linux_detached_lifecycle() {
    let id = id("linux-d");
    let script = "trap 'echo got TERM; exit 42' TERM; echo started; while :; do sleep 0.1; done";
    let o = ctr_run("runw", &["-d"], BUSYBOX, &id, &["sh", "-c", script]);
    o.ok("ctr run -d");
    let pid = wait_status(&id, "RUNNING");
    assert!(pid > 0);

    // task ps: the init is listed with its host pid.
    let ps = ctr(&["task", "ps", &id]);
    ps.ok("task ps");
    assert!(
        ps.stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&pid.to_string())),
        "init pid {pid} not in task ps: {ps:?}"
    );

    // task exec: output and exit code of the exec'd process.
    let ex = ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo exec says $((6*7)); exit 5",
    ]);
    ex.expect_code(5, "task exec");
    assert_eq!(ex.stdout.trim(), "exec says 42");

    // A failing exec shows runw's error; the task keeps running.
    let bad = ctr(&["task", "exec", "--exec-id", "e2", &id, "/no/such/program"]);
    assert_ne!(bad.code, 0, "{bad:?}");
    assert!(
        bad.stderr.contains("OCI runtime exec failed") && bad.stderr.contains("/no/such/program"),
        "{bad:?}"
    );
    assert!(!bad.stderr.contains('\0'), "NUL byte in the error: {bad:?}");
    assert_eq!(task_row(&id).unwrap().1, "RUNNING");

    // pause / resume.
    ctr(&["task", "pause", &id]).ok("task pause");
    wait_status(&id, "PAUSED");
    ctr(&["task", "resume", &id]).ok("task resume");
    wait_status(&id, "RUNNING");

    // metrics: from the container's cgroup, found by the shim through the init's pid.
    let m = ctr(&["task", "metrics", &id]);
    m.ok("task metrics");
    assert!(m.stdout.contains(&id), "{m:?}");
    assert!(
        m.stdout.contains("pids.current") || m.stdout.contains("memory.usage"),
        "no cgroup metrics: {m:?}"
    );

    // kill with SIGTERM (the default): the trap runs, the exit status is the script's.
    ctr(&["task", "kill", &id]).ok("task kill");
    assert_eq!(stop_and_delete(&id), 42, "exit status after SIGTERM");
    assert_gone(&id);
}

fn linux_sigkill() {
    let id = id("linux-kill");
    ctr_run("runw", &["-d"], BUSYBOX, &id, &["sleep", "1000"]).ok("ctr run -d");
    wait_status(&id, "RUNNING");
    // sleep is pid 1 of its namespace: SIGTERM without a handler does nothing...
    ctr(&["task", "kill", "-s", "SIGTERM", &id]).ok("task kill TERM");
    assert_eq!(task_row(&id).unwrap().1, "RUNNING");
    // ...SIGKILL does. A fatal signal takes effect when it is sent, so had SIGTERM ended the
    // task, its status would be 143 whatever came after: 137 proves SIGTERM was dropped,
    // with no sleep to wait for a death that should not come.
    ctr(&["task", "kill", "-s", "SIGKILL", &id]).ok("task kill KILL");
    assert_eq!(stop_and_delete(&id), 137, "exit status after SIGKILL");
    assert_gone(&id);
}

fn linux_tty() {
    let e = env();
    let id = id("linux-tty");
    let (code, out) = run_with_tty(
        std::process::Command::new("ctr")
            .arg("--address")
            .arg(&e.cd.socket)
            .args(["-n", &e.ns, "run", "-t", "--rm", "--runc-binary"])
            .arg(&e.cd.runw)
            .arg("--runc-root")
            .arg(&e.cd.runw_root)
            .args([
                BUSYBOX,
                &id,
                "sh",
                "-c",
                // (ctr -t can lose the last output of a task that exits at once, runc's too)
                "[ -t 0 ] && [ -t 1 ] && echo stdin and stdout are a tty; tty; sleep 0.3; exit 4",
            ]),
        Duration::from_secs(30),
    );
    assert_eq!(code, 4, "ctr run -t: {out}");
    assert!(out.contains("stdin and stdout are a tty"), "{out}");
    assert!(out.contains("/dev/"), "tty(1) printed no device: {out}");
    assert_gone(&id);
}

fn wasm_tty() {
    runw_integration::require_wasm();
    let e = env();
    let id = id("wasm-tty");
    let (code, out) = run_with_tty(
        std::process::Command::new("ctr")
            .arg("--address")
            .arg(&e.cd.socket)
            .args(["-n", &e.ns, "run", "-t", "--rm", "--runc-binary"])
            .arg(&e.cd.runw)
            .arg("--runc-root")
            .arg(&e.cd.runw_root)
            .args([WASM, &id, "/tty.wasm"]),
        Duration::from_secs(30),
    );
    assert_eq!(code, 7, "ctr run -t (Wasm): {out}");
    // The module writes to the container's console, whose line discipline turns \n into \r\n.
    assert!(out.contains("exiting with 7\r"), "{out:?}");
    assert_gone(&id);
}

fn wasm_run_rm_output_and_exit_code() {
    runw_integration::require_wasm();
    let id1 = id("wasm-rm");
    let o = ctr_run("runw", &["--rm"], WASM, &id1, &[]);
    o.ok("ctr run --rm (Wasm)");
    assert_eq!(o.stdout, "hello from wasm\n");
    assert_gone(&id1);

    let id2 = id("wasm-rm7");
    let o = ctr_run("runw", &["--rm"], WASM, &id2, &["/exit7.wasm"]);
    o.expect_code(7, "ctr run --rm (Wasm, proc_exit 7)");
    assert_eq!(o.stdout, "exiting with 7\n");
    assert_gone(&id2);
}

fn wasm_detached_lifecycle() {
    runw_integration::require_wasm();
    let id = id("wasm-d");
    ctr_run("runw", &["-d"], WASM, &id, &["/sleep.wasm"]).ok("ctr run -d (Wasm)");
    let pid = wait_status(&id, "RUNNING");
    let ps = ctr(&["task", "ps", &id]);
    ps.ok("task ps");
    assert!(ps.stdout.contains(&pid.to_string()), "{ps:?}");

    ctr(&["task", "pause", &id]).ok("task pause");
    wait_status(&id, "PAUSED");
    ctr(&["task", "resume", &id]).ok("task resume");
    wait_status(&id, "RUNNING");
    let m = ctr(&["task", "metrics", &id]);
    m.ok("task metrics");
    assert!(m.stdout.contains(&id), "{m:?}");

    // runw's Wasm init handles SIGTERM: 128 + 15.
    ctr(&["task", "kill", &id]).ok("task kill");
    assert_eq!(stop_and_delete(&id), 143, "exit status after SIGTERM");
    assert_gone(&id);
}

fn wasm_exec_module() {
    runw_integration::require_wasm();
    let id = id("wasm-exec");
    ctr_run("runw", &["-d"], WASM, &id, &["/sleep.wasm"]).ok("ctr run -d (Wasm)");
    wait_status(&id, "RUNNING");
    // exec of another module of the image into the running Wasm container.
    let ex = ctr(&["task", "exec", "--exec-id", "w1", &id, "/exit7.wasm"]);
    ctr(&["task", "kill", "-s", "SIGKILL", &id]).ok("task kill");
    stop_and_delete(&id);
    ex.expect_code(7, "task exec (Wasm module)");
    assert_eq!(ex.stdout, "exiting with 7\n");
}

fn wasm_sigkill() {
    runw_integration::require_wasm();
    let id = id("wasm-kill");
    ctr_run("runw", &["-d"], WASM, &id, &["/sleep.wasm"]).ok("ctr run -d (Wasm)");
    wait_status(&id, "RUNNING");
    ctr(&["task", "kill", "-s", "SIGKILL", &id]).ok("task kill");
    assert_eq!(stop_and_delete(&id), 137, "exit status after SIGKILL");
    assert_gone(&id);
}

fn wasm_broken_module_shows_runw_error() {
    runw_integration::require_wasm();
    let id = id("wasm-broken");
    let o = ctr_run("runw", &["--rm"], WASM, &id, &["/broken.wasm"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains("OCI runtime create failed")
            && o.stderr.contains("wasm module /broken.wasm is invalid"),
        "ctr does not show runw's error: {o:?}"
    );
    assert_gone(&id);
}

/// The Python `wasi:http/proxy` handler under the stock shim, in the host's network
/// namespace: real HTTP requests and their responses, the container's output, then SIGTERM.
fn wasm_http_handler() {
    runw_integration::require_wasm();
    let id = id("wasm-http");
    let addr = free_local_addr();
    let log = env().cd.dir.path().join(format!("{id}.log"));
    ctr_run(
        "runw",
        &[
            "-d",
            "--net-host",
            "--log-uri",
            &format!("file://{}", log.display()),
            "--env",
            &format!("WASMTIME_HTTP_PROXY_SOCKET_ADDR={addr}"),
        ],
        HTTP,
        &id,
        &[],
    )
    .ok("ctr run -d (HTTP handler)");
    wait_status(&id, "RUNNING");

    // The first create of the image compiles the component (unless cached): be patient.
    let r = get_when_up(addr, "/echo/ctr?q=1", Duration::from_secs(120));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.starts_with("method: GET\npath: /echo/ctr?q=1\n"),
        "{r:?}"
    );
    let r = request(
        addr,
        "POST",
        "/echo/post",
        &[("x-runw-test", "from ctr")],
        b"hello handler",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.starts_with("method: POST\npath: /echo/post\n")
            && r.body.contains("\nheader: x-runw-test: from ctr\n")
            && r.body.ends_with("\nbody: hello handler\n"),
        "{r:?}"
    );
    let r = request(addr, "GET", "/status/418", &[], b"").unwrap();
    assert_eq!((r.status, r.body.as_str()), (418, "status 418\n"));

    // The handler's stdout and runw's stderr line, through the shim's log file.
    wait_for(Duration::from_secs(10), "the container's output", || {
        let out = std::fs::read_to_string(&log).unwrap_or_default();
        [
            format!("runw: serving HTTP on {addr}"),
            "python handled GET /echo/ctr?q=1".into(),
            "python handled POST /echo/post".into(),
            "python handled GET /status/418".into(),
        ]
        .iter()
        .all(|l| out.lines().any(|o| o == l))
        .then_some(())
    });

    // SIGTERM (ctr's default): the server stops accepting and exits 0.
    ctr(&["task", "kill", &id]).ok("task kill");
    assert_eq!(stop_and_delete(&id), 0, "exit status after SIGTERM");
    assert!(refused(addr), "{addr} still accepts connections");
    assert_gone(&id);
}

// ---------------------------------------------------------------------------------------

fn setup() {
    let cd = Containerd::start("ctr");
    let ns = format!("runw-it-{}", std::process::id());
    let tmp = cd.dir.path().to_owned();
    let [bb, w, _] = image::write_test_archives(&tmp);
    cd.import(&ns, &bb);
    cd.import(&ns, &w);
    cd.import(&ns, &image::write_http_archive(&tmp));
    start_events(&cd, &ns);
    let _ = ENV.set(Env { cd, ns });
}

fn main() {
    let tests: &[runw_integration::Test] = &[
        (
            "linux_run_rm_output_and_exit_code",
            linux_run_rm_output_and_exit_code,
        ),
        (
            "linux_failing_create_shows_runw_error",
            linux_failing_create_shows_runw_error,
        ),
        ("linux_detached_lifecycle", linux_detached_lifecycle),
        ("linux_sigkill", linux_sigkill),
        ("linux_tty", linux_tty),
        (
            "wasm_run_rm_output_and_exit_code",
            wasm_run_rm_output_and_exit_code,
        ),
        ("wasm_tty", wasm_tty),
        ("wasm_detached_lifecycle", wasm_detached_lifecycle),
        ("wasm_exec_module", wasm_exec_module),
        ("wasm_sigkill", wasm_sigkill),
        (
            "wasm_broken_module_shows_runw_error",
            wasm_broken_module_shows_runw_error,
        ),
        ("wasm_http_handler", wasm_http_handler),
    ];
    runw_integration::run_tests(tests, setup, || {
        let e = env();
        if let Some(ev) = EVENTS.get() {
            let mut c = ev.child.lock().unwrap();
            let _ = c.kill();
            let _ = c.wait();
        }
        let mut leaks = e.cd.stop(&[&e.ns]);
        let dir = e.cd.dir.path().to_owned();
        let m = runw_integration::mounts_under(&dir);
        if !m.is_empty() {
            leaks.push(format!("mounts left under {}: {m:?}", dir.display()));
        }
        if !leaks.is_empty() {
            eprintln!("--- containerd log ---\n{}", e.cd.log());
        } else {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                eprintln!("cannot remove {}: {e}", dir.display());
            }
        }
        leaks
    });
}
