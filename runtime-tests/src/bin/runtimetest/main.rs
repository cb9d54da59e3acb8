//! `runtimetest`: the in-container checker of the conformance suite.
//!
//! It runs as the container process, reads the OCI configuration the runner
//! copied into the rootfs (`/runtimetest-spec.json` by default) and verifies,
//! from inside the container, that what the configuration asked for holds.
//!
//! Usage: `runtimetest [--spec PATH] [--sleep SECS] CHECK... [-- IGNORED...]`
//!
//! Every check prints one line on stdout, which the runner parses:
//! `runtimetest: ok NAME`, `runtimetest: not ok NAME: WHY` or
//! `runtimetest: skip NAME: WHY`; the last line is `runtimetest: done`.
//! A check whose configuration is empty (no sysctl, no devices...) has
//! nothing to verify: it is a skip when it runs as part of `default`, but a
//! failure when the case named it (the case meant to configure what it
//! asked to check, so the check must not pass without checking).
//! A check with an argument is written `NAME:ARG` (e.g. `exists:/marker`).

mod caps;
mod fs;
mod process;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use oci_spec::runtime::Spec;

/// What a single check concluded.
pub enum Verdict {
    Ok,
    Fail(String),
    /// Cannot be observed here (e.g. SELinux is not enabled).
    Skip(String),
    /// The config sets nothing for this check (e.g. no sysctl), or nothing
    /// that exists here (masked paths absent from this kernel's /proc): a
    /// skip under `default`, a failure when the case asked for the check by
    /// name.
    Unset(String),
}

/// The result of a check; `Err` is a failure.
pub type CheckResult = anyhow::Result<Verdict>;

type CheckFn = fn(&Spec, &str) -> CheckResult;

/// Every check, by name. `default` runs the ones runtime-tools runs on every
/// container (see `DEFAULT_CHECKS`).
const CHECKS: &[(&str, CheckFn)] = &[
    ("root", fs::check_root),
    ("hostname", process::check_hostname),
    ("process", process::check_process),
    ("user", process::check_user),
    ("rlimits", process::check_rlimits),
    ("capabilities", caps::check_capabilities),
    ("oom_score_adj", process::check_oom_score_adj),
    ("apparmor", process::check_apparmor),
    ("seccomp", process::check_seccomp),
    ("id_mappings", process::check_id_mappings),
    ("sysctl", process::check_sysctl),
    ("mounts", fs::check_mounts),
    ("default_fs", fs::check_default_fs),
    ("default_symlinks", fs::check_default_symlinks),
    ("default_devices", fs::check_default_devices),
    ("devices", fs::check_devices),
    ("masked_paths", fs::check_masked_paths),
    ("readonly_paths", fs::check_readonly_paths),
    ("rootfs_propagation", fs::check_rootfs_propagation),
    ("mount_label", fs::check_mount_label),
    ("exists", fs::check_exists),
    ("absent", fs::check_absent),
];

/// The checks of runtime-tools' `runtimetest` that hold for any configuration.
const DEFAULT_CHECKS: &[&str] = &[
    "root",
    "hostname",
    "process",
    "user",
    "rlimits",
    "capabilities",
    "oom_score_adj",
    "id_mappings",
    "sysctl",
    "mounts",
    "default_fs",
    "default_symlinks",
    "default_devices",
    "devices",
    "masked_paths",
    "readonly_paths",
];

struct Args {
    spec: PathBuf,
    sleep: Option<u64>,
    checks: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        spec: PathBuf::from("/runtimetest-spec.json"),
        sleep: None,
        checks: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--spec" => args.spec = it.next().ok_or("--spec needs a path")?.into(),
            "--sleep" => {
                let secs = it.next().ok_or("--sleep needs seconds")?;
                args.sleep = Some(secs.parse().map_err(|e| format!("--sleep: {e}"))?);
            }
            // Arguments after `--` are only there for the `process` check.
            "--" => break,
            _ => args.checks.push(arg),
        }
    }
    Ok(args)
}

fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "runtimetest: {line}");
    let _ = out.flush();
}

/// Run one check; `named` says the case asked for it by name (not through
/// `default`).
fn run_check(spec: &Spec, name: &str, named: bool) {
    let (base, arg) = name.split_once(':').unwrap_or((name, ""));
    let Some((_, check)) = CHECKS.iter().find(|(n, _)| *n == base) else {
        emit(&format!("not ok {name}: unknown check"));
        return;
    };
    match check(spec, arg) {
        Ok(Verdict::Ok) => emit(&format!("ok {name}")),
        Ok(Verdict::Skip(why)) => emit(&format!("skip {name}: {why}")),
        Ok(Verdict::Unset(why)) if named => emit(&format!(
            "not ok {name}: the case asked for this check but {why}: nothing was checked"
        )),
        Ok(Verdict::Unset(why)) => emit(&format!("skip {name}: {why}")),
        Ok(Verdict::Fail(why)) => emit(&format!("not ok {name}: {why}")),
        Err(e) => emit(&format!("not ok {name}: {e:#}")),
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            emit(&format!("not ok arguments: {e}"));
            std::process::exit(2);
        }
    };
    let spec = match Spec::load(&args.spec) {
        Ok(s) => s,
        Err(e) => {
            emit(&format!(
                "not ok spec: cannot load {}: {e}",
                args.spec.display()
            ));
            std::process::exit(2);
        }
    };
    // (check, named by the case)
    let mut names: Vec<(String, bool)> = Vec::new();
    for c in &args.checks {
        if c == "default" {
            names.extend(DEFAULT_CHECKS.iter().map(|s| (s.to_string(), false)));
        } else {
            names.push((c.clone(), true));
        }
    }
    for (name, named) in &names {
        run_check(&spec, name, *named);
    }
    emit("done");
    if let Some(secs) = args.sleep {
        std::thread::sleep(Duration::from_secs(secs));
    }
}
