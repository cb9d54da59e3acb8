//! podman (Debian 12's 4.3, with conmon) driving runw through `--runtime`, with a private
//! storage root, run root and containers.conf made here.

use crate::{run, runw_bin, tempdir, Out};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub struct Podman {
    pub dir: tempfile::TempDir,
    pub runw: PathBuf,
    pub cgroup_parent: String,
}

/// The containers.conf the tests use (see docs/podman.md).
pub fn containers_conf(dir: &std::path::Path, runw: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        r#"[containers]
# This machine lacks CAP_SYS_RESOURCE: podman's default nofile limit (1048576) cannot be set.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "host"
log_driver = "k8s-file"

[engine]
runtime = "runw"
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "{d}/tmp"
volume_path = "{d}/volumes"
# podman passes --log-format=json --log <file> to the runtimes named here and shows the
# runtime's own error message ("msg") when a command fails.
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "runw"{extra}]

[engine.runtimes]
runw = ["{runw}"]

[network]
network_config_dir = "{d}/networks"
"#,
        runw = runw.display(),
        // podman matches the binary's basename (RUNW_BIN may name a copy)
        extra = match runw.file_name().and_then(|n| n.to_str()) {
            Some(n) if n != "runw" => format!(", \"{n}\""),
            _ => String::new(),
        }
    )
}

impl Podman {
    pub fn new() -> Podman {
        let dir = tempdir("runw-it-podman-");
        let runw = runw_bin();
        let d = dir.path();
        for sub in ["tmp", "volumes", "networks"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(d.join("containers.conf"), containers_conf(d, &runw)).unwrap();
        std::fs::write(
            d.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{0}/storage\"\nrunroot = \"{0}/runroot\"\n",
                d.display()
            ),
        )
        .unwrap();
        Podman {
            cgroup_parent: format!("/runw-it-podman-{}", std::process::id()),
            dir,
            runw,
        }
    }

    pub fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .arg("--runtime")
            .arg(&self.runw);
        c
    }

    /// `podman args...` (60 s at most).
    pub fn podman(&self, args: &[&str]) -> Out {
        run(self.cmd().args(args), Duration::from_secs(60))
    }

    /// `podman run --cgroup-parent <ours> args...`
    pub fn run(&self, args: &[&str]) -> Out {
        let mut a = vec!["run", "--cgroup-parent", &self.cgroup_parent];
        a.extend_from_slice(args);
        self.podman(&a)
    }

    /// Removes every container and image, then checks that nothing is left.
    pub fn teardown(&self) -> Vec<String> {
        let mut leaks = vec![];
        let ps = self.podman(&["ps", "-aq"]);
        if !ps.stdout.trim().is_empty() {
            leaks.push(format!("podman containers left: {}", ps.stdout.trim()));
        }
        self.podman(&["rm", "-af", "-t", "0"]);
        self.podman(&["rmi", "-af"]);
        let dir = self.dir.path().to_string_lossy().into_owned();
        for _ in 0..100 {
            if crate::processes_mentioning(&dir).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for p in crate::processes_mentioning(&dir) {
            leaks.push(format!("process left: {p}"));
        }
        for p in crate::kill_cgroup_tree(&self.cgroup_parent) {
            leaks.push(format!("process left in cgroup: {p}"));
        }
        // c/storage keeps its overlay home bind-mounted (private) until unmounted: expected.
        for m in crate::unmount_all_under(self.dir.path()) {
            if !m.ends_with("/storage/overlay") {
                leaks.push(format!("mount left: {m}"));
            }
        }
        for d in crate::remove_cgroup_tree(&self.cgroup_parent) {
            leaks.push(format!("cgroup left: {}", d.display()));
        }
        leaks
    }
}

impl Default for Podman {
    fn default() -> Self {
        Self::new()
    }
}
