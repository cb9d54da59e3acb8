//! The capability sets of the container process.

use std::collections::BTreeSet;

use anyhow::{anyhow, bail};
use oci_spec::runtime::{Capabilities, Spec};

#[path = "../../captable.rs"]
mod captable;

use crate::process::{json_name, status_field};
use crate::{CheckResult, Verdict};

fn expected(set: &Option<Capabilities>) -> BTreeSet<String> {
    let known: BTreeSet<&str> = captable::CAP_NAMES[..=captable::last_cap()]
        .iter()
        .copied()
        .collect();
    set.iter()
        .flatten()
        .map(json_name)
        .filter(|n| known.contains(n.as_str()))
        .collect()
}

pub fn check_capabilities(spec: &Spec, _: &str) -> CheckResult {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| anyhow!("config has no process"))?;
    let Some(caps) = process.capabilities() else {
        return Ok(Verdict::Unset("config sets no capabilities".into()));
    };
    let sets = [
        ("CapBnd", "bounding", caps.bounding()),
        ("CapEff", "effective", caps.effective()),
        ("CapInh", "inheritable", caps.inheritable()),
        ("CapPrm", "permitted", caps.permitted()),
        ("CapAmb", "ambient", caps.ambient()),
    ];
    for (field, name, set) in sets {
        let want = expected(set);
        let got: BTreeSet<String> = captable::names_in_mask(&status_field(field)?)
            .into_iter()
            .map(String::from)
            .collect();
        if got != want {
            let missing: Vec<_> = want.difference(&got).collect();
            let extra: Vec<_> = got.difference(&want).collect();
            bail!("{name} set: missing {missing:?}, unexpected {extra:?}");
        }
    }
    Ok(Verdict::Ok)
}
