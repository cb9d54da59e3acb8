//! `runtime-tests`: an OCI runtime conformance suite.
//!
//! For each case it builds a bundle (busybox-static rootfs plus the static
//! `runtimetest` checker), writes the case's config.json, drives the runtime
//! under test through `create`/`start`/`state`/`kill`/`delete`, and reads the
//! checker's verdict from the container's stdout. Output is TAP, closed by
//! `N passed, M failed, K skipped`; the exit status is 1 if any case failed.

mod bundle;
mod cases;
mod ctx;
mod host;
mod runtime;

use std::fs;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use cases::Case;
use ctx::{Ctx, Env, Outcome};

#[derive(Parser, Debug)]
#[command(about = "OCI runtime conformance suite (runtime-tools validation behaviours)")]
struct Opts {
    /// The runtime under test (runc command line)
    /// [default: `runw` next to this executable, else `runw` from PATH].
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// Where to make the work directory `runtime-tests.PID` (bundles and the
    /// per-case `--root` state dirs; removed at the end) [default: /tmp].
    #[arg(long, alias = "workdir")]
    root: Option<PathBuf>,
    /// Run only the cases whose name contains one of these substrings.
    #[arg(long)]
    filter: Vec<String>,
    /// Per-case timeout in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// List the cases and exit.
    #[arg(long)]
    list: bool,
    /// The static checker [default: `runtimetest` next to this executable].
    #[arg(long)]
    checker: Option<PathBuf>,
    /// A static busybox for the rootfs.
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
    /// Run the Wasm cases even if the runtime does not advertise Wasm.
    #[arg(long)]
    wasm: bool,
    /// Keep the work directory (for debugging).
    #[arg(long)]
    keep: bool,
}

/// True if the ELF file at `p` has no PT_INTERP (is statically linked).
fn is_static(p: &Path) -> Result<bool> {
    let b = fs::read(p).with_context(|| format!("read {}", p.display()))?;
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 {
        bail!("{} is not a 64-bit ELF file", p.display());
    }
    let u = |o: usize, n: usize| {
        b[o..o + n]
            .iter()
            .rev()
            .fold(0usize, |a, x| (a << 8) | *x as usize)
    };
    let (phoff, phentsize, phnum) = (u(0x20, 8), u(0x36, 2), u(0x38, 2));
    Ok((0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        o + 4 > b.len() || u(o, 4) != 3
    }))
}

/// Under `cargo run`, relink a dynamic checker statically (the
/// `cargo rustc ... +crt-static` step of run.sh).
fn relink_checker(checker: &Path) -> Result<()> {
    let (Some(cargo), Some(dir)) = (
        std::env::var_os("CARGO"),
        std::env::var_os("CARGO_MANIFEST_DIR"),
    ) else {
        return Ok(());
    };
    let mut cmd = std::process::Command::new(cargo);
    cmd.arg("rustc")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(Path::new(&dir).join("Cargo.toml"));
    if checker.parent().and_then(|p| p.file_name()) == Some("release".as_ref()) {
        cmd.arg("--release");
    }
    cmd.args([
        "--bin",
        "runtimetest",
        "--",
        "-C",
        "target-feature=+crt-static",
    ]);
    let status = cmd.status().context("cargo rustc for the static checker")?;
    if !status.success() {
        bail!("building the static checker failed: {status}");
    }
    Ok(())
}

fn checker_path(opts: &Opts) -> Result<PathBuf> {
    let p = match &opts.checker {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("runtimetest"),
    };
    if opts.checker.is_none() && (!p.exists() || !is_static(&p)?) {
        relink_checker(&p)?;
    }
    if !is_static(&p)? {
        bail!(
            "{} is dynamically linked; build it with `cargo rustc --release -p runtime-tests --bin runtimetest -- -C target-feature=+crt-static` (runtime-tests/run.sh does)",
            p.display()
        );
    }
    Ok(p)
}

fn runtime_path(opts: &Opts) -> Result<PathBuf> {
    let p = match &opts.runtime {
        Some(p) => p.clone(),
        None => {
            let sibling = std::env::current_exe()?.with_file_name("runw");
            if sibling.exists() {
                sibling
            } else {
                PathBuf::from("runw")
            }
        }
    };
    // A relative path with a slash is relative to the caller's directory.
    if p.components().count() > 1 {
        return p
            .canonicalize()
            .with_context(|| format!("runtime {}", p.display()));
    }
    Ok(p)
}

fn selected(opts: &Opts) -> Vec<&'static Case> {
    cases::all()
        .iter()
        .filter(|c| {
            opts.filter.is_empty() || opts.filter.iter().any(|f| c.name.contains(f.as_str()))
        })
        .collect()
}

fn run_case(env: &Env, case: &'static Case) -> Result<Outcome> {
    if let Some(why) = (case.skip)(&env.host) {
        return Ok(Outcome::Skip(why));
    }
    let mut ctx = Ctx::new(env, case.name)?;
    let res = catch_unwind(AssertUnwindSafe(|| (case.run)(&mut ctx)));
    let timed_out = ctx.timed_out();
    drop(ctx);
    match res {
        Ok(r) if timed_out => r.and_then(|_| bail!("timed out after {:?}", env.timeout)),
        Ok(r) => r,
        Err(_) => bail!("the case panicked"),
    }
}

fn print_line(n: usize, name: &str, res: &Result<Outcome>) {
    let line = match res {
        Ok(Outcome::Pass(None)) => format!("ok {n} - {name}"),
        Ok(Outcome::Pass(Some(note))) => format!("ok {n} - {name} ({note})"),
        Ok(Outcome::Skip(why)) => format!("ok {n} - {name} # SKIP {why}"),
        Err(e) => format!(
            "not ok {n} - {name}: {}",
            format!("{e:#}").replace('\n', " ")
        ),
    };
    println!("{line}");
    let _ = std::io::stdout().flush();
}

fn host_summary(env: &Env) -> String {
    let h = &env.host;
    format!(
        "cgroup {}: v1 [{}], v2 {} [{}], AppArmor {}, SELinux {}, huge pages {:?}",
        if h.unified { "v2 (unified)" } else { "v1" },
        h.cgroup_v1.keys().cloned().collect::<Vec<_>>().join(","),
        h.cgroup_v2
            .as_ref()
            .map_or("none".into(), |p| p.display().to_string()),
        h.cgroup_v2_controllers.join(","),
        if h.apparmor { "on" } else { "off" },
        if h.selinux { "on" } else { "off" },
        h.hugepages
    )
}

fn main() -> Result<()> {
    let opts = Opts::parse();
    let cases = selected(&opts);
    if opts.list {
        for c in cases {
            println!("{}", c.name);
        }
        return Ok(());
    }
    let runtime_path = runtime_path(&opts)?;
    std::process::Command::new(&runtime_path)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run the runtime {}", runtime_path.display()))?;
    let checker = checker_path(&opts)?;
    if !is_static(&opts.busybox)? {
        bail!(
            "{} is not a static binary (install busybox-static)",
            opts.busybox.display()
        );
    }
    // Always a fresh directory of our own: it is removed at the end.
    let parent = opts.root.clone().unwrap_or_else(std::env::temp_dir);
    let workdir = parent.join(format!("runtime-tests.{}", std::process::id()));
    if workdir.exists() {
        bail!("{} already exists", workdir.display());
    }
    fs::create_dir_all(&workdir)?;
    let workdir = workdir.canonicalize()?;
    let flags = nix::sys::statvfs::statvfs(&workdir)?.flags();
    if flags.contains(nix::sys::statvfs::FsFlags::ST_NOEXEC) {
        bail!(
            "{} is on a noexec mount; pass --root DIR elsewhere",
            workdir.display()
        );
    }
    let template = bundle::build_template(&workdir, &opts.busybox, &checker)?;
    let env = Env {
        runtime: runtime::Runtime {
            path: runtime_path.clone(),
        },
        workdir: workdir.clone(),
        template,
        host: host::Host::probe(),
        timeout: Duration::from_secs(opts.timeout),
        force_wasm: opts.wasm,
    };
    runtime::catch_interrupts();
    println!("TAP version 13");
    println!(
        "# runtime: {} ({})",
        runtime_path.display(),
        env.runtime.version()
    );
    println!("# host: {}", host_summary(&env));
    println!("1..{}", cases.len());
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let started = Instant::now();
    for (i, case) in cases.iter().enumerate() {
        let res = run_case(&env, case);
        match &res {
            Ok(Outcome::Pass(_)) => passed += 1,
            Ok(Outcome::Skip(_)) => skipped += 1,
            Err(_) => failed += 1,
        }
        print_line(i + 1, case.name, &res);
        if runtime::interrupted() {
            println!("# interrupted: the remaining cases were not run");
            break;
        }
    }
    if !opts.keep {
        ctx::unmount_under(&workdir);
        if let Ok(md) = fs::metadata(&workdir) {
            ctx::remove_tree(&workdir, std::os::unix::fs::MetadataExt::dev(&md));
        }
    }
    println!("# {:.1}s", started.elapsed().as_secs_f64());
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    let ok = failed == 0 && !runtime::interrupted();
    std::process::exit(if ok { 0 } else { 1 });
}
