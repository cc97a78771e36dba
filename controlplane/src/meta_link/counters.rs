//! What the links saw, for the log and the status file.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct LinkCounters {
    pub connections: AtomicU64,
    /// Connections refused because `CONNECTIONS_MAX` were open.
    pub refused_connections: AtomicU64,
    pub batches_stored: AtomicU64,
    pub records_stored: AtomicU64,
    pub batches_duplicate: AtomicU64,
    /// Headers with a wrong magic, version or reserved bytes: the connection was closed.
    pub bad_headers: AtomicU64,
    pub bad_tags: AtomicU64,
    pub oversize: AtomicU64,
    pub malformed: AtomicU64,
    pub unknown_coin: AtomicU64,
    pub unexpected_kind: AtomicU64,
    pub store_failures: AtomicU64,
    pub ring_records_read: AtomicU64,
    pub ring_records_skipped: AtomicU64,
}

impl LinkCounters {
    pub fn add(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    /// Name → value, for the status file.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("connections", get(&self.connections)),
            ("refused_connections", get(&self.refused_connections)),
            ("batches_stored", get(&self.batches_stored)),
            ("records_stored", get(&self.records_stored)),
            ("batches_duplicate", get(&self.batches_duplicate)),
            ("bad_headers", get(&self.bad_headers)),
            ("bad_tags", get(&self.bad_tags)),
            ("oversize", get(&self.oversize)),
            ("malformed", get(&self.malformed)),
            ("unknown_coin", get(&self.unknown_coin)),
            ("unexpected_kind", get(&self.unexpected_kind)),
            ("store_failures", get(&self.store_failures)),
            ("ring_records_read", get(&self.ring_records_read)),
            ("ring_records_skipped", get(&self.ring_records_skipped)),
        ]
    }
}
