//! `runw features`: the OCI runtime features document (runtime-spec `features.md`), which
//! containerd's CRI reads to learn what the runtime supports.

use std::collections::HashMap;

use anyhow::Result;
use libcontainer::syscall::linux::MountOption;
use oci_spec::runtime::{
    ApparmorBuilder, CgroupBuilder, Features, FeaturesBuilder, IDMapBuilder, IntelRdtBuilder,
    LinuxFeatureBuilder, LinuxNamespaceType, MountExtensionsBuilder, SeccompBuilder,
    SelinuxBuilder,
};

pub fn features() -> Result<i32> {
    println!("{}", serde_json::to_string_pretty(&document()?)?);
    Ok(0)
}

const KNOWN_HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

pub fn document() -> Result<Features> {
    use LinuxNamespaceType::*;
    let linux = LinuxFeatureBuilder::default()
        .namespaces(vec![Mount, Cgroup, Uts, Ipc, User, Pid, Network, Time])
        .capabilities(
            caps::all()
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>(),
        )
        .cgroup(
            CgroupBuilder::default()
                .v1(true)
                .v2(true)
                .systemd(true)
                .systemd_user(true)
                .rdma(false)
                .build()?,
        )
        .seccomp(SeccompBuilder::default().enabled(true).build()?)
        .apparmor(ApparmorBuilder::default().enabled(true).build()?)
        // libcontainer 0.7 does not set SELinux process labels nor idmapped mounts.
        .selinux(SelinuxBuilder::default().enabled(false).build()?)
        .mount_extensions(
            MountExtensionsBuilder::default()
                .idmap(IDMapBuilder::default().enabled(false).build()?)
                .build()?,
        )
        .intel_rdt(IntelRdtBuilder::default().enabled(true).build()?)
        .build()?;
    Ok(FeaturesBuilder::default()
        .oci_version_min("1.0.0")
        .oci_version_max(oci_spec::runtime::VERSION)
        .hooks(
            KNOWN_HOOKS
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>(),
        )
        .mount_options(MountOption::known_options())
        .linux(linux)
        .annotations(annotations())
        .potentially_unsafe_config_annotations(unsafe_annotations())
        .build()?)
}

/// Implementation annotations: runw's version, its Wasm support (like crun's
/// `run.oci.crun.wasm`) and the engines compiled in.
fn annotations() -> HashMap<String, String> {
    let engines = crate::wasm::engines();
    HashMap::from([
        (
            "io.github.runw.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "io.github.runw.wasm".to_string(),
            (!engines.is_empty()).to_string(),
        ),
        ("io.github.runw.wasm.engines".to_string(), engines.join(",")),
    ])
}

/// Annotations that change how a container runs (a Wasm module in the init instead of an
/// exec, or a Linux process for a sandbox): an orchestrator should only pass them from
/// trusted configuration.
fn unsafe_annotations() -> Vec<String> {
    let mut keys = vec![
        crate::wasm::detect::HANDLER.to_string(),
        crate::wasm::detect::VARIANT.to_string(),
        // Prefix: io.github.runw.wasm.engine and future runw annotations.
        "io.github.runw.".to_string(),
    ];
    keys.extend(
        crate::wasm::detect::SANDBOX_KEYS
            .iter()
            .map(|k| k.to_string()),
    );
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_has_the_fields_containerd_reads() {
        let v = serde_json::to_value(document().unwrap()).unwrap();
        assert_eq!(v["ociVersionMin"], "1.0.0");
        assert!(v["hooks"].as_array().unwrap().contains(&"poststop".into()));
        assert!(v["mountOptions"].as_array().unwrap().contains(&"ro".into()));
        let ns = v["linux"]["namespaces"].as_array().unwrap();
        assert!(ns.contains(&"pid".into()) && ns.contains(&"network".into()));
        assert_eq!(v["linux"]["cgroup"]["v1"], true);
        assert_eq!(v["linux"]["mountExtensions"]["idmap"]["enabled"], false);
        assert!(v["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .contains(&"CAP_SYS_ADMIN".into()));
        assert_eq!(
            v["annotations"]["io.github.runw.version"],
            env!("CARGO_PKG_VERSION")
        );
    }
}
