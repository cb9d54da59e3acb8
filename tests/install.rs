//! `runw completion`, `runw man` and hack/install.sh, as a user sees them. install.sh runs
//! into a temporary prefix with copies of the callers' config files in temporary directories:
//! never the real /usr/local or /etc. No containers, no root needed.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{run_program, snapshot, Out, RUNW};
use serde_json::{json, Value};
use tempfile::TempDir;

const INSTALL_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/hack/install.sh");

/// install.sh runs the binary and python3 a few times: more than a runtime command.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Every command of runw: one man page each (and runw.8).
const COMMANDS: [&str; 17] = [
    "spec",
    "create",
    "start",
    "run",
    "state",
    "list",
    "kill",
    "delete",
    "exec",
    "ps",
    "pause",
    "resume",
    "update",
    "events",
    "features",
    "completion",
    "man",
];

const CONTAINERD_V3: &str = r#"version = 3

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = 'runc'

  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      SystemdCgroup = true
"#;

/// A user's containers.conf: its own [engine] table (with runtime_supports_json over three
/// lines) and [engine.runtimes] entries, comments, and no newline at the end.
const CONTAINERS_CONF: &str = r#"# my podman settings
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=20000:20000"]

[engine]
cgroup_manager = "cgroupfs"
runtime_supports_json = [
  "crun", "runc",   # the JSON-speaking ones
]

[engine.runtimes]
crun = ["/usr/bin/crun"]

[network]
network_backend = "netavark""#;

/// A CRI-O drop-in that is not runw's.
const CRIO_DROP_IN: &str = "[crio.runtime]\ndefault_runtime = \"runc\"\n";

/// The output of `containerd config default` (version 2 for containerd 1.x); a hand-written
/// version 2 config where containerd is not installed.
fn containerd_v2() -> String {
    if let Ok(out) = Command::new("containerd")
        .args(["config", "default"])
        .output()
    {
        if out.status.success() {
            return String::from_utf8(out.stdout).unwrap();
        }
    }
    r#"version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"
          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
            SystemdCgroup = false
"#
    .to_string()
}

/// A temporary machine: `root/prefix` (empty) for the installation, `root/etc/...` holding
/// the callers' config files, and a scratch directory for command output outside of both.
struct Machine {
    root: TempDir,
    scratch: TempDir,
}

impl Machine {
    fn new() -> Machine {
        let root = tempfile::Builder::new()
            .prefix("runw-install.")
            .tempdir()
            .unwrap();
        fs::create_dir(root.path().join("prefix")).unwrap();
        fs::create_dir_all(root.path().join("etc/containerd")).unwrap();
        fs::create_dir_all(root.path().join("etc/containers")).unwrap();
        Machine {
            root,
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    /// The typical machine: containerd's default (version 2) config, a user's
    /// containers.conf, a CRI-O drop-in directory with a drop-in of its own.
    fn with_configs() -> Machine {
        let m = Machine::new();
        m.write("etc/containerd/config.toml", &containerd_v2());
        m.write("etc/containers/containers.conf", CONTAINERS_CONF);
        fs::create_dir_all(m.path("etc/crio/crio.conf.d")).unwrap();
        m.write("etc/crio/crio.conf.d/10-crio.conf", CRIO_DROP_IN);
        m
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        fs::write(self.path(rel), text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }

    fn prefix(&self) -> PathBuf {
        self.path("prefix")
    }

    /// PREFIX/bin/runw, what the callers' configs must name.
    fn installed_runw(&self) -> String {
        self.path("prefix/bin/runw").to_str().unwrap().to_string()
    }

    /// `hack/install.sh --prefix P --binary RUNW` with the config locations in this machine,
    /// then `args`.
    fn install(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new("bash");
        cmd.arg(INSTALL_SH)
            .arg("--prefix")
            .arg(self.prefix())
            .arg("--binary")
            .arg(RUNW)
            .arg("--containerd-config")
            .arg(self.path("etc/containerd/config.toml"))
            .arg("--podman-config")
            .arg(self.path("etc/containers/containers.conf"))
            .arg("--crio-dir")
            .arg(self.path("etc/crio/crio.conf.d"))
            .args(args);
        run_program(cmd, self.scratch.path(), INSTALL_TIMEOUT)
    }

    fn snapshot(&self) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        snapshot(self.root.path())
    }

    fn run(&self, program: &str, args: &[&str]) -> Out {
        let mut cmd = Command::new(program);
        cmd.args(args);
        run_program(cmd, self.scratch.path(), INSTALL_TIMEOUT)
    }
}

/// A TOML file as JSON, parsed by Python's tomllib (what install.sh validates with).
#[track_caller]
fn toml(path: &Path) -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], 'rb'))))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} does not parse: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn toml_text(text: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.toml");
    fs::write(&path, text).unwrap();
    toml(&path)
}

/// Removes the value at `keys` from `doc` and returns it.
#[track_caller]
fn take(doc: &mut Value, keys: &[&str]) -> Value {
    let (last, parents) = keys.split_last().unwrap();
    let mut table = doc;
    for key in parents {
        table = table.get_mut(*key).unwrap_or_else(|| panic!("no {key}"));
    }
    table
        .as_object_mut()
        .unwrap()
        .remove(*last)
        .unwrap_or_else(|| panic!("no {last} in {keys:?}"))
}

/// containerd's runw entry (containerd.md), as install.sh writes it for `binary`.
fn containerd_entry(binary: &str, systemd: bool) -> Value {
    let annotations = json!(["module.wasm.image/variant", "run.oci.handler"]);
    json!({
        "runtime_type": "io.containerd.runc.v2",
        "pod_annotations": annotations,
        "container_annotations": annotations,
        "options": {"BinaryName": binary, "Root": "/run/containerd/runw", "SystemdCgroup": systemd},
    })
}

/// What a user sees of the installed files: the binary runs, each command has its man page,
/// the completions load.
#[track_caller]
fn assert_installed(m: &Machine) {
    let version = m.run(&m.installed_runw(), &["--version"]).ok();
    assert!(version.stdout.starts_with("runw version "), "{version}");

    let man8 = m.path("prefix/share/man/man8");
    let mut pages = vec!["runw".to_string()];
    pages.extend(COMMANDS.iter().map(|c| format!("runw-{c}")));
    for page in pages {
        let text = fs::read_to_string(man8.join(format!("{page}.8")))
            .unwrap_or_else(|e| panic!("{page}.8: {e}"));
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!(".TH {page} 8"))),
            "{page}.8 has no .TH line of section 8:\n{text}"
        );
        assert!(text.contains(".SH NAME"), "{page}.8:\n{text}");
    }
    let create = fs::read_to_string(man8.join("runw-create.8")).unwrap();
    assert!(create.contains("bundle"), "{create}");

    let bash = m.path("prefix/share/bash-completion/completions/runw");
    let script = format!("source {}; complete -p runw", bash.display());
    let out = m.run("bash", &["-c", &script]).ok();
    assert!(out.stdout.contains("runw"), "{out}");
    let zsh = m.read("prefix/share/zsh/site-functions/_runw");
    assert!(zsh.starts_with("#compdef runw"), "{zsh}");
    let fish = m.read("prefix/share/fish/vendor_completions.d/runw.fish");
    assert!(fish.contains("complete -c runw"), "{fish}");
}

/// The whole life of an installation with `--all`: install, install again (nothing changes),
/// uninstall (everything as before, plus the backups).
#[test]
fn install_all_reinstall_and_uninstall() {
    let m = Machine::with_configs();
    let before = m.snapshot();
    let containerd_before = toml(&m.path("etc/containerd/config.toml"));
    let podman_before = toml(&m.path("etc/containers/containers.conf"));

    let out = m.install(&["--all"]).ok();
    assert!(out.stdout.contains("systemctl restart containerd"), "{out}");
    assert!(out.stdout.contains("systemctl restart crio"), "{out}");
    assert_installed(&m);

    // containerd: the runw entry, and every other setting as it was.
    let mut containerd = toml(&m.path("etc/containerd/config.toml"));
    let entry = take(
        &mut containerd,
        &[
            "plugins",
            "io.containerd.grpc.v1.cri",
            "containerd",
            "runtimes",
            "runw",
        ],
    );
    assert_eq!(entry, containerd_entry(&m.installed_runw(), false));
    assert_eq!(containerd, containerd_before);

    // podman: runw's runtime and runw among the JSON-log runtimes, the user's kept.
    let mut podman = toml(&m.path("etc/containers/containers.conf"));
    let runtime = take(&mut podman, &["engine", "runtimes", "runw"]);
    assert_eq!(runtime, json!([m.installed_runw()]));
    let supports = take(&mut podman, &["engine", "runtime_supports_json"]);
    assert_eq!(supports, json!(["crun", "runc", "runw"]));
    let mut podman_before = podman_before;
    take(&mut podman_before, &["engine", "runtime_supports_json"]);
    assert_eq!(podman, podman_before);

    // CRI-O: a drop-in of runw's own beside the user's.
    let crio = toml(&m.path("etc/crio/crio.conf.d/50-runw.conf"));
    assert_eq!(
        crio["crio"]["runtime"]["runtimes"]["runw"],
        json!({
            "runtime_path": m.installed_runw(),
            "runtime_type": "oci",
            "runtime_root": "/run/runw",
            "allowed_annotations": ["run.oci.handler", "module.wasm.image/variant"],
        })
    );
    assert_eq!(m.read("etc/crio/crio.conf.d/10-crio.conf"), CRIO_DROP_IN);

    // The changed files' backups hold them as they were.
    for config in [
        "etc/containerd/config.toml",
        "etc/containers/containers.conf",
    ] {
        let backup = fs::read(m.path(&format!("{config}.runw-backup"))).unwrap();
        assert_eq!(&backup, before[Path::new(config)].as_ref().unwrap());
    }

    // Again: not one byte changes.
    let installed = m.snapshot();
    m.install(&["--all"]).ok();
    assert_same_tree(&installed, &m.snapshot());

    // Uninstall (from the manifest): every config byte-identical to before, the prefix empty,
    // only the backups left.
    let out = m
        .run(
            "bash",
            &[
                INSTALL_SH,
                "--prefix",
                m.prefix().to_str().unwrap(),
                "--uninstall",
            ],
        )
        .ok();
    assert!(out.stdout.contains("removed runw from"), "{out}");
    let mut after = m.snapshot();
    for config in [
        "etc/containerd/config.toml",
        "etc/containers/containers.conf",
    ] {
        assert!(after
            .remove(Path::new(&format!("{config}.runw-backup")))
            .is_some());
    }
    assert_same_tree(&before, &after);
}

/// The difference between two snapshots, as paths.
#[track_caller]
fn assert_same_tree(
    before: &BTreeMap<PathBuf, Option<Vec<u8>>>,
    after: &BTreeMap<PathBuf, Option<Vec<u8>>>,
) {
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert!(changed.is_empty(), "changed, added or removed: {changed:?}");
}

/// containerd 2.x: the version 3 layout, SystemdCgroup as runc's entry has it. The file
/// does not end with a newline: uninstall takes out the one install added.
#[test]
fn containerd_config_version_3() {
    let m = Machine::new();
    let original = CONTAINERD_V3.trim_end();
    m.write("etc/containerd/config.toml", original);
    let before = m.snapshot();
    m.install(&["--containerd"]).ok();
    let mut config = toml(&m.path("etc/containerd/config.toml"));
    let entry = take(
        &mut config,
        &[
            "plugins",
            "io.containerd.cri.v1.runtime",
            "containerd",
            "runtimes",
            "runw",
        ],
    );
    assert_eq!(entry, containerd_entry(&m.installed_runw(), true));
    assert_eq!(config, toml_text(CONTAINERD_V3));
    assert!(!m.path("etc/containers/containers.conf").exists());

    let installed = m.snapshot();
    m.install(&["--containerd"]).ok();
    assert_same_tree(&installed, &m.snapshot());

    m.install(&["--uninstall"]).ok();
    assert_eq!(m.read("etc/containerd/config.toml"), original);
    let mut after = m.snapshot();
    after.remove(Path::new("etc/containerd/config.toml.runw-backup"));
    assert_same_tree(&before, &after);
}

/// Configs that do not exist yet are created (CRI-O's directory too), and removed again.
#[test]
fn missing_configs_are_created_and_removed() {
    let m = Machine::new();
    let before = m.snapshot();
    m.install(&["--podman", "--crio"]).ok();
    let podman = toml(&m.path("etc/containers/containers.conf"));
    assert_eq!(
        podman["engine"]["runtimes"]["runw"],
        json!([m.installed_runw()])
    );
    let supports = podman["engine"]["runtime_supports_json"]
        .as_array()
        .unwrap();
    assert!(supports.contains(&json!("runc")) && supports.contains(&json!("runw")));
    toml(&m.path("etc/crio/crio.conf.d/50-runw.conf"));

    m.install(&["--uninstall"]).ok();
    assert_same_tree(&before, &m.snapshot());
}

/// A config install.sh does not understand: one line naming the file and the problem, exit
/// status 1, and nothing installed or changed anywhere.
#[test]
fn bad_configs_fail_and_change_nothing() {
    let cases: [(&str, &str, &str, &str); 5] = [
        (
            "--containerd",
            "etc/containerd/config.toml",
            "version = 9\n",
            "config version 9",
        ),
        (
            "--containerd",
            "etc/containerd/config.toml",
            "version = 2\n[plugins\n",
            "not valid TOML",
        ),
        (
            "--containerd",
            "etc/containerd/config.toml",
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runw]\n",
            "already has a runtimes.runw entry",
        ),
        (
            "--podman",
            "etc/containers/containers.conf",
            "[engine.runtimes]\nrunw = [\"/opt/runw\"]\n",
            "runw entry that hack/install.sh did not write",
        ),
        (
            "--podman",
            "etc/containers/containers.conf",
            "[engine\n",
            "not valid TOML",
        ),
    ];
    for (option, config, text, problem) in cases {
        let m = Machine::new();
        m.write(config, text);
        let before = m.snapshot();
        let path = m.path(config);
        m.install(&["--all", option])
            .fails_with(&["error", path.to_str().unwrap(), problem]);
        assert_same_tree(&before, &m.snapshot());
    }
}

#[test]
fn dry_run_changes_nothing() {
    let m = Machine::with_configs();
    let before = m.snapshot();
    let out = m.install(&["--all", "--dry-run"]).ok();
    assert!(out.stdout.contains("would add runw to"), "{out}");
    assert!(out.stdout.contains("would install"), "{out}");
    assert_same_tree(&before, &m.snapshot());
}

#[test]
fn install_sh_usage() {
    let m = Machine::new();
    let out = m.run("bash", &[INSTALL_SH, "--help"]).ok();
    for option in [
        "--prefix",
        "--containerd",
        "--podman",
        "--crio",
        "--all",
        "--uninstall",
    ] {
        assert!(out.stdout.contains(option), "{out}");
    }
    m.run("bash", &[INSTALL_SH, "--frobnicate"])
        .fails_with(&["error", "--frobnicate"]);
    m.run("bash", &[INSTALL_SH, "--prefix", "relative/dir"])
        .fails_with(&["error", "absolute"]);
}

#[test]
fn completion_for_each_shell() {
    let m = Machine::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = m.run(RUNW, &["completion", shell]).ok();
        for word in ["runw", "exec", "create", "bundle", "completion"] {
            assert!(out.stdout.contains(word), "{shell}: no {word}: {out}");
        }
    }
}

#[test]
fn completion_of_an_unknown_shell() {
    let m = Machine::new();
    let out = m.run(RUNW, &["completion", "tcsh"]).fails_with(&[
        "error",
        "unknown shell",
        "tcsh",
        "bash, zsh and fish",
    ]);
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn man_writes_one_page_per_command() {
    let m = Machine::new();
    let dir = m.path("pages/man8");
    m.run(RUNW, &["man", dir.to_str().unwrap()]).ok();
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = COMMANDS.iter().map(|c| format!("runw-{c}.8")).collect();
    want.push("runw.8".into());
    want.sort();
    assert_eq!(names, want);
    let runw = fs::read_to_string(dir.join("runw.8")).unwrap();
    assert!(
        runw.contains("runw\\-exec(8)") || runw.contains("exec"),
        "{runw}"
    );
}

#[test]
fn man_into_a_directory_that_cannot_be_made() {
    let m = Machine::new();
    // Not even root can make a directory under a regular file.
    m.write("file", "");
    let dir = m.path("file/man8");
    m.run(RUNW, &["man", dir.to_str().unwrap()])
        .fails_with(&["error", dir.to_str().unwrap()]);
    assert_eq!(m.read("file"), "");
}
