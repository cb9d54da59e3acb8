//! Namespaces: inherited, new, joined by path, and path/type mismatches.

use std::fs;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::{case, Case};
use crate::bundle::default_config;
use crate::ctx::{expect_err_naming, set_args, subtests, CaseResult, Ctx};

/// (config type, /proc/PID/ns name, `unshare` flag)
const NAMESPACES: &[(&str, &str, &str)] = &[
    ("cgroup", "cgroup", "--cgroup"),
    ("ipc", "ipc", "--ipc"),
    ("mount", "mnt", "--mount"),
    ("network", "net", "--net"),
    ("pid", "pid", "--pid"),
    ("user", "user", "--user"),
    ("uts", "uts", "--uts"),
];

pub fn cases() -> Vec<Case> {
    vec![
        case("linux_ns_itype", linux_ns_itype),
        case("linux_ns_nopath", linux_ns_nopath),
        case("linux_ns_path", linux_ns_path),
        case("linux_ns_path_type", linux_ns_path_type),
    ]
}

fn ns_inode(pid: &str, ns: &str) -> Result<String> {
    let p = format!("/proc/{pid}/ns/{ns}");
    Ok(fs::read_link(&p)
        .with_context(|| format!("readlink {p}"))?
        .to_string_lossy()
        .into_owned())
}

fn quick(namespaces: Value) -> Value {
    let mut cfg = default_config();
    set_args(&mut cfg, &["true"]);
    cfg["linux"]["namespaces"] = namespaces;
    cfg
}

/// Without a namespace entry, the container shares the runtime's namespace.
/// The mount namespace is kept: without it the runtime would mount the
/// container's filesystems in the host's mount namespace.
fn linux_ns_itype(ctx: &mut Ctx) -> CaseResult {
    let mut cfg = quick(json!([{"type": "mount"}]));
    cfg.as_object_mut().map(|o| o.remove("hostname"));
    let (_, id, st) = ctx.created(&cfg)?;
    let pid = st.pid.to_string();
    let mut r = Vec::new();
    for (typ, ns, _) in NAMESPACES.iter().filter(|n| n.0 != "mount") {
        let res = (|| {
            let (host, ctr) = (ns_inode("self", ns)?, ns_inode(&pid, ns)?);
            ensure!(host == ctr, "container {ns} is {ctr}, runtime's is {host}");
            Ok(())
        })();
        r.push((format!("inherit {typ}"), res));
    }
    r.push(("lifecycle".into(), ctx.finish(&id)));
    subtests(r)
}

/// A namespace entry without a path makes a new namespace.
fn linux_ns_nopath(ctx: &mut Ctx) -> CaseResult {
    let types: Vec<Value> = NAMESPACES
        .iter()
        .filter(|n| n.0 != "user")
        .map(|n| json!({"type": n.0}))
        .collect();
    let (_, id, st) = ctx.created(&quick(json!(types)))?;
    let pid = st.pid.to_string();
    let mut r = Vec::new();
    for (typ, ns, _) in NAMESPACES.iter().filter(|n| n.0 != "user") {
        let res = (|| {
            let (host, ctr) = (ns_inode("self", ns)?, ns_inode(&pid, ns)?);
            ensure!(host != ctr, "container {ns} is the runtime's ({host})");
            Ok(())
        })();
        r.push((format!("new {typ}"), res));
    }
    r.push(("lifecycle".into(), ctx.finish(&id)));
    subtests(r)
}

/// Start `unshare FLAG --fork sleep` and return the pid of the sleep.
fn ns_holder(ctx: &mut Ctx, flag: &str) -> Result<String> {
    let mut cmd = Command::new("unshare");
    cmd.args([flag, "--fork", "sleep", "120"]);
    let pid = ctx.helper(cmd)?;
    let children = format!("/proc/{pid}/task/{pid}/children");
    for _ in 0..200 {
        let kids = fs::read_to_string(&children).unwrap_or_default();
        if let Some(k) = kids.split_whitespace().next() {
            if flag == "--user" {
                map_ids(k)?;
            }
            return Ok(k.to_string());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!("unshare {flag} did not start its child")
}

/// Map ids 0-65535 of a new user namespace to the host's (as the runtime
/// would): the default mounts use gid 5, which must be mapped.
fn map_ids(pid: &str) -> Result<()> {
    for f in ["uid_map", "gid_map"] {
        fs::write(format!("/proc/{pid}/{f}"), "0 0 65536\n")
            .with_context(|| format!("write {f} of {pid}"))?;
    }
    Ok(())
}

fn join_one(ctx: &mut Ctx, typ: &str, ns: &str, flag: &str) -> Result<()> {
    let holder = ns_holder(ctx, flag)?;
    let path = format!("/proc/{holder}/ns/{ns}");
    let mut list: Vec<Value> = ["pid", "network", "ipc", "uts", "mount"]
        .iter()
        .filter(|t| **t != typ)
        .map(|t| json!({"type": t}))
        .collect();
    list.push(json!({"type": typ, "path": path}));
    let (_, id, st) = ctx.created(&quick(json!(list)))?;
    let (want, got) = (ns_inode(&holder, ns)?, ns_inode(&st.pid.to_string(), ns)?);
    ensure!(
        want == got,
        "container {ns} is {got}, the path {path} is {want}"
    );
    ctx.finish(&id)
}

fn linux_ns_path(ctx: &mut Ctx) -> CaseResult {
    if Command::new("unshare").arg("--version").output().is_err() {
        return crate::ctx::skip("util-linux `unshare` is not installed");
    }
    let mut r = Vec::new();
    for (typ, ns, flag) in NAMESPACES {
        r.push((format!("join {typ}"), join_one(ctx, typ, ns, flag)));
    }
    subtests(r)
}

/// A namespace path of another type must be refused.
fn linux_ns_path_type(ctx: &mut Ctx) -> CaseResult {
    let mut r = Vec::new();
    for (i, (typ, _, _)) in NAMESPACES.iter().enumerate() {
        let wrong = NAMESPACES[(i + 1) % NAMESPACES.len()].1;
        let res = (|| {
            let mut list: Vec<Value> = ["pid", "network", "ipc", "uts", "mount"]
                .iter()
                .filter(|t| *t != typ)
                .map(|t| json!({"type": t}))
                .collect();
            list.push(json!({"type": typ, "path": format!("/proc/self/ns/{wrong}")}));
            let bundle = ctx.bundle(&quick(json!(list)))?;
            let id = ctx.id();
            let out = ctx.create(&bundle, &id)?;
            // The kernel refuses setns(2) of a namespace of another type
            // (EINVAL): runw "failed to set namespace: Invalid argument",
            // runc "failed to setns into <type> namespace: Invalid argument".
            let what = format!("{typ} namespace with a {wrong} path");
            let causes = ["set namespace", "setns"];
            if out.ok() {
                expect_err_naming(ctx.start(&id)?, &what, &causes)?;
            } else {
                expect_err_naming(out, &what, &causes)?;
            }
            Ok(())
        })();
        r.push((format!("{typ} with /proc/self/ns/{wrong}"), res));
    }
    subtests(r)
}
