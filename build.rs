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
}

/// The version of `package` in Cargo.lock's `[[package]]` entries.
fn locked_version(lock: &str, package: &str) -> Option<String> {
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock.find(&needle)? + needle.len();
    let len = lock[start..].find('"')?;
    Some(lock[start..start + len].to_string())
}
