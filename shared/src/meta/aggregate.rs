//! Per-minute aggregation of share-ring records into the Redis writes of the user's format.
//!
//! An [`Aggregate`] collects the records of one flush (any number of sources, in the order they
//! were stored) and turns them into a [`RedisBatch`]. The result depends only on the records and
//! their order, so a batch rebuilt from the same spool entries after a crash is the same batch,
//! and its already-applied parts are recognised (see `redis_batch`).

use super::keys::{
    mining_key, minute_of, monitor_host_key, monitor_hosts_key, monitor_key, MonitorKey,
    MINING_KEYS, MONITOR_KEYS,
};
use super::redis_batch::{Op, RedisBatch};
use crate::ring::{EncodedShare, RecordDetail, ShareKind, ShareRecord};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

/// Coin keys (`btc`) the writer accepts, with the name `newblock` carries (`BTC`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoinNames(HashMap<String, String>);

impl CoinNames {
    pub fn new<I: IntoIterator<Item = (String, String)>>(pairs: I) -> CoinNames {
        CoinNames(pairs.into_iter().collect())
    }

    /// The display name of a configured coin key.
    pub fn name(&self, coin: &str) -> Option<&str> {
        self.0.get(coin).map(String::as_str)
    }
}

/// A record the accounting cannot write.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordRefused {
    #[error("{field} {value} is out of range (network difficulty 0 or 1e-12..=1e18, share difficulty at most 1e18)")]
    Difficulty { field: &'static str, value: f64 },
    #[error("{field} {value:?} cannot be part of a Redis key (empty, over 64 bytes, or holds ':', braces, spaces or control characters)")]
    Name { field: &'static str, value: String },
}

/// Largest difficulty accepted (the network's is about 1e14 in 2026).
const DIFFICULTY_MAX: f64 = 1e18;
/// Smallest non-zero network difficulty accepted (regtest's is 4.7e-10).
const NETWORK_DIFFICULTY_MIN: f64 = 1e-12;

/// Whether `name` can sit between the `:` of a key without changing its meaning.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name
            .chars()
            .any(|c| c == ':' || c == '{' || c == '}' || c.is_whitespace() || c.is_control())
}

/// The keys of one worker: `s`, `p`, `g` at user and worker level, and the two reject keys.
#[derive(Debug, Clone, Copy)]
struct WorkerKeys {
    s: [u32; 2],
    p: [u32; 2],
    g: [u32; 2],
    reject: [u32; 2],
}

/// One flush worth of writes, being built. Key strings are interned once (a worker's keys when
/// its first record arrives), so adding a record costs hash lookups, not string building.
#[derive(Debug, Default)]
pub struct Aggregate {
    /// Interned key names; counters refer to them by index.
    names: Vec<String>,
    name_ids: HashMap<String, u32>,
    /// `coin` NUL `user` NUL `worker` → its keys.
    workers: HashMap<String, WorkerKeys>,
    /// The s/p/g keys among `names`: those written go to `mining:keys`.
    mining_ids: HashSet<u32>,
    /// `coin` NUL `host` → a source id (the last one is remembered: records come in batches).
    sources: HashMap<String, u32>,
    last_source: Option<(String, u32)>,
    /// (source id, monitor key) → [pool key, host key].
    monitors: HashMap<(u32, MonitorKey), [u32; 2]>,
    /// (key, minute) → value, in the order first seen (sorted when the batch is made).
    ints: HashMap<(u32, u64), i64>,
    floats: HashMap<(u32, u64), f64>,
    lists: Vec<(&'static str, String)>,
    sets: BTreeSet<(String, String)>,
    records: u64,
    /// Reused to build lookup strings without allocating.
    scratch: String,
}

#[derive(serde::Serialize)]
struct NewBlock<'a> {
    name: &'a str,
    hash: String,
    user: &'a str,
    worker: &'a str,
}

#[derive(serde::Serialize)]
struct NewEvent<'a> {
    user: &'a str,
    worker: &'a str,
    coin: &'a str,
    peer: String,
    event: &'static str,
}

#[derive(serde::Serialize)]
struct NewWorker<'a> {
    user: &'a str,
    worker: &'a str,
    coin: &'a str,
}

fn display_hash(internal: &[u8; 32]) -> String {
    internal.iter().rev().map(|b| format!("{b:02x}")).collect()
}

impl Aggregate {
    /// Records added so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Checks that a record can be written (the names become parts of keys). Senders are
    /// checked with this before their batch is stored, so a stored batch always aggregates.
    ///
    /// # Errors
    ///
    /// The field that cannot be part of a key.
    pub fn check(record: &ShareRecord) -> Result<(), RecordRefused> {
        Self::check_fields(
            record.kind,
            &record.user,
            &record.worker,
            record.share_difficulty,
            record.network_difficulty,
        )
    }

    /// As [`check`](Self::check), on the encoded form (no decoding, no allocation).
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub fn check_encoded(record: &EncodedShare) -> Result<(), RecordRefused> {
        Self::check_fields(
            record.kind(),
            record.user(),
            record.worker(),
            record.share_difficulty(),
            record.network_difficulty(),
        )
    }

    fn check_fields(
        kind: ShareKind,
        user: &str,
        worker: &str,
        difficulty: f64,
        network_difficulty: f64,
    ) -> Result<(), RecordRefused> {
        // Sums of these stay finite, and a failed HINCRBYFLOAT never strands half a script.
        if difficulty > DIFFICULTY_MAX {
            return Err(RecordRefused::Difficulty {
                field: "share difficulty",
                value: difficulty,
            });
        }
        if network_difficulty != 0.0
            && !(NETWORK_DIFFICULTY_MIN..=DIFFICULTY_MAX).contains(&network_difficulty)
        {
            return Err(RecordRefused::Difficulty {
                field: "network difficulty",
                value: network_difficulty,
            });
        }
        if kind == ShareKind::Connections {
            return Ok(());
        }
        for (field, value) in [("user", user), ("worker", worker)] {
            if !valid_name(value) {
                return Err(RecordRefused::Name {
                    field,
                    value: value.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Checks a host name (it becomes part of the `mh` keys).
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub fn check_host(host: &str) -> Result<(), RecordRefused> {
        if valid_name(host) || host.parse::<std::net::IpAddr>().is_ok() {
            Ok(())
        } else {
            Err(RecordRefused::Name {
                field: "host",
                value: host.to_owned(),
            })
        }
    }

    fn intern(&mut self, name: String) -> u32 {
        if let Some(id) = self.name_ids.get(&name) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.clone());
        self.name_ids.insert(name, id);
        id
    }

    fn int(&mut self, key: u32, minute: u64, by: i64) {
        let value = self.ints.entry((key, minute)).or_insert(0);
        *value = value.saturating_add(by);
    }

    fn float(&mut self, key: u32, minute: u64, by: f64) {
        *self.floats.entry((key, minute)).or_insert(0.0) += by;
    }

    fn source(&mut self, coin: &str, host: &str) -> u32 {
        self.scratch.clear();
        let _ = write!(self.scratch, "{coin}\0{host}");
        if let Some((name, id)) = &self.last_source {
            if *name == self.scratch {
                return *id;
            }
        }
        let next = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
        let id = *self.sources.entry(self.scratch.clone()).or_insert(next);
        self.last_source = Some((self.scratch.clone(), id));
        id
    }

    fn monitor(&mut self, coin: &str, host: &str, key: MonitorKey, minute: u64, value: f64) {
        let source = self.source(coin, host);
        let ids = match self.monitors.get(&(source, key)) {
            Some(ids) => *ids,
            None => {
                let name = key.name();
                let pool = monitor_key(coin, &name);
                self.sets
                    .insert((monitor_hosts_key(coin, &name), host.to_owned()));
                self.sets.insert((MONITOR_KEYS.to_owned(), pool.clone()));
                let ids = [
                    self.intern(pool),
                    self.intern(monitor_host_key(coin, host, &name)),
                ];
                self.monitors.insert((source, key), ids);
                ids
            }
        };
        for id in ids {
            if key.is_float() {
                self.float(id, minute, value);
            } else {
                // Integer counters only ever get whole numbers (counts, session samples).
                #[allow(clippy::cast_possible_truncation)]
                self.int(id, minute, value as i64);
            }
        }
    }

    fn worker_keys(&mut self, coin: &str, user: &str, worker: &str) -> WorkerKeys {
        self.scratch.clear();
        let _ = write!(self.scratch, "{coin}\0{user}\0{worker}");
        if let Some(keys) = self.workers.get(self.scratch.as_str()) {
            return *keys;
        }
        let lookup = self.scratch.clone();
        let mut pair = |kind: char, reject: bool| {
            let ids = [
                self.intern(mining_key(coin, kind, user, None, reject)),
                self.intern(mining_key(coin, kind, user, Some(worker), reject)),
            ];
            self.mining_ids.extend(ids);
            ids
        };
        let keys = WorkerKeys {
            s: pair('s', false),
            p: pair('p', false),
            g: pair('g', false),
            reject: pair('s', true),
        };
        self.workers.insert(lookup, keys);
        keys
    }

    /// Adds one record of `coin` (key, e.g. `btc`; `coin_name` as `newblock` shows it, e.g.
    /// `BTC`) from gateway `host`. Records must have passed [`check`](Self::check).
    pub fn add(&mut self, coin: &str, coin_name: &str, host: &str, record: &ShareRecord) {
        self.records += 1;
        let minute = minute_of(record.accepted_at_ms);
        let (user, worker) = (record.user.as_str(), record.worker.as_str());
        match record.kind {
            ShareKind::Share => {
                let difficulty = record.share_difficulty;
                let goal = if record.network_difficulty > 0.0 {
                    difficulty / record.network_difficulty
                } else {
                    0.0
                };
                let keys = self.worker_keys(coin, user, worker);
                for key in keys.s {
                    self.int(key, minute, 1);
                }
                for key in keys.p {
                    self.float(key, minute, difficulty);
                }
                if goal > 0.0 {
                    for key in keys.g {
                        self.float(key, minute, goal);
                    }
                    self.monitor(coin, host, MonitorKey::Goal, minute, goal);
                }
                self.monitor(coin, host, MonitorKey::Share, minute, 1.0);
                self.monitor(coin, host, MonitorKey::Pow, minute, difficulty);
            }
            ShareKind::Reject => {
                for key in self.worker_keys(coin, user, worker).reject {
                    self.int(key, minute, 1);
                }
                self.monitor(coin, host, MonitorKey::Reject, minute, 1.0);
                if let RecordDetail::RejectCode(code) = record.detail {
                    self.monitor(coin, host, MonitorKey::RejectCode(code), minute, 1.0);
                }
            }
            ShareKind::BlockCandidate => {
                self.monitor(coin, host, MonitorKey::Block, minute, 1.0);
                let hash = match record.detail {
                    RecordDetail::BlockHash(hash) => display_hash(&hash),
                    _ => String::new(),
                };
                let json = serde_json::to_string(&NewBlock {
                    name: coin_name,
                    hash,
                    user,
                    worker,
                });
                self.push_list("newblock", json);
            }
            ShareKind::Connected | ShareKind::Disconnected => {
                let (event, key) = if record.kind == ShareKind::Connected {
                    ("connected", MonitorKey::ConnectionNew)
                } else {
                    ("disconnected", MonitorKey::ConnectionClose)
                };
                self.monitor(coin, host, key, minute, 1.0);
                let peer = match record.detail {
                    RecordDetail::Peer(peer) => peer.ip().to_string(),
                    _ => String::new(),
                };
                let json = serde_json::to_string(&NewEvent {
                    user,
                    worker,
                    coin,
                    peer,
                    event,
                });
                self.push_list("newevent", json);
            }
            ShareKind::NewWorker => {
                self.monitor(coin, host, MonitorKey::NewWorker, minute, 1.0);
                let json = serde_json::to_string(&NewWorker { user, worker, coin });
                self.push_list("newworker", json);
            }
            ShareKind::Connections => {
                if let RecordDetail::Count(count) = record.detail {
                    #[allow(clippy::cast_precision_loss)]
                    let count = count.min(1 << 52) as f64;
                    self.monitor(coin, host, MonitorKey::Connections, minute, count);
                }
            }
        }
    }

    fn push_list(&mut self, list: &'static str, json: Result<String, serde_json::Error>) {
        // Serializing plain strings cannot fail; an empty object would still mark the event.
        self.lists
            .push((list, json.unwrap_or_else(|_| "{}".to_owned())));
    }

    /// The writes: counters in key order, then the list pushes in record order; and the set
    /// members (idempotent, written apart). The order depends only on the records, so a batch
    /// rebuilt from the same inputs is the same batch.
    pub fn into_batch(self) -> RedisBatch {
        let names = self.names;
        let mut ints: Vec<((u32, u64), i64)> =
            self.ints.into_iter().filter(|(_, by)| *by != 0).collect();
        let mut floats: Vec<((u32, u64), f64)> = self
            .floats
            .into_iter()
            .filter(|(_, by)| *by != 0.0)
            .collect();
        let order = |a: &(u32, u64), b: &(u32, u64)| {
            names[a.0 as usize]
                .cmp(&names[b.0 as usize])
                .then(a.1.cmp(&b.1))
        };
        ints.sort_unstable_by(|a, b| order(&a.0, &b.0));
        floats.sort_unstable_by(|a, b| order(&a.0, &b.0));
        let mut sets = self.sets;
        for id in ints
            .iter()
            .map(|e| e.0 .0)
            .chain(floats.iter().map(|e| e.0 .0))
        {
            if self.mining_ids.contains(&id) {
                sets.insert((MINING_KEYS.to_owned(), names[id as usize].clone()));
            }
        }
        let mut ops = Vec::with_capacity(ints.len() + floats.len() + self.lists.len());
        for ((key, field), by) in ints {
            ops.push(Op::HIncrBy {
                key: names[key as usize].clone(),
                field,
                by,
            });
        }
        for ((key, field), by) in floats {
            ops.push(Op::HIncrByFloat {
                key: names[key as usize].clone(),
                field,
                by,
            });
        }
        for (list, value) in self.lists {
            ops.push(Op::RPush {
                key: list.to_owned(),
                value,
            });
        }
        RedisBatch {
            ops,
            set_members: sets.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: ShareKind, user: &str, worker: &str, at_ms: u64) -> ShareRecord {
        ShareRecord {
            kind,
            shard_id: 0,
            session_id: 1,
            job_id: 1,
            extranonce1: vec![],
            extranonce2: vec![],
            ntime: 0,
            nonce: 0,
            version: 0,
            share_difficulty: if kind.credits_work() { 8.0 } else { 0.0 },
            accepted_at_ms: at_ms,
            user: user.to_owned(),
            worker: worker.to_owned(),
            network_difficulty: if kind.credits_work() { 1024.0 } else { 0.0 },
            detail: RecordDetail::zero_for(kind),
        }
    }

    fn find<'a>(batch: &'a RedisBatch, key: &str, field: u64) -> Vec<&'a Op> {
        batch
            .ops
            .iter()
            .filter(|op| match op {
                Op::HIncrBy {
                    key: k, field: f, ..
                }
                | Op::HIncrByFloat {
                    key: k, field: f, ..
                } => k == key && *f == field,
                Op::RPush { .. } => false,
            })
            .collect()
    }

    #[test]
    fn shares_are_summed_per_key_and_minute() {
        let mut aggregate = Aggregate::default();
        let t0 = 1_482_252_540_000;
        aggregate.add(
            "btc",
            "BTC",
            "10.0.0.1",
            &record(ShareKind::Share, "alice", "rig1", t0 + 1_000),
        );
        aggregate.add(
            "btc",
            "BTC",
            "10.0.0.1",
            &record(ShareKind::Share, "alice", "rig1", t0 + 59_999),
        );
        aggregate.add(
            "btc",
            "BTC",
            "10.0.0.2",
            &record(ShareKind::Share, "alice", "rig2", t0 + 60_000),
        );
        let mut reject = record(ShareKind::Reject, "alice", "rig1", t0);
        reject.detail = RecordDetail::RejectCode(23);
        aggregate.add("btc", "BTC", "10.0.0.1", &reject);
        let batch = aggregate.into_batch();
        let minute = 1_482_252_540;
        assert_eq!(
            find(&batch, "btc:s:alice", minute),
            vec![&Op::HIncrBy {
                key: "btc:s:alice".into(),
                field: minute,
                by: 2
            }]
        );
        assert_eq!(
            find(&batch, "btc:s:alice", minute + 60),
            vec![&Op::HIncrBy {
                key: "btc:s:alice".into(),
                field: minute + 60,
                by: 1
            }]
        );
        assert_eq!(
            find(&batch, "btc:p:alice:rig1", minute),
            vec![&Op::HIncrByFloat {
                key: "btc:p:alice:rig1".into(),
                field: minute,
                by: 16.0
            }]
        );
        assert_eq!(
            find(&batch, "btc:g:alice", minute),
            vec![&Op::HIncrByFloat {
                key: "btc:g:alice".into(),
                field: minute,
                by: 16.0 / 1024.0
            }]
        );
        assert_eq!(
            find(&batch, "btc:s:alice:rig1:reject", minute),
            vec![&Op::HIncrBy {
                key: "btc:s:alice:rig1:reject".into(),
                field: minute,
                by: 1
            }]
        );
        assert_eq!(
            find(&batch, "btc:m:share", minute),
            vec![&Op::HIncrBy {
                key: "btc:m:share".into(),
                field: minute,
                by: 2
            }]
        );
        assert_eq!(
            find(&batch, "btc:mh:10.0.0.2:share", minute + 60),
            vec![&Op::HIncrBy {
                key: "btc:mh:10.0.0.2:share".into(),
                field: minute + 60,
                by: 1
            }]
        );
        assert_eq!(find(&batch, "btc:m:reject_23", minute).len(), 1);
        assert!(batch
            .set_members
            .contains(&("btc:mk:share".into(), "10.0.0.2".into())));
        assert!(batch
            .set_members
            .contains(&("monitor:keys".into(), "btc:m:pow".into())));
        assert!(batch
            .set_members
            .contains(&("mining:keys".into(), "btc:g:alice:rig2".into())));
    }

    #[test]
    fn events_become_list_pushes_in_order_with_the_seed_shapes() {
        let mut aggregate = Aggregate::default();
        let mut connected = record(ShareKind::Connected, "haiyang", "example", 0);
        connected.detail = RecordDetail::Peer("47.88.87.29:50000".parse().expect("literal"));
        let mut block = record(ShareKind::BlockCandidate, "haiyang", "example", 0);
        let mut hash = [0u8; 32];
        hash[0] = 0xc0;
        hash[31] = 0x01;
        block.detail = RecordDetail::BlockHash(hash);
        aggregate.add("btc", "BTC", "h", &connected);
        aggregate.add(
            "btc",
            "BTC",
            "h",
            &record(ShareKind::NewWorker, "haiyang", "example", 0),
        );
        aggregate.add("btc", "BTC", "h", &block);
        let batch = aggregate.into_batch();
        let pushes: Vec<(&str, &str)> = batch
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::RPush { key, value } => Some((key.as_str(), value.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            pushes,
            vec![
                (
                    "newevent",
                    r#"{"user":"haiyang","worker":"example","coin":"btc","peer":"47.88.87.29","event":"connected"}"#
                ),
                (
                    "newworker",
                    r#"{"user":"haiyang","worker":"example","coin":"btc"}"#
                ),
                (
                    "newblock",
                    r#"{"name":"BTC","hash":"01000000000000000000000000000000000000000000000000000000000000c0","user":"haiyang","worker":"example"}"#
                ),
            ]
        );
    }

    #[test]
    fn names_that_would_change_a_key_are_refused() {
        assert!(Aggregate::check(&record(ShareKind::Share, "alice", "rig1", 0)).is_ok());
        for (user, worker) in [
            ("a:b", "w"),
            ("a", ""),
            ("a b", "w"),
            ("a", "{w}"),
            ("a", "w\n"),
        ] {
            assert!(
                Aggregate::check(&record(ShareKind::Share, user, worker, 0)).is_err(),
                "{user:?} {worker:?}"
            );
        }
        assert!(Aggregate::check_host("10.0.0.1").is_ok());
        assert!(
            Aggregate::check_host("2001:db8::1").is_ok(),
            "IPv6 hosts have colons"
        );
        assert!(Aggregate::check_host("bad host").is_err());
    }
}
