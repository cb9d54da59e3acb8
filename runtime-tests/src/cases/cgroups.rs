//! linux.resources, read back from the host's cgroup v1 files while the
//! container is created (runtime-tools' linux_cgroups_* cases).

use std::fs;
use std::path::PathBuf;

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::Case;
use crate::bundle::default_config;
use crate::ctx::{pass, set_args, CaseResult, Ctx};
use crate::host::Host;

/// What a cgroup file must hold.
enum Expect {
    Eq(String),
    Has(String),
}

/// (controller, file, expectation)
type Check = (&'static str, String, Expect);

fn eq(ctrl: &'static str, file: &str, v: impl ToString) -> Check {
    (ctrl, file.to_string(), Expect::Eq(v.to_string()))
}

fn has(ctrl: &'static str, file: &str, v: impl ToString) -> Check {
    (ctrl, file.to_string(), Expect::Has(v.to_string()))
}

macro_rules! cg_case {
    ($name:expr, $skip:expr, $run:expr) => {
        Case {
            name: $name,
            skip: $skip,
            run: $run,
        }
    };
}

pub fn cases() -> Vec<Case> {
    vec![
        cg_case!("linux_cgroups_blkio", skip_blkio, |c| blkio(c, false)),
        cg_case!("linux_cgroups_relative_blkio", skip_blkio, |c| blkio(
            c, true
        )),
        cg_case!(
            "linux_cgroups_blkio_weight",
            skip_blkio_weight,
            blkio_weight
        ),
        cg_case!("linux_cgroups_cpus", skip_cpus, |c| cpus(c, false)),
        cg_case!("linux_cgroups_relative_cpus", skip_cpus, |c| cpus(c, true)),
        cg_case!("linux_cgroups_cpus_realtime", skip_rt, cpus_realtime),
        cg_case!(
            "linux_cgroups_devices",
            |h| need(h, "devices"),
            |c| devices(c, false)
        ),
        cg_case!(
            "linux_cgroups_relative_devices",
            |h| need(h, "devices"),
            |c| devices(c, true)
        ),
        cg_case!("linux_cgroups_hugetlb", skip_hugetlb, |c| hugetlb(c, false)),
        cg_case!("linux_cgroups_relative_hugetlb", skip_hugetlb, |c| hugetlb(
            c, true
        )),
        cg_case!("linux_cgroups_memory", |h| need(h, "memory"), |c| memory(
            c, false
        )),
        cg_case!(
            "linux_cgroups_relative_memory",
            |h| need(h, "memory"),
            |c| memory(c, true)
        ),
        cg_case!("linux_cgroups_memory_kernel", skip_kmem, memory_kernel),
        cg_case!(
            "linux_cgroups_memory_kernel_tcp",
            skip_kmem_tcp,
            memory_kernel_tcp
        ),
        cg_case!("linux_cgroups_network", skip_network, |c| network(c, false)),
        cg_case!("linux_cgroups_relative_network", skip_network, |c| network(
            c, true
        )),
        cg_case!("linux_cgroups_pids", |h| need(h, "pids"), |c| pids(
            c, false
        )),
        cg_case!(
            "linux_cgroups_relative_pids",
            |h| need(h, "pids"),
            |c| pids(c, true)
        ),
        cg_case!("linux_cgroups_v2_pids", |h| h.v2("pids").err(), v2_pids),
        cg_case!(
            "linux_cgroups_v2_memory",
            |h| h.v2("memory").err(),
            v2_memory
        ),
        cg_case!(
            "linux_cgroups_v2_cpus",
            |h| h.v2("cpu").err().or_else(|| h.v2("cpuset").err()),
            v2_cpus
        ),
        cg_case!("linux_cgroups_v2_io", skip_v2_io, v2_io),
        cg_case!("linux_cgroups_v2_hugetlb", skip_v2_hugetlb, v2_hugetlb),
    ]
}

fn need(h: &Host, ctrl: &str) -> Option<String> {
    h.v1(ctrl).err()
}

fn skip_blkio(h: &Host) -> Option<String> {
    need(h, "blkio").or_else(|| {
        h.disk
            .is_none()
            .then(|| "no block device in /sys/block".into())
    })
}

fn blkio_weight_file(h: &Host) -> Option<&'static str> {
    let dir = h.cgroup_v1.get("blkio")?;
    ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| dir.join(f).exists())
}

fn skip_blkio_weight(h: &Host) -> Option<String> {
    need(h, "blkio").or_else(|| {
        blkio_weight_file(h).is_none().then(|| {
            "blkio.weight and blkio.bfq.weight are absent (no CFQ/BFQ I/O scheduler): the kernel has no weight to set".into()
        })
    })
}

fn skip_cpus(h: &Host) -> Option<String> {
    need(h, "cpu").or_else(|| need(h, "cpuset"))
}

fn skip_rt(h: &Host) -> Option<String> {
    skip_cpus(h).or_else(|| {
        let dir = h.cgroup_v1.get("cpu")?;
        (!dir.join("cpu.rt_runtime_us").exists())
            .then(|| "cpu.rt_runtime_us is absent (kernel without CONFIG_RT_GROUP_SCHED)".into())
    })
}

fn skip_hugetlb(h: &Host) -> Option<String> {
    let mut why = Vec::new();
    if h.hugepages.is_empty() {
        why.push(
            "no huge pages reserved on this host (/sys/kernel/mm/hugepages/*/nr_hugepages are 0)"
                .to_string(),
        );
    }
    if let Some(e) = need(h, "hugetlb") {
        why.push(e);
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn skip_network(h: &Host) -> Option<String> {
    need(h, "net_cls").or_else(|| need(h, "net_prio"))
}

/// The kernel accepts writes to memory.kmem.limit_in_bytes but ignores them
/// since Linux 6.x; probe it in a scratch cgroup.
fn skip_kmem(h: &Host) -> Option<String> {
    let mem = match h.v1("memory") {
        Ok(m) => m.to_path_buf(),
        Err(e) => return Some(e),
    };
    let probe = mem.join(format!("runtime-tests-kmem-probe-{}", std::process::id()));
    let _ = fs::create_dir(&probe);
    let file = probe.join("memory.kmem.limit_in_bytes");
    let _ = fs::write(&file, "50593792");
    let got = fs::read_to_string(&file).unwrap_or_default();
    let _ = fs::remove_dir(&probe);
    (got.trim() != "50593792").then(|| {
        format!(
            "this kernel ignores memory.kmem.limit_in_bytes (a write of 50593792 reads back {:?}; kernel memory limits are deprecated)",
            got.trim()
        )
    })
}

fn skip_kmem_tcp(h: &Host) -> Option<String> {
    match h.v1("memory") {
        Err(e) => Some(e),
        Ok(dir) => (!dir.join("memory.kmem.tcp.limit_in_bytes").exists())
            .then(|| "memory.kmem.tcp.limit_in_bytes is absent on this kernel".into()),
    }
}

/// The host directory of the container's cgroup for `ctrl`, checked
/// against cgroupsPath (equal if absolute, a suffix if relative).
fn cgroup_dir(ctx: &Ctx, pid: i64, ctrl: &str, cg: &str) -> Result<PathBuf> {
    // "v2:<controller>" is a file of the unified hierarchy.
    let (mnt, wanted) = match ctrl.strip_prefix("v2:") {
        Some(c) => (ctx.host().v2(c).map_err(|e| anyhow!(e))?, ""),
        None => (ctx.host().v1(ctrl).map_err(|e| anyhow!(e))?, ctrl),
    };
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let path = text
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, c, p) = (f.next()?, f.next()?, f.next()?);
            let hit = if wanted.is_empty() {
                c.is_empty()
            } else {
                c.split(',').any(|x| x == wanted)
            };
            hit.then(|| p.to_string())
        })
        .ok_or_else(|| anyhow!("container is in no {ctrl} cgroup"))?;
    if cg.starts_with('/') {
        ensure!(path == cg, "{ctrl} cgroup is {path}, cgroupsPath is {cg}");
    } else {
        ensure!(
            path.ends_with(&format!("/{cg}")),
            "{ctrl} cgroup {path} does not end with the relative cgroupsPath {cg}"
        );
    }
    Ok(mnt.join(path.trim_start_matches('/')))
}

/// Check every file; report all mismatches at once.
fn verify(ctx: &Ctx, pid: i64, cg: &str, checks: &[Check]) -> Result<()> {
    let mut bad = Vec::new();
    for (ctrl, file, want) in checks {
        let p = cgroup_dir(ctx, pid, ctrl, cg)?.join(file);
        let got = fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?;
        match want {
            Expect::Eq(w) if got.trim() == w => {}
            Expect::Has(w) if got.lines().any(|l| l.trim() == w) => {}
            Expect::Eq(w) => bad.push(format!("{file} is {:?}, expected {w:?}", got.trim())),
            Expect::Has(w) => bad.push(format!("{file} ({:?}) has no line {w:?}", got.trim())),
        }
    }
    if !bad.is_empty() {
        bail!("{}", bad.join("; "));
    }
    Ok(())
}

/// Create with `resources`, check the cgroup files, then run to the end.
fn run(ctx: &mut Ctx, relative: bool, resources: Value, checks: &[Check]) -> Result<()> {
    let cg = ctx.cgroup_path(relative);
    run_at(ctx, cg, resources, checks)
}

fn run_at(ctx: &mut Ctx, cg: String, resources: Value, checks: &[Check]) -> Result<()> {
    let mut cfg = default_config();
    set_args(&mut cfg, &["true"]);
    cfg["linux"]["cgroupsPath"] = json!(cg);
    if let (Some(dst), Some(src)) = (
        cfg["linux"]["resources"].as_object_mut(),
        resources.as_object(),
    ) {
        dst.extend(src.clone());
    }
    let (_, id, st) = ctx.created(&cfg)?;
    verify(ctx, st.pid, &cg, checks)?;
    ctx.finish(&id)
}

fn blkio(ctx: &mut Ctx, relative: bool) -> CaseResult {
    let (ma, mi) = ctx.host().disk.ok_or_else(|| anyhow!("no disk"))?;
    let dev = |rate: u64| json!([{"major": ma, "minor": mi, "rate": rate}]);
    let res = json!({"blockIO": {
        "throttleReadBpsDevice": dev(102400), "throttleWriteBpsDevice": dev(204800),
        "throttleReadIOPSDevice": dev(300), "throttleWriteIOPSDevice": dev(400)
    }});
    let d = |v: u64| format!("{ma}:{mi} {v}");
    let checks = [
        has("blkio", "blkio.throttle.read_bps_device", d(102400)),
        has("blkio", "blkio.throttle.write_bps_device", d(204800)),
        has("blkio", "blkio.throttle.read_iops_device", d(300)),
        has("blkio", "blkio.throttle.write_iops_device", d(400)),
    ];
    run(ctx, relative, res, &checks)?;
    pass()
}

fn blkio_weight(ctx: &mut Ctx) -> CaseResult {
    let file = blkio_weight_file(ctx.host()).ok_or_else(|| anyhow!("no weight file"))?;
    run(
        ctx,
        false,
        json!({"blockIO": {"weight": 500}}),
        &[eq("blkio", file, 500)],
    )?;
    pass()
}

fn cpus(ctx: &mut Ctx, relative: bool) -> CaseResult {
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let all = if n > 1 {
        format!("0-{}", n - 1)
    } else {
        "0".into()
    };
    for (shares, period, quota, cpus) in [
        (1024, 100000, 50000, "0".to_string()),
        (2048, 500000, 200000, all),
    ] {
        let res = json!({"cpu": {"shares": shares, "period": period, "quota": quota, "cpus": cpus, "mems": "0"}});
        let checks = [
            eq("cpu", "cpu.shares", shares),
            eq("cpu", "cpu.cfs_period_us", period),
            eq("cpu", "cpu.cfs_quota_us", quota),
            eq("cpuset", "cpuset.cpus", &cpus),
            eq("cpuset", "cpuset.mems", "0"),
        ];
        run(ctx, relative, res, &checks).with_context(|| {
            format!("shares {shares} period {period} quota {quota} cpus {cpus}")
        })?;
    }
    // An empty cpu section is valid and changes nothing.
    run(ctx, relative, json!({"cpu": {}}), &[]).context("empty linux.resources.cpu")?;
    pass()
}

fn cpus_realtime(ctx: &mut Ctx) -> CaseResult {
    let res = json!({"cpu": {"realtimePeriod": 1000000, "realtimeRuntime": 950000}});
    let checks = [
        eq("cpu", "cpu.rt_period_us", 1000000),
        eq("cpu", "cpu.rt_runtime_us", 950000),
    ];
    // Right under the root: a new intermediate cgroup has no real-time
    // budget to give (its cpu.rt_runtime_us is 0), which the kernel enforces.
    let cg = ctx.cgroup_path_flat();
    run_at(ctx, cg, res, &checks)?;
    pass()
}

fn devices(ctx: &mut Ctx, relative: bool) -> CaseResult {
    let res = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        {"allow": true, "type": "b", "major": 8, "minor": 20, "access": "rw"},
        {"allow": true, "type": "b", "major": 10, "minor": 200, "access": "r"}
    ]});
    let checks = [
        has("devices", "devices.list", "c 10:229 rwm"),
        has("devices", "devices.list", "b 8:20 rw"),
        has("devices", "devices.list", "b 10:200 r"),
    ];
    run(ctx, relative, res, &checks)?;
    pass()
}

fn hugetlb(ctx: &mut Ctx, relative: bool) -> CaseResult {
    let size = ctx
        .host()
        .hugepages
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("no huge pages"))?;
    let limit: u64 = 64 << 20;
    let res = json!({"hugepageLimits": [{"pageSize": size, "limit": limit}]});
    run(
        ctx,
        relative,
        res,
        &[eq(
            "hugetlb",
            &format!("hugetlb.{size}.limit_in_bytes"),
            limit,
        )],
    )?;
    pass()
}

fn memory(ctx: &mut Ctx, relative: bool) -> CaseResult {
    for (limit, swappiness) in [(50593792u64, 10), (151781376u64, 100)] {
        let res = json!({"memory": {
            "limit": limit, "reservation": limit, "swap": limit,
            "swappiness": swappiness, "disableOOMKiller": true
        }});
        let checks = [
            eq("memory", "memory.limit_in_bytes", limit),
            eq("memory", "memory.soft_limit_in_bytes", limit),
            eq("memory", "memory.memsw.limit_in_bytes", limit),
            eq("memory", "memory.swappiness", swappiness),
            has("memory", "memory.oom_control", "oom_kill_disable 1"),
        ];
        run(ctx, relative, res, &checks)
            .with_context(|| format!("limit {limit} swappiness {swappiness}"))?;
    }
    pass()
}

fn memory_kernel(ctx: &mut Ctx) -> CaseResult {
    let limit = 50593792u64;
    let res = json!({"memory": {"limit": limit, "kernel": limit}});
    run(
        ctx,
        false,
        res,
        &[eq("memory", "memory.kmem.limit_in_bytes", limit)],
    )?;
    pass()
}

fn memory_kernel_tcp(ctx: &mut Ctx) -> CaseResult {
    let limit = 50593792u64;
    let res = json!({"memory": {"limit": limit, "kernelTCP": limit}});
    run(
        ctx,
        false,
        res,
        &[eq("memory", "memory.kmem.tcp.limit_in_bytes", limit)],
    )?;
    pass()
}

fn network(ctx: &mut Ctx, relative: bool) -> CaseResult {
    let res =
        json!({"network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 1000}]}});
    let checks = [
        eq("net_cls", "net_cls.classid", 1048577),
        has("net_prio", "net_prio.ifpriomap", "lo 1000"),
    ];
    run(ctx, relative, res, &checks)?;
    pass()
}

fn pids(ctx: &mut Ctx, relative: bool) -> CaseResult {
    run(
        ctx,
        relative,
        json!({"pids": {"limit": 1000}}),
        &[eq("pids", "pids.max", 1000)],
    )?;
    pass()
}

fn skip_v2_io(h: &Host) -> Option<String> {
    h.v2("io").err().or_else(|| {
        h.disk
            .is_none()
            .then(|| "no block device in /sys/block".into())
    })
}

fn skip_v2_hugetlb(h: &Host) -> Option<String> {
    let mut why: Vec<String> = h.v2("hugetlb").err().into_iter().collect();
    if h.hugepages.is_empty() {
        why.push(
            "no huge pages reserved on this host (/sys/kernel/mm/hugepages/*/nr_hugepages are 0)"
                .into(),
        );
    }
    (!why.is_empty()).then(|| why.join("; "))
}

// cgroup v2: the OCI values as runc, crun and youki write them.

fn v2_pids(ctx: &mut Ctx) -> CaseResult {
    run(
        ctx,
        false,
        json!({"pids": {"limit": 1000}}),
        &[eq("v2:pids", "pids.max", 1000)],
    )?;
    pass()
}

/// memory.swap.max holds swap minus limit (OCI swap is memory+swap).
fn v2_memory(ctx: &mut Ctx) -> CaseResult {
    let limit = 50593792u64;
    let res = json!({"memory": {"limit": limit, "reservation": limit / 2, "swap": 2 * limit}});
    let checks = [
        eq("v2:memory", "memory.max", limit),
        eq("v2:memory", "memory.low", limit / 2),
        eq("v2:memory", "memory.swap.max", limit),
    ];
    run(ctx, false, res, &checks)?;
    pass()
}

/// cpu.weight is left out: its conversion from shares differs between
/// runtime versions.
fn v2_cpus(ctx: &mut Ctx) -> CaseResult {
    let res = json!({"cpu": {"period": 100000, "quota": 50000, "cpus": "0", "mems": "0"}});
    let checks = [
        eq("v2:cpu", "cpu.max", "50000 100000"),
        eq("v2:cpuset", "cpuset.cpus", "0"),
        eq("v2:cpuset", "cpuset.mems", "0"),
    ];
    run(ctx, false, res, &checks)?;
    pass()
}

fn v2_io(ctx: &mut Ctx) -> CaseResult {
    let (ma, mi) = ctx.host().disk.ok_or_else(|| anyhow!("no disk"))?;
    let dev = |rate: u64| json!([{"major": ma, "minor": mi, "rate": rate}]);
    let res = json!({"blockIO": {
        "throttleReadBpsDevice": dev(102400), "throttleWriteBpsDevice": dev(204800),
        "throttleReadIOPSDevice": dev(300), "throttleWriteIOPSDevice": dev(400)
    }});
    let line = format!("{ma}:{mi} rbps=102400 wbps=204800 riops=300 wiops=400");
    run(ctx, false, res, &[has("v2:io", "io.max", line)])?;
    pass()
}

fn v2_hugetlb(ctx: &mut Ctx) -> CaseResult {
    let size = ctx
        .host()
        .hugepages
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("no huge pages"))?;
    let limit: u64 = 64 << 20;
    let res = json!({"hugepageLimits": [{"pageSize": size, "limit": limit}]});
    run(
        ctx,
        false,
        res,
        &[eq("v2:hugetlb", &format!("hugetlb.{size}.max"), limit)],
    )?;
    pass()
}
