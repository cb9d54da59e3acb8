//! Kubernetes through the CRI, without a kubelet: containerd's CRI plugin with a runtime
//! handler `runw` (what a RuntimeClass's `handler` names), driven over its unix socket with
//! the calls a kubelet makes. One private containerd per test binary.

use runw_integration::cni::Network;
use runw_integration::containerd::{Containerd, HANDLER, PAUSE_IMAGE};
use runw_integration::cri::{Client, Decoded, Msg};
use runw_integration::http::{get_when_up, refused, request};
use runw_integration::{image, wait_for};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

const NS: &str = "k8s.io";
use runw_integration::image::{BUSYBOX, HTTP, WASM};

struct Env {
    cd: Containerd,
    cri: Client,
}

static ENV: OnceLock<Env> = OnceLock::new();
/// The pods' CNI network (set before containerd starts: torn down even if that fails).
static NET: OnceLock<Network> = OnceLock::new();

fn env() -> &'static Env {
    ENV.get().unwrap()
}

fn call(method: &str, req: Msg) -> Decoded {
    env()
        .cri
        .call(method, req)
        .unwrap_or_else(|e| panic!("{method}: {e}\n--- containerd log ---\n{}", env().cd.log()))
}

/// PodSandboxConfig: host network, our cgroup parent, logs under `log_dir`.
fn sandbox_config(name: &str, uid: &str, log_dir: &Path, annotations: &[(&str, &str)]) -> Msg {
    sandbox_config_net(name, uid, log_dir, annotations, true)
}

/// PodSandboxConfig with the host's network or (`host_network` false) the pod's own, set
/// up by the CRI plugin's CNI ([`NET`]).
fn sandbox_config_net(
    name: &str,
    uid: &str,
    log_dir: &Path,
    annotations: &[(&str, &str)],
    host_network: bool,
) -> Msg {
    let mut m = Msg::new()
        .msg(
            1,
            Msg::new()
                .str(1, name)
                .str(2, uid)
                .str(3, "default")
                .int(4, 0),
        )
        .str(3, log_dir.to_str().unwrap());
    for (k, v) in annotations {
        m = m.map(7, k, v);
    }
    m.msg(
        8,
        Msg::new()
            .str(1, &format!("{}/pod-{uid}", env().cd.cgroup_parent))
            // security_context.namespace_options.network = NODE (2, host network) or POD (0)
            .msg(
                2,
                Msg::new().msg(1, Msg::new().int(1, if host_network { 2 } else { 0 })),
            ),
    )
}

/// ContainerConfig: name, image, command, log path (relative to the pod's log directory).
fn container_config(
    name: &str,
    image: &str,
    command: &[&str],
    annotations: &[(&str, &str)],
) -> Msg {
    let mut m = Msg::new()
        .msg(1, Msg::new().str(1, name))
        .msg(2, Msg::new().str(1, image))
        .strs(3, command)
        .str(11, &format!("{name}.log"));
    for (k, v) in annotations {
        m = m.map(10, k, v);
    }
    m
}

fn run_pod(config: &Msg, handler: &str) -> String {
    call(
        "RunPodSandbox",
        Msg::new().msg(1, config.clone()).str(2, handler),
    )
    .str(1)
}

fn create_and_start(pod: &str, config: Msg, sandbox: &Msg) -> String {
    let id = call(
        "CreateContainer",
        Msg::new()
            .str(1, pod)
            .msg(2, config)
            .msg(3, sandbox.clone()),
    )
    .str(1);
    call("StartContainer", Msg::new().str(1, &id));
    id
}

/// A Linux container `sidecar` (busybox) in `pod` running `sh -c script`, started.
fn start_sidecar(pod: &str, sandbox: &Msg, script: &str) -> String {
    create_and_start(
        pod,
        container_config("sidecar", BUSYBOX, &["sh", "-c", script], &[]),
        sandbox,
    )
}

/// ContainerStatus until EXITED; returns the exit code.
fn wait_exited(id: &str) -> i64 {
    wait_exited_within(id, Duration::from_secs(20))
}

fn wait_exited_within(id: &str, timeout: Duration) -> i64 {
    wait_for(timeout, &format!("{id} to exit"), || {
        let st = call("ContainerStatus", Msg::new().str(1, id)).msg(1);
        // state 2 = CONTAINER_EXITED
        (st.int(3) == 2).then(|| st.int(7))
    })
}

/// The messages of a CRI log file (`<time> <stream> <P|F> <msg>` lines) for `stream`.
fn log_lines(path: &Path, stream: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            (f.len() == 4 && f[1] == stream).then(|| f[3].to_string())
        })
        .collect()
}

fn remove_pod(pod: &str) {
    call("StopPodSandbox", Msg::new().str(1, pod));
    call("RemovePodSandbox", Msg::new().str(1, pod));
}

fn assert_pod_gone(pod: &str) {
    let pods = call("ListPodSandbox", Msg::new());
    for item in pods.all(1) {
        assert_ne!(Decoded::parse(&item).str(1), pod, "pod {pod} still listed");
    }
    let cs = call("ListContainers", Msg::new());
    for item in cs.all(1) {
        assert_ne!(
            Decoded::parse(&item).str(2),
            pod,
            "a container of {pod} is still listed"
        );
    }
}

fn log_dir(uid: &str) -> PathBuf {
    let d = env().cd.dir.path().join("pods").join(uid);
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ---------------------------------------------------------------------------------------

fn version() {
    let v = call("Version", Msg::new().str(1, "v1"));
    assert_eq!(v.str(2), "containerd");
    assert_eq!(v.str(4), "v1");
}

/// A Wasm app and a Linux sidecar in one pod with RuntimeClass handler `runw`.
fn wasm_pod_with_linux_sidecar() {
    runw_integration::require_wasm();
    let uid = format!("wasm-pod-{}", std::process::id());
    let logs = log_dir(&uid);
    // Pod annotations reach the sandbox and every container (whitelisted in the handler's
    // pod_annotations): compat-smart runs Wasm modules as Wasm and ELF sidecars as Linux;
    // the sandbox stays Linux.
    let sandbox = sandbox_config(
        "wasm-pod",
        &uid,
        &logs,
        &[("module.wasm.image/variant", "compat-smart")],
    );
    let pod = run_pod(&sandbox, HANDLER);

    // The app is WebAssembly *text*: only the annotation (not the \0asm magic) makes it Wasm,
    // so this proves the annotation went through containerd's CRI to runw.
    let app = create_and_start(
        &pod,
        container_config("app", WASM, &["/exit7.wat"], &[]),
        &sandbox,
    );
    let sidecar = start_sidecar(
        &pod,
        &sandbox,
        "echo sidecar up; until [ -e /tmp/done ]; do sleep 0.1; done; echo sidecar done; exit 3",
    );

    assert_eq!(wait_exited(&app), 7, "exit code of the Wasm app");
    assert_eq!(
        log_lines(&logs.join("app.log"), "stdout"),
        vec!["exiting with 7".to_string()]
    );

    // ExecSync in the Linux sidecar (what a probe or `kubectl exec` without tty does).
    let ex = call(
        "ExecSync",
        Msg::new()
            .str(1, &sidecar)
            .strs(
                2,
                &[
                    "sh",
                    "-c",
                    "echo exec says $((6*7)); touch /tmp/done; exit 4",
                ],
            )
            .int(3, 10),
    );
    assert_eq!(String::from_utf8_lossy(&ex.bytes(1)), "exec says 42\n");
    assert_eq!(ex.int(3), 4, "ExecSync exit code");

    assert_eq!(wait_exited(&sidecar), 3, "exit code of the sidecar");
    assert_eq!(
        log_lines(&logs.join("sidecar.log"), "stdout"),
        vec!["sidecar up".to_string(), "sidecar done".to_string()]
    );

    remove_pod(&pod);
    assert_pod_gone(&pod);
}

/// The Python `wasi:http/proxy` handler in a pod with its own network (CNI bridge), with a
/// busybox sidecar that requests it over the pod's loopback; the host requests it at the
/// pod's IP. Stopping the handler container (SIGTERM) exits 0; removing the pod leaves no
/// network namespace, veth, address, runtime state or container cgroup.
fn wasm_http_pod_with_network() {
    runw_integration::require_wasm();
    let e = env();
    let uid = format!("http-pod-{}", std::process::id());
    let logs = log_dir(&uid);
    let sandbox = sandbox_config_net(
        "http-pod",
        &uid,
        &logs,
        &[("module.wasm.image/variant", "compat-smart")],
        false,
    );
    let pod = run_pod(&sandbox, HANDLER);

    // PodSandboxStatus (verbose): the pod's IP, and the network namespace in its spec.
    let st = call("PodSandboxStatus", Msg::new().str(1, &pod).int(2, 1));
    let ip: IpAddr = st.msg(1).msg(5).str(1).parse().expect("the pod's IP");
    let net = NET.get().unwrap();
    assert!(
        net.reserved_ips().contains(&ip.to_string()),
        "pod IP {ip} not from {}",
        net.subnet
    );
    let info: serde_json::Value = st
        .map(2)
        .into_iter()
        .find(|(k, _)| k == "info")
        .map(|(_, v)| serde_json::from_str(&v).unwrap())
        .expect("PodSandboxStatus info");
    let netns = info["runtimeSpec"]["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "network")
        .and_then(|n| n["path"].as_str())
        .expect("the sandbox's network namespace path")
        .to_string();
    assert!(Path::new(&netns).exists(), "{netns}");

    let app = create_and_start(&pod, container_config("app", HTTP, &[], &[]), &sandbox);
    let sidecar = start_sidecar(
        &pod,
        &sandbox,
        "until wget -q -O - http://127.0.0.1:8080/echo/sidecar; do sleep 0.1; done; \
         echo sidecar done",
    );
    // The sidecar retries until the handler listens (the first create of the image compiles
    // the component, in CreateContainer), then prints the response.
    assert_eq!(
        wait_exited_within(&sidecar, Duration::from_secs(60)),
        0,
        "sidecar's exit code"
    );
    let out = log_lines(&logs.join("sidecar.log"), "stdout");
    assert_eq!(
        out.first().zip(out.get(1)),
        Some((
            &"method: GET".to_string(),
            &"path: /echo/sidecar".to_string()
        )),
        "sidecar's output: {out:?}"
    );
    assert!(
        out.iter().any(|l| l == "header: user-agent: Wget"),
        "{out:?}"
    );
    assert_eq!(
        out[out.len() - 2..],
        ["body: ".to_string(), "sidecar done".to_string()],
        "{out:?}"
    );

    // From the host, at the pod's IP.
    let addr = SocketAddr::new(ip, 8080);
    let r = get_when_up(addr, "/echo/host?from=test", Duration::from_secs(10));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body
            .starts_with("method: GET\npath: /echo/host?from=test\n"),
        "{r:?}"
    );
    let r = request(addr, "POST", "/status/503", &[], b"x").unwrap();
    assert_eq!((r.status, r.body.as_str()), (503, "status 503\n"));

    // The handler's output, in the pod's log directory.
    wait_for(Duration::from_secs(10), "the handler's log", || {
        let out = log_lines(&logs.join("app.log"), "stdout");
        [
            "python handled GET /echo/sidecar",
            "python handled GET /echo/host?from=test",
            "python handled POST /status/503",
        ]
        .iter()
        .all(|l| out.iter().any(|o| o == l))
        .then_some(())
    });
    assert!(
        log_lines(&logs.join("app.log"), "stderr")
            .iter()
            .any(|l| l == "runw: serving HTTP on 0.0.0.0:8080"),
        "{:?}",
        std::fs::read_to_string(logs.join("app.log"))
    );

    // The sandbox's and the running handler's cgroups, under the pod's (checked gone below).
    let pod_cgroup = format!("{}/pod-{uid}", e.cd.cgroup_parent);
    let cgroups = runw_integration::cgroup_dirs(&pod_cgroup);
    assert!(
        [&pod, &app]
            .iter()
            .all(|id| cgroups.iter().any(|d| d.ends_with(id))),
        "no cgroups of the sandbox and the handler under {pod_cgroup}: {cgroups:?}"
    );

    // What the kubelet does first when a pod is deleted: StopContainer with the grace period
    // (SIGTERM, then SIGKILL after 10 s). The handler exits 0 on SIGTERM.
    call("StopContainer", Msg::new().str(1, &app).int(2, 10));
    assert_eq!(
        wait_exited(&app),
        0,
        "exit code of the handler after SIGTERM"
    );
    assert!(refused(addr), "{addr} still accepts connections");

    remove_pod(&pod);
    assert_pod_gone(&pod);
    assert!(!Path::new(&netns).exists(), "{netns} left behind");
    assert!(
        runw_integration::mounts_under(Path::new(&netns)).is_empty(),
        "{netns} still mounted"
    );
    assert!(
        !net.reserved_ips().contains(&ip.to_string()),
        "{ip} still reserved"
    );
    assert_eq!(Network::cached_results(&pod), Vec::<PathBuf>::new());
    assert_eq!(
        net.ports(),
        Vec::<String>::new(),
        "veths left on the bridge"
    );
    for id in [&pod, &app, &sidecar] {
        let state = e.cd.runw_root.join(NS).join(id);
        assert!(!state.exists(), "runw state left: {}", state.display());
    }
    // The pod's cgroup itself is the kubelet's (made and removed by it); its containers'
    // cgroups are the runtime's.
    let left: Vec<_> = runw_integration::cgroup_dirs(&pod_cgroup)
        .into_iter()
        .filter(|d| !d.ends_with(format!("pod-{uid}")))
        .collect();
    assert!(left.is_empty(), "container cgroups left: {left:?}");
}

/// The default handler (runc), for comparison, in the same containerd.
fn linux_pod_default_runc_handler() {
    let uid = format!("runc-pod-{}", std::process::id());
    let logs = log_dir(&uid);
    let sandbox = sandbox_config("runc-pod", &uid, &logs, &[]);
    let pod = run_pod(&sandbox, "");
    let c = create_and_start(
        &pod,
        container_config(
            "c",
            BUSYBOX,
            &["sh", "-c", "echo hello from runc; exit 5"],
            &[],
        ),
        &sandbox,
    );
    assert_eq!(wait_exited(&c), 5);
    assert_eq!(
        log_lines(&logs.join("c.log"), "stdout"),
        vec!["hello from runc".to_string()]
    );
    remove_pod(&pod);
    assert_pod_gone(&pod);
}

/// A Linux pod on runw, stopped while its container still runs (the kubelet's pod deletion).
fn linux_pod_on_runw_stopped_while_running() {
    let uid = format!("linux-pod-{}", std::process::id());
    let logs = log_dir(&uid);
    let sandbox = sandbox_config("linux-pod", &uid, &logs, &[]);
    let pod = run_pod(&sandbox, HANDLER);
    let c = create_and_start(
        &pod,
        container_config(
            "c",
            BUSYBOX,
            &["sh", "-c", "echo running; exec sleep 1000"],
            &[],
        ),
        &sandbox,
    );
    wait_for(Duration::from_secs(10), "log line", || {
        (log_lines(&logs.join("c.log"), "stdout") == vec!["running".to_string()]).then_some(())
    });
    let st = call("ContainerStatus", Msg::new().str(1, &c)).msg(1);
    assert_eq!(st.int(3), 1, "state RUNNING");
    remove_pod(&pod);
    assert_pod_gone(&pod);
}

// ---------------------------------------------------------------------------------------

fn setup() {
    let _ = NET.set(Network::create());
    let cd = Containerd::start_with_cni("cri", NET.get());
    let tmp = cd.dir.path().to_owned();
    for archive in image::write_test_archives(&tmp) {
        cd.import(NS, &archive);
    }
    cd.import(NS, &image::write_http_archive(&tmp));
    let cri = Client::new(&cd.socket);
    let _ = ENV.set(Env { cd, cri });
    // The CRI plugin sees imported images through containerd's events: wait for them.
    wait_for(
        Duration::from_secs(10),
        "the CRI plugin to list the images",
        || {
            let imgs = env().cri.call_image("ListImages", Msg::new()).ok()?;
            let tags: Vec<String> = imgs
                .all(1)
                .iter()
                .flat_map(|i| Decoded::parse(i).all(2))
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .collect();
            [PAUSE_IMAGE, BUSYBOX, WASM, HTTP]
                .iter()
                .all(|n| tags.iter().any(|t| t == n))
                .then_some(())
        },
    );
}

fn main() {
    let tests: &[runw_integration::Test] = &[
        ("version", version),
        ("wasm_pod_with_linux_sidecar", wasm_pod_with_linux_sidecar),
        ("wasm_http_pod_with_network", wasm_http_pod_with_network),
        (
            "linux_pod_default_runc_handler",
            linux_pod_default_runc_handler,
        ),
        (
            "linux_pod_on_runw_stopped_while_running",
            linux_pod_on_runw_stopped_while_running,
        ),
    ];
    runw_integration::run_tests(tests, setup, || {
        let Some(e) = ENV.get() else {
            return NET.get().map(Network::remove).unwrap_or_default();
        };
        // Pods left by a failed test: through the CRI, so that their networks go too.
        let mut leaks = vec![];
        for item in e
            .cri
            .call("ListPodSandbox", Msg::new())
            .map(|r| r.all(1))
            .unwrap_or_default()
        {
            let pod = Decoded::parse(&item).str(1);
            leaks.push(format!("pod left: {pod}"));
            let _ = e.cri.call("StopPodSandbox", Msg::new().str(1, &pod));
            let _ = e.cri.call("RemovePodSandbox", Msg::new().str(1, &pod));
        }
        leaks.extend(e.cd.stop(&[NS]));
        // After containerd: the pods' networks must be gone by now.
        leaks.extend(NET.get().map(Network::remove).unwrap_or_default());
        let dir = e.cd.dir.path().to_owned();
        let m = runw_integration::mounts_under(&dir);
        if !m.is_empty() {
            leaks.push(format!("mounts left under {}: {m:?}", dir.display()));
        }
        if !leaks.is_empty() {
            eprintln!("--- containerd log ---\n{}", e.cd.log());
        } else if let Err(err) = std::fs::remove_dir_all(&dir) {
            eprintln!("cannot remove {}: {err}", dir.display());
        }
        leaks
    });
}
