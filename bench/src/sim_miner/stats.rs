//! Counters shared by the connection tasks and the grinding thread, readable at any time.
//!
//! Every share the miner submits is counted once under its [`ShareKind`] as submitted, and once
//! more when its fate is known: accepted, rejected (by error code), or unanswered when the
//! connection ended first. After [`SimMinerHandle::stop`](super::SimMinerHandle::stop),
//! `submitted == accepted + rejected + unanswered` for every kind.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Why a share was submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ShareKind {
    /// An honest share meeting the share target.
    Valid,
    /// A resubmission of an accepted share ([`Faults::duplicate`](super::Faults::duplicate)).
    Duplicate,
    /// A share on a job replaced by a clean job ([`Faults::stale`](super::Faults::stale)).
    Stale,
    /// A hash below the share target ([`Faults::low_difficulty`](super::Faults::low_difficulty)).
    LowDifficulty,
    /// Version bits outside the mask ([`Faults::bad_version`](super::Faults::bad_version)).
    BadVersion,
}

impl ShareKind {
    /// Every kind, in index order.
    pub const ALL: [ShareKind; 5] = [
        ShareKind::Valid,
        ShareKind::Duplicate,
        ShareKind::Stale,
        ShareKind::LowDifficulty,
        ShareKind::BadVersion,
    ];

    /// Position in [`ShareKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Short name, as in the `RESULT` line.
    pub fn name(self) -> &'static str {
        match self {
            ShareKind::Valid => "valid",
            ShareKind::Duplicate => "duplicate",
            ShareKind::Stale => "stale",
            ShareKind::LowDifficulty => "low",
            ShareKind::BadVersion => "badversion",
        }
    }
}

/// A rejected share's error code, as Stratum V1 pools use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectCode {
    /// 20: other / unknown.
    Other = 20,
    /// 21: job not found or stale.
    JobNotFound = 21,
    /// 22: duplicate share.
    Duplicate = 22,
    /// 23: low difficulty share.
    LowDifficulty = 23,
    /// 24: unauthorized worker.
    Unauthorized = 24,
    /// 25: not subscribed.
    NotSubscribed = 25,
    /// Any other code, no code, or `result: false` without an error.
    Unrecognized = 0,
}

impl RejectCode {
    /// Every code, in index order.
    pub const ALL: [RejectCode; 7] = [
        RejectCode::Other,
        RejectCode::JobNotFound,
        RejectCode::Duplicate,
        RejectCode::LowDifficulty,
        RejectCode::Unauthorized,
        RejectCode::NotSubscribed,
        RejectCode::Unrecognized,
    ];

    /// The code for a numeric error code (None: no code given).
    pub fn from_code(code: Option<i64>) -> Self {
        match code {
            Some(20) => RejectCode::Other,
            Some(21) => RejectCode::JobNotFound,
            Some(22) => RejectCode::Duplicate,
            Some(23) => RejectCode::LowDifficulty,
            Some(24) => RejectCode::Unauthorized,
            Some(25) => RejectCode::NotSubscribed,
            _ => RejectCode::Unrecognized,
        }
    }

    /// Position in [`RejectCode::ALL`].
    pub fn index(self) -> usize {
        match self {
            RejectCode::Unrecognized => 6,
            code => code as usize - 20,
        }
    }

    /// Short name, as in the `RESULT` line: `r20` .. `r25`, `rother`.
    pub fn name(self) -> &'static str {
        ["r20", "r21", "r22", "r23", "r24", "r25", "rother"][self.index()]
    }
}

/// Rejected shares by code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectCounts([u64; 7]);

impl RejectCounts {
    /// How many shares were rejected with `code`.
    pub fn get(&self, code: RejectCode) -> u64 {
        self.0[code.index()]
    }

    /// All rejected shares.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The non-zero counts, keyed by numeric code (0 for unrecognized).
    pub fn to_map(&self) -> BTreeMap<i64, u64> {
        RejectCode::ALL
            .iter()
            .filter(|c| self.get(**c) != 0)
            .map(|c| (*c as i64, self.get(*c)))
            .collect()
    }

    fn add(&mut self, other: &RejectCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

/// Submitted shares and what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShareCounts {
    /// Written to the pool.
    pub submitted: u64,
    /// Answered `result: true`.
    pub accepted: u64,
    /// Answered with an error or `result: false`.
    pub rejected: RejectCounts,
    /// No answer before the connection ended or the drain timed out.
    pub unanswered: u64,
}

#[derive(Default)]
struct KindCounters {
    submitted: AtomicU64,
    accepted: AtomicU64,
    unanswered: AtomicU64,
    rejected: [AtomicU64; 7],
}

/// The live counters.
pub(crate) struct Counters {
    started: Instant,
    pub open_connections: AtomicU64,
    pub connects: AtomicU64,
    pub connect_failures: AtomicU64,
    pub subscribed: AtomicU64,
    pub authorized: AtomicU64,
    pub notifies_clean: AtomicU64,
    pub notifies_not_clean: AtomicU64,
    pub difficulty_changes: AtomicU64,
    pub version_mask_changes: AtomicU64,
    pub extranonce_changes: AtomicU64,
    pub reconnect_requests: AtomicU64,
    pub reconnects: AtomicU64,
    pub disconnects: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub discarded: AtomicU64,
    pub hashes: AtomicU64,
    pub blocks_found: AtomicU64,
    pub blocks_accepted: AtomicU64,
    kinds: [KindCounters; 5],
    last_errors: Vec<Mutex<Option<String>>>,
}

impl Counters {
    pub fn new(connections: usize) -> Self {
        Counters {
            started: Instant::now(),
            open_connections: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            subscribed: AtomicU64::new(0),
            authorized: AtomicU64::new(0),
            notifies_clean: AtomicU64::new(0),
            notifies_not_clean: AtomicU64::new(0),
            difficulty_changes: AtomicU64::new(0),
            version_mask_changes: AtomicU64::new(0),
            extranonce_changes: AtomicU64::new(0),
            reconnect_requests: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            hashes: AtomicU64::new(0),
            blocks_found: AtomicU64::new(0),
            blocks_accepted: AtomicU64::new(0),
            kinds: Default::default(),
            last_errors: (0..connections).map(|_| Mutex::new(None)).collect(),
        }
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn submitted(&self, kind: ShareKind) {
        Self::bump(&self.kinds[kind.index()].submitted);
    }

    pub fn accepted(&self, kind: ShareKind) {
        Self::bump(&self.kinds[kind.index()].accepted);
    }

    pub fn rejected(&self, kind: ShareKind, code: RejectCode) {
        Self::bump(&self.kinds[kind.index()].rejected[code.index()]);
    }

    pub fn unanswered(&self, kind: ShareKind) {
        Self::bump(&self.kinds[kind.index()].unanswered);
    }

    pub fn set_last_error(&self, connection: usize, error: String) {
        if let Some(slot) = self.last_errors.get(connection) {
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
        }
    }

    pub fn snapshot(&self) -> SimMinerStats {
        let load = |c: &AtomicU64| c.load(Relaxed);
        let mut by_kind = [ShareCounts::default(); 5];
        for (counts, kind) in by_kind.iter_mut().zip(&self.kinds) {
            let mut rejected = RejectCounts::default();
            for (r, c) in rejected.0.iter_mut().zip(&kind.rejected) {
                *r = load(c);
            }
            *counts = ShareCounts {
                submitted: load(&kind.submitted),
                accepted: load(&kind.accepted),
                rejected,
                unanswered: load(&kind.unanswered),
            };
        }
        let mut shares = ShareCounts::default();
        for k in &by_kind {
            shares.submitted += k.submitted;
            shares.accepted += k.accepted;
            shares.unanswered += k.unanswered;
            shares.rejected.add(&k.rejected);
        }
        SimMinerStats {
            elapsed: self.started.elapsed(),
            open_connections: load(&self.open_connections),
            connects: load(&self.connects),
            connect_failures: load(&self.connect_failures),
            subscribed: load(&self.subscribed),
            authorized: load(&self.authorized),
            notifies_clean: load(&self.notifies_clean),
            notifies_not_clean: load(&self.notifies_not_clean),
            difficulty_changes: load(&self.difficulty_changes),
            version_mask_changes: load(&self.version_mask_changes),
            extranonce_changes: load(&self.extranonce_changes),
            reconnect_requests: load(&self.reconnect_requests),
            reconnects: load(&self.reconnects),
            disconnects: load(&self.disconnects),
            protocol_errors: load(&self.protocol_errors),
            discarded: load(&self.discarded),
            hashes: load(&self.hashes),
            shares,
            by_kind,
            blocks_found: load(&self.blocks_found),
            blocks_accepted: load(&self.blocks_accepted),
            last_errors: self
                .last_errors
                .iter()
                .map(|e| e.lock().unwrap_or_else(PoisonError::into_inner).clone())
                .collect(),
        }
    }
}

/// A snapshot of the counters.
#[derive(Debug, Clone, PartialEq)]
pub struct SimMinerStats {
    /// Since the miner started.
    pub elapsed: Duration,
    /// Connections open now.
    pub open_connections: u64,
    /// Successful TCP connects (first ones and reconnects).
    pub connects: u64,
    /// Failed connect attempts.
    pub connect_failures: u64,
    /// Successful `mining.subscribe` replies.
    pub subscribed: u64,
    /// Successful `mining.authorize` replies.
    pub authorized: u64,
    /// `mining.notify` with `clean_jobs` true.
    pub notifies_clean: u64,
    /// `mining.notify` with `clean_jobs` false.
    pub notifies_not_clean: u64,
    /// `mining.set_difficulty` messages.
    pub difficulty_changes: u64,
    /// `mining.set_version_mask` messages.
    pub version_mask_changes: u64,
    /// `mining.set_extranonce` messages.
    pub extranonce_changes: u64,
    /// `client.reconnect` messages obeyed.
    pub reconnect_requests: u64,
    /// Connects after a connection's first one, whatever the reason.
    pub reconnects: u64,
    /// Connections lost without being asked to (closed by the pool, I/O error, protocol failure).
    pub disconnects: u64,
    /// Lines from the pool that could not be understood (the connection stays open).
    pub protocol_errors: u64,
    /// Shares found but not submitted: their job was cleaned or the difficulty rose meanwhile.
    pub discarded: u64,
    /// Hashes computed.
    pub hashes: u64,
    /// All submitted shares.
    pub shares: ShareCounts,
    /// Submitted shares by [`ShareKind`] (index with [`SimMinerStats::kind`]).
    pub by_kind: [ShareCounts; 5],
    /// Valid shares submitted that meet the network target.
    pub blocks_found: u64,
    /// Of those, the ones the pool accepted.
    pub blocks_accepted: u64,
    /// The last error seen by each connection.
    pub last_errors: Vec<Option<String>>,
}

impl SimMinerStats {
    /// The counts of one kind of share.
    pub fn kind(&self, kind: ShareKind) -> &ShareCounts {
        &self.by_kind[kind.index()]
    }

    /// Average hashes per second since the start.
    pub fn hashrate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.hashes as f64 / secs
        } else {
            0.0
        }
    }

    /// All `mining.notify` messages.
    pub fn notifies(&self) -> u64 {
        self.notifies_clean + self.notifies_not_clean
    }

    /// The machine-readable summary: `RESULT key=value ...`, one line, no spaces in values.
    pub fn result_line(&self) -> String {
        let mut line = format!(
            "RESULT elapsed_s={:.3} connects={} connect_failures={} subscribed={} authorized={} \
             disconnects={} reconnects={} reconnect_requests={} notifies_clean={} \
             notifies_not_clean={} difficulty_changes={} hashes={} hashrate={:.0} submitted={} \
             accepted={} rejected={} unanswered={}",
            self.elapsed.as_secs_f64(),
            self.connects,
            self.connect_failures,
            self.subscribed,
            self.authorized,
            self.disconnects,
            self.reconnects,
            self.reconnect_requests,
            self.notifies_clean,
            self.notifies_not_clean,
            self.difficulty_changes,
            self.hashes,
            self.hashrate(),
            self.shares.submitted,
            self.shares.accepted,
            self.shares.rejected.total(),
            self.shares.unanswered,
        );
        for code in RejectCode::ALL {
            let _ = write!(line, " {}={}", code.name(), self.shares.rejected.get(code));
        }
        for kind in ShareKind::ALL {
            let k = self.kind(kind);
            if k.submitted != 0 {
                let _ = write!(
                    line,
                    " {0}_submitted={1} {0}_accepted={2}",
                    kind.name(),
                    k.submitted,
                    k.accepted
                );
            }
        }
        let _ = write!(
            line,
            " blocks_found={} blocks_accepted={} protocol_errors={} discarded={}",
            self.blocks_found, self.blocks_accepted, self.protocol_errors, self.discarded
        );
        line
    }
}

/// What [`SimMinerHandle::stop`](super::SimMinerHandle::stop) returns: the final counters, after
/// every connection drained its outstanding submits.
#[derive(Debug, Clone, PartialEq)]
pub struct SimMinerReport {
    /// The final counters.
    pub stats: SimMinerStats,
}

impl SimMinerReport {
    /// The machine-readable summary line.
    pub fn result_line(&self) -> String {
        self.stats.result_line()
    }
}
