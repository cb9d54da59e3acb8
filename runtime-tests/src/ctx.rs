//! The per-case context: work directory, runtime calls, and cleanup.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::bundle;
use crate::host::Host;
use crate::runtime::{run_cleanup, run_until, Output, Runtime, State};

/// What a case concluded, when it did not fail.
#[derive(Debug)]
pub enum Outcome {
    /// Passed; the note says what was not covered, if anything.
    Pass(Option<String>),
    /// Cannot apply on this host; the reason says why.
    Skip(String),
}

pub type CaseResult = Result<Outcome>;

pub fn pass() -> CaseResult {
    Ok(Outcome::Pass(None))
}

pub fn skip(why: impl Into<String>) -> CaseResult {
    Ok(Outcome::Skip(why.into()))
}

/// Settings shared by all cases of a run.
pub struct Env {
    pub runtime: Runtime,
    pub workdir: PathBuf,
    pub template: PathBuf,
    pub host: Host,
    pub timeout: Duration,
    pub force_wasm: bool,
}

/// The checker's verdict, read from the container's stdout.
#[derive(Debug, Default)]
pub struct Report {
    pub ok: Vec<String>,
    pub fail: Vec<String>,
    pub skip: Vec<String>,
    pub done: bool,
}

impl Report {
    pub fn parse(text: &str) -> Report {
        let mut r = Report::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("runtimetest: ") else {
                continue;
            };
            if rest == "done" {
                r.done = true;
            } else if let Some(x) = rest.strip_prefix("not ok ") {
                r.fail.push(x.to_string());
            } else if let Some(x) = rest.strip_prefix("ok ") {
                r.ok.push(x.to_string());
            } else if let Some(x) = rest.strip_prefix("skip ") {
                r.skip.push(x.to_string());
            }
        }
        r
    }

    pub fn outcome(&self) -> CaseResult {
        if !self.fail.is_empty() {
            bail!("checker: {}", self.fail.join("; "));
        }
        if !self.done {
            bail!("checker did not finish (no `runtimetest: done` on the container's stdout)");
        }
        match (self.ok.is_empty(), self.skip.is_empty()) {
            (true, false) => skip(format!("checker: {}", self.skip.join("; "))),
            (_, true) => pass(),
            (false, false) => Ok(Outcome::Pass(Some(format!(
                "checker skipped: {}",
                self.skip.join("; ")
            )))),
        }
    }
}

/// Fold named sub-tests into one result: every failure is reported.
pub fn subtests(results: Vec<(String, Result<()>)>) -> CaseResult {
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("[{n}] {e:#}")))
        .collect();
    if failed.is_empty() {
        pass()
    } else {
        bail!("{}", failed.join("; "))
    }
}

/// Fail if the runtime accepted what it must refuse.
pub fn expect_err(out: Output, what: &str) -> Result<()> {
    if out.ok() {
        bail!(
            "{what}: `{}` succeeded, expected an error",
            out.args.join(" ")
        );
    }
    Ok(())
}

/// Fail if the runtime accepted what it must refuse, or refused it for
/// another reason than the one expected: its stderr must contain one of
/// `causes` (case-insensitive; several when runtimes word the cause
/// differently, e.g. runw's and runc's messages).
pub fn expect_err_naming(out: Output, what: &str, causes: &[&str]) -> Result<()> {
    if out.ok() {
        return expect_err(out, what);
    }
    ensure_names_cause(&out, what, causes)
}

/// The failed command's stderr names one of `causes`. The command's own
/// arguments (bundle path, container id: they contain the case's name) are
/// cut out of the text first, so that only the runtime's words can match.
pub fn ensure_names_cause(out: &Output, what: &str, causes: &[&str]) -> Result<()> {
    let mut text = out.stderr.to_lowercase();
    let mut args: Vec<&String> = out.args.iter().filter(|a| a.len() > 3).collect();
    args.sort_by_key(|a| std::cmp::Reverse(a.len()));
    for a in args {
        text = text.replace(&a.to_lowercase(), " ");
    }
    if causes.iter().any(|c| text.contains(&c.to_lowercase())) {
        return Ok(());
    }
    bail!(
        "{what}: the error does not name the cause (expected one of {causes:?}): {}",
        out.describe()
    )
}

/// Set `process.args`.
pub fn set_args(cfg: &mut Value, args: &[&str]) {
    cfg["process"]["args"] = json!(args);
}

/// The checker as the container process, running `checks`.
pub fn checker_args(cfg: &mut Value, checks: &[&str]) {
    let mut args = vec!["/runtimetest"];
    args.extend_from_slice(checks);
    set_args(cfg, &args);
}

pub struct Ctx<'a> {
    pub env: &'a Env,
    pub name: &'static str,
    pub dir: PathBuf,
    pub root: PathBuf,
    deadline: Instant,
    seq: u32,
    ids: Vec<String>,
    cgroups: Vec<String>,
    helpers: Vec<Child>,
}

impl<'a> Ctx<'a> {
    pub fn new(env: &'a Env, name: &'static str) -> Result<Ctx<'a>> {
        let dir = env.workdir.join(name);
        let root = dir.join("state");
        fs::create_dir_all(&root)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700))?;
        Ok(Ctx {
            env,
            name,
            dir,
            root,
            deadline: Instant::now() + env.timeout,
            seq: 0,
            ids: Vec::new(),
            cgroups: Vec::new(),
            helpers: Vec::new(),
        })
    }

    pub fn host(&self) -> &Host {
        &self.env.host
    }

    fn next(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    pub fn timed_out(&self) -> bool {
        Instant::now() >= self.deadline || crate::runtime::interrupted()
    }

    /// A fresh container id, deleted at cleanup.
    pub fn id(&mut self) -> String {
        let id = format!(
            "rt-{}-{}-{}",
            self.name.replace('_', "-"),
            std::process::id(),
            self.next()
        );
        self.ids.push(id.clone());
        id
    }

    /// A fresh bundle with the template rootfs and `cfg`.
    pub fn bundle(&mut self, cfg: &Value) -> Result<PathBuf> {
        let n = self.next();
        let b = self.dir.join(format!("bundle-{n}"));
        fs::create_dir_all(&b)?;
        fs::set_permissions(&b, fs::Permissions::from_mode(0o755))?;
        bundle::clone_tree(&self.env.template, &b.join("rootfs"))?;
        bundle::write_config(&b, cfg)?;
        Ok(b)
    }

    /// A bundle whose config needs the bundle's own path (hooks).
    pub fn bundle_for(
        &mut self,
        f: impl FnOnce(&Self, &Path) -> Value,
    ) -> Result<(PathBuf, Value)> {
        let b = self.bundle(&json!({"root": {"path": "rootfs"}}))?;
        let cfg = f(self, &b);
        bundle::write_config(&b, &cfg)?;
        Ok((b, cfg))
    }

    /// The static busybox of the template rootfs, for hooks.
    pub fn busybox(&self) -> String {
        self.env
            .template
            .join("bin/busybox")
            .to_string_lossy()
            .into_owned()
    }

    /// Run the runtime with `args` (after `--root`).
    pub fn rt(&mut self, args: &[&str]) -> Result<Output> {
        let n = self.next();
        let (out, err) = (
            self.dir.join(format!("cmd-{n}.out")),
            self.dir.join(format!("cmd-{n}.err")),
        );
        let cmd = self.env.runtime.command(&self.root, args);
        run_until(cmd, &out, &err, self.deadline)
    }

    /// `create --bundle B [extra] ID`; the container's stdio goes to
    /// `B/container.out` and `B/container.err`.
    pub fn create_with(&mut self, bundle: &Path, id: &str, extra: &[&str]) -> Result<Output> {
        let mut args = vec!["create", "--bundle", bundle.to_str().unwrap_or_default()];
        args.extend_from_slice(extra);
        args.push(id);
        let (mut out, mut err) = (bundle.join("container.out"), bundle.join("container.err"));
        if out.exists() {
            let n = self.next();
            (out, err) = (
                bundle.join(format!("container-{n}.out")),
                bundle.join(format!("container-{n}.err")),
            );
        }
        let cmd = self.env.runtime.command(&self.root, &args);
        run_until(cmd, &out, &err, self.deadline)
    }

    pub fn create(&mut self, bundle: &Path, id: &str) -> Result<Output> {
        self.create_with(bundle, id, &[])
    }

    pub fn start(&mut self, id: &str) -> Result<Output> {
        self.rt(&["start", id])
    }

    pub fn kill(&mut self, id: &str, sig: &str) -> Result<Output> {
        self.rt(&["kill", id, sig])
    }

    pub fn delete(&mut self, id: &str) -> Result<Output> {
        self.rt(&["delete", id])
    }

    pub fn state(&mut self, id: &str) -> Result<State> {
        let out = self.rt(&["state", id])?.check()?;
        State::parse(&out.stdout)
    }

    /// Poll `state` until the status is `want`.
    pub fn wait_status(&mut self, id: &str, want: &str) -> Result<State> {
        loop {
            let st = self.state(id)?;
            if st.status == want {
                return Ok(st);
            }
            if self.timed_out() {
                bail!(
                    "timed out waiting for {id} to be {want} (last status {:?})",
                    st.status
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Poll until `path` exists.
    pub fn wait_file(&self, path: &Path) -> Result<()> {
        while !path.exists() {
            if self.timed_out() {
                bail!("timed out waiting for {}", path.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The checker's report from the first container of `bundle`.
    pub fn report(&self, bundle: &Path) -> Report {
        Report::parse(&fs::read_to_string(bundle.join("container.out")).unwrap_or_default())
    }

    /// What the container wrote on stderr (for diagnostics).
    pub fn container_stderr(&self, bundle: &Path) -> String {
        let s = fs::read_to_string(bundle.join("container.err")).unwrap_or_default();
        s.trim()
            .chars()
            .rev()
            .take(400)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    }

    /// Bundle + id + successful `create`; returns the created state.
    pub fn created(&mut self, cfg: &Value) -> Result<(PathBuf, String, State)> {
        let bundle = self.bundle(cfg)?;
        let (id, st) = self.create_in(&bundle)?;
        Ok((bundle, id, st))
    }

    /// A fresh id + successful `create` of an existing bundle.
    pub fn create_in(&mut self, bundle: &Path) -> Result<(String, State)> {
        let id = self.id();
        let out = self.create(bundle, &id)?;
        if !out.ok() {
            bail!(
                "{} (container stderr: {})",
                out.describe(),
                self.container_stderr(bundle)
            );
        }
        let st = self.state(&id)?;
        Ok((id, st))
    }

    /// `start`, wait until stopped, `delete`.
    pub fn finish(&mut self, id: &str) -> Result<()> {
        self.start(id)?.check()?;
        self.wait_status(id, "stopped")?;
        self.delete(id)?.check()?;
        Ok(())
    }

    /// The whole lifecycle with the checker running `checks` inside.
    pub fn run_checker(&mut self, cfg: Value, checks: &[&str]) -> CaseResult {
        self.run_checker_prep(cfg, checks, |_| Ok(()))
    }

    /// `run_checker`, with `prep` adding files to the bundle before `create`.
    pub fn run_checker_prep(
        &mut self,
        mut cfg: Value,
        checks: &[&str],
        prep: impl FnOnce(&Path) -> Result<()>,
    ) -> CaseResult {
        checker_args(&mut cfg, checks);
        let bundle = self.bundle(&cfg)?;
        prep(&bundle)?;
        self.check_bundle(&bundle)
    }

    /// Create, start, wait and delete the bundle's container (whose process
    /// is the checker), then read the checker's verdict.
    pub fn check_bundle(&mut self, bundle: &Path) -> CaseResult {
        let (id, _) = self.create_in(bundle)?;
        self.finish(&id)?;
        let report = self.report(bundle);
        if !report.done && report.fail.is_empty() {
            bail!(
                "checker did not finish; container stderr: {}",
                self.container_stderr(bundle)
            );
        }
        report.outcome()
    }

    /// A unique cgroupsPath (absolute or relative), removed at cleanup.
    pub fn cgroup_path(&mut self, relative: bool) -> String {
        let n = self.next();
        let leaf = format!("runtime-tests/{}-{}-{n}", self.name, std::process::id());
        self.cgroups.push(leaf.clone());
        if relative {
            leaf
        } else {
            format!("/{leaf}")
        }
    }

    /// A unique cgroupsPath right under the hierarchy root, removed at cleanup.
    pub fn cgroup_path_flat(&mut self) -> String {
        let n = self.next();
        let leaf = format!("runtime-tests-{}-{}-{n}", self.name, std::process::id());
        self.cgroups.push(leaf.clone());
        format!("/{leaf}")
    }

    /// Keep a helper process, killed at cleanup.
    pub fn helper(&mut self, mut cmd: Command) -> Result<u32> {
        use std::os::unix::process::CommandExt;
        let child = cmd
            .process_group(0)
            .spawn()
            .context("cannot start helper")?;
        let pid = child.id();
        self.helpers.push(child);
        Ok(pid)
    }

    fn cleanup(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for id in self.ids.clone().iter().rev() {
            let cmd = self
                .env
                .runtime
                .command(&self.root, &["delete", "--force", id]);
            let (o, e) = (self.dir.join("cleanup.out"), self.dir.join("cleanup.err"));
            let _ = run_cleanup(cmd, &o, &e, deadline);
        }
        kill_strays(&self.dir);
        for child in &mut self.helpers {
            // SAFETY: kill(2) on the process group we created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
        }
        self.remove_cgroups();
        unmount_under(&self.dir);
        if let Ok(md) = fs::metadata(&self.dir) {
            remove_tree(&self.dir, md.dev());
        }
    }

    fn remove_cgroups(&self) {
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        // The runner's own cgroup in a hierarchy ("" = cgroup v2).
        let own_path = |ctrl: &str| {
            own.lines()
                .find_map(|l| {
                    let mut f = l.splitn(3, ':');
                    let (_, c, p) = (f.next()?, f.next()?, f.next()?);
                    let hit = if ctrl.is_empty() {
                        c.is_empty()
                    } else {
                        c.split(',').any(|x| x == ctrl)
                    };
                    hit.then(|| p.trim_start_matches('/').to_string())
                })
                .unwrap_or_default()
        };
        let mut hierarchies: Vec<(PathBuf, String)> = self
            .env
            .host
            .cgroup_v1
            .iter()
            .map(|(c, m)| (m.clone(), own_path(c)))
            .collect();
        if let Some(v2) = &self.env.host.cgroup_v2 {
            hierarchies.push((v2.clone(), own_path("")));
        }
        for (mnt, parent) in hierarchies {
            for leaf in &self.cgroups {
                for base in [mnt.clone(), mnt.join(&parent)] {
                    let _ = fs::remove_dir(base.join(leaf));
                    let _ = fs::remove_dir(base.join("runtime-tests"));
                }
            }
        }
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// SIGKILL what the runtime left behind for this case: processes whose
/// command line names the case directory (runtime commands, a container
/// init re-executed by the runtime) or whose root is inside it.
pub fn kill_strays(dir: &Path) {
    let me = std::process::id();
    let needle = format!("{}/", dir.display());
    let Ok(procs) = fs::read_dir("/proc") else {
        return;
    };
    for e in procs.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid as u32 == me {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let root = fs::read_link(format!("/proc/{pid}/root")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) || root.starts_with(dir) {
            // SAFETY: kill(2) on a process of this case, found above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Lazily unmount anything mounted under `dir` (deepest first).
pub fn unmount_under(dir: &Path) {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(|m| m.replace("\\040", " ")))
        .filter(|m| Path::new(m).starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Remove a tree without crossing into other filesystems.
pub fn remove_tree(path: &Path, dev: u64) {
    let Ok(md) = fs::symlink_metadata(path) else {
        return;
    };
    if md.is_dir() {
        if md.dev() != dev {
            return;
        }
        if let Ok(entries) = fs::read_dir(path) {
            for e in entries.flatten() {
                remove_tree(&e.path(), dev);
            }
        }
        let _ = fs::remove_dir(path);
    } else {
        let _ = fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_pass_fail_skip() {
        let ok = Report::parse("noise\nruntimetest: ok root\nruntimetest: done\n");
        assert!(matches!(ok.outcome(), Ok(Outcome::Pass(None))));
        let failed = Report::parse("runtimetest: not ok root: / is writable\nruntimetest: done\n");
        assert!(failed
            .outcome()
            .unwrap_err()
            .to_string()
            .contains("/ is writable"));
        let skipped = Report::parse(
            "runtimetest: skip apparmor: config sets no apparmorProfile\nruntimetest: done\n",
        );
        assert!(matches!(skipped.outcome(), Ok(Outcome::Skip(_))));
        let partial =
            Report::parse("runtimetest: ok a\nruntimetest: skip b: why\nruntimetest: done\n");
        assert!(matches!(partial.outcome(), Ok(Outcome::Pass(Some(_)))));
        let unfinished = Report::parse("runtimetest: ok root\n");
        assert!(unfinished.outcome().is_err());
    }

    #[test]
    fn subtests_report_every_failure() {
        let r = subtests(vec![
            ("a".into(), Ok(())),
            ("b".into(), Err(anyhow::anyhow!("one"))),
            ("c".into(), Err(anyhow::anyhow!("two"))),
        ]);
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("[b] one") && msg.contains("[c] two"), "{msg}");
    }

    #[test]
    fn errors_must_name_their_cause() {
        let out = |code, stderr: &str| Output {
            args: vec![
                "runw".into(),
                "create".into(),
                "/tmp/w/process_rlimits_fail/bundle-1".into(),
                "rt-process-rlimits-fail-1".into(),
            ],
            code: Some(code),
            stdout: String::new(),
            stderr: stderr.into(),
        };
        let causes = ["RLIMIT_TEST", "rlimits"];
        assert!(expect_err_naming(out(1, "unknown variant `rlimit_test`"), "x", &causes).is_ok());
        assert!(expect_err_naming(out(0, ""), "x", &causes).is_err());
        // The case's own name in the bundle path or the id is not the runtime's word.
        let other = out(
            1,
            "/tmp/w/process_rlimits_fail/bundle-1/config.json: no such file (rt-process-rlimits-fail-1)",
        );
        let err = expect_err_naming(other, "x", &causes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not name the cause"), "{err}");
    }

    #[test]
    fn checker_args_prefix_the_checker() {
        let mut cfg = json!({"process": {"args": ["sh"]}});
        checker_args(&mut cfg, &["root", "hostname"]);
        assert_eq!(
            cfg["process"]["args"],
            json!(["/runtimetest", "root", "hostname"])
        );
    }
}
