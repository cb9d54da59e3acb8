//! Sizes: `--wasm-max-module-size`, `--wasm-cache-size`, `--wasm-compile-memory`
//! (wasm::cache::parse_size) and `update --memory*` (commands::update::parse_bytes).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Err(err) = runw::wasm::cache::parse_size(text) {
            runw_fuzz::report(&err);
        }
        match runw::commands::update::parse_bytes(text) {
            Ok(n) => assert!(n >= -1, "{text:?} gave {n}"),
            Err(err) => {
                runw_fuzz::report(&err);
            }
        }
    });
}
