//! The first bytes of a container's entrypoint: binary Wasm (magic), WebAssembly text
//! (parsed by `wat`), or anything else (wasm::detect::classify, is_component).
use runw::wasm::detect::{classify, is_component, Content};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        match classify(data.to_vec()) {
            Content::Binary(binary) => {
                assert!(binary.starts_with(runw::wasm::detect::MAGIC));
                let _ = is_component(&binary);
            }
            Content::Text(binary) => {
                assert!(binary.starts_with(runw::wasm::detect::MAGIC));
                let _ = is_component(&binary);
            }
            Content::BadText(_) | Content::Other => {}
        }
    });
}
