//! Commands that act on the container's cgroup: pause/resume, update, events --stats, ps.

mod common;

use std::time::Duration;

use common::{cgroup_file, read_trim, Runtime};
use serde_json::json;

#[test]
fn pause_and_resume() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("pause");
    let freezer = cgroup_file(&id, "freezer", "freezer.state", "cgroup.freeze");
    let (frozen, thawed) = if common::cgroup_v2_only() {
        ("1", "0")
    } else {
        ("FROZEN", "THAWED")
    };
    assert_eq!(read_trim(&freezer), thawed);

    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    assert_eq!(read_trim(&freezer), frozen);
    // Pausing twice is an error (runc: "container not running").
    rt.run(&["pause", &id]).fails_with(&[&id]);

    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "running");
    assert_eq!(read_trim(&freezer), thawed);
    rt.run(&["resume", &id]).fails_with(&["not paused"]);

    // exec into a paused container is refused (runc needs --ignore-paused).
    rt.ok(&["pause", &id]);
    rt.run(&["exec", &id, "true"]).fails_with(&["paused"]);
    // KILL reaches a paused container.
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
}

#[test]
fn update_memory_and_pids_limits() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("update");
    let memory = cgroup_file(&id, "memory", "memory.limit_in_bytes", "memory.max");
    let pids = cgroup_file(&id, "pids", "pids.max", "pids.max");

    rt.ok(&["update", "--memory", "64m", "--pids-limit", "20", &id]);
    assert_eq!(read_trim(&memory), (64u64 << 20).to_string());
    assert_eq!(read_trim(&pids), "20");

    // LinuxResources JSON on stdin, as containerd's shim and CRI-O send it.
    let resources = json!({"memory": {"limit": 32u64 << 20}, "pids": {"limit": 10}});
    rt.run_with_stdin(
        &["update", "--resources", "-", &id],
        resources.to_string().as_bytes(),
    )
    .ok();
    assert_eq!(read_trim(&memory), (32u64 << 20).to_string());
    assert_eq!(read_trim(&pids), "10");

    // ... and from a file.
    let dir = tempfile::tempdir().unwrap();
    let file = common::write_file(
        dir.path(),
        "r.json",
        &json!({"pids": {"limit": 7}}).to_string(),
    );
    rt.ok(&["update", "--resources", file.to_str().unwrap(), &id]);
    assert_eq!(read_trim(&pids), "7");

    // The pids limit is enforced: the container cannot fork past it.
    let out = rt.run(&[
        "exec",
        &id,
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; wait",
    ]);
    assert!(
        out.stderr.contains("can't fork") || out.stderr.contains("Resource temporarily"),
        "pids.max=7 not enforced: {out}"
    );
}

#[test]
fn update_cpu_limits() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("update-cpu");
    rt.ok(&[
        "update",
        "--cpu-shares",
        "512",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        &id,
    ]);
    if !common::cgroup_v2_only() {
        assert_eq!(read_trim(&cgroup_file(&id, "cpu", "cpu.shares", "")), "512");
        assert_eq!(
            read_trim(&cgroup_file(&id, "cpu", "cpu.cfs_quota_us", "")),
            "50000"
        );
        assert_eq!(
            read_trim(&cgroup_file(&id, "cpu", "cpu.cfs_period_us", "")),
            "100000"
        );
    }
}

#[test]
fn update_of_unknown_container_fails() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("update-none");
    rt.run(&["update", "--pids-limit", "5", &id])
        .fails_with(&["does not exist"]);
    rt.assert_clean(&id);
}

#[test]
fn events_stats_json() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("events");
    let event = rt.ok(&["events", "--stats", &id]).json();
    assert_eq!(event["type"], "stats", "{event}");
    assert_eq!(event["id"], id.as_str(), "{event}");
    let data = &event["data"];
    assert!(
        data["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "pids.current: {event}"
    );
    assert!(
        data["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "memory.usage.usage: {event}"
    );
    assert!(
        data["cpu"]["usage"]["total"].as_u64().is_some(),
        "cpu.usage.total: {event}"
    );

    // Streaming: one event per interval until killed.
    let events = rt.spawn(&["events", "--interval", "100ms", &id]);
    std::thread::sleep(Duration::from_millis(550));
    let mut child = events;
    let _ = child.child.kill();
    let out = child.wait(common::TIMEOUT);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.len() >= 2, "expected several events: {out}");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["type"], "stats");
    }
}

#[test]
fn events_of_unknown_container_fails() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("events-none");
    rt.run(&["events", "--stats", &id])
        .fails_with(&["does not exist"]);
}

#[test]
fn ps_json_contains_the_init_pid() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("ps");
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let ps = rt.ok(&["ps", "--format", "json", &id]).json();
    assert_eq!(ps, json!([pid]), "ps --format json");
}
