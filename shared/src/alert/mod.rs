//! Error-level events of every process → alertcenter.
//!
//! [`alert_layer`] returns a `tracing` layer ([`AlertLayer`]) to install in the process's
//! subscriber, and a handle ([`AlertHandle`]) with its counters. For each ERROR event the layer
//! formats one line and hands an [`Alert`](crate::meta::Alert) to a bounded channel without
//! blocking; a background thread (`AlertSender`) writes them as authenticated frames
//! (`meta::encode_frame`, kind `Alert`) to alertcenter over one TCP connection, reconnecting with
//! a backoff.
//!
//! What ViaBTC's `ut_alert.c` got wrong and this does not: the logging thread never waits for the
//! network (a full channel drops the alert and counts it); a down alertcenter costs a bounded
//! queue, not memory without end; the frames carry an HMAC tag instead of a fixed public prefix.
//!
//! Recursion: the sender's own trouble is logged at WARN, and events whose target is this module
//! are never turned into alerts, so an unreachable alertcenter cannot feed itself alerts.
//!
//! This module is an exception to the crate's "no sockets" rule: it owns one std `TcpStream` on a
//! thread of its own, so that every process (monoio data plane, tokio control plane) can use it.

#![forbid(unsafe_code)]

mod layer;
mod logging;
mod sender;

pub use layer::AlertLayer;
pub use logging::{flush_alerts, init_logging};

use crate::meta::PresharedKey;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Alerts waiting between the layer and the sender thread. Beyond it, alerts are dropped and
/// counted: a logging call must never wait for the network.
pub const CHANNEL_CAPACITY: usize = 1024;

/// Encoded alerts kept by the sender thread while alertcenter is unreachable; the oldest is
/// dropped (and counted) when a new one arrives beyond it.
pub const QUEUE_MAX: usize = 1024;

/// Longest line the layer formats (the `Alert` body's message limit; longer lines are cut).
pub const LINE_BYTES_MAX: usize = 8192;

/// Target prefix of this module's own events: never turned into alerts.
const OWN_TARGET: &str = module_path!();

/// Where alerts go and who sends them.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// alertcenter's `host:port` (resolved again at every connection attempt).
    pub address: String,
    /// The pre-shared key alertcenter checks the frames with.
    pub key: PresharedKey,
    /// This host's name, as alertcenter shows it (cut to 64 bytes on the wire).
    pub host: String,
    /// The process role: `gateway`, `jobmaster`, … (cut to 64 bytes on the wire).
    pub process: String,
}

/// Counters shared by the layer, the sender thread and the handles.
#[derive(Debug, Default)]
struct Counters {
    /// Frames written to alertcenter's socket.
    sent: AtomicU64,
    /// Alerts lost: channel full, queue full while disconnected, sender gone.
    dropped: AtomicU64,
    /// Alerts handed to the channel and neither sent nor dropped yet (for `flush`).
    pending: AtomicU64,
}

impl Counters {
    /// One pending alert is gone (sent or dropped).
    fn settle(&self) {
        // Never below zero: the layer counts an alert as pending before the sender can see it.
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// Counters of one [`AlertLayer`] and a way to wait for its queue to empty.
#[derive(Debug, Clone)]
pub struct AlertHandle {
    counters: Arc<Counters>,
}

impl AlertHandle {
    /// Alerts lost so far (channel full, queue full during an outage).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Alerts written to alertcenter so far.
    pub fn sent(&self) -> u64 {
        self.counters.sent.load(Ordering::Relaxed)
    }

    /// Alerts accepted by the layer and not yet sent or dropped.
    pub fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::Acquire)
    }

    /// Waits until every alert accepted so far is written (or dropped), at most `timeout`.
    /// Returns whether the queue emptied in time. For tests, and before a clean exit.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.pending() == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            // Polling keeps the sender free of any wake-up duty; flushing is rare.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The layer to install, and its handle. Starts the sender thread (`alert-sender`), which lives
/// as long as the layer does (and sends what it still holds once the layer is dropped, if it is
/// connected).
pub fn alert_layer(config: AlertConfig) -> (AlertLayer, AlertHandle) {
    let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL_CAPACITY);
    let counters = Arc::new(Counters::default());
    let layer = AlertLayer::new(
        config.host.clone(),
        config.process.clone(),
        tx,
        Arc::clone(&counters),
    );
    let sender = sender::AlertSender::new(config.address, config.key, rx, Arc::clone(&counters));
    if let Err(e) = std::thread::Builder::new()
        .name("alert-sender".to_owned())
        .spawn(move || sender.run())
    {
        // Without the thread the channel's receiver is gone: every alert is counted as dropped.
        tracing::warn!(error = %e, "cannot start the alert sender thread; alerts will be dropped");
    }
    (layer, AlertHandle { counters })
}

/// Whether `target` belongs to this module (its events never become alerts).
fn is_own_target(target: &str) -> bool {
    target
        .strip_prefix(OWN_TARGET)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_targets_are_recognised_and_lookalikes_are_not() {
        assert!(is_own_target("ironpool_shared::alert"));
        assert!(is_own_target("ironpool_shared::alert::sender"));
        assert!(!is_own_target("ironpool_shared::alerts"));
        assert!(!is_own_target("gateway"));
    }

    #[test]
    fn pending_never_wraps_below_zero() {
        let counters = Counters::default();
        counters.settle();
        assert_eq!(counters.pending.load(Ordering::Relaxed), 0);
    }
}
