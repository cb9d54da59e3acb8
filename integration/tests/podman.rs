//! runw as podman's OCI runtime (`podman --runtime <runw>`, conmon in between), with a
//! private storage and containers.conf. Images come from the same OCI archives as ctr's.

use runw_integration::podman::Podman;
use runw_integration::{image, wait_for};
use std::sync::OnceLock;
use std::time::Duration;

use runw_integration::image::{BUSYBOX, WASM};

static PODMAN: OnceLock<Podman> = OnceLock::new();

fn pm() -> &'static Podman {
    PODMAN.get().unwrap()
}

fn name(n: &str) -> String {
    format!("runw-it-{n}-{}", std::process::id())
}

/// podman shows runw's message (from its JSON log) as `OCI runtime error: <runw>: <msg>`.
#[track_caller]
fn assert_runw_error(o: &runw_integration::Out, msg: &str) {
    assert!(
        o.stderr.contains("OCI runtime error") && o.stderr.contains(msg),
        "podman does not show runw's error {msg:?}: {o:?}"
    );
    assert!(
        !o.stderr.contains("\"level\""),
        "raw JSON log in the error: {o:?}"
    );
}

#[track_caller]
fn assert_no_container(n: &str) {
    let o = pm().podman(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        !o.stdout.lines().any(|l| l == n),
        "container {n} left: {o:?}"
    );
}

fn linux_run_rm_output_and_exit_code() {
    let n = name("linux-rm");
    let o = pm().run(&[
        "--rm",
        "--name",
        &n,
        BUSYBOX,
        "sh",
        "-c",
        "echo hello from linux; echo to-stderr >&2; exit 3",
    ]);
    o.expect_code(3, "podman run --rm");
    assert_eq!(o.stdout, "hello from linux\n");
    assert!(o.stderr.contains("to-stderr"), "{o:?}");
    assert_no_container(&n);
}

fn linux_detached_exec_logs_stop_rm() {
    let n = name("linux-d");
    let script = "trap 'echo got TERM; exit 42' TERM; echo started; while :; do sleep 0.1; done";
    pm().run(&["-d", "--name", &n, BUSYBOX, "sh", "-c", script])
        .ok("podman run -d");
    let ex = pm().podman(&["exec", &n, "sh", "-c", "echo exec says $((6*7)); exit 5"]);
    ex.expect_code(5, "podman exec");
    assert_eq!(ex.stdout, "exec says 42\n");
    wait_for(Duration::from_secs(10), "logs", || {
        let l = pm().podman(&["logs", &n]);
        l.stdout.contains("started").then_some(())
    });
    pm().podman(&["stop", "-t", "10", &n]).ok("podman stop");
    let code = pm().podman(&["inspect", "--format", "{{.State.ExitCode}}", &n]);
    assert_eq!(code.stdout.trim(), "42", "exit code after stop: {code:?}");
    let l = pm().podman(&["logs", &n]);
    assert!(l.stdout.contains("got TERM"), "{l:?}");
    pm().podman(&["rm", &n]).ok("podman rm");
    assert_no_container(&n);
}

fn linux_network_none() {
    let dev = |net: &str| -> Vec<String> {
        let o = pm().run(&["--rm", "--network", net, BUSYBOX, "cat", "/proc/net/dev"]);
        o.ok("podman run --network");
        o.stdout
            .lines()
            .filter_map(|l| l.split_once(':').map(|(i, _)| i.trim().to_string()))
            .collect()
    };
    assert_eq!(dev("none"), vec!["lo".to_string()], "--network none");
    assert!(
        dev("host").len() > 1,
        "--network host sees the host's interfaces"
    );
}

fn linux_failing_create_shows_runw_error() {
    let n = name("linux-noexec");
    let o = pm().run(&["--rm", "--name", &n, BUSYBOX, "/no/such/program"]);
    assert!(o.code == 126 || o.code == 127, "{o:?}");
    assert_runw_error(&o, "/no/such/program");
    assert_no_container(&n);
}

fn wasm_run_rm_autodetected() {
    runw_integration::require_wasm();
    // podman does not copy image annotations to the spec: the \0asm magic decides.
    let o = pm().run(&["--rm", WASM]);
    o.ok("podman run --rm (Wasm)");
    assert_eq!(o.stdout, "hello from wasm\n");
}

fn wasm_annotation_handler_and_exit_code() {
    runw_integration::require_wasm();
    let o = pm().run(&[
        "--rm",
        "--annotation",
        "run.oci.handler=wasm",
        "--entrypoint",
        "/exit7.wasm",
        WASM,
    ]);
    o.expect_code(7, "podman run --annotation run.oci.handler=wasm");
    assert_eq!(o.stdout, "exiting with 7\n");
}

fn wasm_detached_logs_stop_rm() {
    runw_integration::require_wasm();
    let n = name("wasm-d");
    pm().run(&["-d", "--name", &n, "--entrypoint", "/sleep.wasm", WASM])
        .ok("podman run -d (Wasm)");
    wait_for(Duration::from_secs(10), "logs", || {
        let l = pm().podman(&["logs", &n]);
        (l.stdout == "sleeping\n").then_some(())
    });
    let st = pm().podman(&["inspect", "--format", "{{.State.Status}}", &n]);
    assert_eq!(st.stdout.trim(), "running");
    pm().podman(&["stop", "-t", "10", &n]).ok("podman stop");
    let code = pm().podman(&["inspect", "--format", "{{.State.ExitCode}}", &n]);
    assert_eq!(
        code.stdout.trim(),
        "143",
        "exit code after SIGTERM: {code:?}"
    );
    pm().podman(&["rm", &n]).ok("podman rm");
    assert_no_container(&n);
}

fn wasm_failing_create_shows_runw_error() {
    runw_integration::require_wasm();
    let n = name("wasm-notwasm");
    let o = pm().run(&[
        "--rm",
        "--name",
        &n,
        "--annotation",
        "run.oci.handler=wasm",
        "--entrypoint",
        "/bin/busybox",
        BUSYBOX,
    ]);
    assert_ne!(o.code, 0, "{o:?}");
    assert_runw_error(&o, "/bin/busybox is not a WebAssembly module");
    assert_no_container(&n);
    let n = name("wasm-broken");
    let o = pm().run(&["--rm", "--name", &n, "--entrypoint", "/broken.wasm", WASM]);
    assert_ne!(o.code, 0, "{o:?}");
    assert_runw_error(&o, "wasm module /broken.wasm is invalid");
    assert_no_container(&n);
}

fn load(p: &Podman, archive: &std::path::Path, name: &str) {
    let o = p.podman(&["load", "-i", archive.to_str().unwrap()]);
    o.ok("podman load");
    assert!(
        o.stdout.contains(name),
        "podman load named the image otherwise: {o:?}"
    );
}

fn setup() {
    let p = Podman::new();
    let [bb, w, _] = image::write_test_archives(p.dir.path());
    load(&p, &bb, BUSYBOX);
    load(&p, &w, WASM);
    let _ = PODMAN.set(p);
}

fn main() {
    let tests: &[runw_integration::Test] = &[
        (
            "linux_run_rm_output_and_exit_code",
            linux_run_rm_output_and_exit_code,
        ),
        (
            "linux_detached_exec_logs_stop_rm",
            linux_detached_exec_logs_stop_rm,
        ),
        ("linux_network_none", linux_network_none),
        (
            "linux_failing_create_shows_runw_error",
            linux_failing_create_shows_runw_error,
        ),
        ("wasm_run_rm_autodetected", wasm_run_rm_autodetected),
        (
            "wasm_annotation_handler_and_exit_code",
            wasm_annotation_handler_and_exit_code,
        ),
        ("wasm_detached_logs_stop_rm", wasm_detached_logs_stop_rm),
        (
            "wasm_failing_create_shows_runw_error",
            wasm_failing_create_shows_runw_error,
        ),
    ];
    runw_integration::run_tests(tests, setup, || {
        let leaks = pm().teardown();
        if leaks.is_empty() {
            if let Err(e) = std::fs::remove_dir_all(pm().dir.path()) {
                eprintln!("cannot remove {}: {e}", pm().dir.path().display());
            }
        }
        leaks
    });
}
