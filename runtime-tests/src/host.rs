//! What the host offers, probed once: cgroup hierarchies, LSMs, huge pages.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Host facilities the cases depend on.
#[derive(Debug, Default)]
pub struct Host {
    /// cgroup v1 controller (or `name=...`) to its mount point.
    pub cgroup_v1: BTreeMap<String, PathBuf>,
    /// The cgroup v2 mount point, if any (on a hybrid host, the v2 hierarchy beside the v1 ones).
    pub cgroup_v2: Option<PathBuf>,
    /// /sys/fs/cgroup is the cgroup v2 (unified) hierarchy (statfs: CGROUP2_SUPER_MAGIC): the
    /// runtimes apply linux.resources there, not in v1 hierarchies.
    pub unified: bool,
    /// Controllers available at the root of the cgroup v2 hierarchy.
    pub cgroup_v2_controllers: Vec<String>,
    pub apparmor: bool,
    pub selinux: bool,
    /// Huge page sizes (e.g. `2MB`) with pages reserved.
    pub hugepages: Vec<String>,
    /// major:minor of a whole disk, for the blkio cases.
    pub disk: Option<(u64, u64)>,
}

fn mountinfo_cgroups(host: &mut Host) {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mountpoint = pre.split(' ').nth(4).unwrap_or_default();
        let post: Vec<&str> = post.split(' ').collect();
        match post.first() {
            Some(&"cgroup2") => host.cgroup_v2 = Some(mountpoint.into()),
            Some(&"cgroup") => {
                for opt in post.get(2).unwrap_or(&"").split(',') {
                    if !matches!(
                        opt,
                        "rw" | "ro" | "relatime" | "noatime" | "nosuid" | "nodev" | "noexec"
                    ) {
                        host.cgroup_v1.insert(opt.to_string(), mountpoint.into());
                    }
                }
            }
            _ => {}
        }
    }
}

fn hugepages() -> Vec<String> {
    let Ok(dir) = fs::read_dir("/sys/kernel/mm/hugepages") else {
        return vec![];
    };
    let mut sizes = Vec::new();
    for e in dir.flatten() {
        let nr = fs::read_to_string(e.path().join("nr_hugepages")).unwrap_or_default();
        if nr.trim().parse::<u64>().unwrap_or(0) == 0 {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let kb: u64 = name
            .trim_start_matches("hugepages-")
            .trim_end_matches("kB")
            .parse()
            .unwrap_or(0);
        sizes.push(if kb >= 1 << 20 {
            format!("{}GB", kb >> 20)
        } else {
            format!("{}MB", kb >> 10)
        });
    }
    sizes
}

fn disk() -> Option<(u64, u64)> {
    let mut names: Vec<String> = fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("zram"))
        .collect();
    names.sort();
    let dev = fs::read_to_string(format!("/sys/block/{}/dev", names.first()?)).ok()?;
    let (ma, mi) = dev.trim().split_once(':')?;
    Some((ma.parse().ok()?, mi.parse().ok()?))
}

impl Host {
    pub fn probe() -> Host {
        let mut host = Host {
            apparmor: fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                .map(|s| s.trim() == "Y")
                .unwrap_or(false),
            selinux: Path::new("/sys/fs/selinux/enforce").exists(),
            hugepages: hugepages(),
            disk: disk(),
            ..Host::default()
        };
        mountinfo_cgroups(&mut host);
        host.unified = nix::sys::statfs::statfs("/sys/fs/cgroup")
            .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
        if host.unified {
            host.cgroup_v2 = Some(PathBuf::from("/sys/fs/cgroup"));
        }
        if let Some(v2) = &host.cgroup_v2 {
            let list = fs::read_to_string(v2.join("cgroup.controllers")).unwrap_or_default();
            host.cgroup_v2_controllers = list.split_whitespace().map(String::from).collect();
        }
        host
    }

    /// The v2 mount point if the host is in cgroup v2 (unified) mode and has
    /// `controller`, or why the v2 check cannot be made. On a hybrid host the
    /// runtimes apply resources through the v1 hierarchies.
    pub fn v2(&self, controller: &str) -> Result<&Path, String> {
        match &self.cgroup_v2 {
            Some(_) if !self.unified => Err(format!(
                "cgroup v1 host ({controller} and the other controllers are on v1 hierarchies; v2 is only the hybrid {})",
                self.cgroup_v2.as_ref().map_or(String::new(), |p| p.display().to_string())
            )),
            None => Err("no cgroup v2 hierarchy on this host".into()),
            Some(p) if self.cgroup_v2_controllers.iter().any(|c| c == controller) => Ok(p),
            Some(p) => Err(format!("cgroup v2 controller {controller} is not enabled in {}", p.display())),
        }
    }

    /// Where the runtimes apply `controller` on this host: `Ok(true)` on the v2 hierarchy,
    /// `Ok(false)` on its v1 hierarchy, or why neither is available.
    pub fn cgroup_version_of(&self, controller: &str) -> Result<bool, String> {
        if self.unified {
            self.v2(controller).map(|_| true)
        } else {
            self.v1(controller).map(|_| false)
        }
    }

    /// The v1 mount point of `controller`, or why the case must be skipped.
    pub fn v1(&self, controller: &str) -> Result<&Path, String> {
        if let Some(p) = self.cgroup_v1.get(controller) {
            return Ok(p);
        }
        if self.cgroup_v1.is_empty() {
            Err(format!(
                "no cgroup v1 hierarchies; the {controller} checks read cgroup v1 files and this host is cgroup v2 only"
            ))
        } else {
            Err(format!(
                "cgroup v1 controller {controller} is not mounted on this host"
            ))
        }
    }
}
