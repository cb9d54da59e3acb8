//! runc-style logging.
//!
//! containerd-shim-runc-v2 reads `--log` as JSON lines and reports the last one whose `level`
//! is exactly `error`, using `msg`; podman parses the whole file as one JSON object. So by
//! default only the final error is written there, and debug lines only with `--debug`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::cli::{GlobalOpts, LogFormat};

/// Where log lines go: the `--log` file if given, stderr otherwise.
struct Sink {
    file: Option<File>,
    format: LogFormat,
}

static SINK: OnceLock<Mutex<Sink>> = OnceLock::new();

/// Opens the log file (append, like runc) and, with `--debug`, installs a tracing subscriber
/// so libcontainer's own events are logged too.
pub fn init(opts: &GlobalOpts) -> anyhow::Result<()> {
    let (file, result) = match &opts.log {
        Some(path) => match open_log(path) {
            Ok(file) => (Some(file), Ok(())),
            // The error about the log file itself goes to stderr, formatted as usual.
            Err(err) => (None, Err(err)),
        },
        None => (None, Ok(())),
    };
    let _ = SINK.set(Mutex::new(Sink {
        file,
        format: opts.log_format,
    }));
    result?;
    // Always installed: it also runs runw's code in libcontainer's clones (fixups/clones.rs).
    crate::fixups::clones::init();
    let subscriber = tracing_subscriber::registry().with(RuncLayer { debug: opts.debug });
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}

fn open_log(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open log file {}: {e}", path.display()))
}

/// Reports a fatal error as runc does: without `--log`, one log line on stderr
/// (`time="..." level=error msg="..."`, or a JSON object with `--log-format json`), which is
/// what tools grep for `error`; with `--log`, that line goes to the file and the bare message
/// to stderr.
pub fn report_error(msg: &str) {
    let msg = single_line(msg);
    if write_line("error", &msg) {
        eprintln!("{msg}");
    }
}

/// Reports a warning (the command goes on): a `warning` line where log lines go (the `--log`
/// file, or stderr), as runc does.
pub fn report_warning(msg: &str) {
    write_line("warning", &single_line(msg));
}

/// Writes one log line to the `--log` file, or to stderr without one. True when it went to
/// the file.
fn write_line(level: &str, msg: &str) -> bool {
    let (format, to_file) = match SINK.get() {
        Some(sink) => {
            let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
            let line = format_line(sink.format, level, msg);
            if let Some(file) = sink.file.as_mut() {
                let _ = file.write_all(line.as_bytes());
                return true;
            }
            (sink.format, false)
        }
        None => (LogFormat::Text, false),
    };
    let _ = std::io::stderr().write_all(format_line(format, level, msg).as_bytes());
    to_file
}

/// Formats one log line as runc (logrus) does: JSON `{"level","msg","time"}` or
/// `time="..." level=... msg="..."`.
pub fn format_line(format: LogFormat, level: &str, msg: &str) -> String {
    match format {
        LogFormat::Json => {
            let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let obj = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{obj}\n")
        }
        LogFormat::Text => {
            // logrus' text formatter, as runc prints it: RFC 3339 seconds, values quoted
            // only when they hold more than [A-Za-z0-9-._/@^+].
            let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            format!(
                "time={} level={} msg={}\n",
                logrus_value(&time),
                logrus_value(level),
                logrus_value(msg)
            )
        }
    }
}

fn logrus_value(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._/@^+".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        serde_json::Value::String(text.to_string()).to_string()
    }
}

/// A log line must stay one line: the shim and podman parse line by line.
fn single_line(msg: &str) -> String {
    msg.split('\n')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// With `--debug`, formats every tracing event (ours and libcontainer's) in runc's log
/// format. Always: runs [`crate::fixups::clones::on_trace`] at every callsite and hands the error
/// events raised in libcontainer's clones to [`crate::fixups::clones::record_error`].
struct RuncLayer {
    debug: bool,
}

impl<S: Subscriber> Layer<S> for RuncLayer {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // `enabled` must run at every event, in every process.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        crate::fixups::clones::on_trace();
        self.debug || (*metadata.level() == Level::ERROR && crate::fixups::clones::in_clone())
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = MessageVisitor(String::new());
        event.record(&mut visitor);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        if level == "error" {
            crate::fixups::clones::record_error(event);
        }
        if self.debug {
            write_line(level, &single_line(&visitor.0));
        }
    }
}

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        } else {
            self.0.push_str(&format!("{}={value:?}", field.name()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_runc_keys() {
        let line = format_line(LogFormat::Json, "error", "rootfs /x does not exist");
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "rootfs /x does not exist");
        assert!(chrono::DateTime::parse_from_rfc3339(v["time"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn text_line_is_logrus_style() {
        let line = format_line(LogFormat::Text, "error", "bad \"thing\"");
        assert!(
            line.contains("level=error msg=\"bad \\\"thing\\\"\""),
            "{line}"
        );
    }

    #[test]
    fn text_line_is_runc_s() {
        let line = format_line(LogFormat::Text, "error", "container does not exist");
        let (time, rest) = line
            .strip_prefix("time=\"")
            .and_then(|l| l.split_once('"'))
            .unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{line}");
        assert!(time.ends_with('Z') && !time.contains('.'), "{line}");
        assert_eq!(rest, " level=error msg=\"container does not exist\"\n");
        let line = format_line(LogFormat::Text, "warning", "plain");
        assert!(line.ends_with(" level=warning msg=plain\n"), "{line}");
    }

    #[test]
    fn messages_are_folded_to_one_line() {
        assert_eq!(single_line("a\n  b\n\nc"), "a b c");
    }
}
