//! Container lifecycle as a user (or containerd/podman) sees it: create, start, state, kill,
//! delete, run, list, and the same against runc to show identical behaviour.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::{Runtime, TIMEOUT};
use serde_json::Value;

const STATE_FIELDS: [&str; 8] = [
    "ociVersion",
    "id",
    "pid",
    "status",
    "bundle",
    "rootfs",
    "created",
    "owner",
];

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("state is not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// create → created → start → running → kill → stopped → delete, checking the state JSON at
/// each step. Returns the state JSON seen at each step (created, running, stopped).
fn lifecycle(rt: &Runtime) -> Vec<Value> {
    let id = rt.id("life");
    let bundle = rt.bundle(&id, &["sleep", "600"]);
    rt.create(&id, &bundle);

    let created = rt.state(&id);
    for field in STATE_FIELDS {
        assert!(
            created.get(field).is_some(),
            "{}: state lacks {field}: {created}",
            rt.name()
        );
    }
    assert_eq!(created["id"], id.as_str());
    assert_eq!(created["status"], "created");
    assert_eq!(created["ociVersion"], bundle.config["ociVersion"]);
    let bundle_dir = std::fs::canonicalize(bundle.path()).unwrap();
    assert_eq!(created["bundle"], bundle_dir.to_str().unwrap());
    assert_eq!(
        created["rootfs"],
        bundle_dir.join("rootfs").to_str().unwrap()
    );
    let pid = created["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0, "created container has pid {pid}");
    assert!(common::alive(pid), "init process {pid} is not alive");
    let created_time = created["created"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_time).is_ok(),
        "created is not RFC 3339: {created_time}"
    );

    rt.ok(&["start", &id]);
    let running = rt.state(&id);
    assert_eq!(running["status"], "running");
    assert_eq!(running["pid"], created["pid"], "pid changed at start");
    assert_eq!(running["created"], created["created"]);

    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    let stopped = rt.state(&id);
    assert!(
        common::wait_for(Duration::from_secs(3), || !common::alive(pid)),
        "init {pid} still alive after kill"
    );

    rt.ok(&["delete", &id]);
    rt.run(&["state", &id]).fails_with(&["does not exist"]);
    rt.assert_clean(&id);
    vec![created, running, stopped]
}

#[test]
fn full_lifecycle_state_json() {
    require_root!();
    let rt = Runtime::runw();
    let [created, _, stopped] = <[Value; 3]>::try_from(lifecycle(&rt)).unwrap();
    // runc's stopped state: pid 0, everything else as at create.
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(stopped["pid"], 0, "{stopped}");
    for field in ["id", "ociVersion", "bundle", "rootfs", "created", "owner"] {
        assert_eq!(stopped[field], created[field], "{field}: {stopped}");
    }
}

#[test]
fn lifecycle_matches_runc() {
    require_root!();
    let runc = Runtime::runc();
    let runw = Runtime::runw();
    let theirs = lifecycle(&runc);
    let ours = lifecycle(&runw);
    for (t, o) in theirs.iter().zip(&ours) {
        assert_eq!(
            keys(t),
            keys(o),
            "state JSON fields differ\nrunc: {t}\nrunw: {o}"
        );
        assert_eq!(t["status"], o["status"]);
    }
    // runc reports pid 0 once the container stopped.
    assert_eq!(
        theirs[2]["pid"], ours[2]["pid"],
        "pid of a stopped container"
    );
}

/// `run` (foreground) exits with the container's status.
fn run_exit_code(rt: &Runtime, script: &str) -> i32 {
    let id = rt.id("exit");
    let bundle = rt.bundle(&id, &["sh", "-c", script]);
    let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(!out.timed_out, "{out}");
    rt.assert_clean(&id);
    out.code
}

/// `run` in the background, killed with `kill ID KILL`: the status is 137.
fn run_killed(rt: &Runtime, signal: &str) -> i32 {
    let id = rt.id("killed");
    let bundle = rt.bundle(&id, &["sleep", "600"]);
    let running = rt.spawn(&["run", "--bundle", bundle.path_str(), &id]);
    rt.wait_status(&id, "running", Duration::from_secs(10));
    rt.ok(&["kill", &id, signal]);
    let out = running.wait(TIMEOUT);
    assert!(!out.timed_out, "{out}");
    rt.assert_clean(&id);
    out.code
}

#[test]
fn run_returns_exit_code() {
    require_root!();
    let rt = Runtime::runw();
    assert_eq!(run_exit_code(&rt, "exit 0"), 0);
    assert_eq!(run_exit_code(&rt, "exit 3"), 3);
    assert_eq!(run_killed(&rt, "KILL"), 137);
}

#[test]
fn run_output_reaches_stdout() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("out");
    let bundle = rt.bundle(&id, &["sh", "-c", "echo to-stdout; echo to-stderr >&2"]);
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(out.stdout, "to-stdout\n");
    assert_eq!(out.stderr, "to-stderr\n");
}

#[test]
fn run_exit_codes_match_runc() {
    require_root!();
    for rt in [Runtime::runc(), Runtime::runw()] {
        assert_eq!(run_exit_code(&rt, "exit 0"), 0, "{}", rt.name());
        assert_eq!(run_exit_code(&rt, "exit 3"), 3, "{}", rt.name());
        assert_eq!(run_killed(&rt, "9"), 137, "{}", rt.name());
    }
}

#[test]
fn pid_file_holds_the_state_pid() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("pidfile");
    let bundle = rt.bundle(&id, &["sleep", "600"]);
    let pid_file = bundle.path().join("init.pid");
    rt.ok(&[
        "create",
        "--bundle",
        bundle.path_str(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let text = std::fs::read_to_string(&pid_file).expect("pid file written by create");
    let state = rt.state(&id);
    assert_eq!(
        text.trim(),
        state["pid"].to_string(),
        "pid file vs state pid"
    );
    rt.ok(&["start", &id]);
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id);
}

#[test]
fn pid_file_with_run_detached() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("pidfile-d");
    let bundle = rt.bundle(&id, &["sleep", "600"]);
    let pid_file = bundle.path().join("init.pid");
    rt.ok(&[
        "run",
        "-d",
        "--bundle",
        bundle.path_str(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let text = std::fs::read_to_string(&pid_file).expect("pid file written by run -d");
    let state = rt.state(&id);
    assert_eq!(state["status"], "running");
    assert_eq!(text.trim(), state["pid"].to_string());
}

#[test]
fn list_table_json_and_quiet() {
    require_root!();
    let rt = Runtime::runw();
    // An empty root: runc prints only the header, `null` for JSON, nothing with -q.
    let out = rt.ok(&["list"]);
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    assert_eq!(rt.ok(&["list", "-q"]).stdout, "");
    assert_eq!(rt.ok(&["list", "--format", "json"]).stdout.trim(), "null");

    let (a, _ba) = rt.sleeper("list-a");
    let (b, bb) = rt.sleeper("list-b");
    let pid_b = rt.state(&b)["pid"].clone();

    let quiet = rt.ok(&["list", "-q"]).stdout;
    let mut ids: Vec<&str> = quiet.lines().collect();
    ids.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(ids, want);

    let json = rt.ok(&["list", "--format", "json"]).json();
    let list = json.as_array().expect("list --format json is an array");
    assert_eq!(list.len(), 2, "{json}");
    let entry_b = list.iter().find(|e| e["id"] == b.as_str()).unwrap();
    assert_eq!(entry_b["status"], "running");
    assert_eq!(entry_b["pid"], pid_b);
    assert_eq!(
        entry_b["bundle"],
        std::fs::canonicalize(bb.path()).unwrap().to_str().unwrap()
    );
    assert_eq!(entry_b["owner"], "root");

    let table = rt.ok(&["list"]).stdout;
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with(&b))
        .unwrap_or_else(|| panic!("{b} missing from\n{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[0], b);
    assert_eq!(row[1], pid_b.to_string());
    assert_eq!(row[2], "running");
    assert_eq!(row[5], "root");
}

#[test]
fn kill_signal_forms() {
    require_root!();
    let rt = Runtime::runw();
    for signal in ["KILL", "SIGKILL", "9"] {
        assert_eq!(run_killed(&rt, signal), 137, "kill {signal}");
    }
    // A real-time signal by name reaches the container: its shell traps 35 (SIGRTMIN+1).
    let id = rt.id("rt");
    let bundle = rt.bundle(
        &id,
        &[
            "sh",
            "-c",
            "trap 'exit 42' 35; while :; do sleep 1 & wait; done",
        ],
    );
    let running = rt.spawn(&["run", "--bundle", bundle.path_str(), &id]);
    rt.wait_status(&id, "running", Duration::from_secs(10));
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    assert!(
        common::wait_for(Duration::from_secs(10), || common::catches_signal(pid, 35)),
        "the shell never installed its trap for signal 35"
    );
    rt.ok(&["kill", &id, "SIGRTMIN+1"]);
    let out = running.wait(TIMEOUT);
    assert_eq!(out.code, 42, "SIGRTMIN+1 should run the trap: {out}");

    // Unknown signals are refused and the container keeps running.
    let (id, _bundle) = rt.sleeper("badsig");
    rt.run(&["kill", &id, "SIGFOO"])
        .fails_with(&["unknown signal", "SIGFOO"]);
    rt.run(&["kill", &id, "65"]).fails_with(&["65"]);
    assert_eq!(rt.status(&id), "running");
    // Default signal is SIGTERM; sleep as pid 1 ignores it, so use KILL to finish.
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
}

#[test]
fn kill_all_signals_every_process() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("killall");
    rt.ok(&["exec", "-d", &id, "sleep", "600"]);
    let pids = rt.ok(&["ps", "--format", "json", &id]).json();
    assert_eq!(pids.as_array().unwrap().len(), 2, "{pids}");
    rt.ok(&["kill", "--all", &id, "KILL"]);
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    for pid in pids.as_array().unwrap() {
        let pid = pid.as_i64().unwrap() as i32;
        assert!(
            common::wait_for(Duration::from_secs(3), || !common::alive(pid)),
            "{pid} survived kill --all"
        );
    }
}

#[test]
fn delete_force_of_running_container() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("delforce");
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    assert!(common::alive(pid));
    assert!(!common::cgroup_dirs(&id).is_empty(), "no cgroup for {id}");
    rt.ok(&["delete", "--force", &id]);
    assert!(
        common::wait_for(Duration::from_secs(3), || !common::alive(pid)),
        "process {pid} survived delete --force"
    );
    assert!(common::cgroup_dirs(&id).is_empty(), "cgroup left");
    rt.run(&["state", &id]).fails_with(&["does not exist"]);
    rt.assert_clean(&id);
}

#[test]
fn delete_force_of_created_and_paused_containers() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("delcreated");
    let bundle = rt.bundle(&id, &["sleep", "600"]);
    rt.create(&id, &bundle);
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id);

    let (id, _bundle) = rt.sleeper("delpaused");
    rt.ok(&["pause", &id]);
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id);
}

/// Regression (CI, cgroup v2 lane): libcontainer removed the cgroup about 100 ms after its
/// SIGKILL; the frozen processes of a paused container, thawed, took longer to exit, and
/// `delete --force` failed with "could not delete", leaving the container stopped and its
/// cgroup behind. Three hundred processes make the window wide enough to hit every time.
#[test]
fn delete_force_of_a_paused_container_with_many_processes() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("delmany");
    let script = "for i in $(seq 300); do sleep 600 & done; wait";
    let bundle = rt.bundle(&id, &["sh", "-c", script]);
    rt.run_detached(&id, &bundle);
    let all_started = || {
        let out = rt.ok(&["ps", "--format", "json", &id]).json();
        out.as_array().map_or(0, |pids| pids.len()) == 301
    };
    assert!(
        common::wait_for(Duration::from_secs(20), all_started),
        "the container did not start its 300 processes"
    );
    rt.ok(&["pause", &id]);
    rt.ok(&["delete", "--force", &id]);
    rt.run(&["state", &id]).fails_with(&["does not exist"]);
    assert!(common::cgroup_dirs(&id).is_empty(), "cgroup left");
    rt.assert_clean(&id);
}

#[test]
fn delete_of_missing_container_with_force_succeeds() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("nothing");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_clean(&id);
}

#[test]
fn concurrent_creates_with_one_id() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("race");
    let bundle = rt.bundle(&id, &["sleep", "600"]);
    const N: usize = 6;
    let outs: Vec<_> = (0..N)
        .map(|_| rt.spawn(&["create", "--bundle", bundle.path_str(), &id]))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|r| r.wait(TIMEOUT))
        .collect();
    let winners = outs.iter().filter(|o| o.code == 0).count();
    let report: String = outs.iter().map(|o| format!("{o}\n")).collect();
    assert_eq!(winners, 1, "exactly one create must win:\n{report}");
    for out in outs.into_iter().filter(|o| o.code != 0) {
        out.fails_with(&["exists"]);
    }
    assert_eq!(rt.status(&id), "created");
}

#[test]
fn concurrent_start_kill_delete_keep_state_consistent() {
    require_root!();
    let rt = Runtime::runw();
    for round in 0..3 {
        let id = rt.id("chaos");
        let bundle = rt.bundle(&id, &["sleep", "600"]);
        rt.create(&id, &bundle);
        let cmds: Vec<Vec<&str>> = vec![
            vec!["start", &id],
            vec!["kill", &id, "KILL"],
            vec!["state", &id],
            vec!["delete", &id],
            vec!["list", "-q"],
            vec!["start", &id],
        ];
        let outs: Vec<_> = cmds
            .iter()
            .map(|c| rt.spawn(c))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|r| r.wait(TIMEOUT))
            .collect();
        for out in &outs {
            assert!(!out.timed_out, "round {round}: {out}");
            assert!(
                out.code == 0 || out.code == 1,
                "round {round}: unexpected status {out}"
            );
            if out.code == 1 {
                assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out}");
            }
        }
        // Whatever the interleaving, the state on disk still parses and `state` works.
        let state_json = rt.root.join(&id).join("state.json");
        if state_json.exists() {
            let text = std::fs::read_to_string(&state_json).unwrap();
            serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|e| panic!("corrupt state.json ({e}): {text}"));
            let state = rt.state(&id);
            assert!(
                ["created", "running", "stopped"].contains(&state["status"].as_str().unwrap()),
                "{state}"
            );
        }
        rt.ok(&["delete", "--force", &id]);
        rt.assert_clean(&id);
    }
}

#[test]
fn container_that_exits_by_itself_is_stopped_with_pid_0() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("selfexit");
    let bundle = rt.bundle(&id, &["sh", "-c", "exit 0"]);
    rt.create(&id, &bundle);
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    assert_eq!(rt.state(&id)["pid"], 0);
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id);
}

/// A process that took the pid of a stopped container's init (reaped, pid reused) is a
/// stranger: `state` says stopped, `kill` refuses ("container not running"), `ps` does not
/// list it, and neither `kill` nor `delete --force` signals it. runc compares the init's
/// start time; libcontainer alone took the container for running and killed the stranger.
#[test]
fn a_reused_init_pid_is_never_signalled() {
    require_root!();
    for rt in [Runtime::runw(), Runtime::runc()] {
        let id = rt.id("pidreuse");
        let bundle = rt.bundle(&id, &["sh", "-c", "exit 0"]);
        rt.create(&id, &bundle);
        let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
        rt.ok(&["start", &id]);
        rt.wait_status(&id, "stopped", Duration::from_secs(5));
        assert!(
            common::wait_for(Duration::from_secs(5), || !Path::new(&format!(
                "/proc/{pid}"
            ))
            .exists()),
            "{}: the init {pid} was never reaped",
            rt.name()
        );
        let Some(mut stranger) = spawn_with_pid(pid) else {
            panic!("could not start a process with pid {pid} (ns_last_pid)");
        };
        let state = rt.state(&id);
        assert_eq!(
            (state["status"].as_str(), state["pid"].as_i64()),
            (Some("stopped"), Some(0)),
            "{}: {state}",
            rt.name()
        );
        rt.run(&["kill", &id, "KILL"])
            .fails_with(&["container not running"]);
        let ps = rt.run(&["ps", "--format", "json", &id]);
        assert!(
            !ps.stdout.contains(&pid.to_string()),
            "{}: ps lists the stranger {pid}: {ps}",
            rt.name()
        );
        rt.ok(&["delete", "--force", &id]);
        assert!(
            stranger.try_wait().unwrap().is_none(),
            "{}: the process that reused pid {pid} was killed",
            rt.name()
        );
        let _ = stranger.kill();
        let _ = stranger.wait();
        rt.assert_clean(&id);
    }
}

/// Starts `sleep` with exactly `pid`, by setting the pid namespace's last pid just below it
/// (another process forking meanwhile can take it first: try again).
fn spawn_with_pid(pid: i32) -> Option<Child> {
    for _ in 0..100 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let mut child = Command::new("sleep").arg("600").spawn().ok()?;
        if child.id() as i32 == pid {
            return Some(child);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    None
}

#[test]
fn kill_of_a_created_container() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("killcreated");
    let bundle = rt.bundle(&id, &["sleep", "600"]);
    rt.create(&id, &bundle);
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    assert!(common::wait_for(Duration::from_secs(3), || !common::alive(
        pid
    )));
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id);
}

/// The flags containerd's shim and conmon pass to create are accepted and work.
#[test]
fn shim_create_flags() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("shimflags");
    let bundle = rt.bundle(&id, &["sh", "-c", "echo pivot-ok"]);
    let pid_file = bundle.path().join("init.pid");
    let out = rt.ok(&[
        "run",
        "--bundle",
        bundle.path_str(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--no-pivot",
        "--no-new-keyring",
        &id,
    ]);
    assert_eq!(out.stdout, "pivot-ok\n", "{out}");
    rt.assert_clean(&id);
}

/// `--preserve-fds 1` hands the caller's fd 3 to the container (conmon uses it).
#[test]
fn preserve_fds_passes_fd_3() {
    require_root!();
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let rt = Runtime::runw();
    let id = rt.id("preserve");
    let bundle = rt.bundle(&id, &["sh", "-c", "echo through-fd-3 >&3"]);
    let target = bundle.path().join("fd3.txt");
    let file = std::fs::File::create(&target).unwrap();
    let raw = file.as_raw_fd();
    let mut cmd = std::process::Command::new(common::RUNW);
    cmd.arg("--root").arg(&rt.root).args([
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        bundle.path_str(),
        &id,
    ]);
    // SAFETY: dup2 is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps FD_CLOEXEC: clear it when the file already is fd 3.
            let rc = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "through-fd-3\n");
    rt.assert_clean(&id);
}

#[test]
fn features_document() {
    let rt = Runtime::runw();
    let doc = rt.ok(&["features"]).json();
    assert_eq!(doc["ociVersionMin"], "1.0.0", "{doc}");
    assert!(doc["ociVersionMax"].as_str().unwrap().starts_with("1."));
    let namespaces = doc["linux"]["namespaces"].as_array().unwrap();
    for ns in ["mount", "pid", "network", "uts", "ipc"] {
        assert!(namespaces.iter().any(|n| n == ns), "{ns}: {doc}");
    }
    assert!(doc["mountOptions"].as_array().unwrap().len() > 5);
}

#[test]
fn spec_writes_a_usable_config_and_refuses_to_overwrite() {
    let rt = Runtime::runw();
    let dir = tempfile::tempdir().unwrap();
    rt.ok(&["spec", "--bundle", dir.path().to_str().unwrap()]);
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["root"]["path"], "rootfs");
    assert_eq!(config["process"]["args"][0], "sh");
    assert!(config["ociVersion"].as_str().unwrap().starts_with("1."));
    // runc: "File config.json exists. Remove it first".
    rt.run(&["spec", "--bundle", dir.path().to_str().unwrap()])
        .fails_with(&["exists"]);
    let rootless = tempfile::tempdir().unwrap();
    rt.ok(&[
        "spec",
        "--rootless",
        "--bundle",
        rootless.path().to_str().unwrap(),
    ]);
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(rootless.path().join("config.json")).unwrap(),
    )
    .unwrap();
    let namespaces = config["linux"]["namespaces"].as_array().unwrap();
    assert!(namespaces.iter().any(|n| n["type"] == "user"), "{config}");
}

/// SIGKILL of `create` at any moment: what it made is gone by itself or removed by
/// `delete --force ID` (no process, cgroup or entry under --root left), and the container's
/// processes never carry libcontainer's `youki:` names.
#[test]
fn create_killed_at_any_moment_leaves_nothing_after_delete_force() {
    require_root!();
    let rt = Runtime::runw();
    let mut names = Vec::new();
    for step in 0..40u64 {
        let id = rt.id("killcreate");
        let bundle = rt.bundle(&id, &["sleep", "600"]);
        let create = rt.spawn(&["create", "--bundle", bundle.path_str(), &id]);
        std::thread::sleep(Duration::from_micros(step * 750));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(create.pid()),
            nix::sys::signal::Signal::SIGKILL,
        );
        create.wait(TIMEOUT);
        for (pid, _) in rt.processes(&id) {
            if let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) {
                names.push(comm.trim().to_string());
            }
        }
        rt.ok(&["delete", "--force", &id]);
        // A set-up clone of the killed create can outlive it for a while in the kernel (on the
        // cgroup lock): judge once it is gone, as a cgroup it made late is a leak all the same.
        common::wait_for(Duration::from_secs(10), || rt.processes(&id).is_empty());
        rt.assert_clean(&id);
    }
    assert!(
        names.iter().all(|n| !n.starts_with("youki")),
        "container processes named after youki: {names:?}"
    );
}

/// `run --keep`: the container stays, stopped, after its process exits (exit status passed
/// through); a plain `run` removes it.
#[test]
fn run_keep_leaves_the_stopped_container() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("keep");
    let bundle = rt.bundle(&id, &["sh", "-c", "echo kept; exit 3"]);
    let out = rt.run(&["run", "--keep", "--bundle", bundle.path_str(), &id]);
    assert_eq!((out.code, out.stdout.as_str()), (3, "kept\n"), "{out}");
    let state = rt.state(&id);
    assert_eq!(
        (state["status"].as_str(), state["pid"].as_i64()),
        (Some("stopped"), Some(0))
    );
    rt.ok(&["delete", &id]);
    rt.assert_clean(&id);

    let id = rt.id("nokeep");
    let bundle = rt.bundle(&id, &["true"]);
    rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    rt.run(&["state", &id]).fails_with(&["does not exist"]);
    rt.assert_clean(&id);
}

/// `kill --all` reaches the processes of a paused container (thawed for SIGKILL): the
/// container stops and every process is gone.
#[test]
fn kill_all_of_a_paused_container() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("killpaused");
    rt.ok(&["exec", "-d", &id, "sleep", "600"]);
    let pids = rt.ok(&["ps", "--format", "json", &id]).json();
    assert_eq!(pids.as_array().unwrap().len(), 2, "{pids}");
    rt.ok(&["pause", &id]);
    rt.ok(&["kill", "--all", &id, "KILL"]);
    rt.wait_status(&id, "stopped", Duration::from_secs(10));
    for pid in pids.as_array().unwrap() {
        let pid = pid.as_i64().unwrap() as i32;
        assert!(
            common::wait_for(Duration::from_secs(5), || !common::alive(pid)),
            "{pid} survived kill --all of the paused container"
        );
    }
}

/// `ps ID -- OPTIONS` runs ps(1) with those options and keeps the rows of the container's
/// processes (runc's behaviour: the header, then one row per process).
#[test]
fn ps_with_ps_options() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("psopts");
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let out = rt.ok(&["ps", &id, "--", "-o", "pid,comm"]);
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.first(), Some(&vec!["PID", "COMMAND"]), "{out}");
    assert_eq!(
        lines[1..],
        [vec![pid.to_string().as_str(), "sleep"]],
        "{out}"
    );
}

/// `events --interval` streams until the container stops, then ends with status 0 (runw's
/// behaviour; runc 1.1 keeps printing the stopped container's last figures).
#[test]
fn events_stream_ends_when_the_container_stops() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("events-end");
    let events = rt.spawn(&["events", "--interval", "100ms", &id]);
    let stdout = events.stdout_path().to_path_buf();
    assert!(
        common::wait_for(common::TIMEOUT, || {
            std::fs::read_to_string(&stdout).is_ok_and(|s| s.lines().count() >= 2)
        }),
        "no events while running"
    );
    rt.ok(&["kill", &id, "KILL"]);
    let out = events.wait(common::TIMEOUT);
    assert!(
        !out.timed_out,
        "events went on after the container stopped: {out}"
    );
    assert_eq!(out.code, 0, "{out}");
}

/// Global `--debug`: libcontainer's debug events reach stderr as runc-style lines (and the
/// command works as without it); without it, none.
#[test]
fn debug_flag_logs_debug_lines() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("debug");
    let bundle = rt.bundle(&id, &["true"]);
    let out = rt.ok(&["--debug", "run", "--bundle", bundle.path_str(), &id]);
    assert!(out.stderr.lines().count() > 1, "{out}");
    for line in out.stderr.lines() {
        assert!(
            line.starts_with("time=\"") && line.contains(" level="),
            "{line:?}: {out}"
        );
    }
    assert!(out.stderr.contains("level=debug"), "{out}");
    let id = rt.id("nodebug");
    let bundle = rt.bundle(&id, &["true"]);
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(out.stderr, "", "{out}");
}

/// Regression: when the container's process cannot start after `create` succeeded (here a
/// failing `startContainer` hook), `run` ended with status 255 and not a word. Now the init
/// reports it as runc does, one error line naming the hook, and `run` leaves nothing.
#[test]
fn run_reports_a_start_failure_and_cleans_up() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("startfail");
    let mut bundle = rt.bundle(&id, &["echo", "never printed"]);
    bundle.edit(|c| c["hooks"] = serde_json::json!({"startContainer": [{"path": "/bin/false"}]}));
    let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
    assert_ne!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "", "{out}");
    let err = out.stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "{out}");
    assert!(err.contains("level=error") && err.contains("hook"), "{out}");
    rt.assert_clean(&id);
}

/// `delete --force` removes a state directory that holds no state.json (what a create
/// killed at the wrong moment leaves); plain `delete` of it is an error.
#[test]
fn delete_force_of_a_state_directory_without_state_json() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("nostate");
    rt.ok(&["list"]);
    std::fs::create_dir_all(rt.root.join(&id)).unwrap();
    assert_ne!(rt.run(&["delete", &id]).code, 0);
    rt.ok(&["delete", "--force", &id]);
    assert!(!rt.root.join(&id).exists());
    rt.assert_clean(&id);
}
