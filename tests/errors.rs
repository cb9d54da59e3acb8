//! Every bad input: exit status 1, one line on stderr naming the cause, and nothing left
//! behind (no state directory or `.lock:*` under --root, no cgroup, no process). Also the
//! JSON log file that containerd's shim and podman parse.

mod common;

use std::time::Duration;

use common::{Bundle, Out, Runtime};
use serde_json::{json, Value};

/// `create` of `id` from `bundle_dir`, expected to fail with `needles`; checks nothing is left.
#[track_caller]
fn create_fails(rt: &Runtime, id: &str, bundle_dir: &str, needles: &[&str]) -> Out {
    let out = rt
        .run(&["create", "--bundle", bundle_dir, id])
        .fails_with(needles);
    rt.assert_clean(id);
    assert!(
        rt.root_entries().is_empty(),
        "left under --root: {:?}",
        rt.root_entries()
    );
    out
}

/// A bundle whose config.json is `text`.
fn bundle_with_config(rt: &Runtime, id: &str, text: &str) -> Bundle {
    let bundle = rt.bundle(id, &["true"]);
    std::fs::write(bundle.config_path(), text).unwrap();
    bundle
}

#[test]
fn missing_bundle() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("nobundle");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-there");
    create_fails(
        &rt,
        &id,
        missing.to_str().unwrap(),
        &[missing.to_str().unwrap(), "does not exist"],
    );
    // `run` reports the same.
    rt.run(&["run", "--bundle", missing.to_str().unwrap(), &id])
        .fails_with(&["does not exist"]);
    rt.assert_clean(&id);
}

#[test]
fn missing_config_json() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("noconfig");
    let bundle = rt.bundle(&id, &["true"]);
    std::fs::remove_file(bundle.config_path()).unwrap();
    create_fails(&rt, &id, bundle.path_str(), &["config.json", "not found"]);
}

#[test]
fn unreadable_config_json() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("unreadable");
    let bundle = rt.bundle(&id, &["true"]);
    // Root reads any file whatever its mode: make config.json a directory instead.
    std::fs::remove_file(bundle.config_path()).unwrap();
    std::fs::create_dir(bundle.config_path()).unwrap();
    create_fails(&rt, &id, bundle.path_str(), &["config.json"]);
}

#[test]
fn config_json_that_is_not_json() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("badjson");
    let bundle = bundle_with_config(
        &rt,
        &id,
        "{\n  \"ociVersion\": \"1.0.2\"\n  \"root\": {\"path\": \"rootfs\"}\n}\n",
    );
    create_fails(&rt, &id, bundle.path_str(), &["line 3", "column"]);
    let bundle = bundle_with_config(&rt, &id, "");
    create_fails(&rt, &id, bundle.path_str(), &["config.json"]);
    let bundle = bundle_with_config(&rt, &id, "[1, 2]");
    create_fails(&rt, &id, bundle.path_str(), &["config.json"]);
}

#[test]
fn missing_required_fields() {
    require_root!();
    let rt = Runtime::runw();
    for field in ["ociVersion", "root", "process"] {
        let id = rt.id("nofield");
        let mut bundle = rt.bundle(&id, &["true"]);
        bundle.edit(|c| {
            c.as_object_mut().unwrap().remove(field);
        });
        create_fails(&rt, &id, bundle.path_str(), &["missing", field]);
    }
    let id = rt.id("noargs");
    let mut bundle = rt.bundle(&id, &["true"]);
    bundle.edit(|c| c["process"]["args"] = json!([]));
    create_fails(&rt, &id, bundle.path_str(), &["args"]);
}

#[test]
fn unsupported_oci_version() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("ociver");
    let mut bundle = rt.bundle(&id, &["true"]);
    bundle.edit(|c| c["ociVersion"] = json!("2.0.0"));
    create_fails(&rt, &id, bundle.path_str(), &["ociVersion", "2.0.0"]);
}

#[test]
fn missing_rootfs() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("norootfs");
    let mut bundle = rt.bundle(&id, &["true"]);
    bundle.edit(|c| c["root"]["path"] = json!("no-such-rootfs"));
    create_fails(
        &rt,
        &id,
        bundle.path_str(),
        &["no-such-rootfs", "does not exist"],
    );
}

#[test]
fn missing_executable() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("noexe");
    let bundle = rt.bundle(&id, &["/no/such/binary"]);
    let out = rt
        .run(&["run", "--bundle", bundle.path_str(), &id])
        .fails_with(&["/no/such/binary"]);
    // podman maps this text to its "executable file not found" error.
    assert!(
        out.stderr.contains("not found") || out.stderr.contains("no such file"),
        "{out}"
    );
    rt.assert_clean(&id);
    create_fails(&rt, &id, bundle.path_str(), &["/no/such/binary"]);
}

#[test]
fn bad_container_ids() {
    require_root!();
    let rt = Runtime::runw();
    let bundle = rt.bundle("badid", &["true"]);
    let long = "a".repeat(201);
    for id in ["", "../x", "/", "a b", "a/b", "..", long.as_str()] {
        let out = rt
            .run(&["create", "--bundle", bundle.path_str(), id])
            .fails_with(&["id"]);
        assert!(
            rt.root_entries().is_empty(),
            "id {id:?} left {:?}: {out}",
            rt.root_entries()
        );
    }
    // A 200-character id is fine.
    let ok = "b".repeat(200);
    rt.track(&ok);
    let mut bundle = rt.bundle(&ok, &["true"]);
    bundle.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/runw-it/{ok}")));
    rt.create(&ok, &bundle);
    rt.ok(&["delete", "--force", &ok]);
    rt.assert_clean(&ok);
    // Other commands refuse bad ids too, without creating anything.
    for cmd in [
        "state", "start", "delete", "pause", "resume", "ps", "events",
    ] {
        rt.run(&[cmd, "../x"]).fails_with(&["id"]);
    }
    rt.run(&["kill", "../x", "KILL"]).fails_with(&["id"]);
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
}

#[test]
fn id_that_already_exists() {
    require_root!();
    let rt = Runtime::runw();
    let (id, bundle) = rt.sleeper("dup");
    let before = rt.state(&id);
    rt.run(&["create", "--bundle", bundle.path_str(), &id])
        .fails_with(&["exists", &id]);
    rt.run(&["run", "-d", "--bundle", bundle.path_str(), &id])
        .fails_with(&["exists", &id]);
    // The existing container is untouched.
    assert_eq!(rt.state(&id), before);
    assert!(common::alive(before["pid"].as_i64().unwrap() as i32));
}

#[test]
fn unknown_container() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("ghost");
    let cmds: Vec<Vec<&str>> = vec![
        vec!["state", &id],
        vec!["start", &id],
        vec!["kill", &id],
        vec!["kill", &id, "KILL"],
        vec!["delete", &id],
        vec!["pause", &id],
        vec!["resume", &id],
        vec!["ps", &id],
    ];
    for cmd in cmds {
        rt.run(&cmd).fails_with(&[&id, "does not exist"]);
    }
    rt.run(&["exec", &id, "true"])
        .exec_fails_with(&[&id, "does not exist"]);
    rt.assert_clean(&id);
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
}

#[test]
fn start_of_a_running_container() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("start2");
    rt.run(&["start", &id]).fails_with(&[&id, "running"]);
    assert_eq!(rt.status(&id), "running");
}

#[test]
fn start_of_a_stopped_container() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("start-stopped");
    let bundle = rt.bundle(&id, &["true"]);
    rt.run_detached(&id, &bundle);
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    rt.run(&["start", &id]).fails_with(&[&id, "stopped"]);
}

#[test]
fn delete_of_a_running_container_without_force() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("delrun");
    rt.run(&["delete", &id]).fails_with(&[&id, "running"]);
    assert_eq!(rt.status(&id), "running");
    let id2 = rt.id("delcreated");
    let bundle = rt.bundle(&id2, &["sleep", "600"]);
    rt.create(&id2, &bundle);
    // runc deletes a created (never started) container without --force: so does runw.
    rt.ok(&["delete", &id2]);
    rt.assert_clean(&id2);
}

#[test]
fn kill_with_unknown_signal() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("badsig");
    for signal in ["SIGFOO", "0", "65", "RTMIN+40"] {
        rt.run(&["kill", &id, signal]).fails_with(&["signal"]);
    }
    assert_eq!(rt.status(&id), "running");
}

/// runc takes `kill ID -9` as the signal number -9 and fails with one line ("unable to
/// signal init: invalid argument"), not with a usage text.
#[test]
fn kill_with_negative_signal_number() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("negsig");
    rt.run(&["kill", &id, "-9"]).fails_with(&["-9"]);
    assert_eq!(rt.status(&id), "running");
}

#[test]
fn kill_of_a_stopped_container() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("kill-stopped");
    let bundle = rt.bundle(&id, &["true"]);
    rt.run_detached(&id, &bundle);
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    // containerd and CRI-O match this exact text.
    rt.run(&["kill", &id, "KILL"])
        .fails_with(&["container not running"]);
}

#[test]
fn exec_into_a_stopped_container() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("exec-stopped");
    let bundle = rt.bundle(&id, &["true"]);
    rt.run_detached(&id, &bundle);
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    rt.run(&["exec", &id, "true"])
        .exec_fails_with(&[&id, "stopped"]);
    let pid_file = bundle.path().join("exec.pid");
    rt.run(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "true",
    ])
    .exec_fails_with(&["stopped"]);
    assert!(!pid_file.exists(), "failed exec left its pid file");
}

#[test]
fn exec_without_a_command() {
    require_root!();
    let rt = Runtime::runw();
    let (id, _bundle) = rt.sleeper("exec-nocmd");
    rt.run(&["exec", &id]).fails_with(&["command"]);
    rt.run(&["exec", &id, "/no/such/program"])
        .exec_fails_with(&["/no/such/program"]);
    assert_eq!(rt.status(&id), "running");
}

/// runw with `--log <scratch>/log.json --log-format json` on every command, and that path.
fn runw_with_json_log() -> (Runtime, std::path::PathBuf) {
    let mut rt = Runtime::runw();
    let log = rt.scratch.path().join("log.json");
    rt.global = vec![
        "--log".into(),
        log.to_str().unwrap().into(),
        "--log-format".into(),
        "json".into(),
    ];
    (rt, log)
}

/// Reads a `--log-format json` file: every line must be a JSON object.
fn log_lines(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
        .collect()
}

#[test]
fn json_log_holds_one_error_line() {
    require_root!();
    let (rt, log) = runw_with_json_log();
    let id = rt.id("jsonlog");
    let mut bundle = rt.bundle(&id, &["true"]);
    bundle.edit(|c| c["root"]["path"] = json!("no-such-rootfs"));
    let out = create_fails(&rt, &id, bundle.path_str(), &["no-such-rootfs"]);

    let text = std::fs::read_to_string(&log).expect("log file written");
    // podman parses the whole file as a single JSON object.
    let whole: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("log file is not one JSON object ({e}): {text:?}"));
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert_eq!(whole["level"], "error", "{text}");
    let msg = whole["msg"].as_str().unwrap();
    assert!(msg.contains("no-such-rootfs"), "{text}");
    assert_eq!(msg, out.stderr.trim_end(), "log msg vs stderr");
    let time = whole["time"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");

    // runc appends: a second failure adds exactly one more error line.
    rt.run(&["state", &id]).fails_with(&["does not exist"]);
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1]["level"], "error");
    assert!(lines[1]["msg"].as_str().unwrap().contains("does not exist"));
}

#[test]
fn json_log_stays_empty_on_success() {
    require_root!();
    let (rt, log) = runw_with_json_log();
    let id = rt.id("jsonlog-ok");
    let bundle = rt.bundle(&id, &["true"]);
    rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    let lines = log_lines(&log);
    assert!(
        lines.iter().all(|l| l["level"] != "error"),
        "errors logged on success: {lines:?}"
    );
}

#[test]
fn text_log_format() {
    require_root!();
    let mut rt = Runtime::runw();
    let log = rt.scratch.path().join("log.txt");
    rt.global = vec!["--log".into(), log.to_str().unwrap().into()];
    let id = rt.id("textlog");
    rt.run(&["state", &id]).fails_with(&["does not exist"]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("level=error"), "{text:?}");
    assert!(text.contains("msg="), "{text:?}");
    assert!(text.starts_with("time=\""), "{text:?}");
}

#[test]
fn usage_errors_exit_1() {
    require_root!();
    let rt = Runtime::runw();
    let out = rt.run(&["no-such-command"]);
    assert_eq!(out.code, 1, "{out}");
    let out = rt.run(&["state"]);
    assert_eq!(out.code, 1, "{out}");
    let out = rt.run(&["--log-format", "yaml", "list"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(rt.ok(&["--version"]).stdout.starts_with("runw version "));
}

/// Without CAP_SYS_RESOURCE an rlimit above the current hard limit cannot be set: the create
/// fails, the message names the rlimit (runc: "error setting rlimit type 7: operation not
/// permitted"), and nothing is left. The runtime runs without the capability and with a low
/// hard limit whatever the host grants (the cgroup v2 guest has CAP_SYS_RESOURCE).
#[test]
fn rlimit_above_the_hard_limit() {
    require_root!();
    let hard = libc::rlimit {
        rlim_cur: 1024,
        rlim_max: 4096,
    };
    let rt = Runtime::runw().without_sys_resource(hard.rlim_max);
    let id = rt.id("rlimit-high");
    let mut bundle = rt.bundle(&id, &["true"]);
    bundle.edit(|c| {
        c["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard.rlim_max * 10}]);
    });
    let out = rt
        .run(&["run", "--bundle", bundle.path_str(), &id])
        .fails_with(&[]);
    assert!(
        out.stderr.to_lowercase().contains("rlimit"),
        "the message should name the rlimit: {out}"
    );
    rt.assert_clean(&id);
    create_fails(&rt, &id, bundle.path_str(), &[]);
}

/// runc and runw agree on the exit status (1) of the common mistakes.
#[test]
fn bad_inputs_exit_1_like_runc() {
    require_root!();
    for rt in [Runtime::runc(), Runtime::runw()] {
        let (running, bundle) = rt.sleeper("ref");
        let ghost = rt.id("ghost");
        let missing = bundle.path().join("missing");
        let cases: Vec<Vec<&str>> = vec![
            vec!["create", "--bundle", missing.to_str().unwrap(), &ghost],
            vec!["create", "--bundle", bundle.path_str(), &running],
            vec!["create", "--bundle", bundle.path_str(), "a b"],
            vec!["state", &ghost],
            vec!["start", &ghost],
            vec!["kill", &ghost, "KILL"],
            vec!["delete", &ghost],
            vec!["start", &running],
            vec!["delete", &running],
            vec!["kill", &running, "SIGFOO"],
            vec!["resume", &running],
        ];
        for case in cases {
            let out = rt.run(&case);
            assert_eq!(out.code, 1, "{}: {out}", rt.name());
        }
        assert_eq!(rt.status(&running), "running", "{}", rt.name());
    }
}

/// A container with a user namespace runs with an absolute cgroupsPath on any host. On a
/// cgroup v2 host without systemd a relative one cannot work with libcontainer 0.7 (it would
/// manage the cgroup through systemd): `create` fails with one line saying what to do.
#[test]
fn user_namespace_and_cgroups_path() {
    require_root!();
    use std::os::unix::fs::PermissionsExt;
    let rt = Runtime::runw();
    let userns = |c: &mut Value| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    };
    let id = rt.id("userns");
    let mut bundle = rt.bundle(&id, &["cat", "/proc/self/uid_map"]);
    bundle.edit(userns);
    // The container's root (host uid 100000) must reach the rootfs.
    std::fs::set_permissions(bundle.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"],
        "{out}"
    );
    rt.assert_clean(&id);

    if common::cgroup_v2_only() && !std::path::Path::new("/run/systemd/system").exists() {
        let id = rt.id("userns-rel");
        let mut bundle = rt.bundle(&id, &["true"]);
        bundle.edit(|c| {
            userns(c);
            c["linux"]["cgroupsPath"] = json!(format!("{}/{id}", common::CGROUP_PARENT));
        });
        create_fails(
            &rt,
            &id,
            bundle.path_str(),
            &["user namespace", "absolute linux.cgroupsPath"],
        );
    }
}

/// A uid or gid of 4294967295 is -1 to setresuid: the process would stay root. runc refuses
/// every id above 2147483647 at create; so do `exec --user`/`--additional-gids`/`--process`.
#[test]
fn ids_out_of_range_are_refused() {
    require_root!();
    let rt = Runtime::runw();
    let range = "uids and gids must be in range 0-2147483647";
    let edits: Vec<(&str, Value)> = vec![
        ("uid", json!(4294967295u32)),
        ("gid", json!(2147483648u32)),
        ("additionalGids", json!([5, 4294967295u32])),
    ];
    for (field, value) in edits {
        let id = rt.id("idrange");
        let mut bundle = rt.bundle(&id, &["id"]);
        bundle.edit(|c| c["process"]["user"][field] = value.clone());
        let out = create_fails(&rt, &id, bundle.path_str(), &[range, field]);
        assert_eq!(out.container_stdout(), "", "the process ran: {out}");
    }
    let (id, _bundle) = rt.sleeper("idrange-exec");
    for args in [
        vec!["exec", "--user", "4294967295", &id, "id"],
        vec!["exec", "--user", "0:4294967295", &id, "id"],
        vec!["exec", "--additional-gids", "4294967295", &id, "id"],
    ] {
        let out = rt.run(&args).exec_fails_with(&[range]);
        assert!(!out.stdout.contains("uid="), "the process ran: {out}");
    }
    let process = common::write_file(
        rt.scratch.path(),
        "process.json",
        r#"{"args":["id"],"cwd":"/","user":{"uid":4294967295,"gid":0}}"#,
    );
    rt.run(&["exec", "--process", process.to_str().unwrap(), &id])
        .exec_fails_with(&[range]);
}

/// runtime-spec: process.cwd MUST be absolute; runc: "Cwd must be an absolute path".
#[test]
fn relative_cwd_is_refused() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("relcwd");
    let mut bundle = rt.bundle(&id, &["pwd"]);
    bundle.edit(|c| c["process"]["cwd"] = json!("tmp"));
    create_fails(
        &rt,
        &id,
        bundle.path_str(),
        &["Cwd must be an absolute path"],
    );
}

/// Without --log, errors are runc's (logrus) lines on stderr, which tools grep for `error`:
/// `time="..." level=error msg="container does not exist"`.
#[test]
fn error_lines_carry_the_level() {
    require_root!();
    let rt = Runtime::runw();
    let id = rt.id("ghost");
    for cmd in [vec!["state", &id], vec!["delete", &id], vec!["kill", &id]] {
        let out = rt.run(&cmd).fails_with(&["level=error", "does not exist"]);
        let line = out.stderr.trim_end();
        assert!(line.starts_with("time=\""), "{out}");
        assert!(
            line.ends_with(&format!(
                " level=error msg=\"container {id} does not exist\""
            )),
            "{out}"
        );
    }
    rt.run(&["state", "a:b"])
        .fails_with(&["level=error", "invalid container id"]);
}

/// Errors raised inside the container's init name their innermost cause, on stderr and in
/// the log: a /proc mount over a symlink.
#[test]
fn init_errors_name_the_cause() {
    require_root!();
    let (rt, log) = runw_with_json_log();
    let id = rt.id("procsymlink");
    let bundle = rt.bundle(&id, &["true"]);
    std::fs::remove_dir(bundle.rootfs().join("proc")).unwrap();
    std::os::unix::fs::symlink("tmp", bundle.rootfs().join("proc")).unwrap();
    let cause = "filesystem proc must be mounted on ordinary directory";
    let out = create_fails(
        &rt,
        &id,
        bundle.path_str(),
        &["failed to prepare rootfs", cause],
    );
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["msg"], out.stderr.trim_end());
}

/// An AppArmor profile on a host without AppArmor: say so (not "No such file or directory").
#[test]
fn apparmor_profile_without_apparmor() {
    require_root!();
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    if enabled {
        skip!("AppArmor is enabled on this host: the case needs one without it");
    }
    let rt = Runtime::runw();
    let id = rt.id("apparmor");
    let mut bundle = rt.bundle(&id, &["true"]);
    bundle.edit(|c| c["process"]["apparmorProfile"] = json!("runw-test"));
    create_fails(
        &rt,
        &id,
        bundle.path_str(),
        &["AppArmor is not enabled on this host", "runw-test"],
    );
    let (id, _bundle) = rt.sleeper("apparmor-exec");
    rt.run(&["exec", "--apparmor", "runw-test", &id, "true"])
        .exec_fails_with(&["AppArmor is not enabled on this host", "runw-test"]);
}

/// A command whose stdout is a closed pipe (`runw features | head -c 0`) ends as runc does,
/// killed by SIGPIPE, instead of panicking with a Rust backtrace message.
#[test]
fn stdout_on_a_closed_pipe() {
    use std::os::unix::process::ExitStatusExt;
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    drop(read_end);
    let out = std::process::Command::new(common::RUNW)
        .arg("features")
        .stdout(std::process::Stdio::from(write_end))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{out:?}");
}

/// A tmpfs mounted read-only at a path for the life of the value.
struct ReadOnlyTmpfs(std::path::PathBuf);

impl ReadOnlyTmpfs {
    fn mount(path: &std::path::Path) -> ReadOnlyTmpfs {
        std::fs::create_dir_all(path).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs"])
            .arg(path)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "mount a read-only tmpfs at {}",
            path.display()
        );
        ReadOnlyTmpfs(path.to_path_buf())
    }
}

impl Drop for ReadOnlyTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// `delete --force` of a container that does not exist succeeds, as runc's does, even with
/// `--root` on a read-only filesystem (runw failed: "cannot open lock ...: Read-only file
/// system", because it made the container's lock file first); a plain `delete` says the
/// container does not exist. Found by hack/stress.sh (faults).
#[test]
fn delete_missing_container_on_a_read_only_root() {
    require_root!();
    for rt in [Runtime::runw(), Runtime::runc()] {
        let _ro = ReadOnlyTmpfs::mount(&rt.root);
        // Not tracked: the Runtime's drop checks would run on the read-only root.
        let id = common::unique_id("rodelete");
        rt.run(&["delete", "--force", &id]).ok();
        let out = rt.run(&["delete", &id]);
        if rt.name() == "runw" {
            out.fails_with(&["does not exist"]);
        } else {
            // runc first warns that it cannot remove the (missing) directory.
            assert!(
                out.code == 1 && out.stderr.contains("does not exist"),
                "{out}"
            );
        }
    }
}
