//! A bundle's config.json, loaded as `create` loads it (bundle::load: syntax, required fields,
//! ociVersion, rootfs, rlimits, runw's checks of the process and the spec), then what runw
//! derives from it before libcontainer: the Wasm policy from the annotations, the memory limit,
//! and the entrypoint's lookup in the (empty) rootfs.
use runw::wasm::detect::{self, RootView};

fn main() {
    let bundle = runw_fuzz::scratch("config");
    std::fs::create_dir_all(bundle.join("rootfs")).expect("rootfs");
    afl::fuzz!(|data: &[u8]| {
        runw_fuzz::put(&bundle.join("config.json"), data);
        let loaded = match runw::bundle::load(&bundle) {
            Ok(loaded) => loaded,
            Err(err) => {
                runw_fuzz::report(&err);
                return;
            }
        };
        let spec = &loaded.spec;
        if let Err(err) = detect::policy(spec.annotations().as_ref()) {
            runw_fuzz::report(&err);
        }
        let _ = runw::wasm::memory_limit(spec);
        let view = RootView::of_bundle(&loaded.rootfs, spec);
        let process = spec.process().as_ref().expect("load checks process");
        let arg0 = &process.args().as_ref().expect("load checks args")[0];
        let env = process.env().clone().unwrap_or_default();
        if let Err(err) = detect::find_entrypoint(&view, arg0, process.cwd(), &env) {
            runw_fuzz::report(&err);
        }
    });
}
