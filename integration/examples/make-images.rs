//! Writes the test images as OCI archives into a directory (default `.`), for trying the
//! set-ups of docs/containerd.md, docs/podman.md and docs/kubernetes.md by hand:
//! `busybox.tar`, `pause.tar` and `wasm.tar` (`/hello.wasm`, `/exit7.wasm`, `/sleep.wasm`, `/tty.wasm`,
//! `/exit7.wat`, `/broken.wasm`; annotated `module.wasm.image/variant=compat-smart`).
//!
//! cargo run --release --manifest-path integration/Cargo.toml --example make-images -- DIR

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir).unwrap();
    for p in runw_integration::image::write_test_archives(&dir) {
        println!("{}", p.display());
    }
}
