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
    // What the kernel reports, not only what was requested: v1 freezer.state reads FREEZING
    // until every task is frozen; v2 cgroup.events says `frozen 1` once they are.
    let v2 = common::cgroup_v2_only();
    let freezer = cgroup_file(&id, "freezer", "freezer.state", "cgroup.events");
    let state = || {
        let text = read_trim(&freezer);
        if v2 {
            let frozen = text.lines().any(|l| l.trim() == "frozen 1");
            (if frozen { "FROZEN" } else { "THAWED" }).to_string()
        } else {
            text
        }
    };
    assert_eq!(state(), "THAWED");

    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    assert_eq!(state(), "FROZEN");
    if v2 {
        let freeze = cgroup_file(&id, "", "", "cgroup.freeze");
        assert_eq!(read_trim(&freeze), "1");
    }
    // Pausing twice is an error (runc: "container not running").
    rt.run(&["pause", &id]).fails_with(&[&id]);

    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "running");
    assert_eq!(state(), "THAWED");
    rt.run(&["resume", &id]).fails_with(&["not paused"]);

    // exec into a paused container is refused (runc needs --ignore-paused).
    rt.ok(&["pause", &id]);
    rt.run(&["exec", &id, "true"]).exec_fails_with(&["paused"]);
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

    // memory+swap equal to memory: no swap (v1 memory.memsw = the limit, v2 memory.swap.max
    // = 0); twice the memory: as much swap as memory.
    let swap = cgroup_file(
        &id,
        "memory",
        "memory.memsw.limit_in_bytes",
        "memory.swap.max",
    );
    let v2 = common::cgroup_v2_only();
    rt.ok(&["update", "--memory", "64m", "--memory-swap", "64m", &id]);
    assert_eq!(read_trim(&memory), (64u64 << 20).to_string());
    assert_eq!(
        read_trim(&swap),
        if v2 { 0 } else { 64u64 << 20 }.to_string(),
        "--memory-swap equal to --memory must disable swap"
    );
    rt.ok(&["update", "--memory", "64m", "--memory-swap", "128m", &id]);
    assert_eq!(
        read_trim(&swap),
        if v2 { 64u64 << 20 } else { 128u64 << 20 }.to_string()
    );

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
    if common::cgroup_v2_only() {
        assert_eq!(
            read_trim(&cgroup_file(&id, "", "", "cpu.max")),
            "50000 100000"
        );
        // shares 512 -> weight 59: the conversion of runc >= 1.3, crun and libcgroups
        // (quadratic in log2(shares), 1024 -> 100); runc <= 1.2 wrote 20.
        assert_eq!(read_trim(&cgroup_file(&id, "", "", "cpu.weight")), "59");
    } else {
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

/// `update --blkio-weight` (500 in blkio's 10..1000): on v1 blkio.weight (CFQ) or
/// blkio.bfq.weight (BFQ, kernels 5.0+), whichever the kernel shows in the container's cgroup,
/// as libcgroups and runc pick; on v2 io.bfq.weight as it is or io.weight converted to
/// 1..10000 as runc does (4950). Skipped (and reported) where the kernel has no weight file.
#[test]
fn update_blkio_weight() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("update-blkio");
    let candidates = if common::cgroup_v2_only() {
        vec![
            (cgroup_file(&id, "", "", "io.bfq.weight"), "default 500"),
            (cgroup_file(&id, "", "", "io.weight"), "default 4950"),
        ]
    } else {
        vec![
            (cgroup_file(&id, "blkio", "blkio.weight", ""), "500"),
            (cgroup_file(&id, "blkio", "blkio.bfq.weight", ""), "500"),
        ]
    };
    let Some((file, want)) = candidates.into_iter().find(|(f, _)| f.exists()) else {
        skip!("no I/O weight file in the container's cgroup (no weight-based I/O scheduler)");
    };
    rt.ok(&["update", "--blkio-weight", "500", &id]);
    let got = read_trim(&file);
    assert!(
        got.lines().any(|l| l.trim() == want),
        "{}: {got:?}, expected a line {want:?}",
        file.display()
    );
}

/// The device rules reach the kernel (v1 devices controller, v2 eBPF program): with one rule
/// allowing reads of `b 8:20`, a node of an unlisted device cannot be opened (EPERM) while
/// /dev/null's and the allowed reads can (they may fail otherwise: ENXIO when there is no
/// such disk). The same without the leading deny-all rule of `runw spec`: like runc, only
/// listed devices are allowed (on v1 a new devices cgroup inherits allow-all).
#[test]
fn device_rules_are_enforced() {
    require_root!();
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let rt = Runtime::runw();
    let probe = r#"for t in "b8_21 <" "b8_21 >" "b8_20 <" "b8_20 >" "c1_3 <" "c1_3 >"; do
      set -- $t
      if [ "$2" = "<" ]; then e=$( (exec 3</devtest/$1) 2>&1 ); else e=$( (exec 3>/devtest/$1) 2>&1 ); fi
      case "$e" in *"not permitted"*) echo "$1 $2 EPERM";; *) echo "$1 $2 allowed";; esac
    done"#;
    let allow_b8_20_read =
        json!({"allow": true, "type": "b", "major": 8, "minor": 20, "access": "r"});
    for (what, rules) in [
        (
            "deny-all, then the rule",
            json!([{"allow": false, "access": "rwm"}, allow_b8_20_read]),
        ),
        ("only the rule", json!([allow_b8_20_read])),
    ] {
        let id = rt.id("devices");
        let mut bundle = rt.bundle(&id, &["sh", "-c", probe]);
        bundle.edit(|c| c["linux"]["resources"]["devices"] = rules);
        let dir = bundle.rootfs().join("devtest");
        std::fs::create_dir(&dir).unwrap();
        for (name, kind, major, minor) in [
            ("b8_21", SFlag::S_IFBLK, 8, 21),
            ("b8_20", SFlag::S_IFBLK, 8, 20),
            ("c1_3", SFlag::S_IFCHR, 1, 3),
        ] {
            mknod(
                &dir.join(name),
                kind,
                Mode::from_bits_truncate(0o666),
                makedev(major, minor),
            )
            .unwrap();
        }
        let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
        assert_eq!(
            out.stdout.lines().collect::<Vec<_>>(),
            [
                "b8_21 < EPERM",
                "b8_21 > EPERM",
                "b8_20 < allowed",
                "b8_20 > EPERM",
                "c1_3 < allowed",
                "c1_3 > allowed",
            ],
            "{what}: {out}"
        );
    }
}

/// Containers created at the same time under a cgroup parent that does not exist yet all
/// start: libcgroups 0.7 on v2 makes missing parents with exists() then mkdir, and the loser
/// of that race failed with "failed to create dir ...: File exists" (runw makes them first).
#[test]
fn concurrent_creates_under_a_new_parent() {
    require_root!();
    let rt = Runtime::runw();
    let parent = format!("{}/{}", common::CGROUP_PARENT, common::unique_id("parent"));
    let containers: Vec<_> = (0..6)
        .map(|_| {
            let id = rt.id("concurrent");
            let mut bundle = rt.bundle(&id, &["sleep", "600"]);
            bundle.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{parent}/{id}")));
            (id, bundle)
        })
        .collect();
    let runs: Vec<_> = containers
        .iter()
        .map(|(id, bundle)| rt.spawn(&["run", "-d", "--bundle", bundle.path_str(), id]))
        .collect();
    let outs: Vec<_> = runs.into_iter().map(|r| r.wait(common::TIMEOUT)).collect();
    for (id, _) in &containers {
        rt.run(&["delete", "--force", id]);
    }
    // Runtimes leave the parents they made (runc too): the test removes its own, after
    // checking that the containers' cgroups are gone.
    for root in common::cgroup_roots() {
        let dir = root.join(&parent);
        if dir.is_dir() {
            let left: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.path())
                .collect();
            assert!(left.is_empty(), "cgroups left: {left:?}");
            std::fs::remove_dir(&dir).unwrap();
        }
    }
    for out in outs {
        out.ok();
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

    // Streaming: one event per interval until killed. (Wait for the lines rather than a fixed
    // time: one event can take longer than the interval on a slow machine.)
    let mut child = rt.spawn(&["events", "--interval", "100ms", &id]);
    let stdout = child.stdout_path().to_path_buf();
    let three = common::wait_for(common::TIMEOUT, || {
        std::fs::read_to_string(&stdout).is_ok_and(|s| s.lines().count() >= 3)
    });
    let _ = child.child.kill();
    let out = child.wait(common::TIMEOUT);
    assert!(three, "expected an event per interval: {out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
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

/// Without linux.cgroupsPath the cgroup is named after the container, as runc's cgroupfs
/// driver does (`/<id>`, on v1 and v2), not `:youki:<id>`; exec'd processes join it, `state` shows the
/// user's bundle, and delete removes it.
#[test]
fn default_cgroup_is_named_after_the_container() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("defcg");
    let mut bundle = rt.bundle(&id, &["sleep", "600"]);
    bundle.edit(|c| {
        c["linux"].as_object_mut().unwrap().remove("cgroupsPath");
    });
    rt.run_detached(&id, &bundle);
    // One hierarchy stands for all: v1's memory controller, or the v2 mount.
    let hierarchy = if common::cgroup_v2_only() {
        std::path::Path::new("/sys/fs/cgroup")
    } else {
        std::path::Path::new("/sys/fs/cgroup/memory")
    };
    let dir = hierarchy.join(&id);
    let youki = hierarchy.join(format!(":youki:{id}"));
    assert!(dir.is_dir(), "{} missing", dir.display());
    assert!(!youki.exists(), "{} exists", youki.display());
    let state = rt.state(&id);
    assert_eq!(state["bundle"], bundle.path_str(), "{state}");
    let pid = state["pid"].as_i64().unwrap().to_string();
    let procs = read_trim(&dir.join("cgroup.procs"));
    assert!(procs.lines().any(|p| p == pid), "{procs}");
    let pid_file = rt.scratch.path().join("exec.pid");
    let pid_arg = pid_file.to_str().unwrap();
    rt.ok(&["exec", "-d", "--pid-file", pid_arg, &id, "sleep", "600"]);
    let exec_pid = read_trim(&pid_file);
    let procs = read_trim(&dir.join("cgroup.procs"));
    assert!(procs.lines().any(|p| p == exec_pid), "{procs}");
    assert!(!youki.exists(), "exec made {}", youki.display());
    rt.ok(&["delete", "--force", &id]);
    assert!(!dir.exists(), "{} left", dir.display());
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
}

/// `update --memory-reservation`, `--cpuset-cpus` and `--cpuset-mems` reach the cgroup files
/// (v1 memory.soft_limit_in_bytes and cpuset.*, v2 memory.low and cpuset.*); update of a
/// stopped container fails as runc's does ("not running").
#[test]
fn update_reservation_cpuset_and_stopped() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("update-more");
    rt.ok(&[
        "update",
        "--memory-reservation",
        "33554432",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        &id,
    ]);
    let reservation = cgroup_file(&id, "memory", "memory.soft_limit_in_bytes", "memory.low");
    assert_eq!(read_trim(&reservation), "33554432");
    let cpus = cgroup_file(&id, "cpuset", "cpuset.cpus", "cpuset.cpus");
    let mems = cgroup_file(&id, "cpuset", "cpuset.mems", "cpuset.mems");
    assert_eq!(
        (read_trim(&cpus), read_trim(&mems)),
        ("0".into(), "0".into())
    );

    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    rt.run(&["update", "--memory", "67108864", &id])
        .fails_with(&["not running"]);
}
