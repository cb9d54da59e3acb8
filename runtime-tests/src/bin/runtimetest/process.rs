//! Checks of the process: identity, environment, limits, security settings.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;

use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::{LinuxIdMapping, Process, Spec};
use serde::Serialize;

use crate::{CheckResult, Verdict};

/// The JSON name of a spec enum value (e.g. `RLIMIT_NOFILE`, `SCMP_ACT_ERRNO`).
pub fn json_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

fn process(spec: &Spec) -> Result<&Process> {
    spec.process()
        .as_ref()
        .ok_or_else(|| anyhow!("config has no process"))
}

/// A field of /proc/self/status, e.g. `CapEff` or `NoNewPrivs`.
pub fn status_field(name: &str) -> Result<String> {
    let status = fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| anyhow!("{name} not in /proc/self/status"))
}

pub fn check_hostname(spec: &Spec, _: &str) -> CheckResult {
    let Some(want) = spec.hostname().as_deref().filter(|h| !h.is_empty()) else {
        return Ok(Verdict::Unset("config sets no hostname".into()));
    };
    let got = nix::unistd::gethostname()?.to_string_lossy().into_owned();
    if got != want {
        bail!("hostname is {got:?}, config asks for {want:?}");
    }
    Ok(Verdict::Ok)
}

fn check_cmdline(p: &Process) -> Result<()> {
    let raw = fs::read("/proc/self/cmdline")?;
    let got: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect::<Vec<_>>()
        .split_last()
        .map(|(_, rest)| rest.to_vec())
        .unwrap_or_default();
    let want = p.args().clone().unwrap_or_default();
    if got != want {
        bail!("process args are {got:?}, config asks for {want:?}");
    }
    Ok(())
}

fn check_env(p: &Process) -> Result<()> {
    for entry in p.env().iter().flatten() {
        let (key, want) = entry.split_once('=').unwrap_or((entry, ""));
        match std::env::var_os(key) {
            Some(v) if v == want => {}
            Some(v) => bail!("env {key}={v:?}, config asks for {want:?}"),
            None => bail!("env {key} is not set, config asks for {want:?}"),
        }
    }
    Ok(())
}

fn check_nnp(p: &Process) -> Result<()> {
    let want = p.no_new_privileges().unwrap_or(false);
    let got = status_field("NoNewPrivs")? == "1";
    if got != want {
        bail!("no_new_privs is {got}, config asks for {want}");
    }
    Ok(())
}

pub fn check_process(spec: &Spec, _: &str) -> CheckResult {
    let p = process(spec)?;
    let cwd = std::env::current_dir().context("getcwd")?;
    if cwd != *p.cwd() {
        bail!(
            "cwd is {}, config asks for {}",
            cwd.display(),
            p.cwd().display()
        );
    }
    check_env(p)?;
    check_cmdline(p)?;
    check_nnp(p)?;
    Ok(Verdict::Ok)
}

pub fn check_user(spec: &Spec, _: &str) -> CheckResult {
    let u = process(spec)?.user();
    let (uid, gid) = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    if uid != u.uid() || gid != u.gid() {
        bail!(
            "uid:gid is {uid}:{gid}, config asks for {}:{}",
            u.uid(),
            u.gid()
        );
    }
    let groups: BTreeSet<u32> = nix::unistd::getgroups()?
        .iter()
        .map(|g| g.as_raw())
        .collect();
    for g in u.additional_gids().iter().flatten() {
        if !groups.contains(g) {
            bail!("additional gid {g} missing, groups are {groups:?}");
        }
    }
    if let Some(want) = u.umask() {
        let got = u32::from_str_radix(&status_field("Umask")?, 8)?;
        if got != want {
            bail!("umask is {got:o}, config asks for {want:o}");
        }
    }
    Ok(Verdict::Ok)
}

fn rlimit_resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    Some(match name {
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        _ => return None,
    })
}

pub fn check_rlimits(spec: &Spec, _: &str) -> CheckResult {
    let rlimits = process(spec)?.rlimits().clone().unwrap_or_default();
    if rlimits.is_empty() {
        return Ok(Verdict::Unset("config sets no rlimits".into()));
    }
    for r in &rlimits {
        let name = json_name(&r.typ());
        let res = rlimit_resource(&name).ok_or_else(|| anyhow!("unknown rlimit {name}"))?;
        let mut got = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        if unsafe { libc::getrlimit(res, &mut got) } != 0 {
            bail!("getrlimit({name}): {}", std::io::Error::last_os_error());
        }
        if got.rlim_cur != r.soft() || got.rlim_max != r.hard() {
            bail!(
                "{name} is soft={} hard={}, config asks for soft={} hard={}",
                got.rlim_cur,
                got.rlim_max,
                r.soft(),
                r.hard()
            );
        }
    }
    Ok(Verdict::Ok)
}

pub fn check_oom_score_adj(spec: &Spec, _: &str) -> CheckResult {
    let Some(want) = process(spec)?.oom_score_adj() else {
        return Ok(Verdict::Unset("config sets no oomScoreAdj".into()));
    };
    let got: i32 = fs::read_to_string("/proc/self/oom_score_adj")?
        .trim()
        .parse()?;
    if got != want {
        bail!("oom_score_adj is {got}, config asks for {want}");
    }
    Ok(Verdict::Ok)
}

pub fn check_apparmor(spec: &Spec, _: &str) -> CheckResult {
    let Some(want) = process(spec)?.apparmor_profile().clone() else {
        return Ok(Verdict::Unset("config sets no apparmorProfile".into()));
    };
    let raw = fs::read_to_string("/proc/self/attr/apparmor/current")
        .or_else(|_| fs::read_to_string("/proc/self/attr/current"))?;
    let got = raw.trim_end_matches(['\0', '\n']).trim();
    // The kernel shows "profile (mode)".
    let label = got.split(" (").next().unwrap_or(got);
    if label != want {
        bail!("AppArmor label is {got:?}, config asks for {want:?}");
    }
    Ok(Verdict::Ok)
}

fn syscall_errno(name: &str) -> Option<i32> {
    // SAFETY: the probes below only read into local buffers or set the
    // NIS domain name of the container's own UTS namespace.
    let ret = unsafe {
        match name {
            "getcwd" => {
                let mut buf = [0u8; 256];
                libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len())
            }
            "setdomainname" => {
                let d = CString::new("runtimetest").ok()?;
                libc::syscall(libc::SYS_setdomainname, d.as_ptr(), 11)
            }
            _ => return None,
        }
    };
    Some(if ret < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    })
}

pub fn check_seccomp(spec: &Spec, _: &str) -> CheckResult {
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| anyhow!("no linux section"))?;
    let Some(seccomp) = linux.seccomp() else {
        return Ok(Verdict::Unset("config sets no seccomp".into()));
    };
    let mode = status_field("Seccomp")?;
    if mode != "2" {
        bail!("Seccomp mode is {mode}, expected 2 (filter)");
    }
    let mut probed = 0;
    for rule in seccomp.syscalls().iter().flatten() {
        if json_name(&rule.action()) != "SCMP_ACT_ERRNO" {
            continue;
        }
        let want = rule.errno_ret().map(|e| e as i32).unwrap_or(libc::EPERM);
        for name in rule.names() {
            let Some(got) = syscall_errno(name) else {
                continue;
            };
            probed += 1;
            if got != want {
                bail!("{name}() gave errno {got}, the seccomp rule asks for {want}");
            }
        }
    }
    if probed == 0 {
        return Ok(Verdict::Skip("no probe-able SCMP_ACT_ERRNO rule".into()));
    }
    Ok(Verdict::Ok)
}

fn read_id_map(path: &str) -> Result<Vec<(u32, u32, u32)>> {
    let text = fs::read_to_string(path)?;
    text.lines()
        .map(|l| {
            let f: Vec<u32> = l
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()?;
            match f[..] {
                [c, h, s] => Ok((c, h, s)),
                _ => bail!("bad line {l:?} in {path}"),
            }
        })
        .collect()
}

fn check_map(want: &[LinuxIdMapping], path: &str) -> Result<()> {
    if want.is_empty() {
        return Ok(());
    }
    let got = read_id_map(path)?;
    for m in want {
        let entry = (m.container_id(), m.host_id(), m.size());
        if !got.contains(&entry) {
            bail!("{path} is {got:?}, lacks {entry:?} (container, host, size)");
        }
    }
    if got.len() != want.len() {
        bail!(
            "{path} has {} entries, config has {}",
            got.len(),
            want.len()
        );
    }
    Ok(())
}

pub fn check_id_mappings(spec: &Spec, _: &str) -> CheckResult {
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| anyhow!("no linux section"))?;
    let uid = linux.uid_mappings().clone().unwrap_or_default();
    let gid = linux.gid_mappings().clone().unwrap_or_default();
    if uid.is_empty() && gid.is_empty() {
        return Ok(Verdict::Unset("config sets no id mappings".into()));
    }
    check_map(&uid, "/proc/self/uid_map")?;
    check_map(&gid, "/proc/self/gid_map")?;
    Ok(Verdict::Ok)
}

pub fn check_sysctl(spec: &Spec, _: &str) -> CheckResult {
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| anyhow!("no linux section"))?;
    let Some(sysctl) = linux.sysctl().as_ref().filter(|s| !s.is_empty()) else {
        return Ok(Verdict::Unset("config sets no sysctl".into()));
    };
    for (key, want) in sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let got = fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
        if got.trim() != want.trim() {
            bail!("sysctl {key} is {:?}, config asks for {want:?}", got.trim());
        }
    }
    Ok(Verdict::Ok)
}
