//! Wasm containers end to end: real containers through the built runw binary (run as root),
//! with modules built at test time from WAT and from C (clang + wasi-libc).

mod common;
mod wasm_common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use wasm_common::*;

const C_HELLO: &str = r#"
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    printf("hello from C\n");
    for (int i = 0; i < argc; i++) printf("arg[%d]=%s\n", i, argv[i]);
    const char *g = getenv("GREETING");
    printf("GREETING=%s\n", g ? g : "(unset)");
    const char *r = getenv("RUNW_TEST_HOST_ONLY");
    printf("HOST_ONLY=%s\n", r ? r : "(unset)");
    return argc > 2 ? atoi(argv[2]) : 0;
}
"#;

/// Reads a file from the rootfs and writes one under /out.
const C_FILES: &str = r#"
#include <stdio.h>
#include <string.h>
#include <errno.h>
int main(void) {
    char buf[64] = {0};
    FILE *f = fopen("/etc/msg", "r");
    if (!f || !fgets(buf, sizeof buf, f)) { printf("cannot read /etc/msg: %s\n", strerror(errno)); return 2; }
    printf("read: %s", buf);
    FILE *o = fopen("/out/result.txt", "w");
    if (!o) { printf("cannot write /out/result.txt: %s\n", strerror(errno)); return 1; }
    fputs("written by wasm\n", o);
    fclose(o);
    printf("wrote /out/result.txt\n");
    return 0;
}
"#;

const C_SLEEPER: &str = r#"
#include <stdio.h>
#include <unistd.h>
int main(void) {
    printf("sleeping\n");
    fflush(stdout);
    sleep(60);
    printf("woke up\n");
    return 0;
}
"#;

fn wasm_bundle(id: &str, module_path: &str, module: &[u8]) -> Bundle {
    let bundle = Bundle::new(id, &[module_path]);
    bundle.add(module_path, module);
    bundle
}

#[test]
fn wat_hello_world_runs_without_annotation() {
    let runw = Runw::new();
    let id = unique_id("hello");
    let bundle = wasm_bundle(
        &id,
        "/app/hello.wasm",
        &wat(&wat_hello("hello from wasm\n")),
    );
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(
        (code, out.as_str()),
        (0, "hello from wasm\n"),
        "stderr: {err}"
    );
    runw.assert_root_empty();
    assert_no_cgroup(&id);
}

#[test]
fn wat_text_module_runs_with_annotation() {
    let runw = Runw::new();
    let id = unique_id("text");
    let mut bundle = Bundle::new(&id, &["hello.wat"]);
    bundle.add("/app/hello.wat", wat_hello("hello from text\n").as_bytes());
    bundle
        .set("/process/cwd", json!("/app"))
        .annotate("run.oci.handler", "wasm");
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(
        (code, out.as_str()),
        (0, "hello from text\n"),
        "stderr: {err}"
    );
}

#[test]
fn c_module_gets_args_env_and_exit_code() {
    let runw = Runw::new();
    let id = unique_id("args");
    let module = c_module(C_HELLO);
    let mut bundle = Bundle::new(&id, &["hello.wasm", "two words", "7"]);
    bundle.add("/app/hello.wasm", &module);
    bundle
        .set("/process/cwd", json!("/app"))
        .push_env("GREETING=hi there");
    let mut cmd = runw.command(&["run", "--bundle", bundle.dir_str(), &id]);
    // runw's own environment must not leak into the module.
    cmd.env("RUNW_TEST_HOST_ONLY", "leak");
    let out = cmd.output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(7), "stderr: {}", stderr(&out));
    assert!(text.starts_with("hello from C\n"), "{text}");
    assert!(text.contains("arg[0]=hello.wasm\n"), "{text}");
    assert!(text.contains("arg[1]=two words\n"), "{text}");
    assert!(text.contains("GREETING=hi there\n"), "{text}");
    assert!(text.contains("HOST_ONLY=(unset)\n"), "{text}");
}

#[test]
fn exit_codes_follow_proc_exit_and_return() {
    let runw = Runw::new();
    for (module, want) in [
        (wat_exit(42), 42),
        (wat_exit(0), 0),
        (r#"(module (func (export "_start")))"#.to_string(), 0),
    ] {
        let id = unique_id("exit");
        let bundle = wasm_bundle(&id, "/app/m.wasm", &wat(&module));
        let (code, _, err) = runw.run_bundle(&bundle, &id);
        assert_eq!(code, want, "{module}: {err}");
    }
}

#[test]
fn trap_exits_134_with_wasm_backtrace() {
    let runw = Runw::new();
    let id = unique_id("trap");
    // $deep is called through a function pointer, which an ahead-of-time compiler (WasmEdge's
    // LLVM) cannot inline into its caller: a backtrace of optimised native code names the
    // functions that kept their own frames.
    let module = r#"(module
        (type $void (func))
        (table 1 funcref)
        (elem (i32.const 0) $deep)
        (func $deep unreachable)
        (func $middle (call_indirect (type $void) (i32.const 0)))
        (func (export "_start") call $middle))"#;
    let bundle = wasm_bundle(&id, "/app/trap.wasm", &wat(module));
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(code, 134, "{err}");
    // The engine's own log (WasmEdge prints `[error] ...` there by default) never reaches
    // the container's stdout, which belongs to the workload.
    assert_eq!(out, "", "{err}");
    assert!(err.contains("wasm module /app/trap.wasm trapped"), "{err}");
    assert!(err.contains("unreachable"), "{err}");
    assert!(err.contains("wasm backtrace"), "{err}");
    assert!(
        err.contains("deep"),
        "backtrace must name the function: {err}"
    );
}

#[test]
fn reads_the_rootfs_and_writes_a_bind_mounted_host_dir() {
    let runw = Runw::new();
    let id = unique_id("files");
    let host = tempfile::tempdir().unwrap();
    let mut bundle = Bundle::new(&id, &["/app/files.wasm"]);
    bundle.add("/app/files.wasm", &c_module(C_FILES));
    bundle.bind(host.path(), "/out", false);
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("read: from the rootfs\n"), "{out}");
    assert_eq!(
        std::fs::read_to_string(host.path().join("result.txt")).unwrap(),
        "written by wasm\n"
    );
}

#[test]
fn read_only_mount_refuses_writes() {
    let runw = Runw::new();
    let id = unique_id("ro");
    let host = tempfile::tempdir().unwrap();
    let mut bundle = Bundle::new(&id, &["/app/files.wasm"]);
    bundle.add("/app/files.wasm", &c_module(C_FILES));
    bundle.bind(host.path(), "/out", true);
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(code, 1, "{out}{err}");
    // The kernel refuses (EROFS); wasmtime-wasi reports it to the module as an I/O error.
    assert!(out.contains("cannot write /out/result.txt: "), "{out}");
    assert!(!out.contains("wrote /out/result.txt"), "{out}");
    assert!(!host.path().join("result.txt").exists());
}

#[test]
fn memory_grow_fails_past_the_memory_limit() {
    let runw = Runw::new();
    let id = unique_id("mem");
    // Grows by 2048 pages (128 MiB) with a 64 MiB limit: memory.grow returns -1, the module
    // exits 10 + result = 9. Without the engine limit it would grow (exit 11) or be OOM-killed.
    let module = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "_start")
          (call $exit (i32.add (i32.const 10) (memory.grow (i32.const 2048))))))"#;
    let mut bundle = wasm_bundle(&id, "/app/grow.wasm", &wat(module));
    bundle.set(
        "/linux/resources",
        json!({"memory": {"limit": 64 * 1024 * 1024}}),
    );
    let (code, _, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(code, 9, "{err}");
    // And within the limit it grows.
    let small = module.replace("2048", "16");
    let id = unique_id("mem");
    let mut bundle = wasm_bundle(&id, "/app/grow.wasm", &wat(&small));
    bundle.set(
        "/linux/resources",
        json!({"memory": {"limit": 64 * 1024 * 1024}}),
    );
    let (code, _, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(code, 11, "{err}");
}

/// Runaway recursion traps (exit 134, "call stack exhausted") on every engine: wasmtime has a
/// stack limit; WasmEdge has none, and grew to the OOM killer (or died of SIGSEGV in AOT code)
/// before runw's call-depth guard. A deep recursion within the limit still runs.
#[test]
fn runaway_recursion_traps_and_deep_recursion_runs() {
    let runw = Runw::new();
    let id = unique_id("recurse");
    let module = r#"(module
        (func $r call $r)
        (func (export "_start") call $r))"#;
    let mut bundle = wasm_bundle(&id, "/app/r.wasm", &wat(module));
    // Without a limit of its own, the engine would meet the cgroup's OOM killer (137).
    bundle.set(
        "/linux/resources",
        json!({"memory": {"limit": 512 * 1024 * 1024}}),
    );
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    assert_eq!((code, out.as_str()), (134, ""), "{err}");
    assert!(err.contains("wasm module /app/r.wasm trapped"), "{err}");
    assert!(err.contains("call stack exhausted"), "{err}");

    // 10,000 nested calls, then exit 7.
    let id = unique_id("recurse");
    let module = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func $down (param i32)
          (if (local.get 0) (then (call $down (i32.sub (local.get 0) (i32.const 1))))))
        (func (export "_start") (call $down (i32.const 10000)) (call $exit (i32.const 7))))"#;
    let bundle = wasm_bundle(&id, "/app/deep.wasm", &wat(module));
    let (code, _, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(code, 7, "{err}");
}

/// A module whose initial memory is above `linux.resources.memory.limit` fails with exit 1 and
/// the reason on every engine (WasmEdge shrank it to the limit, logged, and ran it).
#[test]
fn initial_memory_above_the_memory_limit_fails() {
    let runw = Runw::new();
    let id = unique_id("bigmem");
    let module = r#"(module
        (memory 4000)
        (func (export "_start")))"#;
    let mut bundle = wasm_bundle(&id, "/app/big.wasm", &wat(module));
    bundle.set(
        "/linux/resources",
        json!({"memory": {"limit": 64 * 1024 * 1024}}),
    );
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("cannot run wasm module /app/big.wasm: its initial memory of 262144000 bytes exceeds the container's memory limit of 67108864 bytes"),
        "{err}"
    );
    runw.assert_root_empty();
    assert_no_cgroup(&id);
}

#[test]
fn component_runs_as_wasi_cli_command() {
    let runw = Runw::new();
    let core = c_module(C_HELLO);
    let component = wit_component::ComponentEncoder::default()
        .module(&core)
        .unwrap()
        .adapter(
            "wasi_snapshot_preview1",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .unwrap()
        .validate(true)
        .encode()
        .unwrap();
    assert_eq!(&component[4..8], &[0x0d, 0, 1, 0], "not a component");
    let id = unique_id("comp");
    let mut bundle = Bundle::new(&id, &["/app/hello.wasm", "comp"]);
    bundle.add("/app/hello.wasm", &component);
    bundle.push_env("GREETING=component");
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    if !engine_runs_components() {
        assert_eq!((code, out.as_str()), (1, ""), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("/app/hello.wasm is invalid: it is a component, and WasmEdge runs core modules only"),
            "{err}"
        );
        runw.assert_root_empty();
        assert_no_cgroup(&id);
        return;
    }
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("hello from C\narg[0]=/app/hello.wasm\narg[1]=comp\n"),
        "{out}"
    );
    assert!(out.contains("GREETING=component\n"), "{out}");
    // A failing command: main returns 5, which WASI 0.2 reports as exit(err) = 1.
    let id = unique_id("comp");
    let bundle = Bundle::new(&id, &["/app/hello.wasm", "x", "5"]);
    bundle.add("/app/hello.wasm", &component);
    let (code, _, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(code, 1, "{err}");
}

/// Starts `runw run` in the background for a sleeping module and waits until it sleeps.
fn start_sleeper(runw: &Runw, id: &str) -> (std::process::Child, Bundle) {
    let bundle = wasm_bundle(id, "/app/sleep.wasm", &c_module(C_SLEEPER));
    let mut child = runw
        .command(&["run", "--bundle", bundle.dir_str(), id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 9];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert_eq!(&first, b"sleeping\n");
    (child, bundle)
}

fn wait_child(child: &mut std::process::Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("runw run did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stop_signals_and_sigkill_end_a_wasm_container() {
    let runw = Runw::new();
    for (signal, want) in [
        ("TERM", 143),
        ("INT", 130),
        ("HUP", 129),
        ("QUIT", 131),
        ("KILL", 137),
    ] {
        let id = unique_id("sig");
        let (mut child, _bundle) = start_sleeper(&runw, &id);
        let out = runw.run(&["kill", &id, signal]);
        assert!(out.status.success(), "kill: {}", stderr(&out));
        assert_eq!(wait_child(&mut child), want, "SIG{signal}");
        runw.assert_root_empty();
        assert_no_cgroup(&id);
    }
}

#[test]
fn sleeping_module_lifecycle_pause_exec_ps() {
    let runw = Runw::new();
    let id = unique_id("life");
    let mut bundle = wasm_bundle(&id, "/app/sleep.wasm", &c_module(C_SLEEPER));
    bundle.add("/app/hello.wasm", &wat(&wat_hello("exec'd wasm\n")));
    bundle.annotate("run.oci.handler", "wasm");
    // The container's init keeps create's stdio: send it to a file, not a pipe we wait on.
    let log = bundle.dir.path().join("container.out");
    let status = runw.create_detached(&bundle, &id, &log);
    assert!(
        status.success(),
        "create: {}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(runw.status(&id), "created");
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(runw.root.path().join(&id).join("runw.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["workload"], format!("wasm:{}", engine()));
    let pid = runw.state(&id)["pid"].as_i64().unwrap();

    // The init never execs: it must be single-threaded (nothing cloned with locks held) and
    // its /proc/<pid>/exe (runw) must not be writable (CVE-2019-5736).
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    assert_eq!(threads, 1, "the wasm init has {threads} threads");
    let exe = format!("/proc/{pid}/exe");
    let err = std::fs::OpenOptions::new()
        .write(true)
        .open(&exe)
        .unwrap_err();
    // ETXTBSY while the binary runs (checked first by the kernel), EROFS ever after: the
    // binary is a read-only bind mount.
    assert!(
        [Some(libc::EROFS), Some(libc::ETXTBSY)].contains(&err.raw_os_error()),
        "{err}"
    );
    let path = std::ffi::CString::new(exe).unwrap();
    // SAFETY: statvfs fills the zeroed struct we pass.
    let mut fs: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut fs) }, 0);
    assert_ne!(fs.f_flag & libc::ST_RDONLY, 0, "runw's binary is writable");

    let out = runw.run(&["start", &id]);
    assert!(out.status.success(), "start: {}", stderr(&out));
    runw.wait_status(&id, "running");
    let threads = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    // Helper threads of start-up may take a moment to exit; wait (bounded) for one.
    common::wait_for(Duration::from_secs(5), || threads() == 1);
    assert_eq!(
        threads(),
        1,
        "the running wasm init has {} threads",
        threads()
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    eprintln!("wasm init RSS: {rss_kib} KiB, threads: {}", threads());

    let out = runw.run(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pids, vec![pid], "ps: {}", stderr(&out));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep.wasm");

    assert!(runw.run(&["pause", &id]).status.success());
    assert_eq!(runw.status(&id), "paused");
    assert!(runw.run(&["resume", &id]).status.success());
    assert_eq!(runw.status(&id), "running");

    // exec: a Wasm module (same detection) and a Linux binary of the rootfs.
    let out = runw.run(&["exec", &id, "/app/hello.wasm"]);
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "exec'd wasm\n"),
        "{}",
        stderr(&out)
    );
    let out = runw.run(&["exec", &id, "cat", "/etc/msg"]);
    assert_eq!(stdout(&out), "from the rootfs\n", "{}", stderr(&out));

    // The thaw did not end the module's sleep(60) (WasmEdge's poll_oneoff returned EINTR to
    // it): still running, and it never printed "woke up".
    assert_eq!(runw.status(&id), "running");
    let output = std::fs::read_to_string(&log).unwrap();
    assert!(!output.contains("woke up"), "{output}");

    assert!(runw.run(&["kill", &id, "TERM"]).status.success());
    runw.delete_stopped(&id);
}

#[test]
fn annotation_matrix() {
    let runw = Runw::new();
    let hello = wat(&wat_hello("wasm\n"));
    let handler = "run.oci.handler";
    let variant = "module.wasm.image/variant";
    let sandbox = "io.kubernetes.cri.container-type";
    // (annotations, entrypoint is Wasm, stdout or a fragment of the create error)
    type Case<'a> = (Vec<(&'a str, &'a str)>, bool, Result<&'a str, &'a str>);
    let cases: Vec<Case> = vec![
        (vec![(handler, "wasm")], true, Ok("wasm\n")),
        (
            vec![(handler, "wasm")],
            false,
            Err("is not a WebAssembly module"),
        ),
        (vec![(handler, "wasm-smart")], true, Ok("wasm\n")),
        // A pod's Linux sidecar with the pod-wide annotation runs as Linux.
        (vec![(handler, "wasm-smart")], false, Ok("linux\n")),
        (vec![(variant, "compat")], true, Ok("wasm\n")),
        (
            vec![(variant, "compat")],
            false,
            Err("is not a WebAssembly module"),
        ),
        (vec![(variant, "compat-smart")], true, Ok("wasm\n")),
        (vec![(variant, "compat-smart")], false, Ok("linux\n")),
        (vec![], true, Ok("wasm\n")),
        (vec![], false, Ok("linux\n")),
        // The sandbox (pause) container is always Linux, even with a Wasm annotation.
        (
            vec![(handler, "wasm"), (sandbox, "sandbox")],
            false,
            Ok("linux\n"),
        ),
        (
            vec![
                (variant, "compat"),
                ("io.kubernetes.cri-o.ContainerType", "sandbox"),
            ],
            false,
            Ok("linux\n"),
        ),
    ];
    for (annotations, is_wasm, want) in cases {
        let id = unique_id("matrix");
        let mut bundle = if is_wasm {
            wasm_bundle(&id, "/app/m.wasm", &hello)
        } else {
            Bundle::new(&id, &["echo", "linux"])
        };
        for (k, v) in &annotations {
            bundle.annotate(k, v);
        }
        let (code, out, err) = runw.run_bundle(&bundle, &id);
        match want {
            Ok(text) => assert_eq!((code, out.as_str()), (0, text), "{annotations:?}: {err}"),
            Err(fragment) => {
                assert_ne!(code, 0, "{annotations:?}");
                assert!(err.contains(fragment), "{annotations:?}: {err}");
                runw.assert_root_empty();
                assert_no_cgroup(&id);
            }
        }
    }
}

/// A bundle whose entrypoint is a Wasm module printing "wasm", executable, so that the Linux
/// path gets as far as execve.
fn executable_wasm_bundle(id: &str) -> Bundle {
    let mut bundle = wasm_bundle(id, "/app/m.wasm", &wat(&wat_hello("wasm\n")));
    bundle.set("/process/args", json!(["/app/m.wasm"]));
    std::fs::set_permissions(
        bundle.rootfs().join("app/m.wasm"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    bundle
}

#[test]
fn autodetection_can_be_turned_off() {
    let mut runw = Runw::new();
    runw.extra = vec!["--wasm-autodetect=false".into()];
    let id = unique_id("noauto");
    let bundle = executable_wasm_bundle(&id);
    // The Linux path: execve refuses the module ("exec format error", as runc says).
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    assert_eq!(out, "", "ran as wasm or through a shell: {err}");
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("exec format error"), "{err}");
    // The environment variable does the same for callers that cannot pass flags.
    let runw = Runw::new();
    let id = unique_id("noauto");
    let bundle = executable_wasm_bundle(&id);
    let out = runw
        .command(&["run", "--bundle", bundle.dir_str(), &id])
        .env("RUNW_WASM_AUTODETECT", "false")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "", "{}", stderr(&out));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("exec format error"),
        "{}",
        stderr(&out)
    );
    let _ = runw.run(&["delete", "--force", &id]);
}

#[test]
fn create_errors_name_the_module_and_leave_nothing_behind() {
    let runw = Runw::new();
    let unsatisfiable = wat(r#"(module
        (import "wasi:foo" "bar" (func))
        (func (export "_start")))"#);
    let invalid = b"\0asm\x01\0\0\0\x01\xffgarbage".to_vec();
    let cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        (
            "/app/missing.wasm",
            None,
            "wasm module /app/missing.wasm not found in the container",
        ),
        (
            "/bin/busybox",
            None,
            "/bin/busybox is not a WebAssembly module",
        ),
        (
            "/app/bad.wasm",
            Some(invalid),
            "wasm module /app/bad.wasm is invalid: ",
        ),
        (
            "/app/bad.wat",
            Some(b"(module (func (ret)))".to_vec()),
            "wasm module /app/bad.wat is invalid: ",
        ),
        (
            "/app/imports.wasm",
            Some(unsatisfiable),
            "wasm module /app/imports.wasm imports wasi:foo::bar which runw cannot provide",
        ),
    ];
    for (path, content, message) in cases {
        let id = unique_id("err");
        let mut bundle = Bundle::new(&id, &[path]);
        if let Some(content) = content {
            bundle.add(path, &content);
        }
        bundle.annotate("run.oci.handler", "wasm");
        let out = runw.run(&["create", "--bundle", bundle.dir_str(), &id]);
        assert_eq!(out.status.code(), Some(1), "{path}");
        assert!(stderr(&out).contains(message), "{path}: {}", stderr(&out));
        runw.assert_root_empty();
        assert_no_cgroup(&id);
    }
}

#[test]
fn compiled_code_cache_is_used_and_damaged_entries_rebuilt() {
    let runw = Runw::new();
    let module = wat(&wat_hello("cached\n"));
    let run = || {
        let id = unique_id("cache");
        let bundle = wasm_bundle(&id, "/app/m.wasm", &module);
        runw.run_bundle(&bundle, &id)
    };
    assert_eq!(run().1, "cached\n");
    // The entries and the host key of their MACs (`.key`).
    let entries: Vec<_> = std::fs::read_dir(runw.cache.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.ends_with(".key"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.extension().unwrap(), "cwasm");
    let good = std::fs::read(entry).unwrap();
    // Damage the entry in place of a crash: truncated, then garbage.
    for damaged in [good[..good.len() / 2].to_vec(), vec![0u8; good.len()]] {
        std::fs::write(entry, damaged).unwrap();
        assert_eq!(run().1, "cached\n");
        assert_eq!(std::fs::read(entry).unwrap(), good, "entry not rebuilt");
    }
    // --no-wasm-cache compiles without touching the cache.
    std::fs::remove_file(entry).unwrap();
    let id = unique_id("nocache");
    let bundle = wasm_bundle(&id, "/app/m.wasm", &module);
    let out = runw.run(&["--no-wasm-cache", "run", "--bundle", bundle.dir_str(), &id]);
    assert_eq!(stdout(&out), "cached\n", "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(runw.cache.path()).unwrap().count(),
        1,
        ".key only"
    );
}

#[test]
fn concurrent_creates_of_one_module_share_the_cache() {
    let runw = Runw::new();
    let module = wat(&wat_hello("together\n"));
    let bundles: Vec<(String, Bundle)> = (0..4)
        .map(|_| {
            let id = unique_id("conc");
            let bundle = wasm_bundle(&id, "/app/m.wasm", &module);
            (id, bundle)
        })
        .collect();
    let outputs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = bundles
            .iter()
            .map(|(id, b)| s.spawn(|| runw.run_bundle(b, id)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (code, out, err) in outputs {
        assert_eq!((code, out.as_str()), (0, "together\n"), "{err}");
    }
    let names: Vec<_> = std::fs::read_dir(runw.cache.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != ".key")
        .collect();
    assert_eq!(names.len(), 1, "one entry, no temporary files: {names:?}");
}

#[test]
fn version_and_features_list_the_engines() {
    let out = std::process::Command::new(RUNW)
        .arg("--version")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("wasm engines: wasmtime 48."), "{text}");
    let out = std::process::Command::new(RUNW)
        .arg("features")
        .output()
        .unwrap();
    let features: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let annotations = &features["annotations"];
    assert_eq!(annotations["io.github.runw.wasm"], "true");
    assert!(annotations["io.github.runw.wasm.engines"]
        .as_str()
        .unwrap()
        .starts_with("wasmtime 48."));
    // With WasmEdge compiled in: the linked library's version, then "(aot)" or why not.
    if engines_compiled_in().contains(&"wasmedge".to_string()) {
        assert!(text.contains(", wasmedge 0.17.1 ("), "{text}");
        assert!(annotations["io.github.runw.wasm.engines"]
            .as_str()
            .unwrap()
            .contains("wasmedge 0.17.1 ("));
    }
    let unsafe_annotations = features["potentiallyUnsafeConfigAnnotations"]
        .as_array()
        .unwrap();
    for key in [
        "run.oci.handler",
        "module.wasm.image/variant",
        "io.github.runw.",
    ] {
        assert!(unsafe_annotations.contains(&json!(key)), "{key}");
    }
}

/// The engines this runw was built with (`runw --version`'s "wasm engines:" line).
fn engines_compiled_in() -> Vec<String> {
    let out = Command::new(RUNW).arg("--version").output().unwrap();
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("wasm engines: "))
        // "wasmtime 48.0.8, wasmedge 0.17.1": the names.
        .map(|l| {
            l.split(", ")
                .filter_map(|e| e.split_whitespace().next())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The engine choice reaches the container, by flag, environment and annotation: an engine
/// that is compiled in runs the module; one that is not fails `create` with one line saying
/// so, and leaves nothing.
#[test]
fn engine_choice_by_flag_environment_and_annotation() {
    let engines = engines_compiled_in();
    assert!(engines.contains(&"wasmtime".to_string()), "{engines:?}");
    for engine in ["wasmtime", "wasmedge"] {
        for how in ["flag", "environment", "annotation"] {
            let runw = Runw::new();
            let id = unique_id("engine");
            let mut bundle = wasm_bundle(&id, "/app/m.wasm", &wat(&wat_hello("chosen\n")));
            let mut cmd = runw.command(&[]);
            match how {
                "flag" => {
                    cmd.arg(format!("--wasm-engine={engine}"));
                }
                "environment" => {
                    cmd.env("RUNW_WASM_ENGINE", engine);
                }
                _ => {
                    bundle.annotate("io.github.runw.wasm.engine", engine);
                }
            }
            let out = cmd
                .args(["run", "--bundle", bundle.dir_str(), &id])
                .output()
                .unwrap();
            if engines.iter().any(|e| e == engine) {
                assert_eq!(
                    stdout(&out),
                    "chosen\n",
                    "{engine} by {how}: {}",
                    stderr(&out)
                );
                assert!(out.status.success(), "{engine} by {how}: {}", stderr(&out));
            } else {
                assert_eq!(out.status.code(), Some(1), "{engine} by {how}");
                assert_eq!(stdout(&out), "", "{engine} by {how}");
                let err = stderr(&out);
                assert_eq!(err.lines().count(), 1, "{engine} by {how}: {err}");
                assert!(
                    err.contains("not compiled into this runw"),
                    "{engine} by {how}: {err}"
                );
            }
            runw.assert_root_empty();
            assert_no_cgroup(&id);
        }
    }
}

/// `--wasm-cache-size 0` disables the cache: the module runs and nothing is written to the
/// cache directory.
#[test]
fn cache_size_zero_disables_the_cache() {
    let mut runw = Runw::new();
    let cache = runw.cache.path().to_path_buf();
    runw.extra = vec!["--wasm-cache-size".into(), "0".into()];
    let id = unique_id("nocache");
    let bundle = wasm_bundle(&id, "/app/m.wasm", &wat(&wat_hello("uncached\n")));
    let (code, out, err) = runw.run_bundle(&bundle, &id);
    assert_eq!((code, out.as_str()), (0, "uncached\n"), "{err}");
    let entries = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        entries,
        0,
        "the disabled cache wrote to {}",
        cache.display()
    );
}

/// Entrypoints runw must refuse without hanging or running anything, each with one error
/// line naming the file: a component that is not a `wasi:cli/command`, a FIFO (reading it
/// would block), a module larger than `--wasm-max-module-size` (the message gives both sizes
/// as set: it said "0 MiB" for a 1M bound).
#[test]
fn entrypoints_that_cannot_run() {
    type MakeEntrypoint = Box<dyn Fn(&Path)>;
    let mut cases: Vec<(&str, Vec<String>, MakeEntrypoint, Vec<&str>)> = vec![
        (
            "empty component",
            vec![],
            Box::new(|m: &Path| std::fs::write(m, wat("(component)")).unwrap()),
            if engine_runs_components() {
                vec!["/app/m.wasm", "wasi:cli/command"]
            } else {
                vec!["/app/m.wasm", "it is a component"]
            },
        ),
        (
            "fifo",
            vec![],
            Box::new(|m: &Path| {
                nix::unistd::mkfifo(m, nix::sys::stat::Mode::from_bits_truncate(0o755)).unwrap()
            }),
            vec!["/app/m.wasm"],
        ),
        (
            "oversized",
            vec!["--wasm-max-module-size".into(), "1M".into()],
            Box::new(|m: &Path| {
                let mut module = wat(&wat_hello("big\n"));
                module.extend(std::iter::repeat_n(0u8, 3 << 20));
                std::fs::write(m, module).unwrap()
            }),
            vec![
                "/app/m.wasm",
                "more than the 1 MiB",
                "--wasm-max-module-size",
            ],
        ),
    ];
    for (what, flags, make, needles) in cases.drain(..) {
        let mut runw = Runw::new();
        runw.extra = flags;
        let id = unique_id("refused");
        let bundle = Bundle::new(&id, &["/app/m.wasm"]);
        let module = bundle.rootfs().join("app/m.wasm");
        make(&module);
        let (code, out, err) = runw.run_bundle(&bundle, &id);
        assert_eq!((code, out.as_str()), (1, ""), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        for needle in needles {
            assert!(err.contains(needle), "{what}: {needle:?} not in {err}");
        }
        runw.assert_root_empty();
        assert_no_cgroup(&id);
    }
}
