//! How early the pool learned each block, by which path, and how long empty jobs ran: kept for
//! the last blocks, logged once per block and written to `early_tips.status_file`.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::info;

/// Blocks remembered.
const BLOCKS_KEPT: usize = 100;

/// Now, unix microseconds.
pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// One path's news of a block.
#[derive(Debug, Clone)]
struct Sighting {
    source: String,
    via: String,
    /// When the jobmaster received it.
    received_us: u64,
    /// When the source says it saw it (its clock).
    seen_us: u64,
}

#[derive(Debug, Clone)]
struct BlockLearned {
    hash: String,
    height: u32,
    sightings: Vec<Sighting>,
    /// When the node's best block became this one (as the jobmaster polled it).
    node_us: Option<u64>,
    empty_job_us: Option<u64>,
    full_job_us: Option<u64>,
}

/// Counters and the last blocks.
#[derive(Debug, Default)]
pub struct TipMetrics {
    blocks: VecDeque<BlockLearned>,
    pub announcements: u64,
    pub refused: u64,
    pub ignored: u64,
    pub empty_jobs: u64,
    pub empty_timeouts: u64,
    /// Empty-job durations of the last blocks, milliseconds.
    empty_ms: VecDeque<u64>,
}

impl TipMetrics {
    fn entry(&mut self, hash: &str, height: u32) -> &mut BlockLearned {
        if let Some(i) = self.blocks.iter().position(|b| b.hash == hash) {
            return &mut self.blocks[i];
        }
        if self.blocks.len() == BLOCKS_KEPT {
            self.blocks.pop_front();
        }
        self.blocks.push_back(BlockLearned {
            hash: hash.to_owned(),
            height,
            sightings: Vec::new(),
            node_us: None,
            empty_job_us: None,
            full_job_us: None,
        });
        let last = self.blocks.len() - 1;
        &mut self.blocks[last]
    }

    /// An announcement arrived (whatever became of it).
    pub fn announced(&mut self, hash: &str, height: u32, source: &str, via: &str, seen_us: u64) {
        self.announcements += 1;
        let now = unix_us();
        let block = self.entry(hash, height);
        if !block.sightings.iter().any(|s| s.source == source) {
            block.sightings.push(Sighting {
                source: source.to_owned(),
                via: via.to_owned(),
                received_us: now,
                seen_us,
            });
        }
    }

    /// The node's best block is `hash` now; logs how early the other paths were.
    pub fn node_has(&mut self, hash: &str, height: u32) {
        let now = unix_us();
        let block = self.entry(hash, height);
        if block.node_us.is_some() {
            return;
        }
        block.node_us = Some(now);
        match block.sightings.iter().min_by_key(|s| s.received_us) {
            Some(first) => info!(
                block = hash,
                height,
                first = %first.source,
                via = %first.via,
                lead_ms = (now.saturating_sub(first.received_us)) as f64 / 1000.0,
                paths = block.sightings.len(),
                "block learned before the node had it"
            ),
            None => info!(block = hash, height, "block learned from the node first"),
        }
    }

    pub fn empty_published(&mut self, hash: &str, height: u32) {
        self.empty_jobs += 1;
        self.entry(hash, height).empty_job_us = Some(unix_us());
    }

    /// The full template replaced the empty jobs; returns how long they ran, milliseconds.
    pub fn full_published(&mut self, hash: &str, height: u32) -> Option<u64> {
        let now = unix_us();
        let block = self.entry(hash, height);
        block.full_job_us = Some(now);
        let ms = block.empty_job_us.map(|e| now.saturating_sub(e) / 1000)?;
        if self.empty_ms.len() == BLOCKS_KEPT {
            self.empty_ms.pop_front();
        }
        self.empty_ms.push_back(ms);
        Some(ms)
    }

    /// Everything, as JSON.
    pub fn to_json(&self) -> Value {
        let blocks: Vec<Value> = self
            .blocks
            .iter()
            .map(|b| {
                let first = b.sightings.iter().min_by_key(|s| s.received_us);
                json!({
                    "hash": b.hash,
                    "height": b.height,
                    "first_path": first.map(|s| s.source.clone()),
                    "first_via": first.map(|s| s.via.clone()),
                    "lead_over_node_ms": match (first, b.node_us) {
                        (Some(f), Some(n)) => Some(n as f64 / 1000.0 - f.received_us as f64 / 1000.0),
                        _ => None,
                    },
                    "paths": b.sightings.iter().map(|s| json!({
                        "source": s.source,
                        "via": s.via,
                        "received_us": s.received_us,
                        "source_seen_us": s.seen_us,
                    })).collect::<Vec<_>>(),
                    "node_us": b.node_us,
                    "empty_job_us": b.empty_job_us,
                    "full_job_us": b.full_job_us,
                    "empty_job_ms": match (b.empty_job_us, b.full_job_us) {
                        (Some(e), Some(f)) => Some(f.saturating_sub(e) / 1000),
                        _ => None,
                    },
                })
            })
            .collect();
        let mut sorted: Vec<u64> = self.empty_ms.iter().copied().collect();
        sorted.sort_unstable();
        json!({
            "announcements": self.announcements,
            "refused": self.refused,
            "ignored": self.ignored,
            "empty_jobs": self.empty_jobs,
            "empty_timeouts": self.empty_timeouts,
            "empty_job_ms_median": sorted.get(sorted.len() / 2),
            "empty_job_ms_max": sorted.last(),
            "blocks": blocks,
        })
    }

    /// Writes the JSON to `path` through a temporary file, so readers never see half of it.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.to_json().to_string())?;
        std::fs::rename(&tmp, path)
    }
}
