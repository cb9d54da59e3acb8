//! `runw state`: print runc's state JSON.

use anyhow::Result;

use crate::cli::GlobalOpts;
use crate::container;
use crate::state::RuncState;

pub fn state(id: &str, global: &GlobalOpts) -> Result<i32> {
    let (container, _lock) = container::open_shared(&global.root, id)?;
    // `runc state` leaves owner empty; `runc list` fills it in.
    let state = RuncState::of(&container, String::new());
    println!("{}", serde_json::to_string_pretty(&state)?);
    Ok(0)
}
