//! Hooks: order, state on stdin, and what a failing hook must do.

use std::fs;
use std::path::Path;

use anyhow::{anyhow, ensure, Context, Result};
use serde_json::{json, Value};

use super::{case, Case};
use crate::bundle::default_config;
use crate::ctx::{checker_args, expect_err, pass, set_args, subtests, CaseResult, Ctx};
use crate::runtime::{Output, State};

pub fn cases() -> Vec<Case> {
    vec![
        case("hooks", hooks),
        case("hooks_stdin", hooks_stdin),
        case("hooks_create_start", hooks_create_start),
        case("prestart", prestart),
        case("prestart_fail", prestart_fail),
        case("poststart", poststart),
        case("poststart_fail", poststart_fail),
        case("poststop", poststop),
        case("poststop_fail", poststop_fail),
    ]
}

/// A busybox `sh -c SCRIPT` hook.
fn sh(ctx: &Ctx, script: &str) -> Value {
    json!({"path": ctx.busybox(), "args": ["sh", "-c", script], "timeout": 10})
}

fn falsy(ctx: &Ctx) -> Value {
    json!({"path": ctx.busybox(), "args": ["false"]})
}

fn quick() -> Value {
    let mut cfg = default_config();
    set_args(&mut cfg, &["true"]);
    cfg
}

fn append(ctx: &Ctx, out: &Path, line: &str) -> Value {
    sh(ctx, &format!("echo '{line}' >> {}", out.display()))
}

fn hooks(ctx: &mut Ctx) -> CaseResult {
    let out = ctx.dir.join("hooks.out");
    let mut cfg = quick();
    cfg["hooks"] = json!({
        "prestart": [append(ctx, &out, "pre-start1 called"), append(ctx, &out, "pre-start2 called")],
        "poststart": [append(ctx, &out, "post-start1 called"), append(ctx, &out, "post-start2 called")],
        "poststop": [append(ctx, &out, "post-stop1 called"), append(ctx, &out, "post-stop2 called")]
    });
    let (_, id, _) = ctx.created(&cfg)?;
    ctx.finish(&id)?;
    let got = fs::read_to_string(&out).unwrap_or_default();
    let want = "pre-start1 called\npre-start2 called\npost-start1 called\npost-start2 called\npost-stop1 called\npost-stop2 called\n";
    ensure!(
        got == want,
        "hooks ran as {got:?}, expected {want:?} (in the listed order)"
    );
    pass()
}

fn stdin_state(ctx: &Ctx, name: &str) -> Result<State> {
    let p = ctx.dir.join(format!("{name}.json"));
    let text = fs::read_to_string(&p).with_context(|| format!("the {name} hook wrote no state"))?;
    State::parse(&text).with_context(|| format!("{name} hook stdin"))
}

fn hooks_stdin(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = quick();
    let dump =
        |ctx: &Ctx, n: &str| json!([sh(ctx, &format!("cat > {}/{n}.json", ctx.dir.display()))]);
    cfg["hooks"] = json!({
        "prestart": dump(ctx, "prestart"), "poststart": dump(ctx, "poststart"), "poststop": dump(ctx, "poststop")
    });
    let annotations = json!({"org.opencontainers.runtime-tools": "hook stdin test"});
    cfg["annotations"] = annotations.clone();
    let (bundle, id, created) = ctx.created(&cfg)?;
    ctx.finish(&id)?;
    // prestart runs during create: "creating" (runc) or "created" (runtime-tools).
    for (name, status) in [
        ("prestart", "creating|created"),
        ("poststart", "running"),
        ("poststop", ""),
    ] {
        let st = stdin_state(ctx, name)?;
        ensure!(st.str("id") == id, "{name}: id {:?}", st.str("id"));
        ensure!(
            Path::new(st.str("bundle")) == bundle,
            "{name}: bundle {:?}",
            st.str("bundle")
        );
        ensure!(
            st.raw["annotations"] == annotations,
            "{name}: annotations {}",
            st.raw["annotations"]
        );
        if name != "poststop" {
            ensure!(
                st.pid == created.pid,
                "{name}: pid {}, container pid {}",
                st.pid,
                created.pid
            );
        }
        if status.is_empty() {
            ensure!(!st.status.is_empty(), "{name}: empty status");
        } else {
            ensure!(
                status.split('|').any(|s| s == st.status),
                "{name}: status {:?}, expected {status}",
                st.status
            );
        }
    }
    pass()
}

/// createRuntime and createContainer run at create, startContainer at
/// start, before the process, inside the container.
fn hooks_create_start(ctx: &mut Ctx) -> CaseResult {
    let (bundle, _) = ctx.bundle_for(|ctx, b| {
        let log = b.join("rootfs/hooks.log");
        let mut cfg = default_config();
        set_args(&mut cfg, &["sh", "-c", "echo process >> /hooks.log"]);
        cfg["hooks"] = json!({
            "createRuntime": [sh(ctx, &format!("echo createRuntime >> {}", log.display()))],
            "createContainer": [sh(ctx, &format!("echo createContainer >> {}", log.display()))],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer >> /hooks.log"]}]
        });
        cfg
    })?;
    let (id, _) = ctx.create_in(&bundle)?;
    let log = bundle.join("rootfs/hooks.log");
    let at_create = fs::read_to_string(&log).unwrap_or_default();
    ensure!(
        at_create == "createRuntime\ncreateContainer\n",
        "after create the hooks log is {at_create:?}"
    );
    ctx.finish(&id)?;
    let got = fs::read_to_string(&log).unwrap_or_default();
    ensure!(
        got == "createRuntime\ncreateContainer\nstartContainer\nprocess\n",
        "hooks log is {got:?}"
    );
    pass()
}

fn prestart(ctx: &mut Ctx) -> CaseResult {
    let (bundle, _) = ctx.bundle_for(|ctx, b| {
        let mut cfg = default_config();
        checker_args(&mut cfg, &["exists:/prestart-ran"]);
        cfg["hooks"] = json!({"prestart": [sh(ctx, &format!("touch {}", b.join("rootfs/prestart-ran").display()))]});
        cfg
    })?;
    ctx.check_bundle(&bundle)
}

/// A failing prestart hook: error, the process never runs, the container
/// is gone (the lifecycle continues at delete).
fn prestart_fail(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    set_args(&mut cfg, &["sh", "-c", "touch /output"]);
    cfg["hooks"] = json!({"prestart": [falsy(ctx)]});
    let bundle = ctx.bundle(&cfg)?;
    let id = ctx.id();
    let created = ctx.create(&bundle, &id)?;
    if created.ok() {
        let started = ctx.start(&id)?;
        expect_err(started, "create+start with a failing prestart hook")?;
    }
    ensure!(
        !bundle.join("rootfs/output").exists(),
        "the process ran despite the failing prestart hook"
    );
    expect_err(
        ctx.rt(&["state", &id])?,
        "state after a failed prestart hook (the container must be deleted)",
    )?;
    pass()
}

fn poststart(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = default_config();
    set_args(&mut cfg, &["/runtimetest", "--sleep", "30"]);
    let out = ctx.dir.join("poststart.json");
    // Written aside and renamed: once `out` exists, it is complete.
    let script = format!("cat > {0}.tmp && mv {0}.tmp {0}", out.display());
    cfg["hooks"] = json!({"poststart": [sh(ctx, &script)]});
    let (_, id, created) = ctx.created(&cfg)?;
    ensure!(!out.exists(), "the poststart hook ran at create");
    ctx.start(&id)?.check()?;
    ctx.wait_file(&out)?;
    let st = stdin_state(ctx, "poststart")?;
    ensure!(
        st.status == "running" && st.pid == created.pid,
        "poststart saw {}",
        st.raw
    );
    ctx.kill(&id, "KILL")?.check()?;
    ctx.wait_status(&id, "stopped")?;
    ctx.delete(&id)?.check()?;
    pass()
}

/// runtime-spec: a failing poststart or poststop hook "MUST be logged as a
/// warning". Without `--log`, runw and runc log on stderr in logrus' text
/// format (`time=... level=warning msg=...`); JSON lines (`"level":"warning"`)
/// are accepted too. The warning must be about a hook.
fn ensure_hook_warning(out: &Output, kind: &str) -> Result<()> {
    let warned = out.stderr.lines().any(|l| {
        let l = l.to_lowercase();
        (l.contains("level=warning") || l.contains(r#""level":"warning""#)) && l.contains("hook")
    });
    ensure!(
        warned,
        "no warning about the failing {kind} hook on the stderr of `{}` (stderr: {:?})",
        out.args.join(" "),
        out.stderr.trim()
    );
    Ok(())
}

/// A failing poststart hook: start succeeds with a warning on its stderr;
/// later hooks and the lifecycle go on.
fn poststart_fail(ctx: &mut Ctx) -> CaseResult {
    let out = ctx.dir.join("poststart.out");
    let mut cfg = quick();
    cfg["hooks"] = json!({"poststart": [falsy(ctx), append(ctx, &out, "post-start called")]});
    let (_, id, _) = ctx.created(&cfg)?;
    let started = ctx
        .start(&id)?
        .check()
        .context("start with a failing poststart hook")?;
    ctx.wait_status(&id, "stopped")?;
    ctx.delete(&id)?.check()?;
    let got = fs::read_to_string(&out).unwrap_or_default();
    let next_hook = if got == "post-start called\n" {
        Ok(())
    } else {
        Err(anyhow!("the hook after the failing one wrote {got:?}"))
    };
    subtests(vec![
        ("warning".into(), ensure_hook_warning(&started, "poststart")),
        ("next hook runs".into(), next_hook),
    ])
}

fn poststop(ctx: &mut Ctx) -> CaseResult {
    let out = ctx.dir.join("poststop.out");
    let mut cfg = quick();
    cfg["hooks"] = json!({"poststop": [append(ctx, &out, "post-stop called")]});
    let (_, id, _) = ctx.created(&cfg)?;
    ctx.start(&id)?.check()?;
    ctx.wait_status(&id, "stopped")?;
    ensure!(!out.exists(), "the poststop hook ran before delete");
    ctx.delete(&id)?.check()?;
    let got = fs::read_to_string(&out).unwrap_or_default();
    ensure!(got == "post-stop called\n", "poststop hook output {got:?}");
    pass()
}

/// A failing poststop hook: delete succeeds with a warning on its stderr;
/// later hooks and delete go on.
fn poststop_fail(ctx: &mut Ctx) -> CaseResult {
    let out = ctx.dir.join("poststop.out");
    let mut cfg = quick();
    cfg["hooks"] = json!({"poststop": [falsy(ctx), append(ctx, &out, "post-stop called")]});
    let (_, id, _) = ctx.created(&cfg)?;
    ctx.start(&id)?.check()?;
    ctx.wait_status(&id, "stopped")?;
    let deleted = ctx
        .delete(&id)?
        .check()
        .context("delete with a failing poststop hook")?;
    let got = fs::read_to_string(&out).unwrap_or_default();
    let next_hook = if got == "post-stop called\n" {
        Ok(())
    } else {
        Err(anyhow!("the hook after the failing one wrote {got:?}"))
    };
    subtests(vec![
        ("warning".into(), ensure_hook_warning(&deleted, "poststop")),
        ("next hook runs".into(), next_hook),
        (
            "container gone".into(),
            expect_err(ctx.rt(&["state", &id])?, "state after delete"),
        ),
    ])
}
