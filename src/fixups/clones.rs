//! runw code that runs inside the processes libcontainer clones from runw to set up a
//! container: the intermediate (`[1:INTER]`) and the init (`[2:INIT]`).
//!
//! libcontainer 0.7 offers no hook there, but those processes are copies of runw and share
//! its tracing dispatcher, so runw's tracing layer (`logging::RuncLayer`) calls [`on_trace`]
//! at every trace callsite they reach. The first call in a new process:
//!
//! * renames it: libcontainer names them `youki:[1:INTER]` and `youki:[2:INIT]` (what `ps`
//!   shows while they set up); they become `runw:[1:INTER]` and `runw:[2:INIT]`.
//! * makes the intermediate die with runw (`PR_SET_PDEATHSIG`): a runw killed during
//!   `create` must not leave it behind. (The init outlives a successful create on purpose;
//!   it is in the container's cgroup before it exists, where `delete --force` finds it.)
//!
//! The intermediate's first trace event comes before it joins the container's cgroup
//! (libcgroups logs which manager it uses).
//!
//! Errors raised in those processes reach runw only as their top-level text ("failed to
//! prepare rootfs"); libcontainer logs the whole error with `tracing::error!` just before. A
//! [`Capture`] collects those error events in a memfd shared by the clones, so that runw can
//! name the most specific cause.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Mutex;

/// runw's own pid, set before any clone.
static MAIN_PID: AtomicI32 = AtomicI32::new(0);
/// The pid that last ran [`on_trace`]: a different `getpid()` means a new clone.
static SEEN_PID: AtomicI32 = AtomicI32::new(0);
/// The capture memfd while a [`Capture`] is alive, -1 otherwise.
static CAPTURE_FD: AtomicI32 = AtomicI32::new(-1);

/// Records runw's pid (call once at start-up, before anything is cloned).
pub fn init() {
    let pid = std::process::id() as i32;
    MAIN_PID.store(pid, Ordering::Relaxed);
    SEEN_PID.store(pid, Ordering::Relaxed);
}

/// True in a process cloned from runw (not runw itself).
pub fn in_clone() -> bool {
    let main = MAIN_PID.load(Ordering::Relaxed);
    main != 0 && std::process::id() as i32 != main
}

/// Called at every trace callsite reached, in runw and in its clones.
pub fn on_trace() {
    let pid = std::process::id() as i32;
    if SEEN_PID.swap(pid, Ordering::Relaxed) == pid || !in_clone() {
        return;
    }
    let name = current_name();
    if let Some(role) = name.strip_prefix("youki:") {
        set_name(&format!("runw:{role}"));
    }
    if name == "youki:[1:INTER]" {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        // runw may have died before the line above: then no signal will come.
        // SAFETY: getppid cannot fail; _exit ends this process only.
        if unsafe { libc::getppid() } != MAIN_PID.load(Ordering::Relaxed) {
            unsafe { libc::_exit(1) };
        }
    }
}

fn current_name() -> String {
    let mut buf = [0u8; 17];
    // SAFETY: PR_GET_NAME writes at most 16 bytes and a NUL into a 16+ byte buffer.
    unsafe { libc::prctl(libc::PR_GET_NAME, buf.as_mut_ptr(), 0, 0, 0) };
    let len = buf.iter().position(|b| *b == 0).unwrap_or(16);
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

fn set_name(name: &str) {
    let mut buf = [0u8; 16];
    let bytes = &name.as_bytes()[..name.len().min(15)];
    buf[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr(), 0, 0, 0) };
}

/// Set in the init once `create` has had its answer: from then on no runw process listens
/// for the init's errors (see [`mark_past_create`]).
static PAST_CREATE: AtomicBool = AtomicBool::new(false);
/// The init's error events since [`PAST_CREATE`], as capture lines.
static LATE_ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// How libcontainer's last error event of a failed init begins.
const INIT_FAILED: &str = "failed to initialize container process";

/// Called in a new container's init just before it tells `create` it is ready (from the
/// executor's `setup_envs`, libcontainer's last step before). An error after that (a
/// `startContainer` hook or the exec of the process failing at `start`) would otherwise
/// end the init with status 255 and no word: runc reports it, so runw's init does, as a
/// runc-style error line where runw's errors go (`--log`, or its stderr, which is the
/// container's).
pub fn mark_past_create() {
    PAST_CREATE.store(true, Ordering::Relaxed);
}

/// Records an error event raised in a clone (one JSON line: message and fields): in the
/// capture while one is on, or, in an init past `create`, until its last error, reported
/// then with its most specific cause.
pub fn record_error(event: &tracing::Event<'_>) {
    if !in_clone() {
        return;
    }
    let mut fields = Fields::default();
    event.record(&mut fields);
    let mut text = serde_json::json!({"msg": fields.message, "fields": fields.values}).to_string();
    if PAST_CREATE.load(Ordering::Relaxed) {
        let mut late = LATE_ERRORS.lock().unwrap_or_else(|e| e.into_inner());
        late.push(text);
        if fields.message.starts_with(INIT_FAILED) {
            let err = explain_with(anyhow::anyhow!("{}", fields.message), &late);
            crate::logging::report_error(&format!("{err:#}"));
        }
        return;
    }
    let fd = CAPTURE_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    text.push('\n');
    // One write per line, appended (O_APPEND).
    // SAFETY: fd is the capture memfd, open while CAPTURE_FD holds it.
    unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
}

/// Collects the error events of the clones while it lives.
pub struct Capture {
    file: std::fs::File,
}

impl Capture {
    /// Starts collecting; None if no memfd can be made (then causes are not collected).
    pub fn start() -> Option<Capture> {
        // SAFETY: memfd_create with a static NUL-terminated name.
        let fd = unsafe { libc::memfd_create(c"runw-errors".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // Every clone appends: the file offset is shared and runw reads with pread.
        // SAFETY: fcntl on the descriptor just made.
        unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_APPEND) };
        // SAFETY: fd is a new descriptor that nothing else owns.
        let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        CAPTURE_FD.store(file.as_raw_fd(), Ordering::Relaxed);
        Some(Capture { file })
    }

    /// The error events recorded so far, oldest first.
    pub fn lines(&self) -> Vec<String> {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = self.file.read_at(&mut buf, bytes.len() as u64) {
            bytes.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURE_FD.store(-1, Ordering::Relaxed);
    }
}

/// `err` with the most specific cause the capture recorded appended, unless its text already
/// names it.
pub fn explain(err: anyhow::Error, capture: Option<&Capture>) -> anyhow::Error {
    match capture {
        Some(capture) => explain_with(err, &capture.lines()),
        None => err,
    }
}

/// `err` with the most specific cause among `lines` (capture lines) appended, unless its
/// text already names it.
fn explain_with(err: anyhow::Error, lines: &[String]) -> anyhow::Error {
    let Some(cause) = cause(lines) else {
        return err;
    };
    let text = format!("{err:#}");
    if text.contains(&cause) {
        return err;
    }
    // "...: failed to prepare rootfs" + "failed to prepare rootfs: <why>": say it once.
    let head = cause.split(": ").next().unwrap_or_default();
    match cause.strip_prefix(head) {
        Some(rest) if text.ends_with(head) && !rest.is_empty() => anyhow::anyhow!("{text}{rest}"),
        _ => anyhow::anyhow!("{text}: {cause}"),
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    values: Vec<String>,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.values.push(format!("{value:?}"));
        }
    }
}

/// The most specific cause among the error events a capture recorded: the first one (the
/// innermost error is logged first, each caller logs again on the way out), as
/// "<message>: <innermost error>" ("failed to drop capabilities: Operation not permitted
/// (EPERM)").
pub fn cause(lines: &[String]) -> Option<String> {
    let first: serde_json::Value = serde_json::from_str(lines.first()?).ok()?;
    let msg = first["msg"].as_str().unwrap_or_default().trim().to_string();
    let leaf = first["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .map(leaf_of)
        .find(|l| !l.is_empty());
    match leaf {
        Some(leaf) if !msg.is_empty() && !msg.contains(&leaf) => Some(format!("{msg}: {leaf}")),
        Some(leaf) if msg.is_empty() => Some(leaf),
        _ if !msg.is_empty() => Some(msg),
        _ => None,
    }
}

/// Readable text for the innermost error of a Debug dump such as
/// `Mount(Other("filesystem proc must be mounted on ordinary directory"))`, `Nix(EPERM)` or
/// `Os { code: 2, kind: NotFound, message: "No such file or directory" }`.
fn leaf_of(debug: &str) -> String {
    if let (Some(code), Some(message)) = (
        between(debug, "Os { code: ", ","),
        last_string_literal(debug),
    ) {
        return format!("{message} (os error {code})");
    }
    if let Some(text) = last_string_literal(debug) {
        return text;
    }
    let inner = debug
        .trim_end_matches(')')
        .rsplit('(')
        .next()
        .unwrap_or(debug)
        .trim();
    if let Some(errno) = errno_named(inner) {
        return format!("{} ({inner})", errno.desc());
    }
    debug.to_string()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// The last `"..."` of a Debug dump, unescaped.
fn last_string_literal(debug: &str) -> Option<String> {
    let mut last = None;
    let mut chars = debug.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut escaped = false;
        for (j, c) in chars.by_ref() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    last = Some(&debug[i..=j]);
                    break;
                }
                _ => escaped = false,
            }
        }
    }
    let literal = last?;
    Some(
        serde_json::from_str::<String>(literal)
            .unwrap_or_else(|_| literal.trim_matches('"').to_string()),
    )
}

fn errno_named(name: &str) -> Option<nix::errno::Errno> {
    if !name.starts_with('E')
        || !name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return None;
    }
    (1..200)
        .map(nix::errno::Errno::from_raw)
        .find(|e| format!("{e:?}") == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(msg: &str, fields: &[&str]) -> String {
        serde_json::json!({"msg": msg, "fields": fields}).to_string()
    }

    #[test]
    fn innermost_error_is_named() {
        let lines = vec![
            line(
                "failed to prepare rootfs",
                &["Mount(Other(\"filesystem proc must be mounted on ordinary directory\"))"],
            ),
            line(
                "failed to initialize container process: failed to prepare rootfs",
                &[],
            ),
        ];
        assert_eq!(
            cause(&lines).unwrap(),
            "failed to prepare rootfs: filesystem proc must be mounted on ordinary directory"
        );
        let lines = vec![line("failed to drop capabilities", &["Nix(EPERM)"])];
        assert_eq!(
            cause(&lines).unwrap(),
            "failed to drop capabilities: Operation not permitted (EPERM)"
        );
        let os = "Os { code: 2, kind: NotFound, message: \"No such file or directory\" }";
        assert_eq!(leaf_of(os), "No such file or directory (os error 2)");
        assert_eq!(cause(&[]), None);
    }
}
