//! The Wasm lifecycle: create/start/state/kill/delete of a Wasm container
//! (annotations `run.oci.handler=wasm`, `module.wasm.image/variant=compat`).

use std::fs;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::{case, Case};
use crate::bundle::default_config;
use crate::ctx::{set_args, skip, subtests, CaseResult, Ctx};

pub fn cases() -> Vec<Case> {
    vec![
        case("wasm_lifecycle", wasm_lifecycle),
        case("wasm_kill", wasm_kill),
    ]
}

/// A WASI command module whose `_start` writes "wasm ok\n" to stdout.
const HELLO_WASM: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    // type section: (i32 i32 i32 i32) -> i32, () -> ()
    0x01, 0x0c, 0x02, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00,
    // import section: wasi_snapshot_preview1.fd_write, type 0
    0x02, 0x23, 0x01, 0x16, b'w', b'a', b's', b'i', b'_', b's', b'n', b'a', b'p', b's', b'h', b'o',
    b't', b'_', b'p', b'r', b'e', b'v', b'i', b'e', b'w', b'1', 0x08, b'f', b'd', b'_', b'w', b'r',
    b'i', b't', b'e', 0x00, 0x00, // function section: one function of type 1
    0x03, 0x02, 0x01, 0x01, // memory section: one memory, min 1 page
    0x05, 0x03, 0x01, 0x00, 0x01,
    // export section: "memory" (memory 0), "_start" (func 1)
    0x07, 0x13, 0x02, 0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00, 0x06, b'_', b's', b't',
    b'a', b'r', b't', 0x00, 0x01,
    // code section: fd_write(1, iovs=0, iovs_len=1, nwritten=24); drop
    0x0a, 0x0f, 0x01, 0x0d, 0x00, 0x41, 0x01, 0x41, 0x00, 0x41, 0x01, 0x41, 0x18, 0x10, 0x00, 0x1a,
    0x0b, // data section at 0: iovec {ptr 16, len 8}, 8 zero bytes, "wasm ok\n"
    0x0b, 0x1e, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x18, 0x10, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, b'w', b'a', b's', b'm', b' ', b'o', b'k',
    b'\n',
];

/// A WASI command module whose `_start` loops forever.
const SPIN_WASM: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
    0x03, 0x02, 0x01, 0x00, // function section
    0x07, 0x0a, 0x01, 0x06, b'_', b's', b't', b'a', b'r', b't', 0x00, 0x00, // export "_start"
    0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop { br 0 }
];

/// Does the runtime advertise a Wasm handler (a `*wasm*` key in the
/// annotations of `features`, as crun's `run.oci.crun.wasm`)? Only a
/// well-formed answer says no: a `features` that fails, or prints something
/// that is not a JSON object, is an error (a failure of the case, not a skip).
fn advertises_wasm(ctx: &mut Ctx) -> Result<bool> {
    let out = ctx.rt(&["features"])?.check()?;
    features_advertise_wasm(&out.stdout)
}

fn features_advertise_wasm(stdout: &str) -> Result<bool> {
    let v: Value = serde_json::from_str(stdout)
        .with_context(|| format!("`features` printed no JSON: {stdout:?}"))?;
    ensure!(
        v.is_object(),
        "`features` printed no JSON object: {stdout:?}"
    );
    match &v["annotations"] {
        // runc's `features` omits the field when it has none.
        Value::Null => Ok(false),
        Value::Object(a) => Ok(a.keys().any(|k| k.to_lowercase().contains("wasm"))),
        other => bail!("`features`: annotations is not an object: {other}"),
    }
}

fn wasm_config(module: &str) -> Value {
    let mut cfg = default_config();
    set_args(&mut cfg, &[module]);
    cfg["annotations"] = json!({"run.oci.handler": "wasm", "module.wasm.image/variant": "compat"});
    cfg
}

fn gate(ctx: &mut Ctx) -> Result<Option<String>> {
    if ctx.env.force_wasm || advertises_wasm(ctx)? {
        return Ok(None);
    }
    Ok(Some(
        "the runtime advertises no Wasm handler (no *wasm* annotation in `features`); --wasm forces the case".into(),
    ))
}

fn wasm_lifecycle(ctx: &mut Ctx) -> CaseResult {
    if let Some(why) = gate(ctx)? {
        return skip(why);
    }
    let bundle = ctx.bundle(&wasm_config("/hello.wasm"))?;
    fs::write(bundle.join("rootfs/hello.wasm"), HELLO_WASM)?;
    let id = ctx.id();
    let out = ctx.create(&bundle, &id)?;
    let mut r = Vec::new();
    r.push(("create".to_string(), out.check().map(drop)));
    let res = ctx.state(&id).and_then(|st| {
        ensure!(
            st.status == "created" && st.pid > 0,
            "state after create: {}",
            st.raw
        );
        Ok(())
    });
    r.push(("state created".into(), res));
    let res = (|| {
        ctx.start(&id)?.check()?;
        ctx.wait_status(&id, "stopped")?;
        let stdout = fs::read_to_string(bundle.join("container.out")).unwrap_or_default();
        ensure!(
            stdout.contains("wasm ok"),
            "the module's stdout is {stdout:?}"
        );
        Ok(())
    })();
    r.push(("start runs the module".into(), res));
    r.push((
        "delete".into(),
        ctx.delete(&id).and_then(|o| o.check().map(drop)),
    ));
    subtests(r)
}

/// A Wasm container stops on SIGTERM (runw handles it in the init, which as
/// pid 1 of its namespace would otherwise ignore it) and on SIGKILL: one
/// container per signal, each checked to be running before the signal.
fn wasm_kill(ctx: &mut Ctx) -> CaseResult {
    if let Some(why) = gate(ctx)? {
        return skip(why);
    }
    let mut r = Vec::new();
    for sig in ["TERM", "KILL"] {
        let res = (|| {
            let bundle = ctx.bundle(&wasm_config("/spin.wasm"))?;
            fs::write(bundle.join("rootfs/spin.wasm"), SPIN_WASM)?;
            let id = ctx.id();
            ctx.create(&bundle, &id)?.check()?;
            ctx.start(&id)?.check()?;
            ctx.wait_status(&id, "running")?;
            ctx.kill(&id, sig)?.check()?;
            ctx.wait_status(&id, "stopped")?;
            ctx.delete(&id)?.check()?;
            Ok(())
        })();
        r.push((format!("SIG{sig}"), res));
    }
    subtests(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_parsing() {
        let wasm = r#"{"ociVersionMin":"1.0.0","annotations":{"run.oci.handler.wasm":"true"}}"#;
        assert!(features_advertise_wasm(wasm).unwrap());
        assert!(!features_advertise_wasm(r#"{"annotations":{"io.x":"1"}}"#).unwrap());
        assert!(!features_advertise_wasm(r#"{"ociVersionMin":"1.0.0"}"#).unwrap());
        assert!(features_advertise_wasm("").is_err());
        assert!(features_advertise_wasm("flag provided but not defined").is_err());
        assert!(features_advertise_wasm("[]").is_err());
        assert!(features_advertise_wasm(r#"{"annotations":[]}"#).is_err());
    }
}
