//! The process: args, env, cwd, user, capabilities, rlimits, oom score.

use anyhow::ensure;
use anyhow::Result;
use serde_json::{json, Value};

use super::{case, Case};
use crate::bundle::default_config;
use crate::ctx::{checker_args, expect_err_naming, CaseResult, Ctx};

pub fn cases() -> Vec<Case> {
    vec![
        case("hostname", hostname),
        case("process", process),
        case("process_user", process_user),
        case("process_capabilities", process_capabilities),
        case("process_capabilities_fail", process_capabilities_fail),
        case("process_oom_score_adj", process_oom_score_adj),
        case("process_rlimits", process_rlimits),
        case("process_rlimits_fail", process_rlimits_fail),
        case(
            "process_rlimits_above_hard_fail",
            process_rlimits_above_hard_fail,
        ),
        case("root_readonly_true", root_readonly_true),
        case("root_readonly_false", root_readonly_false),
    ]
}

fn hostname(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["hostname"] = json!("hostname-specific");
    ctx.run_checker(cfg, &["hostname"])
}

fn process(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["process"]["cwd"] = json!("/tmp");
    cfg["process"]["env"] = json!(["PATH=/bin:/usr/bin", "RUNTIME_TESTS=process", "EMPTY="]);
    cfg["process"]["noNewPrivileges"] = json!(false);
    // Extra arguments after `--` (ignored by the checker, compared with
    // /proc/self/cmdline), including an empty one and one with spaces.
    ctx.run_checker(cfg, &["process", "user", "--", "", "an arg"])
}

fn process_user(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [1001, 1002], "umask": 23});
    ctx.run_checker(cfg, &["user"])
}

fn caps(list: &[&str]) -> Value {
    json!(list)
}

fn process_capabilities(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    let set = caps(&[
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_SYS_ADMIN",
    ]);
    cfg["process"]["capabilities"] = json!({
        "bounding": set, "effective": set, "permitted": set,
        "inheritable": ["CAP_NET_BIND_SERVICE"], "ambient": ["CAP_NET_BIND_SERVICE"]
    });
    ctx.run_checker(cfg, &["capabilities"])
}

/// An unknown capability name. runtime-tools' case (spec 1.0) expects an error;
/// runtime-spec >= 1.1 (config.md: "MUST be logged as a warning by the runtime.
/// Runtimes SHOULD NOT fail") allows running with the known capabilities. Both are
/// accepted: a refusal must name the unknown capability and the process must not run;
/// otherwise the container must run with exactly the known capabilities.
fn process_capabilities_fail(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    let set = caps(&["CAP_CHOWN", "CAP_KILL", "CAP_TEST"]);
    cfg["process"]["capabilities"] = json!({"bounding": set, "effective": set, "permitted": set});
    let mut probe = cfg.clone();
    checker_args(&mut probe, &[]);
    let bundle = ctx.bundle(&probe)?;
    let id = ctx.id();
    let created = ctx.create(&bundle, &id)?;
    if !created.ok() {
        ensure!(
            created.stderr.contains("CAP_TEST"),
            "create refused the config without naming CAP_TEST: {}",
            created.stderr.trim()
        );
        return crate::ctx::pass();
    }
    ctx.finish(&id)?;
    process_capabilities_run_known(ctx)
}

fn process_capabilities_run_known(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    let known = ["CAP_CHOWN", "CAP_KILL"];
    let set = caps(&["CAP_CHOWN", "CAP_KILL", "CAP_TEST"]);
    cfg["process"]["capabilities"] = json!({"bounding": set, "effective": set, "permitted": set});
    let mut expected = cfg.clone();
    let known = caps(&known);
    expected["process"]["capabilities"] =
        json!({"bounding": known, "effective": known, "permitted": known});
    checker_args(&mut expected, &["capabilities"]);
    // The checker compares with the known capabilities only.
    ctx.run_checker_prep(cfg, &["capabilities"], |b| {
        let text = serde_json::to_string_pretty(&expected)?;
        std::fs::write(b.join("rootfs").join(crate::bundle::SPEC_IN_ROOTFS), text)?;
        Ok(())
    })
}

/// create or start must fail with an error naming one of `causes` (see
/// `expect_err_naming`), and the checker must not have run.
fn expect_lifecycle_error(ctx: &mut Ctx, cfg: &Value, what: &str, causes: &[&str]) -> CaseResult {
    let mut cfg = cfg.clone();
    checker_args(&mut cfg, &[]);
    let bundle = ctx.bundle(&cfg)?;
    let id = ctx.id();
    let created = ctx.create(&bundle, &id)?;
    if created.ok() {
        let started = ctx.start(&id)?;
        let _ = ctx.wait_status(&id, "stopped");
        expect_err_naming(started, &format!("create and start with {what}"), causes)?;
    } else {
        expect_err_naming(created, &format!("create with {what}"), causes)?;
    }
    if ctx.report(&bundle).done {
        anyhow::bail!("the container process ran despite {what}");
    }
    crate::ctx::pass()
}

fn process_oom_score_adj(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["process"]["oomScoreAdj"] = json!(500);
    ctx.run_checker(cfg, &["oom_score_adj"])
}

fn hard_limit(res: libc::__rlimit_resource_t) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    unsafe { libc::getrlimit(res, &mut r) };
    r.rlim_max
}

/// Limits within the runner's hard limits (no CAP_SYS_RESOURCE needed).
fn process_rlimits(ctx: &mut Ctx) -> CaseResult {
    let nofile = hard_limit(libc::RLIMIT_NOFILE).min(4096);
    let core = hard_limit(libc::RLIMIT_CORE).min(1 << 20);
    let mut cfg = default_config();
    cfg["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile / 2},
        {"type": "RLIMIT_CORE", "hard": core, "soft": core / 2},
        {"type": "RLIMIT_NPROC", "hard": 4000, "soft": 3000}
    ]);
    ctx.run_checker(cfg, &["rlimits"])
}

fn process_rlimits_fail(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_TEST", "hard": 1024, "soft": 1024}]);
    expect_lifecycle_error(ctx, &cfg, "rlimit type RLIMIT_TEST", &["RLIMIT_TEST"])
}

/// Raising a hard limit above the runtime's own needs CAP_SYS_RESOURCE.
fn process_rlimits_above_hard_fail(ctx: &mut Ctx) -> CaseResult {
    if has_sys_resource()? {
        return crate::ctx::skip("CAP_SYS_RESOURCE is available, so raising a hard limit succeeds");
    }
    let hard = hard_limit(libc::RLIMIT_NOFILE);
    let mut cfg = default_config();
    cfg["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "hard": hard + 1, "soft": hard + 1}]);
    expect_lifecycle_error(
        ctx,
        &cfg,
        &format!("RLIMIT_NOFILE hard {} above the host's {hard}", hard + 1),
        // runw names the limit; runc: "error setting rlimit type 7: operation not permitted".
        &["RLIMIT_NOFILE", "rlimit type 7"],
    )
}

fn has_sys_resource() -> Result<bool> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap_or("0");
    Ok(u64::from_str_radix(eff.trim(), 16)? & (1 << 24) != 0)
}

fn root_readonly_true(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    cfg["root"]["readonly"] = json!(true);
    ctx.run_checker(cfg, &["root"])
}

fn root_readonly_false(ctx: &mut Ctx) -> CaseResult {
    ctx.run_checker(default_config(), &["root"])
}
