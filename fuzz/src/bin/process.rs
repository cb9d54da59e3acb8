//! `runw exec --process FILE` (the process.json containerd's shim writes): parsed
//! (commands::exec::parse_process), then runw's checks of a process.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        match runw::commands::exec::parse_process(text, "process.json") {
            Ok(process) => {
                if let Err(err) = runw::fixups::checks::process(&process, "process") {
                    runw_fuzz::report(&err);
                }
            }
            Err(err) => {
                runw_fuzz::report(&err);
            }
        }
    });
}
