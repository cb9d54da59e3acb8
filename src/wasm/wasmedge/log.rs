//! WasmEdge's log. By default WasmEdge prints its messages (`[error] execution failed: ...`)
//! on stdout, which in a container belongs to the workload and in `create` to runw's caller.
//! runw replaces WasmEdge's sink with a callback that keeps the last messages in memory: a
//! trap's report and a failure's reason quote them (they name the function and the offset),
//! and nothing else ever prints them.

use std::sync::Mutex;

use wasmedge_sys::ffi;

/// Messages kept between two [`take`]s; older ones are dropped.
const KEPT: usize = 32;

static MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

extern "C" fn keep(message: *const ffi::WasmEdge_LogMessage) {
    // SAFETY: WasmEdge passes a valid message whose strings live for this call.
    let text = unsafe {
        let Some(message) = message.as_ref() else {
            return;
        };
        let text = message.Message;
        if text.Buf.is_null() {
            return;
        }
        let bytes = std::slice::from_raw_parts(text.Buf.cast::<u8>(), text.Length as usize);
        String::from_utf8_lossy(bytes).into_owned()
    };
    if let Ok(mut messages) = MESSAGES.lock() {
        if messages.len() == KEPT {
            messages.remove(0);
        }
        messages.push(text);
    }
}

/// Routes WasmEdge's log to runw (idempotent; call before any other WasmEdge call).
pub fn capture() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain C calls with a callback that lives as long as the process.
        unsafe {
            ffi::WasmEdge_LogSetErrorLevel();
            ffi::WasmEdge_LogSetCallback(Some(keep));
        }
    });
}

/// The messages logged since the last call, oldest first.
pub fn take() -> Vec<String> {
    MESSAGES
        .lock()
        .map(|mut m| std::mem::take(&mut *m))
        .unwrap_or_default()
}

/// `message` followed by the logged `lines` it does not already contain, as one clause:
/// "message (line; line)".
pub fn clause(message: &str, lines: impl IntoIterator<Item = String>) -> String {
    let lines: Vec<String> = lines
        .into_iter()
        .map(|line| line.trim().to_string())
        .filter(|line| !line.is_empty() && !message.contains(line.as_str()))
        .collect();
    if lines.is_empty() {
        message.to_string()
    } else {
        format!("{message} ({})", lines.join("; "))
    }
}
