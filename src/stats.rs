//! runc's `events` JSON (`types/events.go`): the `{"type","id","data"}` envelope and the
//! stats layout that `runc events --stats` prints, built from libcgroups' statistics.

use std::collections::HashMap;

use libcgroups::stats::{BlkioDeviceStat, MemoryData, Stats};
use serde::Serialize;

#[derive(Serialize, Debug)]
pub struct Event<T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub data: T,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Serialize, Debug, Default)]
pub struct RuncStats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: HashMap<String, Hugetlb>,
}

#[derive(Serialize, Debug, Default)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Serialize, Debug, Default)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Serialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Serialize, Debug, Default)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub raw: HashMap<String, u64>,
}

#[derive(Serialize, Debug, Default)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Serialize, Debug, Default)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Serialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_queue_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Serialize, Debug, Default)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Serialize, Debug, Default)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

impl From<&Stats> for RuncStats {
    fn from(s: &Stats) -> Self {
        let usage = &s.cpu.usage;
        let blk = |v: &Vec<BlkioDeviceStat>| v.iter().map(BlkioEntry::from).collect();
        Self {
            cpu: Cpu {
                usage: CpuUsage {
                    total: usage.usage_total,
                    percpu: usage.per_core_usage_total.clone(),
                    percpu_kernel: usage.per_core_usage_kernel.clone(),
                    percpu_user: usage.per_core_usage_user.clone(),
                    kernel: usage.usage_kernel,
                    user: usage.usage_user,
                },
                throttling: Throttling {
                    periods: s.cpu.throttling.periods,
                    throttled_periods: s.cpu.throttling.throttled_periods,
                    throttled_time: s.cpu.throttling.throttled_time,
                },
            },
            memory: Memory {
                cache: s.memory.cache,
                usage: (&s.memory.memory).into(),
                swap: (&s.memory.memswap).into(),
                kernel: (&s.memory.kernel).into(),
                kernel_tcp: (&s.memory.kernel_tcp).into(),
                raw: s.memory.stats.clone(),
            },
            pids: Pids {
                current: s.pids.current,
                limit: s.pids.limit,
            },
            blkio: Blkio {
                io_service_bytes_recursive: blk(&s.blkio.service_bytes),
                io_serviced_recursive: blk(&s.blkio.serviced),
                io_queue_recursive: blk(&s.blkio.queued),
                io_service_time_recursive: blk(&s.blkio.service_time),
                io_wait_time_recursive: blk(&s.blkio.wait_time),
                io_merged_recursive: blk(&s.blkio.merged),
                io_time_recursive: blk(&s.blkio.time),
                sectors_recursive: blk(&s.blkio.sectors),
            },
            hugetlb: s
                .hugetlb
                .iter()
                .map(|(size, h)| {
                    let entry = Hugetlb {
                        usage: h.usage,
                        max: h.max_usage,
                        failcnt: h.fail_count,
                    };
                    (size.clone(), entry)
                })
                .collect(),
        }
    }
}

impl From<&MemoryData> for MemoryEntry {
    fn from(m: &MemoryData) -> Self {
        Self {
            limit: m.limit,
            usage: m.usage,
            max: m.max_usage,
            failcnt: m.fail_count,
        }
    }
}

impl From<&BlkioDeviceStat> for BlkioEntry {
    fn from(d: &BlkioDeviceStat) -> Self {
        Self {
            major: d.major,
            minor: d.minor,
            op: d.op_type.clone().unwrap_or_default(),
            value: d.value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_and_field_names_match_runc() {
        let mut stats = Stats::default();
        stats.cpu.usage.usage_total = 1000;
        stats.cpu.usage.per_core_usage_total = vec![600, 400];
        stats.memory.memory.usage = 4096;
        stats.memory.memory.limit = 8192;
        stats.pids.current = 2;
        stats.pids.limit = 10;
        let event = Event {
            kind: "stats",
            id: "c1".into(),
            data: RuncStats::from(&stats),
        };
        let v: serde_json::Value = serde_json::to_value(&event).unwrap();
        assert_eq!(v["type"], "stats");
        assert_eq!(v["id"], "c1");
        assert_eq!(v["data"]["cpu"]["usage"]["total"], 1000);
        assert_eq!(
            v["data"]["cpu"]["usage"]["percpu"],
            serde_json::json!([600, 400])
        );
        assert_eq!(v["data"]["memory"]["usage"]["usage"], 4096);
        assert_eq!(v["data"]["memory"]["usage"]["limit"], 8192);
        assert!(v["data"]["memory"]["kernelTCP"].is_object());
        assert_eq!(v["data"]["pids"]["current"], 2);
        assert_eq!(v["data"]["pids"]["limit"], 10);
        // Zero values are omitted like Go's omitempty.
        assert!(v["data"]["cpu"]["throttling"].get("periods").is_none());
    }
}
