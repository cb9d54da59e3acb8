//! A config's annotations as they select the Wasm policy (wasm::detect::policy). The input is
//! the JSON object of `annotations`.
use std::collections::HashMap;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(annotations) = serde_json::from_slice::<HashMap<String, String>>(data) else {
            return;
        };
        if let Err(err) = runw::wasm::detect::policy(Some(&annotations)) {
            runw_fuzz::report(&err);
        }
    });
}
