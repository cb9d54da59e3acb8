//! Records the git commit for `runw --version`, and the versions of the Wasm engines from
//! Cargo.lock (part of `runw --version` and of the compiled-code cache key).

fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=RUNW_COMMIT={commit}");
    // Rebuild when HEAD moves: HEAD, the branch it points to and packed-refs, wherever git
    // keeps them (in a `git worktree`, .git is a file and they live elsewhere). A path that
    // does not exist would make cargo rerun this script, and relink runw, on every build.
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }

    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for (package, var) in [
        ("wasmtime", "RUNW_WASMTIME_VERSION"),
        ("wasmedge-sdk", "RUNW_WASMEDGE_SDK_VERSION"),
    ] {
        let version = locked_version(&lock, package).unwrap_or_else(|| "unknown".into());
        println!("cargo:rustc-env={var}={version}");
    }
    println!("cargo:rerun-if-changed=Cargo.lock");
    warn_if_wasmedge_is_not_in_the_loader_cache();
}

/// With the `wasmedge` feature runw links `libwasmedge.so.0` dynamically, without an rpath:
/// containerd, podman and CRI-O start runw with their own environment (no LD_LIBRARY_PATH),
/// so the library must be in the loader's cache (hack/install-wasmedge.sh installs it into
/// /usr/local/lib and runs ldconfig; docs/wasm.md). Say so at build time rather than when a
/// container does not start. Skipped for the `DOCS_RS=1` type-check, which links nothing.
fn warn_if_wasmedge_is_not_in_the_loader_cache() {
    if std::env::var_os("CARGO_FEATURE_WASMEDGE").is_none() || std::env::var_os("DOCS_RS").is_some()
    {
        return;
    }
    let cache = ["/sbin/ldconfig", "ldconfig"].iter().find_map(|ldconfig| {
        std::process::Command::new(ldconfig)
            .arg("-p")
            .output()
            .ok()
            .filter(|o| o.status.success())
    });
    // No ldconfig (not a glibc system): nothing to say.
    if let Some(out) = cache {
        if !String::from_utf8_lossy(&out.stdout).contains("libwasmedge.so.0 ") {
            println!(
                "cargo:warning=libwasmedge.so.0 is not in the dynamic loader's cache (ldconfig -p): \
                 runw will not start without LD_LIBRARY_PATH, so not from containerd or podman; \
                 install WasmEdge with hack/install-wasmedge.sh (docs/wasm.md)"
            );
        }
    }
}

/// The version of `package` in Cargo.lock's `[[package]]` entries.
fn locked_version(lock: &str, package: &str) -> Option<String> {
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock.find(&needle)? + needle.len();
    let len = lock[start..].find('"')?;
    Some(lock[start..start + len].to_string())
}
