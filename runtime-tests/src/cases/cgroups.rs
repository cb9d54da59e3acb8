//! linux.resources, read back from the host's cgroup files while the
//! container is created (runtime-tools' linux_cgroups_* cases): the cgroup v1
//! files on a v1 or hybrid host, the cgroup v2 files on a v2 (unified) host
//! (`Host::unified`, from statfs of /sys/fs/cgroup). Device rules are also
//! checked from inside the container (open of device nodes), on both.

use std::fs;
use std::path::{Path, PathBuf};

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
    /// One of several values (e.g. two documented conversions).
    OneOf(Vec<String>),
}

/// (controller, file, expectation). The controller is a v1 controller
/// (`memory`) or `v2:<controller>` for a file of the unified hierarchy.
type Check = (&'static str, String, Expect);

fn eq(ctrl: &'static str, file: &str, v: impl ToString) -> Check {
    (ctrl, file.to_string(), Expect::Eq(v.to_string()))
}

fn has(ctrl: &'static str, file: &str, v: impl ToString) -> Check {
    (ctrl, file.to_string(), Expect::Has(v.to_string()))
}

fn one_of(ctrl: &'static str, file: &str, v: &[u64]) -> Check {
    (
        ctrl,
        file.to_string(),
        Expect::OneOf(v.iter().map(|x| x.to_string()).collect()),
    )
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
        cg_case!("linux_cgroups_devices", skip_devices, |c| devices(c, false)),
        cg_case!("linux_cgroups_relative_devices", skip_devices, |c| devices(
            c, true
        )),
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
    ]
}

/// Why `controller` cannot be checked here (v1 or v2, whichever the host uses).
fn need(h: &Host, ctrl: &str) -> Option<String> {
    h.cgroup_version_of(ctrl).err()
}

/// The v2 name of a v1 controller whose files the v2 checks read.
fn v2_name(ctrl: &str) -> &str {
    match ctrl {
        "blkio" => "io",
        c => c,
    }
}

/// Why a cgroup v1-only setting has nothing to check on a v2 host.
fn v1_only(h: &Host, what: &str) -> Option<String> {
    h.unified
        .then(|| format!("cgroup v2 (unified) host: cgroup v2 has no {what} (a cgroup v1 feature)"))
}

fn skip_blkio(h: &Host) -> Option<String> {
    need(h, v2_name_if(h, "blkio")).or_else(|| {
        h.disk
            .is_none()
            .then(|| "no block device in /sys/block".into())
    })
}

/// `ctrl` under the name the host's cgroup version uses.
fn v2_name_if<'a>(h: &Host, ctrl: &'a str) -> &'a str {
    if h.unified {
        v2_name(ctrl)
    } else {
        ctrl
    }
}

/// The file a blkio weight goes to: v1 `blkio.weight` (CFQ) or
/// `blkio.bfq.weight` (BFQ), v2 `io.bfq.weight` (BFQ) or `io.weight`
/// (blk-iocost), whichever exists. The kernel shows these files only below
/// the root of the hierarchy (`CFTYPE_NOT_ON_ROOT`), so they are probed in a
/// scratch child cgroup made for the purpose; `Err` says why there is none.
fn blkio_weight_file(h: &Host) -> Result<&'static str, String> {
    let (root, candidates) = if h.unified {
        (h.v2("io")?, ["io.bfq.weight", "io.weight"])
    } else {
        (h.v1("blkio")?, ["blkio.weight", "blkio.bfq.weight"])
    };
    let probe = root.join(format!("runtime-tests-blkio-probe-{}", std::process::id()));
    if let Err(e) = fs::create_dir(&probe) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(format!(
                "cannot make a scratch cgroup {} to look for the weight files: {e}",
                probe.display()
            ));
        }
    }
    let found = candidates.into_iter().find(|f| probe.join(f).exists());
    let _ = fs::remove_dir(&probe);
    found.ok_or_else(|| {
        if h.unified {
            "io.bfq.weight and io.weight are absent in a child cgroup (no BFQ, no blk-iocost): the kernel has no weight to set".into()
        } else {
            "blkio.weight and blkio.bfq.weight are absent in a child cgroup (no CFQ, BFQ not loaded): the kernel has no weight to set".into()
        }
    })
}

fn skip_blkio_weight(h: &Host) -> Option<String> {
    need(h, v2_name_if(h, "blkio")).or_else(|| blkio_weight_file(h).err())
}

fn skip_cpus(h: &Host) -> Option<String> {
    need(h, "cpu").or_else(|| need(h, "cpuset"))
}

fn skip_rt(h: &Host) -> Option<String> {
    if h.unified {
        return Some(
            "cgroup v2 (unified) host: there is no real-time CPU bandwidth in cgroup v2 (cpu.rt_period_us and cpu.rt_runtime_us are cgroup v1 files)"
                .into(),
        );
    }
    skip_cpus(h).or_else(|| {
        let dir = h.cgroup_v1.get("cpu")?;
        (!dir.join("cpu.rt_runtime_us").exists())
            .then(|| "cpu.rt_runtime_us is absent (kernel without CONFIG_RT_GROUP_SCHED)".into())
    })
}

/// v1: the devices controller; v2: device rules are an eBPF program, always
/// available.
fn skip_devices(h: &Host) -> Option<String> {
    if h.unified {
        None
    } else {
        need(h, "devices")
    }
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
    v1_only(h, "net_cls/net_prio controllers (classID, priorities)")
        .or_else(|| need(h, "net_cls"))
        .or_else(|| need(h, "net_prio"))
}

/// The kernel accepts writes to memory.kmem.limit_in_bytes but ignores them
/// since Linux 6.x; probe it in a scratch cgroup.
fn skip_kmem(h: &Host) -> Option<String> {
    if let Some(why) = v1_only(h, "kernel memory limit (memory.kmem.limit_in_bytes)") {
        return Some(why);
    }
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
    if let Some(why) = v1_only(
        h,
        "kernel TCP memory limit (memory.kmem.tcp.limit_in_bytes)",
    ) {
        return Some(why);
    }
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
            Expect::OneOf(ws) if ws.iter().any(|w| got.trim() == w) => {}
            Expect::Eq(w) => bad.push(format!("{file} is {:?}, expected {w:?}", got.trim())),
            Expect::Has(w) => bad.push(format!("{file} ({:?}) has no line {w:?}", got.trim())),
            Expect::OneOf(ws) => bad.push(format!(
                "{file} is {:?}, expected one of {ws:?}",
                got.trim()
            )),
        }
    }
    if !bad.is_empty() {
        bail!("{}", bad.join("; "));
    }
    Ok(())
}

/// The default config running `true`, with `resources` merged into
/// linux.resources and the given cgroupsPath.
fn config(cg: &str, resources: Value) -> Value {
    let mut cfg = default_config();
    set_args(&mut cfg, &["true"]);
    cfg["linux"]["cgroupsPath"] = json!(cg);
    if let (Some(dst), Some(src)) = (
        cfg["linux"]["resources"].as_object_mut(),
        resources.as_object(),
    ) {
        dst.extend(src.clone());
    }
    cfg
}

/// Create with `resources`, check the cgroup files, then run to the end.
fn run(ctx: &mut Ctx, relative: bool, resources: Value, checks: &[Check]) -> Result<()> {
    let cg = ctx.cgroup_path(relative);
    run_at(ctx, cg, resources, checks)
}

fn run_at(ctx: &mut Ctx, cg: String, resources: Value, checks: &[Check]) -> Result<()> {
    let (_, id, st) = ctx.created(&config(&cg, resources))?;
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
    let checks = if ctx.host().unified {
        vec![has(
            "v2:io",
            "io.max",
            format!("{ma}:{mi} rbps=102400 wbps=204800 riops=300 wiops=400"),
        )]
    } else {
        vec![
            has("blkio", "blkio.throttle.read_bps_device", d(102400)),
            has("blkio", "blkio.throttle.write_bps_device", d(204800)),
            has("blkio", "blkio.throttle.read_iops_device", d(300)),
            has("blkio", "blkio.throttle.write_iops_device", d(400)),
        ]
    };
    run(ctx, relative, res, &checks)?;
    pass()
}

/// v1: `blkio.weight` or `blkio.bfq.weight` holds the weight as it is
/// (libcgroups and runc write the BFQ file when the CFQ one is absent).
/// v2: BFQ takes the weight as it is (`default 500`); io.weight takes
/// runc's conversion of the blkio range 10..1000 to 1..10000.
fn blkio_weight(ctx: &mut Ctx) -> CaseResult {
    let file = blkio_weight_file(ctx.host()).map_err(|e| anyhow!(e))?;
    let check = match file {
        "io.bfq.weight" => has("v2:io", file, "default 500"),
        "io.weight" => has(
            "v2:io",
            file,
            format!("default {}", 1 + (500 - 10) * 9999 / 990),
        ),
        _ => eq("blkio", file, 500),
    };
    run(ctx, false, json!({"blockIO": {"weight": 500}}), &[check])?;
    pass()
}

/// cpu.weight from cpu.shares: runc ≤ 1.2 converts linearly (1024 → 39),
/// runc ≥ 1.3, crun and youki quadratically in log2 (1024 → 100, the
/// default weight). Both are accepted.
fn cpu_weights(shares: u64) -> [u64; 2] {
    let linear = 1 + ((shares - 2) * 9999) / 262142;
    let l = (shares as f64).log2();
    let quadratic = 10f64.powf((l * l + 125.0 * l) / 612.0 - 7.0 / 34.0).ceil() as u64;
    [linear, quadratic]
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
    let v2 = ctx.host().unified;
    for (shares, period, quota, cpus) in [
        (1024, 100000, 50000, "0".to_string()),
        (2048, 500000, 200000, all),
    ] {
        let res = json!({"cpu": {"shares": shares, "period": period, "quota": quota, "cpus": cpus, "mems": "0"}});
        let checks = if v2 {
            vec![
                one_of("v2:cpu", "cpu.weight", &cpu_weights(shares)),
                eq("v2:cpu", "cpu.max", format!("{quota} {period}")),
                eq("v2:cpuset", "cpuset.cpus", &cpus),
                eq("v2:cpuset", "cpuset.mems", "0"),
            ]
        } else {
            vec![
                eq("cpu", "cpu.shares", shares),
                eq("cpu", "cpu.cfs_period_us", period),
                eq("cpu", "cpu.cfs_quota_us", quota),
                eq("cpuset", "cpuset.cpus", &cpus),
                eq("cpuset", "cpuset.mems", "0"),
            ]
        };
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

/// Device nodes made in the bundle's rootfs (`/devtest/NAME`), what the
/// rules below allow, and whether opening them for reading / writing must be
/// refused by the device cgroup (EPERM). Allowed opens may still fail for
/// another reason (ENXIO: no such device on this machine), which is fine.
const DEVICE_NODES: &[(&str, char, u64, u64, bool, bool)] = &[
    // name, type, major, minor, read denied, write denied
    ("c10_229", 'c', 10, 229, false, false), // allowed rwm
    ("b8_20", 'b', 8, 20, false, false),     // allowed rw
    ("b10_200", 'b', 10, 200, false, true),  // allowed r
    ("b8_21", 'b', 8, 21, true, true),       // not in the rules: denied
    ("c10_228", 'c', 10, 228, true, true),   // not in the rules: denied
    ("c1_3", 'c', 1, 3, false, false),       // /dev/null: the runtime's default allow list
];

/// Opens every /devtest node for reading and for writing; one line each:
/// `devtest NAME r|w ok|EPERM|other: MESSAGE`.
const DEVICE_PROBE: &str = r#"for n in $(ls /devtest); do
  for m in r w; do
    if [ $m = r ]; then err=$( (exec 3</devtest/$n) 2>&1 ); else err=$( (exec 3>/devtest/$n) 2>&1 ); fi
    case "$err" in
      "") echo "devtest $n $m ok";;
      *"not permitted"*) echo "devtest $n $m EPERM";;
      *) echo "devtest $n $m other: $err";;
    esac
  done
done"#;

fn make_device_nodes(rootfs: &Path) -> Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let dir = rootfs.join("devtest");
    fs::create_dir_all(&dir)?;
    for (name, kind, major, minor, _, _) in DEVICE_NODES {
        let kind = if *kind == 'c' {
            SFlag::S_IFCHR
        } else {
            SFlag::S_IFBLK
        };
        mknod(
            &dir.join(name),
            kind,
            Mode::from_bits_truncate(0o666),
            makedev(*major, *minor),
        )
        .with_context(|| format!("mknod {name}"))?;
    }
    Ok(())
}

/// What the probe must print for the rules of [`devices`].
fn device_verdicts(out: &str) -> Result<()> {
    let mut bad = Vec::new();
    for (name, _, _, _, read_denied, write_denied) in DEVICE_NODES {
        for (mode, denied) in [("r", read_denied), ("w", write_denied)] {
            let prefix = format!("devtest {name} {mode} ");
            let Some(line) = out.lines().find(|l| l.starts_with(&prefix)) else {
                bad.push(format!("no result for {name} {mode}"));
                continue;
            };
            let verdict = &line[prefix.len()..];
            let eperm = verdict == "EPERM";
            if *denied && !eperm {
                bad.push(format!("{name} {mode}: {verdict}, expected EPERM (denied)"));
            } else if !*denied && eperm {
                bad.push(format!("{name} {mode}: EPERM, but the rules allow it"));
            }
        }
    }
    if !bad.is_empty() {
        bail!("device access: {}", bad.join("; "));
    }
    Ok(())
}

/// runtime-tools' rules (deny all, then allow `c 10:229 rwm`, `b 8:20 rw`,
/// `b 10:200 r`): on v1 the lines of devices.list; on v1 and v2 what the
/// container can open.
fn devices(ctx: &mut Ctx, relative: bool) -> CaseResult {
    let res = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        {"allow": true, "type": "b", "major": 8, "minor": 20, "access": "rw"},
        {"allow": true, "type": "b", "major": 10, "minor": 200, "access": "r"}
    ]});
    let checks = if ctx.host().unified {
        vec![]
    } else {
        vec![
            has("devices", "devices.list", "c 10:229 rwm"),
            has("devices", "devices.list", "b 8:20 rw"),
            has("devices", "devices.list", "b 10:200 r"),
        ]
    };
    let cg = ctx.cgroup_path(relative);
    let mut cfg = config(&cg, res);
    set_args(&mut cfg, &["sh", "-c", DEVICE_PROBE]);
    let bundle = ctx.bundle(&cfg)?;
    make_device_nodes(&bundle.join("rootfs"))?;
    let (id, st) = ctx.create_in(&bundle)?;
    verify(ctx, st.pid, &cg, &checks)?;
    ctx.finish(&id)?;
    let out = fs::read_to_string(bundle.join("container.out")).unwrap_or_default();
    device_verdicts(&out).with_context(|| {
        format!(
            "container stdout: {:?}; stderr: {}",
            out.trim(),
            ctx.container_stderr(&bundle)
        )
    })?;
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
    let check = if ctx.host().unified {
        eq("v2:hugetlb", &format!("hugetlb.{size}.max"), limit)
    } else {
        eq("hugetlb", &format!("hugetlb.{size}.limit_in_bytes"), limit)
    };
    run(ctx, relative, res, &[check])?;
    pass()
}

/// runtime-tools' two combinations (swap = limit, i.e. no swap). On v2
/// memory.swap.max holds swap − limit (OCI's swap is memory+swap: 0 here),
/// swappiness and disableOOMKiller have no v2 file (runc ignores them), and
/// a third combination has swap = 2 × limit.
fn memory(ctx: &mut Ctx, relative: bool) -> CaseResult {
    let v2 = ctx.host().unified;
    let mut combos = vec![(50593792u64, 50593792u64, 10), (151781376, 151781376, 100)];
    if v2 {
        combos.push((50593792, 2 * 50593792, 60));
    }
    for (limit, swap, swappiness) in combos {
        let reservation = if swap == limit { limit } else { limit / 2 };
        let res = json!({"memory": {
            "limit": limit, "reservation": reservation, "swap": swap,
            "swappiness": swappiness, "disableOOMKiller": true
        }});
        let checks = if v2 {
            vec![
                eq("v2:memory", "memory.max", limit),
                eq("v2:memory", "memory.low", reservation),
                eq("v2:memory", "memory.swap.max", swap - limit),
            ]
        } else {
            vec![
                eq("memory", "memory.limit_in_bytes", limit),
                eq("memory", "memory.soft_limit_in_bytes", reservation),
                eq("memory", "memory.memsw.limit_in_bytes", swap),
                eq("memory", "memory.swappiness", swappiness),
                has("memory", "memory.oom_control", "oom_kill_disable 1"),
            ]
        };
        run(ctx, relative, res, &checks).with_context(|| {
            format!("limit {limit} reservation {reservation} swap {swap} swappiness {swappiness}")
        })?;
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
    let ctrl = if ctx.host().unified {
        "v2:pids"
    } else {
        "pids"
    };
    run(
        ctx,
        relative,
        json!({"pids": {"limit": 1000}}),
        &[eq(ctrl, "pids.max", 1000)],
    )?;
    pass()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_weight_conversions() {
        assert_eq!(cpu_weights(1024), [39, 100]);
        assert_eq!(cpu_weights(2048), [79, 174]);
        assert_eq!(cpu_weights(2), [1, 1]);
    }

    #[test]
    fn device_verdicts_need_eperm_exactly_where_denied() {
        let good = "devtest c10_229 r other: sh: can't open '/devtest/c10_229': No such device\n\
                    devtest c10_229 w ok\ndevtest b8_20 r other: x\ndevtest b8_20 w other: x\n\
                    devtest b10_200 r other: x\ndevtest b10_200 w EPERM\n\
                    devtest b8_21 r EPERM\ndevtest b8_21 w EPERM\n\
                    devtest c10_228 r EPERM\ndevtest c10_228 w EPERM\n\
                    devtest c1_3 r ok\ndevtest c1_3 w ok\n";
        device_verdicts(good).unwrap();
        // No device cgroup at all: the denied nodes open (or fail otherwise).
        let open = good.replace("EPERM", "other: No such device or address");
        let err = device_verdicts(&open).unwrap_err().to_string();
        assert!(
            err.contains("b8_21 r") && err.contains("b10_200 w"),
            "{err}"
        );
        // A rule that denies too much.
        let strict = good.replace("devtest c1_3 r ok", "devtest c1_3 r EPERM");
        assert!(device_verdicts(&strict).is_err());
        assert!(device_verdicts("").is_err());
    }
}
