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
use tracing::{Event, Level, Subscriber};
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
    let file = match &opts.log {
        Some(path) => Some(open_log(path)?),
        None => None,
    };
    let _ = SINK.set(Mutex::new(Sink {
        file,
        format: opts.log_format,
    }));
    if opts.debug {
        let subscriber = tracing_subscriber::registry().with(RuncLayer);
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
    Ok(())
}

fn open_log(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open log file {}: {e}", path.display()))
}

/// Reports a fatal error: one line in the log file (if any) and the message on stderr.
pub fn report_error(msg: &str) {
    let msg = single_line(msg);
    append_to_log_file("error", &msg);
    eprintln!("{msg}");
}

/// Reports a warning (the command goes on): a `warning` line in the log and on stderr.
pub fn report_warning(msg: &str) {
    let msg = single_line(msg);
    append_to_log_file("warning", &msg);
    eprintln!("warning: {msg}");
}

/// Appends one line to the `--log` file, if one was given (stderr is the caller's job).
fn append_to_log_file(level: &str, msg: &str) {
    let Some(sink) = SINK.get() else { return };
    let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
    let line = format_line(sink.format, level, msg);
    if let Some(file) = sink.file.as_mut() {
        let _ = file.write_all(line.as_bytes());
    }
}

fn write_line(level: &str, msg: &str) {
    let Some(sink) = SINK.get() else { return };
    let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
    let line = format_line(sink.format, level, msg);
    match sink.file.as_mut() {
        Some(file) => {
            let _ = file.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Formats one log line as runc (logrus) does: JSON `{"level","msg","time"}` or
/// `time="..." level=... msg="..."`.
pub fn format_line(format: LogFormat, level: &str, msg: &str) -> String {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    match format {
        LogFormat::Json => {
            let obj = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{obj}\n")
        }
        LogFormat::Text => format!(
            "time=\"{time}\" level={level} msg={}\n",
            serde_json::Value::String(msg.to_string())
        ),
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

/// Formats every tracing event (ours and libcontainer's) in runc's log format.
struct RuncLayer;

impl<S: Subscriber> Layer<S> for RuncLayer {
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
        write_line(level, &single_line(&visitor.0));
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
    fn messages_are_folded_to_one_line() {
        assert_eq!(single_line("a\n  b\n\nc"), "a b c");
    }
}
