//! Wasm HTTP handlers (`wasi:http/proxy` components) served by runw, end to end: components
//! built with componentize-py and ComponentizeJS (tests/wasm_common/http.rs), real containers
//! through the built runw binary (as root), real HTTP requests from the test.
//!
//! The bundles have no network namespace, so the server listens on the host's loopback at a
//! free port given through `WASMTIME_HTTP_PROXY_SOCKET_ADDR`.

mod common;
mod wasm_common;

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use wasm_common::http::*;
use wasm_common::*;

const MODULE: &str = "/app/handler.wasm";

/// A bundle serving `component` on 127.0.0.1:`port`, in the host's network namespace.
fn http_bundle(id: &str, component: &[u8], port: u16) -> Bundle {
    let mut bundle = Bundle::new(id, &[MODULE]);
    bundle.add(MODULE, component);
    let namespaces: Vec<_> = bundle.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ns| ns["type"] != "network")
        .cloned()
        .collect();
    bundle
        .set("/linux/namespaces", json!(namespaces))
        .push_env(&format!("WASMTIME_HTTP_PROXY_SOCKET_ADDR=127.0.0.1:{port}"));
    bundle
}

fn log_path(bundle: &Bundle) -> PathBuf {
    bundle.dir.path().join("container.out")
}

fn log(bundle: &Bundle) -> String {
    std::fs::read_to_string(log_path(bundle)).unwrap_or_default()
}

/// `runw run -d`, then waits until the server accepts connections.
fn serve(runw: &Runw, bundle: &Bundle, id: &str, port: u16) {
    let status = runw.run_detached(bundle, id, &log_path(bundle));
    assert!(status.success(), "run -d: {}", log(bundle));
    wait_listening(port, &log_path(bundle));
}

/// A foreground `runw run` of `bundle`, its output (and the container's) in the bundle's log.
fn run_foreground(runw: &Runw, bundle: &Bundle, id: &str) -> std::process::Child {
    let file = std::fs::File::create(log_path(bundle)).unwrap();
    runw.command(&["run", "--bundle", bundle.dir_str(), id])
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap()
}

/// Waits (bounded) for a foreground `runw run` to exit after `what`.
fn wait_exit(child: &mut std::process::Child, bundle: &Bundle, what: &str) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("runw run did not exit after {what}:\n{}", log(bundle));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A GET of `path` (an `/echo` route) that must get no answer for `ms` milliseconds, until
/// `release` (named `what`) has run, and then be answered with the echo.
fn held_until(port: u16, path: &'static str, ms: u64, what: &str, release: impl FnOnce()) {
    let request = std::thread::spawn(move || get(port, path));
    std::thread::sleep(Duration::from_millis(ms));
    assert!(
        !request.is_finished(),
        "{path} was answered before {what}: {:?}",
        request.join()
    );
    release();
    let reply = request.join().unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.contains(&format!("path: {path}")), "{reply:?}");
}

/// Waits until the container's output contains `text`.
fn wait_log(bundle: &Bundle, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log(bundle).contains(text) {
        assert!(
            Instant::now() < deadline,
            "{text:?} never appeared in the container's output:\n{}",
            log(bundle)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn componentize_py_builds_an_incoming_handler() {
    let component = python_handler();
    let exports = component_exports(&component);
    assert!(
        exports
            .iter()
            .any(|e| e.starts_with("wasi:http/incoming-handler@0.2.")),
        "componentize-py's component exports {exports:?}"
    );
}

#[test]
fn componentize_js_builds_an_incoming_handler() {
    let component = js_handler();
    let exports = component_exports(&component);
    assert!(
        exports
            .iter()
            .any(|e| e.starts_with("wasi:http/incoming-handler@0.2.")),
        "ComponentizeJS's component exports {exports:?}"
    );
}

/// The interfaces a component's world exports, as wit-component decodes them.
fn component_exports(component: &[u8]) -> Vec<String> {
    let decoded = wit_component::decode(component).expect("not a component wit-component reads");
    let wit_component::DecodedWasm::Component(resolve, world) = decoded else {
        panic!("a WIT package, not a component");
    };
    resolve.worlds[world]
        .exports
        .keys()
        .map(|key| resolve.name_world_key(key))
        .collect()
}

/// The Python handler under `runw run -d`: echo, statuses, a trap (500, then still serving),
/// concurrent requests, outgoing HTTP, stdout, and SIGTERM with a request in flight.
#[test]
fn python_handler_serves_requests() {
    let runw = Runw::new();
    let id = unique_id("http-py");
    let port = free_port();
    let bundle = http_bundle(&id, &python_handler(), port);
    serve(&runw, &bundle, &id, port);
    assert_eq!(runw.status(&id), "running");

    let reply = request(
        port,
        "POST",
        "/echo/a?x=1",
        &[("X-Test", "hello there")],
        b"the body",
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let lines: Vec<&str> = reply.body.lines().collect();
    assert_eq!(lines[0], "method: POST", "{reply:?}");
    assert_eq!(lines[1], "path: /echo/a?x=1", "{reply:?}");
    assert!(lines.contains(&"header: x-test: hello there"), "{reply:?}");
    assert_eq!(lines.last(), Some(&"body: the body"), "{reply:?}");

    let reply = get(port, "/status/418");
    assert_eq!((reply.status, reply.body.as_str()), (418, "status 418\n"));

    // A malformed request gets 400 from the server, not from the handler.
    let reply = raw(port, b"NOT HTTP AT ALL\r\n\r\n");
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply:?}");

    // A trap answers 500 and the server goes on, with a fresh instance.
    let reply = get(port, "/trap");
    assert_eq!(reply.status, 500, "{reply:?}");
    let reply = get(port, "/");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "hello from componentize-py\n")
    );
    wait_log(&bundle, "trap requested by /trap");
    wait_log(&bundle, "wasm handler /app/handler.wasm trapped");

    // Concurrent requests: a sleeping handler does not hold the others up.
    let sleeper = std::thread::spawn(move || get(port, "/sleep/5"));
    wait_log(&bundle, "python handled GET /sleep/5");
    let reply = get(port, "/status/201");
    assert_eq!(reply.status, 201);
    assert!(
        !sleeper.is_finished(),
        "the other request was only answered after the sleeping one"
    );
    assert_eq!(sleeper.join().unwrap().body, "slept 5s\n");

    // Outgoing HTTP (wasi:http/outgoing-handler) to a server of the test.
    let (origin, served) = serve_once("from the origin\n");
    let reply = get(
        port,
        &format!("/fetch?url=http://127.0.0.1:{origin}/some/path"),
    );
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "from the origin\n"),
        "{}",
        log(&bundle)
    );
    assert!(
        served
            .join()
            .unwrap()
            .starts_with("GET /some/path HTTP/1.1\r\n"),
        "the origin got another request"
    );

    // The handler's stdout is the container's.
    wait_log(&bundle, "python handled POST /echo/a?x=1\n");
    wait_log(&bundle, "python handled GET /status/418\n");

    // SIGTERM: the request in flight is answered, then the container stops.
    let sleeper = std::thread::spawn(move || get(port, "/sleep/2"));
    wait_log(&bundle, "python handled GET /sleep/2");
    let out = runw.run(&["kill", &id, "TERM"]);
    assert!(out.status.success(), "kill: {}", stderr(&out));
    let reply = sleeper.join().unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "slept 2s\n"));
    runw.delete_stopped(&id);
}

/// Per-request faults never kill the server: a handler past RUNW_HTTP_REQUEST_TIMEOUT (asleep
/// or computing) gets 504, one past the memory limit 500.
#[test]
fn timeouts_and_memory_limit_are_per_request() {
    let runw = Runw::new();
    let id = unique_id("http-limits");
    let port = free_port();
    let mut bundle = http_bundle(&id, &python_handler(), port);
    bundle
        .push_env("RUNW_HTTP_REQUEST_TIMEOUT=2")
        .set("/linux/resources", json!({"memory": {"limit": 256 << 20}}));
    serve(&runw, &bundle, &id, port);

    let reply = get(port, "/sleep/600");
    assert_eq!(reply.status, 504, "{reply:?}");
    // A handler that computes forever is cut too, and does not hold the others up meanwhile.
    let spinner = std::thread::spawn(move || get(port, "/spin"));
    wait_log(&bundle, "python handled GET /spin");
    assert_eq!(get(port, "/status/202").status, 202);
    assert_eq!(spinner.join().unwrap().status, 504);
    wait_log(
        &bundle,
        "did not answer within 2s (RUNW_HTTP_REQUEST_TIMEOUT)",
    );

    assert_eq!(get(port, "/alloc/16").body, "allocated 16 MiB\n");
    assert_eq!(get(port, "/alloc/1024").status, 500);
    wait_log(&bundle, "MemoryError");
    assert_eq!(get(port, "/").status, 200);

    assert!(runw.run(&["kill", &id, "KILL"]).status.success());
    runw.wait_status(&id, "stopped");
}

/// SIGTERM and SIGINT end a server with 0 (foreground `runw run` reports the status).
#[test]
fn stop_signals_end_a_server_with_0() {
    let runw = Runw::new();
    let component = python_handler();
    for signal in ["TERM", "INT"] {
        let id = unique_id("http-stop");
        let port = free_port();
        let bundle = http_bundle(&id, &component, port);
        let mut child = run_foreground(&runw, &bundle, &id);
        wait_listening(port, &log_path(&bundle));
        assert_eq!(get(port, "/").status, 200);
        let out = runw.run(&["kill", &id, signal]);
        assert!(out.status.success(), "kill: {}", stderr(&out));
        let status = wait_exit(&mut child, &bundle, &format!("SIG{signal}"));
        assert_eq!(status.code(), Some(0), "SIG{signal}:\n{}", log(&bundle));
        runw.assert_root_empty();
        assert_no_cgroup(&id);
    }
}

/// The ComponentizeJS handler serves the same routes.
#[test]
fn js_handler_serves_requests() {
    let runw = Runw::new();
    let id = unique_id("http-js");
    let port = free_port();
    let bundle = http_bundle(&id, &js_handler(), port);
    serve(&runw, &bundle, &id, port);
    let reply = request(port, "PUT", "/echo", &[("X-Test", "js")], b"payload");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.body.starts_with("method: PUT\npath: /echo\n"),
        "{reply:?}"
    );
    assert!(reply.body.contains("header: x-test: js\n"), "{reply:?}");
    assert!(reply.body.ends_with("body: payload\n"), "{reply:?}");
    assert_eq!(get(port, "/status/418").status, 418);
    assert_eq!(get(port, "/trap").status, 500);
    assert_eq!(get(port, "/").body, "hello from componentize-js\n");
    wait_log(&bundle, "js handled PUT /echo\n");
    assert!(runw.run(&["kill", &id, "TERM"]).status.success());
    runw.wait_status(&id, "stopped");
}

/// A component that exports neither `wasi:cli/run` nor `wasi:http/incoming-handler` fails
/// create, naming the file and what it exports, and leaves nothing behind.
#[test]
fn component_serving_nothing_fails_create() {
    let runw = Runw::new();
    let id = unique_id("http-none");
    let component = wat(r#"(component
        (core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func $f (canon lift (core func $i "f")))
        (instance $api (export "f" (func $f)))
        (export "my:pkg/api@1.0.0" (instance $api)))"#);
    let bundle = http_bundle(&id, &component, free_port());
    let out = runw.run(&["create", "--bundle", bundle.dir_str(), &id]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("level=error"))
        .unwrap_or(&err);
    assert!(
        line.contains("wasm module /app/handler.wasm is invalid: it exports my:pkg/api@1.0.0, neither wasi:cli/run (a wasi:cli/command) nor wasi:http/incoming-handler (a wasi:http/proxy), 0.2.x"),
        "{err}"
    );
    runw.assert_root_empty();
    assert_no_cgroup(&id);
}

/// A bad setting in `process.env` fails create, naming it, and leaves nothing behind.
#[test]
fn bad_server_settings_fail_create() {
    let runw = Runw::new();
    let component = python_handler();
    for (setting, message) in [
        (
            "WASMTIME_HTTP_PROXY_SOCKET_ADDR=localhost:http",
            "wasm module /app/handler.wasm: invalid WASMTIME_HTTP_PROXY_SOCKET_ADDR \"localhost:http\" in process.env",
        ),
        (
            "WASMTIME_HTTP_PROXY_BACKLOG=-1",
            "wasm module /app/handler.wasm: invalid WASMTIME_HTTP_PROXY_BACKLOG \"-1\" in process.env",
        ),
        (
            "RUNW_HTTP_REQUEST_TIMEOUT=soon",
            "wasm module /app/handler.wasm: invalid RUNW_HTTP_REQUEST_TIMEOUT \"soon\" in process.env",
        ),
    ] {
        let id = unique_id("http-env");
        let mut bundle = http_bundle(&id, &component, free_port());
        bundle.push_env(setting);
        let out = runw.run(&["create", "--bundle", bundle.dir_str(), &id]);
        assert!(!out.status.success(), "{setting}");
        // runc's log line quotes the message: \" stands for ".
        let err = stderr(&out).replace("\\\"", "\"");
        assert!(err.contains(message), "{setting}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        runw.assert_root_empty();
        assert_no_cgroup(&id);
    }
}

/// The address in use fails create (the socket is bound in the container's init during
/// create, with the container's capabilities): one line, exit 1, nothing left behind; `run`
/// the same. The server listens from create on, so a request sent before start waits for it.
#[test]
fn address_in_use_fails_create_and_listening_starts_at_create() {
    let runw = Runw::new();
    let component = python_handler();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let message = format!(
        "wasm module /app/handler.wasm: cannot listen on 127.0.0.1:{port} (WASMTIME_HTTP_PROXY_SOCKET_ADDR): Address already in use"
    );
    for command in ["create", "run"] {
        let id = unique_id("http-busy");
        let bundle = http_bundle(&id, &component, port);
        let out = runw
            .command(&[command, "--bundle", bundle.dir_str(), &id])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{command}: {err}");
        assert!(err.contains(&message), "{command}: {err}");
        assert_eq!(err.lines().count(), 1, "{command}: {err}");
        runw.assert_root_empty();
        assert_no_cgroup(&id);
    }
    drop(taken);

    let id = unique_id("http-early");
    let port = free_port();
    let bundle = http_bundle(&id, &component, port);
    let file = std::fs::File::create(log_path(&bundle)).unwrap();
    let out = runw
        .command(&["create", "--bundle", bundle.dir_str(), &id])
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "create: {}", log(&bundle));
    held_until(port, "/echo/before-start", 300, "start", || {
        let out = runw.run(&["start", &id]);
        assert!(out.status.success(), "start: {}", stderr(&out));
    });
    assert!(runw.run(&["delete", "--force", &id]).status.success());
    runw.assert_root_empty();
}

/// A server is a container like any other: `ps` lists its init, `events --stats` reads its
/// cgroup, a paused server answers nothing until it is resumed (the request sent meanwhile is
/// answered then), and SIGKILL ends it with 137 (foreground `runw run`, as runc reports it).
#[test]
fn server_container_ps_pause_events_and_sigkill() {
    let runw = Runw::new();
    let id = unique_id("http-life");
    let port = free_port();
    let bundle = http_bundle(&id, &python_handler(), port);
    let mut child = run_foreground(&runw, &bundle, &id);
    wait_listening(port, &log_path(&bundle));
    assert_eq!(get(port, "/").status, 200);

    let pid = runw.state(&id)["pid"].as_i64().unwrap();
    let out = runw.run(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(pids, vec![pid], "ps: {}{}", stdout(&out), stderr(&out));

    let out = runw.run(&["events", "--stats", &id]);
    let event: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("events --stats: {e}: {}{}", stdout(&out), stderr(&out)));
    assert_eq!(event["type"], "stats", "{event}");
    assert!(
        event["data"]["memory"]["usage"]["usage"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "memory.usage.usage: {event}"
    );

    let out = runw.run(&["pause", &id]);
    assert!(out.status.success(), "pause: {}", stderr(&out));
    assert_eq!(runw.status(&id), "paused");
    // The kernel still completes the TCP handshake (the listening socket's backlog), but no
    // answer comes while the server is frozen.
    held_until(port, "/echo/while-paused", 500, "resume", || {
        let out = runw.run(&["resume", &id]);
        assert!(out.status.success(), "resume: {}", stderr(&out));
    });

    let out = runw.run(&["kill", &id, "KILL"]);
    assert!(out.status.success(), "kill: {}", stderr(&out));
    let status = wait_exit(&mut child, &bundle, "SIGKILL");
    assert_eq!(status.code(), Some(137), "{}", log(&bundle));
    runw.assert_root_empty();
    assert_no_cgroup(&id);
}
