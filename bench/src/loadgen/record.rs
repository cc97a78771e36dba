//! What a load generator counts and times, and how it reports it: one `key=value` line per report,
//! with each histogram serialized (hdrhistogram V2, hex) so that a harness can merge processes.

use super::trigger::display_hex;
use crate::sim_miner::{RejectCode, ShareKind};
use bitcoin::hex::{DisplayHex, FromHex};
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use std::fmt::Write as _;

/// Highest latency a histogram holds, in microseconds (a minute); higher values are clamped.
const HIGHEST_US: u64 = 60_000_000;

/// A latency histogram in microseconds, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("static histogram bounds are valid")
}

/// Records `us` (clamped to the histogram's range).
pub fn record_us(histogram: &mut Histogram<u64>, us: u64) {
    let _ = histogram.record(us.clamp(1, HIGHEST_US));
}

/// A histogram as hex of its V2 serialization.
pub fn histogram_to_hex(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serializing into a Vec cannot fail for a histogram built by new_histogram.
    let _ = V2Serializer::new().serialize(histogram, &mut bytes);
    bytes.to_lower_hex_string()
}

/// The histogram of [`histogram_to_hex`].
pub fn histogram_from_hex(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = Vec::<u8>::from_hex(text).map_err(|e| format!("histogram hex: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram: {e:?}"))
}

/// Shares by kind and outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    pub submitted: u64,
    pub accepted: u64,
    /// Rejected, by code ([`RejectCode::ALL`] order).
    pub rejected: [u64; 7],
    /// The connection ended before the answer came, or more than
    /// [`PENDING_MAX`](super::miner::PENDING_MAX) submits of the miner were waiting.
    pub unanswered: u64,
}

impl KindCounts {
    pub fn rejected_with(&self, code: RejectCode) -> u64 {
        self.rejected[code.index()]
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

/// Everything a load generator process counted since its start (connections) or since the last
/// reset (shares and submit latencies).
#[derive(Debug, Clone)]
pub struct Report {
    pub miners: u64,
    /// Connections opened (the TCP connect succeeded).
    pub connects: u64,
    /// Connects that failed or timed out, handshakes that timed out.
    pub connect_failures: u64,
    /// Authorizations refused by the pool.
    pub authorize_refused: u64,
    /// Authorized sessions the pool closed, that broke, or that ended on a protocol error.
    pub disconnects: u64,
    /// Miners connected and authorized now.
    pub authorized_now: u64,
    /// Lines from the pool that were not valid Stratum.
    pub protocol_errors: u64,
    pub notifies: u64,
    pub clean_notifies: u64,
    /// Shares that also met the network target.
    pub blocks: u64,
    /// Submit turns skipped because the pool's difficulty needs more hashes per share than the
    /// load generator grinds in one turn ([`GRIND_BUDGET`](super::shares::GRIND_BUDGET)).
    pub too_hard: u64,
    /// By [`ShareKind::ALL`] order.
    pub kinds: [KindCounts; 5],
    /// `CLOCK_MONOTONIC` of the first connect attempt and of the latest authorization.
    pub first_connect_ns: u64,
    pub last_authorized_ns: u64,
    /// Connect start → authorize reply, per connection.
    pub connect_to_authorized: Histogram<u64>,
    /// Submit made (just before its write) → reply read, per share.
    pub submit_to_reply: Histogram<u64>,
}

impl Report {
    pub(crate) fn new(miners: usize) -> Self {
        Report {
            miners: miners as u64,
            connects: 0,
            connect_failures: 0,
            authorize_refused: 0,
            disconnects: 0,
            authorized_now: 0,
            protocol_errors: 0,
            notifies: 0,
            clean_notifies: 0,
            blocks: 0,
            too_hard: 0,
            kinds: [KindCounts::default(); 5],
            first_connect_ns: 0,
            last_authorized_ns: 0,
            connect_to_authorized: new_histogram(),
            submit_to_reply: new_histogram(),
        }
    }

    pub fn kind(&self, kind: ShareKind) -> &KindCounts {
        &self.kinds[kind.index()]
    }

    pub(crate) fn kind_mut(&mut self, kind: ShareKind) -> &mut KindCounts {
        &mut self.kinds[kind.index()]
    }

    /// Shares submitted, accepted and rejected over all kinds.
    pub fn totals(&self) -> KindCounts {
        let mut total = KindCounts::default();
        for k in &self.kinds {
            total.submitted += k.submitted;
            total.accepted += k.accepted;
            total.unanswered += k.unanswered;
            for (t, r) in total.rejected.iter_mut().zip(k.rejected) {
                *t += r;
            }
        }
        total
    }

    /// Clears the share counters and the submit histogram (connections are kept).
    pub(crate) fn reset_shares(&mut self) {
        self.kinds = [KindCounts::default(); 5];
        self.blocks = 0;
        self.too_hard = 0;
        self.submit_to_reply.reset();
    }

    /// One line: `REPORT key=value ...`, histograms as `h_connect=<hex> h_submit=<hex>`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "REPORT miners={} connects={} connect_failures={} authorize_refused={} disconnects={} authorized={} protocol_errors={} notifies={} clean_notifies={} blocks={} too_hard={} first_connect_ns={} last_authorized_ns={}",
            self.miners,
            self.connects,
            self.connect_failures,
            self.authorize_refused,
            self.disconnects,
            self.authorized_now,
            self.protocol_errors,
            self.notifies,
            self.clean_notifies,
            self.blocks,
            self.too_hard,
            self.first_connect_ns,
            self.last_authorized_ns
        );
        for kind in ShareKind::ALL {
            let k = self.kind(kind);
            let name = kind.name();
            let _ = write!(
                line,
                " {name}_submitted={} {name}_accepted={} {name}_unanswered={}",
                k.submitted, k.accepted, k.unanswered
            );
            for code in RejectCode::ALL {
                let _ = write!(line, " {name}_{}={}", code.name(), k.rejected_with(code));
            }
        }
        let _ = write!(
            line,
            " connect_p50_us={} connect_p99_us={} submit_p50_us={} submit_p99_us={} h_connect={} h_submit={}",
            self.connect_to_authorized.value_at_quantile(0.5),
            self.connect_to_authorized.value_at_quantile(0.99),
            self.submit_to_reply.value_at_quantile(0.5),
            self.submit_to_reply.value_at_quantile(0.99),
            histogram_to_hex(&self.connect_to_authorized),
            histogram_to_hex(&self.submit_to_reply)
        );
        line
    }
}

/// The connection counters of a [`Report`], cheap to send while connections are awaited.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub authorized_now: u64,
    pub connect_failures: u64,
    pub authorize_refused: u64,
    pub disconnects: u64,
}

/// When this process's miners received the clean `mining.notify` for one block.
#[derive(Debug, Clone)]
pub struct FanoutReport {
    /// The block (internal byte order) whose clean notify was awaited; `None` when none came.
    pub block: Option<[u8; 32]>,
    pub trigger_ns: u64,
    /// Miners authorized when the report was made.
    pub miners: u64,
    /// Miners that received it before the deadline.
    pub received: u64,
    /// Trigger → arrival, per miner, microseconds.
    pub latency: Histogram<u64>,
}

impl FanoutReport {
    /// `FANOUT key=value ...` with the histogram as `h_fanout=<hex>`.
    pub fn line(&self) -> String {
        let block = self
            .block
            .map_or_else(|| "none".to_owned(), |b| display_hex(&b));
        format!(
            "FANOUT block={block} trigger_ns={} miners={} received={} p50_us={} p99_us={} max_us={} h_fanout={}",
            self.trigger_ns,
            self.miners,
            self.received,
            self.latency.value_at_quantile(0.5),
            self.latency.value_at_quantile(0.99),
            self.latency.max(),
            histogram_to_hex(&self.latency)
        )
    }
}

/// Parses `key=value` words of a report line.
pub fn fields(line: &str) -> std::collections::HashMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_the_hex_round_trip_and_merge() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        for us in [10, 20, 30] {
            record_us(&mut a, us);
        }
        record_us(&mut b, 5_000);
        let mut merged = histogram_from_hex(&histogram_to_hex(&a)).expect("a");
        merged
            .add(histogram_from_hex(&histogram_to_hex(&b)).expect("b"))
            .expect("add");
        assert_eq!(merged.len(), 4);
        assert_eq!(merged.min(), 10);
        assert!(merged.max() >= 5_000 && merged.max() < 5_010);
        assert!(histogram_from_hex("zz").is_err());
    }
}
