//! `runw update --resources FILE` (the LinuxResources JSON the shim and CRI-O send), alone and
//! with flags over it (commands::update::merge_resources, then runw's resource checks).
use runw::cli::UpdateArgs;

fn args(memory: Option<&str>, pids: Option<i64>) -> UpdateArgs {
    UpdateArgs {
        resources: None,
        memory: memory.map(str::to_string),
        memory_swap: None,
        memory_reservation: None,
        cpu_shares: None,
        cpu_quota: None,
        cpu_period: None,
        cpuset_cpus: Some("0".into()),
        cpuset_mems: None,
        pids_limit: pids,
        blkio_weight: None,
        container_id: "c".into(),
    }
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let doc = match runw::commands::update::parse_resources_json(text) {
            Ok(doc) => doc,
            Err(err) => {
                runw_fuzz::report(&err);
                return;
            }
        };
        for flags in [args(None, None), args(Some("64m"), Some(10))] {
            if let Err(err) = runw::commands::update::merge_resources(doc.clone(), &flags) {
                runw_fuzz::report(&err);
            }
        }
    });
}
