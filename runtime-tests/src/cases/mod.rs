//! The cases, one file per group.

mod cgroups;
mod hooks;
mod lifecycle;
mod linux;
mod namespaces;
mod process;
mod wasm;

use std::sync::OnceLock;

use crate::ctx::{CaseResult, Ctx};
use crate::host::Host;

/// One conformance case.
pub struct Case {
    pub name: &'static str,
    /// Why the case cannot apply on this host, decided before it runs.
    pub skip: fn(&Host) -> Option<String>,
    /// Build the config(s), drive the runtime, check; `Err` is a failure.
    pub run: fn(&mut Ctx) -> CaseResult,
}

/// For cases that apply everywhere.
pub fn always(_: &Host) -> Option<String> {
    None
}

/// A case that applies on every host.
pub const fn case(name: &'static str, run: fn(&mut Ctx) -> CaseResult) -> Case {
    Case {
        name,
        skip: always,
        run,
    }
}

/// Every case, in run order.
pub fn all() -> &'static [Case] {
    static ALL: OnceLock<Vec<Case>> = OnceLock::new();
    ALL.get_or_init(|| {
        [
            lifecycle::cases(),
            process::cases(),
            linux::cases(),
            namespaces::cases(),
            cgroups::cases(),
            hooks::cases(),
            wasm::cases(),
        ]
        .into_iter()
        .flatten()
        .collect()
    })
}
