//! `runw ps`: the processes in the container's cgroup: a JSON array of host pids (what
//! containerd's shim parses), or ps(1)'s table filtered to those pids.

use std::process::Command;

use anyhow::{bail, Context, Result};
use libcgroups::common::CgroupManager;

use crate::cli::{GlobalOpts, OutputFormat, PsArgs};
use crate::container;

pub fn ps(args: &PsArgs, global: &GlobalOpts) -> Result<i32> {
    let (container, lock) = container::open_shared(&global.root, &args.container_id)?;
    let mut pids: Vec<i32> = container::cgroup_manager(&container)?
        .get_all_pids()?
        .iter()
        .map(|p| p.as_raw())
        .collect();
    drop(lock);
    pids.sort_unstable();
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string(&pids)?),
        OutputFormat::Table => print!("{}", ps_table(&args.ps_args, &pids)?),
    }
    Ok(0)
}

/// Runs ps(1) (default `-ef`, like runc) and keeps the header and the container's lines.
fn ps_table(ps_args: &[String], pids: &[i32]) -> Result<String> {
    let default_args = ["-ef".to_string()];
    let ps_args = if ps_args.is_empty() {
        &default_args[..]
    } else {
        ps_args
    };
    let output = Command::new("ps")
        .args(ps_args)
        .output()
        .context("cannot run ps")?;
    if !output.status.success() {
        bail!(
            "ps failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    filter_ps_output(&String::from_utf8_lossy(&output.stdout), pids)
}

fn filter_ps_output(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.lines();
    let header = lines.next().context("ps printed nothing")?;
    let pid_column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_header_and_container_lines() {
        let text = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:00 ? 00:00:00 sleep 9\n";
        let out = filter_ps_output(text, &[42]).unwrap();
        assert_eq!(
            out,
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 9\n"
        );
    }
}
