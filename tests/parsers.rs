//! Property tests of the parsers of untrusted input (issue #13; the fuzz targets in fuzz/
//! cover the same inputs coverage-guided): container ids, signal names, sizes, config.json,
//! the `update` resources JSON, `exec --process` files and a container's state files. Each
//! parser must accept exactly what it documents, never panic, and fail with one line (the
//! log line containerd's shim and podman parse).

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Value};

use runw::cli::UpdateArgs;
use runw::commands::update::{merge_resources, parse_bytes};
use runw::container::{validate_id, MAX_ID_LEN};
use runw::signal;
use runw::wasm::cache::parse_size;

/// An error as runw reports it; it must be one line.
fn one_line(err: &anyhow::Error) -> Result<(), TestCaseError> {
    let msg = format!("{err:#}");
    prop_assert!(!msg.contains('\n'), "error of more than one line: {msg:?}");
    prop_assert!(!msg.is_empty());
    Ok(())
}

/// Names config.json, process and state files use, so that generated objects hit real fields.
const KEYS: &[&str] = &[
    "ociVersion",
    "root",
    "path",
    "process",
    "args",
    "cwd",
    "env",
    "user",
    "uid",
    "gid",
    "additionalGids",
    "capabilities",
    "bounding",
    "effective",
    "rlimits",
    "type",
    "hard",
    "soft",
    "oomScoreAdj",
    "apparmorProfile",
    "terminal",
    "mounts",
    "destination",
    "source",
    "options",
    "hooks",
    "prestart",
    "createRuntime",
    "linux",
    "namespaces",
    "resources",
    "memory",
    "limit",
    "swap",
    "cpu",
    "shares",
    "quota",
    "period",
    "pids",
    "blockIO",
    "weight",
    "annotations",
    "id",
    "status",
    "pid",
    "bundle",
    "created",
    "useSystemd",
    "rootfs",
    "workload",
    "poststart",
    "uidMappings",
    "devices",
    "sysctl",
    "seccomp",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-zA-Z._/\n\"\\\\-]{0,8}",
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 /._:=+-]{0,12}",
        "\\PC{0,8}",
        "[\n\0\"\\\\a/]{0,4}",
        prop::sample::select(vec![
            "1.0.2",
            "2.0.0",
            "1",
            "",
            "/",
            "rootfs",
            "sh",
            "CAP_CHOWN",
            "CAP_FOO",
            "pid",
            "mount",
            "RLIMIT_NOFILE",
            "wasm",
            "wasm-smart",
            "bind",
            "created",
            "running",
            "2026-12-06T14:00:00Z",
        ])
        .prop_map(str::to_string),
    ]
}

/// Arbitrary JSON trees.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::num::f64::NORMAL.prop_map(Value::from),
        prop::sample::select(vec![
            0i64, -1, -2, 1, 2, 1000, 1001, -1001, 2147483647, 2147483648
        ])
        .prop_map(Value::from),
        string().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m: BTreeMap<String, Value>| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `base` with the value at one of `paths` (a JSON pointer) replaced by an arbitrary value.
fn mutated(base: Value, paths: &'static [&'static str]) -> impl Strategy<Value = Value> {
    (prop::sample::select(paths), json_value()).prop_map(move |(path, value)| {
        let mut doc = base.clone();
        set_pointer(&mut doc, path, value);
        doc
    })
}

fn set_pointer(doc: &mut Value, pointer: &str, value: Value) {
    let mut at = doc;
    let mut parts = pointer.trim_start_matches('/').split('/').peekable();
    while let Some(part) = parts.next() {
        if !at.is_object() {
            *at = json!({});
        }
        let slot = at
            .as_object_mut()
            .unwrap()
            .entry(part)
            .or_insert(Value::Null);
        if parts.peek().is_none() {
            *slot = value;
            return;
        }
        at = slot;
    }
}

fn minimal_config() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "process": {"cwd": "/", "args": ["sh"], "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]},
    })
}

const CONFIG_PATHS: &[&str] = &[
    "/ociVersion",
    "/root",
    "/root/path",
    "/process",
    "/process/args",
    "/process/cwd",
    "/process/env",
    "/process/user",
    "/process/user/uid",
    "/process/user/additionalGids",
    "/process/capabilities",
    "/process/capabilities/bounding",
    "/process/rlimits",
    "/process/oomScoreAdj",
    "/process/terminal",
    "/process/consoleSize",
    "/mounts",
    "/hooks",
    "/hooks/prestart",
    "/annotations",
    "/linux",
    "/linux/namespaces",
    "/linux/resources",
    "/linux/resources/memory",
    "/linux/resources/cpu",
    "/linux/resources/pids",
    "/linux/resources/blockIO",
    "/linux/uidMappings",
    "/linux/devices",
    "/linux/sysctl",
];

/// Loads `config` as `create` does, from a bundle with an empty rootfs.
fn load_config(config: &[u8]) -> anyhow::Result<runw::bundle::Bundle> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rootfs")).unwrap();
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    runw::bundle::load(dir.path())
}

fn update_args(memory: Option<String>, pids: Option<i64>) -> UpdateArgs {
    UpdateArgs {
        resources: None,
        memory,
        memory_swap: None,
        memory_reservation: None,
        cpu_shares: None,
        cpu_quota: None,
        cpu_period: None,
        cpuset_cpus: None,
        cpuset_mems: None,
        pids_limit: pids,
        blkio_weight: None,
        container_id: "c".into(),
    }
}

/// runc's names (golang.org/x/sys/unix's signal table, plus runw's real-time names).
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
    ("RTMIN", 34),
    ("RTMAX", 64),
];

/// Any ASCII casing of `name`.
fn any_case(name: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), name.len()).prop_map(move |upper| {
        name.chars()
            .zip(upper)
            .map(|(c, u)| {
                if u {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

    #[test]
    fn ids_are_exactly_runc_ids(id in prop_oneof![
        "[A-Za-z0-9_.-]{1,210}",
        "\\PC{0,20}",
        prop::sample::select(vec![".", "..", "...", "", ":", "a:b", "a/b", "a\0b"]).prop_map(str::to_string),
    ]) {
        let expected = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id != "." && id != ".."
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        match validate_id(&id) {
            Ok(()) => prop_assert!(expected, "{id:?} accepted"),
            Err(err) => {
                prop_assert!(!expected, "{id:?} refused: {err}");
                one_line(&err)?;
            }
        }
    }

    #[test]
    fn signal_names_with_and_without_sig(
        (name, number) in prop::sample::select(SIGNALS),
        prefix in prop::sample::select(vec!["", "SIG", "sig", "Sig"]),
        cased in any::<u64>(),
    ) {
        // Some casing of the name, picked by the bits of `cased`.
        let name: String = name.chars().enumerate()
            .map(|(i, c)| if cased >> (i % 64) & 1 == 1 { c.to_ascii_lowercase() } else { c })
            .collect();
        prop_assert_eq!(signal::parse(&format!("{prefix}{name}")).unwrap(), number);
    }

    #[test]
    fn signal_numbers_round_trip(n in -100i32..200) {
        let parsed = signal::parse(&n.to_string());
        if (1..=64).contains(&n) {
            prop_assert_eq!(parsed.unwrap(), n);
            if n >= 34 {
                prop_assert_eq!(signal::parse(&format!("SIGRTMIN+{}", n - 34)).unwrap(), n);
                prop_assert_eq!(signal::parse(&format!("rtmax-{}", 64 - n)).unwrap(), n);
            }
        } else {
            one_line(&parsed.unwrap_err())?;
        }
    }

    #[test]
    fn signal_parse_never_panics(s in prop_oneof![
        "\\PC{0,12}",
        "(SIG)?(RTMIN|RTMAX|rtmin)[+-][+-]?[0-9]{1,12}",
        any::<i64>().prop_map(|n| n.to_string()),
    ]) {
        match signal::parse(&s) {
            Ok(n) => prop_assert!((1..=64).contains(&n), "{s:?} gave {n}"),
            Err(err) => one_line(&err)?,
        }
    }

    #[test]
    fn signal_names_any_case(name in any_case("sigwinch")) {
        prop_assert_eq!(signal::parse(&name).unwrap(), 28);
    }

    #[test]
    fn sizes_parse_with_every_unit(
        n in any::<u64>(),
        (unit, shift) in prop::sample::select(vec![
            ("", 0u32), ("k", 10), ("K", 10), ("KiB", 10), ("kb", 10), ("M", 20), ("mib", 20),
            ("G", 30), ("GB", 30), ("t", 40), ("Ti", 40),
        ]),
        small in 0u64..1 << 20,
    ) {
        for n in [n, small] {
            let text = format!("{n}{unit}");
            match n.checked_mul(1 << shift) {
                Some(bytes) => prop_assert_eq!(parse_size(&text).unwrap(), bytes),
                None => one_line(&parse_size(&text).unwrap_err())?,
            }
            // update --memory: the same units, as an i64 (refused when it does not fit).
            let bytes = u128::from(n) << shift;
            match parse_bytes(&text) {
                Ok(v) => {
                    prop_assert!(v >= 0);
                    // Computed in floating point, like go-units: exact up to 2^53.
                    if bytes < 1 << 53 {
                        prop_assert_eq!(v as u128, bytes);
                    }
                    // Never saturated: 2^63 bytes or more is refused, not i64::MAX.
                    prop_assert!(bytes < 1 << 63, "{text:?} gave {v}");
                }
                Err(err) => {
                    prop_assert!(bytes >= (1u128 << 63) - (1 << 12), "{text:?} refused: {err}");
                    one_line(&err)?;
                }
            }
        }
    }

    #[test]
    fn size_parsers_never_panic(s in prop_oneof![
        "\\PC{0,12}",
        "[0-9]{0,30}[.]?[0-9]{0,5} ?[kKmMgGtTpPxX]?[iI]?[bB]?",
    ]) {
        match parse_size(&s) {
            Ok(_) => {}
            Err(err) => one_line(&err)?,
        }
        match parse_bytes(&s) {
            Ok(v) => prop_assert!(v >= -1, "{s:?} gave {v}"),
            Err(err) => one_line(&err)?,
        }
    }
}

proptest! {
    // Each case writes a bundle: fewer cases.
    #![proptest_config(Config { cases: 128, failure_persistence: None, ..Config::default() })]

    #[test]
    fn config_json_of_any_shape(doc in prop_oneof![
        json_value(),
        mutated(minimal_config(), CONFIG_PATHS),
    ]) {
        if let Err(err) = load_config(doc.to_string().as_bytes()) {
            one_line(&err)?;
        }
    }

    #[test]
    fn config_json_bytes(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(|b| {
            let mut text = minimal_config().to_string().into_bytes();
            let at = text.len() / 2;
            text.splice(at..at, b);
            text
        }),
    ]) {
        if let Err(err) = load_config(&bytes) {
            one_line(&err)?;
        }
    }

    #[test]
    fn update_resources_of_any_shape(
        doc in prop_oneof![
            json_value(),
            mutated(json!({"memory": {"limit": 1048576}, "pids": {"limit": 5}}), &[
                "/memory", "/memory/limit", "/memory/swap", "/cpu", "/cpu/shares", "/cpu/cpus",
                "/pids", "/pids/limit", "/blockIO", "/blockIO/weight", "/hugepageLimits",
                "/unified",
            ]),
        ],
        memory in prop::option::of(prop::sample::select(vec!["64m", "-1", "1g", "0"])),
        pids in prop::option::of(-3i64..100),
    ) {
        let args = update_args(memory.map(str::to_string), pids);
        if let Err(err) = merge_resources(doc.clone(), &args) {
            one_line(&err)?;
        }
        if let Ok(text) = serde_json::to_string(&doc) {
            match runw::commands::update::parse_resources_json(&text) {
                // Not compared with `doc`: serde_json reads floats back to the nearest, not exactly.
                Ok(_) => {}
                Err(err) => one_line(&err)?,
            }
        }
    }

    #[test]
    fn exec_process_files_of_any_shape(doc in prop_oneof![
        json_value(),
        mutated(minimal_config()["process"].clone(), &[
            "/args", "/cwd", "/env", "/user", "/user/uid", "/user/gid", "/capabilities",
            "/rlimits", "/oomScoreAdj", "/terminal", "/consoleSize", "/noNewPrivileges",
            "/apparmorProfile", "/selinuxLabel", "/ioPriority", "/scheduler",
        ]),
    ]) {
        match runw::commands::exec::parse_process(&doc.to_string(), "process.json") {
            Ok(process) => {
                if let Err(err) = runw::fixups::checks::process(&process, "process.json") {
                    one_line(&err)?;
                }
            }
            Err(err) => one_line(&err)?,
        }
    }

    #[test]
    fn state_files_of_any_shape(
        state in prop_oneof![
            json_value(),
            mutated(json!({
                "ociVersion": "v1.0.2", "id": "c", "status": "created", "pid": 1,
                "bundle": "/b", "created": "2026-12-06T14:00:00.5Z", "creator": 0,
                "useSystemd": false, "intelRdtDir": null,
            }), &["/id", "/status", "/pid", "/bundle", "/created", "/creator", "/annotations",
                  "/useSystemd", "/ociVersion"]),
        ],
        meta in prop_oneof![
            json_value(),
            Just(json!({"ociVersion": "1.0.2", "rootfs": "/b/rootfs", "workload": "linux"})),
        ],
    ) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("c");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("state.json"), state.to_string()).unwrap();
        std::fs::write(dir.join("runw.json"), meta.to_string()).unwrap();
        let _ = runw::state::Meta::load(&dir);
        if let Ok(container) = libcontainer::container::Container::load(dir) {
            let state = runw::state::RuncState::of(&container, "root".into());
            prop_assert!(serde_json::to_string(&state).is_ok());
        }
        let _ = serde_json::from_value::<runw::container::Intent>(state);
    }
}

// Regressions: inputs the property tests or the fuzz targets found, exactly.

#[test]
fn update_with_flags_over_a_document_that_is_not_an_object() {
    // `runw update --resources r.json --memory 64m c` with r.json `5` or `[1]`: serde_json's
    // IndexMut panicked ("cannot access key \"memory\" in JSON number").
    for doc in [json!(5), json!([1]), json!("x"), json!(true)] {
        let err = merge_resources(doc, &update_args(Some("64m".into()), Some(1))).unwrap_err();
        assert!(
            format!("{err:#}").contains("must be a JSON object"),
            "{err:#}"
        );
    }
    // null is an empty document, as for runc's decoder.
    let resources = merge_resources(Value::Null, &update_args(Some("64m".into()), None)).unwrap();
    assert_eq!(resources.memory().as_ref().unwrap().limit(), Some(64 << 20));
}

#[test]
fn update_sizes_beyond_i64_are_refused() {
    // Silently became i64::MAX (f64 to i64 saturates).
    for size in ["99999999999999999999", "9000000t", "8589934592g"] {
        let err = parse_bytes(size).unwrap_err();
        assert!(format!("{err:#}").contains("too large"), "{size}: {err:#}");
    }
    assert_eq!(parse_bytes("8388607t").unwrap(), 8388607 << 40);
}

#[test]
fn realtime_signal_offsets_that_overflow() {
    // 34 + 2147483647 overflowed i32 (a panic where overflow is checked: debug builds, fuzz).
    for s in [
        "RTMIN+2147483647",
        "SIGRTMAX--2147483648",
        "rtmax-+2147483647",
    ] {
        assert!(signal::parse(s).is_err(), "{s}");
    }
}

#[test]
fn config_errors_naming_a_key_with_a_newline_are_one_line() {
    // serde_path_to_error writes the field path's map keys as they are.
    let config = json!({
        "ociVersion": "1.0.2", "root": {"path": "rootfs"},
        "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
        "annotations": {"a\nb": 1},
    });
    let err = load_config(config.to_string().as_bytes()).err().unwrap();
    let msg = format!("{err:#}");
    assert!(
        !msg.contains('\n') && msg.contains("annotations.a\\nb"),
        "{msg}"
    );
}
