//! `runw events`: resource statistics in runc's event format, once (`--stats`) or every
//! `--interval` until the container stops.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use libcgroups::common::CgroupManager;
use libcontainer::container::ContainerStatus;

use crate::cli::{EventsArgs, GlobalOpts};
use crate::container;
use crate::stats::{Event, RuncStats};

pub fn events(args: &EventsArgs, global: &GlobalOpts) -> Result<i32> {
    let interval = parse_go_duration(&args.interval)?;
    loop {
        let Some(event) = stats_event(&args.container_id, global)? else {
            return Ok(0);
        };
        println!("{}", serde_json::to_string(&event)?);
        if args.stats {
            return Ok(0);
        }
        std::thread::sleep(interval);
    }
}

/// One stats event, or None once the container has stopped.
fn stats_event(id: &str, global: &GlobalOpts) -> Result<Option<Event<RuncStats>>> {
    let (container, _lock) = container::open_shared(&global.root, id)?;
    if container.status() == ContainerStatus::Stopped {
        return Ok(None);
    }
    let stats = container::cgroup_manager(&container)?
        .stats()
        .with_context(|| format!("cannot read the statistics of {id}"))?;
    Ok(Some(Event {
        kind: "stats",
        id: id.to_string(),
        data: RuncStats::from(&stats),
    }))
}

/// Parses Go's duration syntax: `5s`, `500ms`, `1m30s`, `1.5h`, `100us`.
pub fn parse_go_duration(input: &str) -> Result<Duration> {
    let invalid = || anyhow::anyhow!("invalid duration {input:?}");
    let mut rest = input.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_end].parse().map_err(|_| invalid())?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    if total <= 0.0 {
        bail!("duration must be greater than 0");
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(
            parse_go_duration("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("0s").is_err());
        assert!(parse_go_duration("fast").is_err());
    }
}
