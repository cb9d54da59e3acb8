//! `runw list`: the containers under `--root`, as a table, ids only, or JSON.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::cli::{GlobalOpts, ListArgs, OutputFormat};
use crate::container::{self, ContainerLock};
use crate::state::{owner_name, RuncState};

pub fn list(args: &ListArgs, global: &GlobalOpts) -> Result<i32> {
    let states = collect(&global.root)?;
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for state in &states {
            writeln!(out, "{}", state.id)?;
        }
        return Ok(0);
    }
    match args.format {
        // runc prints `null` for an empty list (a nil Go slice).
        OutputFormat::Json if states.is_empty() => writeln!(out, "null")?,
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string(&states)?)?,
        OutputFormat::Table => write_table(&mut out, &states)?,
    }
    Ok(0)
}

fn collect(root: &Path) -> Result<Vec<RuncState>> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(Vec::new());
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("state.json").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    let mut states = Vec::new();
    for id in ids {
        let Ok(lock) = ContainerLock::shared(root, &id) else {
            continue;
        };
        // A container deleted meanwhile is simply not listed.
        if let Ok(container) = container::load(root, &id, &lock) {
            states.push(RuncState::of(&container, owner_name(&container.root)));
        }
    }
    Ok(states)
}

/// runc's table: Go tabwriter with minwidth 12 and padding 3 (Go counts the padding in the minimum width, the tabwriter crate does not: 9 + 3).
fn write_table(out: &mut impl Write, states: &[RuncState]) -> Result<()> {
    let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(9).padding(3);
    writeln!(tw, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")?;
    for s in states {
        writeln!(
            tw,
            "{}\t{}\t{}\t{}\t{}\t{}",
            s.id,
            s.pid,
            s.status,
            s.bundle.display(),
            s.created,
            s.owner
        )?;
    }
    tw.flush()?;
    out.write_all(&tw.into_inner()?)?;
    Ok(())
}
