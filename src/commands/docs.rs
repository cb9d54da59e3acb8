//! `runw completion SHELL` and `runw man DIR`: shell completion scripts and man pages, both
//! generated from the clap definitions in cli.rs (clap_complete, clap_mangen). Neither
//! touches a container: no root needed, no seal.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;

use crate::cli::{Cli, SHELLS};

/// runc's man pages are in section 8 (system administration commands); so are runw's.
const MAN_SECTION: &str = "8";

/// Prints the completion script for `shell` on stdout.
pub fn completion(shell: &str) -> Result<i32> {
    let shell = parse_shell(shell)?;
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "runw", &mut script);
    std::io::stdout().write_all(&script)?;
    Ok(0)
}

fn parse_shell(name: &str) -> Result<Shell> {
    match name {
        "bash" => Ok(Shell::Bash),
        "zsh" => Ok(Shell::Zsh),
        "fish" => Ok(Shell::Fish),
        _ => {
            let (last, others) = SHELLS.split_last().expect("SHELLS is not empty");
            bail!(
                "unknown shell {name:?}: completions exist for {} and {last}",
                others.join(", ")
            )
        }
    }
}

/// Writes `runw.8` and one `runw-<command>.8` per command into `dir`, creating it if needed.
/// Every page is rendered before anything is written.
pub fn man(dir: &Path) -> Result<i32> {
    let pages = man_pages()?;
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create man page directory {}", dir.display()))?;
    for (name, text) in &pages {
        let path = dir.join(name);
        fs::write(&path, text)
            .with_context(|| format!("cannot write man page {}", path.display()))?;
    }
    Ok(0)
}

/// (file name, roff text) of runw's page and of every subcommand's.
fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    // No `help` subcommand page; build() names each subcommand "runw-<name>".
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = vec![render(cmd.clone())?];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push(render(sub.clone())?);
    }
    Ok(pages)
}

fn render(cmd: clap::Command) -> Result<(String, Vec<u8>)> {
    let man = Man::new(cmd)
        .section(MAN_SECTION)
        .source(format!("runw {}", env!("CARGO_PKG_VERSION")))
        .manual("System Manager's Manual");
    let mut text = Vec::new();
    man.render(&mut text)?;
    Ok((man.get_filename(), text))
}
