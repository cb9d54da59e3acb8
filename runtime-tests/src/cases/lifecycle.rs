//! The OCI lifecycle: create, start, state, kill, delete and their errors.

use std::fs;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::{case, Case};
use crate::bundle::default_config;
use crate::ctx::{
    checker_args, expect_err, expect_err_naming, set_args, subtests, CaseResult, Ctx,
};

pub fn cases() -> Vec<Case> {
    vec![
        case("create", create),
        case("start", start),
        case("state", state),
        case("delete", delete),
        case("delete_only_create_resources", delete_only_create_resources),
        case("delete_resources", delete_resources),
        case("kill", kill),
        case("kill_no_effect", kill_no_effect),
        case("killsig", killsig),
        case("pidfile", pidfile),
        case("default", default),
        case("misc_props", misc_props),
        case(
            "config_updates_without_affect",
            config_updates_without_affect,
        ),
        case("lifecycle_start_twice", start_twice),
        case("lifecycle_delete_running", delete_running),
        case("lifecycle_kill_after_stop", kill_after_stop),
    ]
}

type Sub = (String, Result<()>);

fn sub(v: &mut Vec<Sub>, name: &str, r: Result<()>) {
    v.push((name.to_string(), r));
}

/// The checker, printing its verdict then sleeping (a "running" container).
fn sleeping(secs: &str) -> Value {
    let mut cfg = default_config();
    set_args(&mut cfg, &["/runtimetest", "--sleep", secs]);
    cfg
}

fn quick() -> Value {
    let mut cfg = default_config();
    set_args(&mut cfg, &["true"]);
    cfg
}

fn create(ctx: &mut Ctx) -> CaseResult {
    let mut r = Vec::new();
    let bundle = ctx.bundle(&sleeping("30"))?;
    let b = bundle.to_str().unwrap_or_default().to_string();
    let id = ctx.id();
    let out = ctx.rt(&["create", "--bundle", &b]);
    sub(
        &mut r,
        "create without an id fails",
        out.and_then(|o| expect_err(o, "create without id")),
    );
    let res = (|| {
        ctx.create(&bundle, &id)?.check()?;
        let st = ctx.state(&id)?;
        ensure!(
            st.status == "created",
            "status after create is {:?}",
            st.status
        );
        ensure!(st.str("id") == id, "state id is {:?}", st.str("id"));
        Ok(())
    })();
    let created = res.is_ok();
    sub(&mut r, "create", res);
    if created {
        let res = (|| {
            let other = ctx.bundle(&quick())?;
            expect_err(ctx.create(&other, &id)?, "create with an existing id")?;
            let st = ctx.state(&id)?;
            ensure!(
                st.status == "created",
                "the first container is now {:?}",
                st.status
            );
            Ok(())
        })();
        sub(&mut r, "create with an existing id fails, no effect", res);
    }
    let bad = ctx.dir.join("badbundle");
    fs::create_dir_all(bad.join("rootfs"))?;
    fs::write(bad.join("config.json"), "{ not json")?;
    let id2 = ctx.id();
    let out = ctx.create(&bad, &id2);
    sub(
        &mut r,
        "create with an unparsable config.json fails",
        out.and_then(|o| expect_err(o, "bad config")),
    );
    subtests(r)
}

fn start(ctx: &mut Ctx) -> CaseResult {
    let mut r = Vec::new();
    let missing = ctx.id();
    let out = ctx.start(&missing);
    sub(
        &mut r,
        "start of a missing container fails",
        out.and_then(|o| expect_err(o, "start missing")),
    );
    let mut cfg = default_config();
    checker_args(&mut cfg, &["process"]);
    let (bundle, id, _) = ctx.created(&cfg)?;
    let ran_early = ctx.report(&bundle).done;
    sub(
        &mut r,
        "process does not run before start",
        if ran_early {
            bail_r("the process ran at create")
        } else {
            Ok(())
        },
    );
    let res = (|| {
        ctx.start(&id)?.check()?;
        ctx.wait_status(&id, "stopped")?;
        ctx.report(&bundle).outcome().map(drop)
    })();
    sub(&mut r, "start runs the process", res);
    let out = ctx.start(&id);
    sub(
        &mut r,
        "start of a stopped container fails",
        out.and_then(|o| expect_err(o, "start stopped")),
    );
    let out = ctx.delete(&id);
    sub(&mut r, "delete", out.and_then(|o| o.check().map(drop)));
    subtests(r)
}

fn bail_r(msg: &str) -> Result<()> {
    bail!("{msg}")
}

fn state_fields(ctx: &mut Ctx, id: &str, bundle: &Path, status: &str) -> Result<()> {
    let st = ctx.state(id)?;
    ensure!(
        st.status == status,
        "status is {:?}, expected {status}",
        st.status
    );
    ensure!(!st.str("ociVersion").is_empty(), "ociVersion missing");
    ensure!(st.str("id") == id, "id is {:?}", st.str("id"));
    ensure!(
        Path::new(st.str("bundle")) == bundle,
        "bundle is {:?}, expected {}",
        st.str("bundle"),
        bundle.display()
    );
    let want = json!({"org.opencontainers.runtime-tests": "state"});
    ensure!(
        st.raw["annotations"] == want,
        "annotations are {}, expected {want}",
        st.raw["annotations"]
    );
    if status != "stopped" {
        ensure!(st.pid > 0, "pid is {}", st.pid);
        ensure!(
            Path::new(&format!("/proc/{}", st.pid)).exists(),
            "pid {} does not exist",
            st.pid
        );
    }
    Ok(())
}

fn state(ctx: &mut Ctx) -> CaseResult {
    let mut r = Vec::new();
    let out = ctx.rt(&["state"]);
    sub(
        &mut r,
        "state without an id fails",
        out.and_then(|o| expect_err(o, "state without id")),
    );
    let missing = ctx.id();
    let out = ctx.rt(&["state", &missing]);
    sub(
        &mut r,
        "state of a missing container fails",
        out.and_then(|o| expect_err(o, "state missing")),
    );
    let mut cfg = sleeping("30");
    cfg["annotations"] = json!({"org.opencontainers.runtime-tests": "state"});
    let (bundle, id, _) = ctx.created(&cfg)?;
    let res = state_fields(ctx, &id, &bundle, "created");
    sub(&mut r, "created", res);
    let res = ctx
        .start(&id)
        .and_then(|o| o.check())
        .and_then(|_| state_fields(ctx, &id, &bundle, "running"));
    sub(&mut r, "running", res);
    let res = (|| {
        ctx.kill(&id, "KILL")?.check()?;
        ctx.wait_status(&id, "stopped")?;
        state_fields(ctx, &id, &bundle, "stopped")
    })();
    sub(&mut r, "stopped", res);
    let out = ctx.delete(&id);
    sub(&mut r, "delete", out.and_then(|o| o.check().map(drop)));
    subtests(r)
}

/// After a refused delete, the container must still be there.
fn refused_delete(ctx: &mut Ctx, id: &str, status: &str) -> Result<()> {
    expect_err(ctx.delete(id)?, &format!("delete of a {status} container"))?;
    let st = ctx
        .state(id)
        .context("the container is gone after a refused delete")?;
    ensure!(
        st.status == status,
        "status after refused delete is {:?}",
        st.status
    );
    Ok(())
}

fn delete(ctx: &mut Ctx) -> CaseResult {
    let mut r = Vec::new();
    let out = ctx.rt(&["delete"]);
    sub(
        &mut r,
        "delete without an id fails",
        out.and_then(|o| expect_err(o, "delete without id")),
    );
    let missing = ctx.id();
    let out = ctx.delete(&missing);
    sub(
        &mut r,
        "delete of a missing container fails",
        out.and_then(|o| expect_err(o, "delete missing")),
    );
    // runtime-tools expects an error here (spec: deleting a container that is not stopped
    // MUST fail). runc deletes a created container (killing its waiting init), and
    // containerd's shim relies on it: `createdState.Delete` runs `delete` without --force.
    // runw follows runc, the reference for its callers, so this checks runc's behaviour.
    let res = (|| {
        let (_, id, _) = ctx.created(&quick())?;
        ctx.delete(&id)?.check()?;
        expect_err(
            ctx.rt(&["state", &id])?,
            "state after delete of a created container",
        )
    })();
    sub(
        &mut r,
        "delete of a created container removes it (as runc; containerd relies on it)",
        res,
    );
    let res = (|| {
        let (_, id, _) = ctx.created(&quick())?;
        ctx.start(&id)?.check()?;
        ctx.wait_status(&id, "stopped")?;
        ctx.delete(&id)?.check()?;
        expect_err(ctx.rt(&["state", &id])?, "state after delete")
    })();
    sub(&mut r, "delete of a stopped container removes it", res);
    subtests(r)
}

/// The host directory of cgroupsPath `cg` in the pids hierarchy (v1) or in the
/// unified hierarchy (v2), or why there is none.
fn pids_dir(ctx: &Ctx, cg: &str) -> Result<std::path::PathBuf, String> {
    let host = ctx.host();
    let mnt = if host.unified {
        host.v2("pids")?
    } else {
        host.v1("pids")?
    };
    Ok(mnt.join(cg.trim_start_matches('/')))
}

fn delete_only_create_resources(ctx: &mut Ctx) -> CaseResult {
    // A cgroup the runtime did not create; moving the container in must not
    // make the runtime delete it.
    let cg = ctx.cgroup_path(false);
    let dir = match pids_dir(ctx, &cg) {
        Ok(dir) => dir,
        Err(why) => return crate::ctx::skip(why),
    };
    fs::create_dir_all(&dir)?;
    let (_, id, st) = ctx.created(&quick())?;
    fs::write(dir.join("cgroup.procs"), st.pid.to_string())
        .context("move the container into the test cgroup")?;
    ctx.finish(&id)?;
    ensure!(
        dir.exists(),
        "the runtime deleted {}, which it did not create",
        dir.display()
    );
    crate::ctx::pass()
}

fn delete_resources(ctx: &mut Ctx) -> CaseResult {
    let cg = ctx.cgroup_path(false);
    let dir = match pids_dir(ctx, &cg) {
        Ok(dir) => dir,
        Err(why) => return crate::ctx::skip(why),
    };
    let mut cfg = quick();
    cfg["linux"]["cgroupsPath"] = json!(cg);
    cfg["linux"]["resources"]["pids"] = json!({"limit": 1000});
    let (_, id, _) = ctx.created(&cfg)?;
    ensure!(dir.exists(), "create did not make {}", dir.display());
    ctx.finish(&id)?;
    ensure!(
        !dir.exists(),
        "delete left the cgroup {} behind",
        dir.display()
    );
    let left = fs::read_dir(&ctx.root)?.count();
    ensure!(
        left == 0,
        "delete left {left} entries in the runtime's --root"
    );
    crate::ctx::pass()
}

fn kill(ctx: &mut Ctx) -> CaseResult {
    let mut r = Vec::new();
    let out = ctx.rt(&["kill"]);
    sub(
        &mut r,
        "kill without an id fails",
        out.and_then(|o| expect_err(o, "kill without id")),
    );
    let missing = ctx.id();
    let out = ctx.kill(&missing, "KILL");
    sub(
        &mut r,
        "kill of a missing container fails",
        out.and_then(|o| expect_err(o, "kill missing")),
    );
    let res = (|| {
        let (_, id, _) = ctx.created(&quick())?;
        ctx.kill(&id, "KILL")?.check()?;
        ctx.wait_status(&id, "stopped")?;
        ctx.delete(&id)?.check().map(drop)
    })();
    sub(&mut r, "kill KILL of a created container", res);
    let res = (|| {
        let (_, id, _) = ctx.created(&quick())?;
        ctx.start(&id)?.check()?;
        ctx.wait_status(&id, "stopped")?;
        expect_err(ctx.kill(&id, "KILL")?, "kill of a stopped container")?;
        ctx.delete(&id)?.check().map(drop)
    })();
    sub(&mut r, "kill of a stopped container fails", res);
    let res = (|| {
        let (_, id, _) = ctx.created(&sleeping("30"))?;
        ctx.start(&id)?.check()?;
        ctx.wait_status(&id, "running")?;
        ctx.kill(&id, "KILL")?.check()?;
        ctx.wait_status(&id, "stopped")?;
        ctx.delete(&id)?.check().map(drop)
    })();
    sub(&mut r, "kill KILL of a running container", res);
    subtests(r)
}

fn kill_no_effect(ctx: &mut Ctx) -> CaseResult {
    let (_, id, _) = ctx.created(&quick())?;
    ctx.start(&id)?.check()?;
    let before = ctx.wait_status(&id, "stopped")?;
    let _ = ctx.kill(&id, "KILL")?;
    let after = ctx.state(&id)?;
    ensure!(
        before == after,
        "state changed after kill of a stopped container: {} -> {}",
        before.raw,
        after.raw
    );
    ctx.delete(&id)?.check()?;
    crate::ctx::pass()
}

/// Signals by name, by SIG-prefixed name and by number (runc accepts all).
fn killsig(ctx: &mut Ctx) -> CaseResult {
    let mut r = Vec::new();
    for (trap, arg) in [
        ("TERM", "TERM"),
        ("USR1", "SIGUSR1"),
        ("USR2", "12"),
        ("HUP", "1"),
    ] {
        let res = (|| {
            let mut cfg = default_config();
            let script = format!(
                "trap 'touch /{trap}; exit 0' {trap}; touch /ready; while true; do sleep 1; done"
            );
            set_args(&mut cfg, &["sh", "-c", &script]);
            let (bundle, id, _) = ctx.created(&cfg)?;
            ctx.start(&id)?.check()?;
            ctx.wait_file(&bundle.join("rootfs/ready"))?;
            ctx.kill(&id, arg)?.check()?;
            ctx.wait_status(&id, "stopped")?;
            ctx.delete(&id)?.check()?;
            ensure!(
                bundle.join("rootfs").join(trap).exists(),
                "the process did not get SIG{trap}"
            );
            Ok(())
        })();
        sub(&mut r, &format!("kill {arg}"), res);
    }
    subtests(r)
}

fn pidfile(ctx: &mut Ctx) -> CaseResult {
    let bundle = ctx.bundle(&quick())?;
    let id = ctx.id();
    let pidfile = ctx.dir.join("pidfile");
    let p = pidfile.to_str().unwrap_or_default().to_string();
    ctx.create_with(&bundle, &id, &["--pid-file", &p])?
        .check()?;
    let text = fs::read_to_string(&pidfile).context("--pid-file was not written")?;
    let pid: i64 = text
        .trim()
        .parse()
        .with_context(|| format!("pid file holds {text:?}"))?;
    let st = ctx.state(&id)?;
    ensure!(st.pid == pid, "pid file says {pid}, state says {}", st.pid);
    ctx.finish(&id)?;
    crate::ctx::pass()
}

/// Every default check of runtime-tools' runtimetest on the default config.
fn default(ctx: &mut Ctx) -> CaseResult {
    ctx.run_checker(default_config(), &["default"])
}

fn lifecycle_ok(ctx: &mut Ctx, cfg: &Value) -> Result<()> {
    let (_, id, _) = ctx.created(cfg)?;
    ctx.finish(&id)
}

fn misc_props(ctx: &mut Ctx) -> CaseResult {
    let mut r = Vec::new();
    let mut cfg = quick();
    cfg["annotations"] = json!({"org.runtime-tests.unknown-key": "value"});
    let res = lifecycle_ok(ctx, &cfg);
    sub(&mut r, "unknown annotation is accepted", res);
    let mut cfg = quick();
    cfg["unknownProperty"] = json!("unknown");
    let res = lifecycle_ok(ctx, &cfg);
    sub(&mut r, "unknown property is accepted", res);
    let mut cfg = quick();
    cfg["ociVersion"] = json!("invalid");
    let res = (|| {
        let bundle = ctx.bundle(&cfg)?;
        let id = ctx.id();
        expect_err_naming(
            ctx.create(&bundle, &id)?,
            "create with ociVersion \"invalid\"",
            &["ociVersion"],
        )
    })();
    sub(&mut r, "invalid ociVersion is refused", res);
    subtests(r)
}

fn config_updates_without_affect(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    // /proc/kcore is absent without CONFIG_PROC_KCORE (as on the CI host), /proc/keys
    // without CONFIG_KEYS: the named masked_paths check fails if none exists.
    cfg["linux"]["maskedPaths"] = json!(["/proc/kcore", "/proc/keys"]);
    cfg["linux"]["readonlyPaths"] = json!(["/proc/fs"]);
    cfg["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    cfg["process"]["oomScoreAdj"] = json!(100);
    cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]);
    checker_args(
        &mut cfg,
        &[
            "masked_paths",
            "readonly_paths",
            "sysctl",
            "oom_score_adj",
            "rlimits",
            "hostname",
        ],
    );
    let (bundle, id, _) = ctx.created(&cfg)?;
    // The checker keeps its copy; config.json changes after create.
    fs::write(bundle.join("config.json"), r#"{"ociVersion": "1.0.0"}"#)?;
    ctx.finish(&id)?;
    ctx.report(&bundle).outcome()
}

fn start_twice(ctx: &mut Ctx) -> CaseResult {
    let (_, id, _) = ctx.created(&sleeping("30"))?;
    ctx.start(&id)?.check()?;
    ctx.wait_status(&id, "running")?;
    expect_err(ctx.start(&id)?, "start of a running container")?;
    let st = ctx.state(&id)?;
    ensure!(
        st.status == "running",
        "status after the second start is {:?}",
        st.status
    );
    ctx.kill(&id, "KILL")?.check()?;
    ctx.wait_status(&id, "stopped")?;
    ctx.delete(&id)?.check()?;
    crate::ctx::pass()
}

fn delete_running(ctx: &mut Ctx) -> CaseResult {
    let mut r = Vec::new();
    let (_, id, _) = ctx.created(&sleeping("30"))?;
    ctx.start(&id)?.check()?;
    ctx.wait_status(&id, "running")?;
    let res = refused_delete(ctx, &id, "running");
    sub(
        &mut r,
        "delete of a running container fails, no effect",
        res,
    );
    let res = (|| {
        ctx.rt(&["delete", "--force", &id])?.check()?;
        expect_err(ctx.rt(&["state", &id])?, "state after delete --force")
    })();
    sub(
        &mut r,
        "delete --force of a running container removes it",
        res,
    );
    subtests(r)
}

fn kill_after_stop(ctx: &mut Ctx) -> CaseResult {
    let (_, id, _) = ctx.created(&sleeping("30"))?;
    ctx.start(&id)?.check()?;
    ctx.wait_status(&id, "running")?;
    ctx.kill(&id, "KILL")?.check()?;
    ctx.wait_status(&id, "stopped")?;
    expect_err(
        ctx.kill(&id, "TERM")?,
        "kill TERM after the container stopped",
    )?;
    ctx.delete(&id)?.check()?;
    crate::ctx::pass()
}
