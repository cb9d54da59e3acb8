//! Driving the runtime under test through the OCI command line.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// The outcome of one runtime command.
#[derive(Debug)]
pub struct Output {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// `runw state x: exit 1: <stderr>` for diagnostics.
    pub fn describe(&self) -> String {
        let code = self
            .code
            .map_or("killed".to_string(), |c| format!("exit {c}"));
        let err = self.stderr.trim();
        let err = if err.len() > 600 {
            &err[err.len() - 600..]
        } else {
            err
        };
        format!("`{}`: {code}: {err}", self.args.join(" "))
    }

    /// Fail unless the command succeeded.
    pub fn check(self) -> Result<Self> {
        if self.ok() {
            Ok(self)
        } else {
            bail!("{}", self.describe())
        }
    }
}

/// The container state printed by `state`.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub status: String,
    pub pid: i64,
    pub raw: Value,
}

impl State {
    pub fn parse(text: &str) -> Result<State> {
        let raw: Value =
            serde_json::from_str(text).with_context(|| format!("state is not JSON: {text:?}"))?;
        Ok(State {
            status: raw["status"].as_str().unwrap_or_default().to_string(),
            pid: raw["pid"].as_i64().unwrap_or(0),
            raw,
        })
    }

    pub fn str(&self, key: &str) -> &str {
        self.raw[key].as_str().unwrap_or_default()
    }
}

/// Set by SIGINT/SIGTERM: every wait ends as if its deadline had passed, so
/// the current case cleans up and the run stops.
pub static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Route SIGINT and SIGTERM to `INTERRUPTED`.
pub fn catch_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Kill a child and its process group.
fn kill_group(child: &mut Child) {
    // SAFETY: plain kill(2) on the group we created for this child.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.kill();
    let _ = child.wait();
}

/// Run `cmd` with stdout/stderr in `out`/`err`, killing it at `deadline`
/// (or on SIGINT/SIGTERM).
pub fn run_until(cmd: Command, out: &Path, err: &Path, deadline: Instant) -> Result<Output> {
    run_cmd(cmd, out, err, deadline, true)
}

/// `run_until`, but not cut short by SIGINT/SIGTERM (for cleanup).
pub fn run_cleanup(cmd: Command, out: &Path, err: &Path, deadline: Instant) -> Result<Output> {
    run_cmd(cmd, out, err, deadline, false)
}

fn run_cmd(
    mut cmd: Command,
    out: &Path,
    err: &Path,
    deadline: Instant,
    interruptible: bool,
) -> Result<Output> {
    let args: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(File::create(out)?)
        .stderr(File::create(err)?)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", args[0]))?;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if Instant::now() >= deadline || (interruptible && interrupted()) {
            kill_group(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = Output {
        args,
        code: status.and_then(|s| s.code()),
        stdout: std::fs::read_to_string(out).unwrap_or_default(),
        stderr: std::fs::read_to_string(err).unwrap_or_default(),
    };
    if status.is_none() {
        return Err(anyhow!("timed out: {}", output.describe()));
    }
    Ok(output)
}

/// The runtime binary and its state directory.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub path: PathBuf,
}

impl Runtime {
    pub fn command(&self, root: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root").arg(root).args(args);
        cmd
    }

    /// `--version`, first line, for the report header.
    pub fn version(&self) -> String {
        Command::new(&self.path)
            .arg("--version")
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_else(|| "unknown".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_parse() {
        let st = State::parse(
            r#"{"ociVersion":"1.0.2","id":"x","status":"created","pid":42,"bundle":"/b"}"#,
        )
        .unwrap();
        assert_eq!(
            (st.status.as_str(), st.pid, st.str("bundle")),
            ("created", 42, "/b")
        );
        assert!(State::parse("not json").is_err());
    }

    #[test]
    fn run_until_times_out() {
        let dir = std::env::temp_dir();
        let (o, e) = (
            dir.join("rt-test-timeout.out"),
            dir.join("rt-test-timeout.err"),
        );
        let mut cmd = Command::new("sleep");
        cmd.arg("10");
        let started = Instant::now();
        let r = run_until(cmd, &o, &e, Instant::now() + Duration::from_millis(200));
        assert!(r.is_err() && started.elapsed() < Duration::from_secs(5));
        let _ = (std::fs::remove_file(o), std::fs::remove_file(e));
    }
}
