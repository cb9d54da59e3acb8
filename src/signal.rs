//! Signal names and numbers as runc accepts them: `KILL`, `SIGKILL`, `9`, and the real-time
//! signals `RTMIN`, `SIGRTMIN+3`, `RTMAX-1` or `34`-`64`. (libcontainer 0.7's `Signal` only
//! knows 1-31, so runw parses and sends signals itself.)

use anyhow::{bail, Result};

const SIGRTMIN: i32 = 34;
const SIGRTMAX: i32 = 64;

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Parses a signal given by name (with or without `SIG`, any case) or by number.
pub fn parse(input: &str) -> Result<i32> {
    let unknown = || anyhow::anyhow!("unknown signal {input:?}");
    if let Ok(n) = input.parse::<i32>() {
        if (1..=SIGRTMAX).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal number {n}: must be 1-{SIGRTMAX}");
    }
    let upper = input.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = NAMES.iter().find(|(candidate, _)| *candidate == name) {
        return Ok(n);
    }
    let realtime = |base: i32, rest: &str| -> Result<i32> {
        let n = match rest {
            "" => base,
            _ if rest.starts_with('+') => rest[1..]
                .parse::<i32>()
                .ok()
                .and_then(|k| base.checked_add(k))
                .ok_or_else(unknown)?,
            _ if rest.starts_with('-') => rest[1..]
                .parse::<i32>()
                .ok()
                .and_then(|k| base.checked_sub(k))
                .ok_or_else(unknown)?,
            _ => return Err(unknown()),
        };
        if (SIGRTMIN..=SIGRTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(unknown())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return realtime(SIGRTMIN, rest);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return realtime(SIGRTMAX, rest);
    }
    Err(unknown())
}

/// Sends `signal` to `pid`; a process that is already gone is not an error.
pub fn send(pid: i32, signal: i32) -> Result<()> {
    // SAFETY: kill(2) with plain integers.
    if unsafe { libc::kill(pid, signal) } == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        return Ok(());
    }
    bail!("cannot send signal {signal} to process {pid}: {err}")
}

/// runc (Go) dies of SIGPIPE when its stdout or stderr is a closed pipe (`runc list | head`),
/// and gets EPIPE on any other descriptor (a hook that exits without reading its stdin). Rust
/// ignores SIGPIPE, so every write gets EPIPE, and `print!` panics on it. runw keeps SIGPIPE
/// ignored (its hooks, libcontainer's pipes) and turns that one panic into Go's ending.
pub fn die_of_sigpipe_on_closed_stdio() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            // SAFETY: SIG_DFL installs no handler; raise ends the process with SIGPIPE.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::raise(libc::SIGPIPE);
            }
        }
        default(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_prefix() {
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("SIGKILL").unwrap(), 9);
        assert_eq!(parse("sigterm").unwrap(), 15);
        assert_eq!(parse("TERM").unwrap(), 15);
        assert_eq!(parse("SIGWINCH").unwrap(), 28);
    }

    #[test]
    fn numbers_including_realtime() {
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("37").unwrap(), 37);
        assert_eq!(parse("64").unwrap(), 64);
        assert!(parse("0").is_err());
        assert!(parse("65").is_err());
    }

    #[test]
    fn realtime_names() {
        assert_eq!(parse("SIGRTMIN").unwrap(), 34);
        assert_eq!(parse("RTMIN+3").unwrap(), 37);
        assert_eq!(parse("SIGRTMAX-1").unwrap(), 63);
        assert!(parse("SIGRTMIN+31").is_err());
        assert!(parse("RTMIN+x").is_err());
    }

    #[test]
    fn unknown_names_are_rejected() {
        let err = parse("SIGFOO").unwrap_err().to_string();
        assert_eq!(err, "unknown signal \"SIGFOO\"");
    }
}
