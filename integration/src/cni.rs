//! A private CNI network for the CRI plugin's pods, with Debian's `containernetworking-plugins`
//! (`/usr/lib/cni`): `bridge` + `host-local` IPAM (containerd adds `loopback` itself).
//!
//! The test makes the bridge (`runw-it<pid>`), with the host's address `10.199.X.1/24` on
//! a free /24, before containerd starts: the plugin only attaches veths to it
//! (`isGateway: false`, `ipMasq: false`), so it changes no sysctl (`ip_forward`) and no
//! iptables rule, the host reaches the pods through the bridge's connected route, and the
//! bridge goes at teardown ([`Network::remove`]). IPAM state lives in a temporary directory.

use crate::{run, tempdir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Debian's CNI plugins (package `containernetworking-plugins`).
pub const BIN_DIR: &str = "/usr/lib/cni";
/// Where libcni (in containerd) caches ADD results: `results/<network>-<sandbox>-<ifname>`.
const LIBCNI_DIR: &str = "/var/lib/cni";
/// Where containerd 1.6's CRI plugin bind-mounts the pods' network namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

pub struct Network {
    /// The CNI network's name (in the conflist).
    pub name: String,
    /// The Linux bridge the pods' veths are attached to.
    pub bridge: String,
    /// `10.199.X.0/24`.
    pub subnet: String,
    /// `10.199.X.1`: the host's address on the bridge.
    pub host_ip: String,
    /// host-local's `dataDir`.
    ipam: tempfile::TempDir,
    /// System directories that did not exist before and are removed again when empty.
    created: Vec<PathBuf>,
}

fn ip(args: &[&str]) -> crate::Out {
    run(Command::new("ip").args(args), Duration::from_secs(10))
}

impl Network {
    /// Makes the bridge and its address on the first 10.199.X.0/24 (from this process's pid
    /// on) that the host neither routes nor has an address in.
    pub fn create() -> Network {
        let created = [LIBCNI_DIR, NETNS_DIR]
            .iter()
            .map(PathBuf::from)
            .filter(|d| !d.exists())
            .collect();
        let pid = std::process::id();
        let used = format!(
            "{}{}",
            ip(&["-4", "-o", "addr"]).stdout,
            ip(&["-4", "route", "show", "table", "all"]).stdout
        );
        let x = (0..250)
            .map(|i| (pid + i) % 250 + 1)
            .find(|x| !used.contains(&format!("10.199.{x}.")))
            .expect("no free 10.199.X.0/24 on this host");
        let n = Network {
            name: format!("runw-it-{pid}"),
            bridge: format!("runw-it{pid}"),
            subnet: format!("10.199.{x}.0/24"),
            host_ip: format!("10.199.{x}.1"),
            ipam: tempdir("runw-it-ipam-"),
            created,
        };
        ip(&["link", "add", &n.bridge, "type", "bridge"]).ok("ip link add (bridge)");
        ip(&[
            "addr",
            "add",
            &format!("{}/24", n.host_ip),
            "dev",
            &n.bridge,
        ])
        .ok("ip addr add");
        ip(&["link", "set", &n.bridge, "up"]).ok("ip link set up");
        n
    }

    /// The network's conflist (`<conf_dir>/10-<name>.conflist`).
    pub fn conflist(&self) -> String {
        serde_json::to_string_pretty(&serde_json::json!({
            "cniVersion": "0.4.0",
            "name": self.name,
            "plugins": [{
                "type": "bridge",
                "bridge": self.bridge,
                "isGateway": false,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": self.subnet, "gateway": self.host_ip}]],
                    "dataDir": self.ipam.path(),
                },
            }],
        }))
        .unwrap()
    }

    /// Writes the conflist into the CRI plugin's `conf_dir`.
    pub fn write_conflist(&self, conf_dir: &Path) {
        std::fs::create_dir_all(conf_dir).unwrap();
        std::fs::write(
            conf_dir.join(format!("10-{}.conflist", self.name)),
            self.conflist(),
        )
        .unwrap();
    }

    /// Addresses host-local still has reserved (one file per address).
    pub fn reserved_ips(&self) -> Vec<String> {
        std::fs::read_dir(self.ipam.path().join(&self.name))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| f.parse::<std::net::IpAddr>().is_ok())
            .collect()
    }

    /// Interfaces (pods' veths) still attached to the bridge.
    pub fn ports(&self) -> Vec<String> {
        std::fs::read_dir(format!("/sys/class/net/{}/brif", self.bridge))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// libcni's cached ADD results of sandbox `id` (this network's and containerd's loopback):
    /// CNI DEL removes them.
    pub fn cached_results(id: &str) -> Vec<PathBuf> {
        let part = format!("-{id}-");
        std::fs::read_dir(Path::new(LIBCNI_DIR).join("results"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(&part))
            .map(|e| e.path())
            .collect()
    }

    /// Checks that every pod's network is gone (veths, addresses, libcni's cached results),
    /// then removes the bridge; returns the leaks.
    pub fn remove(&self) -> Vec<String> {
        let mut leaks = vec![];
        for p in self.ports() {
            leaks.push(format!("veth {p} still on bridge {}", self.bridge));
        }
        for a in self.reserved_ips() {
            leaks.push(format!("address {a} still reserved in {}", self.name));
        }
        let prefix = format!("{}-", self.name);
        for e in std::fs::read_dir(Path::new(LIBCNI_DIR).join("results"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                leaks.push(format!("CNI result left: {}", e.path().display()));
                let _ = std::fs::remove_file(e.path());
            }
        }
        // (A TempDir in a static is never dropped.)
        let _ = std::fs::remove_dir_all(self.ipam.path());
        let del = ip(&["link", "del", &self.bridge]);
        if del.code != 0 {
            leaks.push(format!(
                "cannot delete bridge {}: {}",
                self.bridge, del.stderr
            ));
        }
        for d in &self.created {
            // Only if empty: another user may have started using them meanwhile.
            if d.ends_with("cni") {
                let _ = std::fs::remove_dir(d.join("results"));
            }
            let _ = std::fs::remove_dir(d);
        }
        leaks
    }
}
