//! alertcenter: error-level events of every process (`ironpool_shared::alert`) → the Redis list
//! `alert:message`, de-duplicated and rate-limited, for the tooling that BLPOPs and mails them.
//!
//! Tasks: the acceptor and one task per sender connection (`server`: authenticated frames →
//! alerts); one limiter task (`limiter`: de-duplication, token bucket, summaries); one Redis
//! writer (`writer`: a bounded outbox, one long-lived connection, retried every second while
//! Redis is down); counters logged every minute.
//!
//! What changes from ViaBTC's alertcenter (reference §2.15, §10, §15.4 items 31–32): frames are
//! authenticated with a pre-shared key instead of a public 20-character prefix; no datagrams (so
//! no "datagram without `\n`" out-of-bounds write); one Redis connection for the process's life,
//! never a blocking call in the event loop; an alert storm is folded by de-duplication and a rate
//! limit instead of reaching the mailboxes one line each.

pub mod config;
pub mod limiter;
mod server;
pub mod writer;

pub use config::{Alertcenter, AlertcenterConfig};
pub use server::{BODY_MAX, CONNECTIONS_MAX};

use ironpool_shared::meta::Alert;
use limiter::{Limiter, LimiterSettings};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use writer::Outbox;

/// Alerts between the connection tasks and the limiter task. When full, connection tasks wait,
/// which slows their senders through TCP; the limiter never waits on Redis, so it stays short.
const ALERT_CHANNEL: usize = 1024;
/// How often the counters are logged.
const STATS_INTERVAL: Duration = Duration::from_secs(60);
/// At shutdown, how long the writer may try to push what is still queued.
const FINAL_FLUSH: Duration = Duration::from_secs(3);

/// What alertcenter has done since it started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Alerts decoded from authenticated frames.
    pub received: AtomicU64,
    /// Frames refused for anything but the tag: bad header, oversize, wrong kind, bad body.
    pub bad_frames: AtomicU64,
    /// Frames whose authentication tag did not match (wrong key, or altered).
    pub bad_tags: AtomicU64,
    /// Alerts folded into an earlier one of the dedup window.
    pub deduplicated: AtomicU64,
    /// Alerts over the rate limit (reported by a summary line instead).
    pub rate_limited: AtomicU64,
    /// Lines dropped from the outbox while Redis was down (oldest first).
    pub dropped: AtomicU64,
    /// Lines RPUSHed to Redis (alerts, repeat counts, summaries).
    pub pushed: AtomicU64,
}

/// The counters at one moment, as plain numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub received: u64,
    pub bad_frames: u64,
    pub bad_tags: u64,
    pub deduplicated: u64,
    pub rate_limited: u64,
    pub dropped: u64,
    pub pushed: u64,
}

impl Counters {
    pub fn snapshot(&self) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            received: get(&self.received),
            bad_frames: get(&self.bad_frames),
            bad_tags: get(&self.bad_tags),
            deduplicated: get(&self.deduplicated),
            rate_limited: get(&self.rate_limited),
            dropped: get(&self.dropped),
            pushed: get(&self.pushed),
        }
    }
}

fn log_counters(counters: &Counters, queued: usize, what: &str) {
    let s = counters.snapshot();
    tracing::info!(
        received = s.received,
        bad_frames = s.bad_frames,
        bad_tags = s.bad_tags,
        deduplicated = s.deduplicated,
        rate_limited = s.rate_limited,
        dropped = s.dropped,
        pushed = s.pushed,
        queued,
        "{what}"
    );
}

/// The line pushed to Redis for an alert: `<host> <process>: <message>`.
pub fn redis_line(alert: &Alert) -> String {
    format!("{} {}: {}", alert.host, alert.process, alert.message)
}

/// This host's name, for alertcenter's own summary lines.
fn own_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Listens on `settings.listen` and serves until SIGTERM or SIGINT.
///
/// # Errors
///
/// The address cannot be bound, or the signal handlers cannot be installed.
pub async fn run(settings: Alertcenter) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| format!("cannot install the SIGTERM handler: {e}"))?;
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| format!("cannot install the SIGINT handler: {e}"))?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
        }
    };
    serve(listener, settings, Arc::new(Counters::default()), shutdown).await
}

/// Serves on `listener` until `shutdown` completes, counting into `counters` (tests pass their
/// own listener and read the counters). At shutdown, stops accepting, closes every connection,
/// and gives the writer `FINAL_FLUSH` (3 s) to push what is queued.
///
/// # Errors
///
/// None at present: every run-time failure (Redis down, bad peers) is handled and counted. The
/// `Result` leaves room for fatal ones.
pub async fn serve(
    listener: TcpListener,
    settings: Alertcenter,
    counters: Arc<Counters>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let local = listener
        .local_addr()
        .map_or_else(|_| settings.listen.to_string(), |a| a.to_string());
    tracing::info!(
        listen = %local,
        redis = ?settings.redis,
        list = %settings.list,
        dedup_window_secs = settings.dedup_window.as_secs(),
        rate_per_minute = settings.rate_per_minute,
        queue_max = settings.queue_max,
        "alertcenter started"
    );

    let outbox = Arc::new(Outbox::new(settings.queue_max));
    let (alerts_tx, alerts_rx) = tokio::sync::mpsc::channel(ALERT_CHANNEL);
    let limiter = Limiter::new(
        LimiterSettings {
            dedup_window: settings.dedup_window,
            rate_per_minute: settings.rate_per_minute,
            own_host: own_host(),
        },
        Instant::now(),
    );
    let limiter_task = tokio::spawn(server::limit(
        alerts_rx,
        limiter,
        Arc::clone(&outbox),
        Arc::clone(&counters),
    ));
    let mut writer_task = {
        let outbox = Arc::clone(&outbox);
        let counters = Arc::clone(&counters);
        let urls = settings.redis.clone();
        let list = settings.list.clone();
        tokio::spawn(async move { writer::run(urls, list, &outbox, &counters).await })
    };
    let stats_task = {
        let outbox = Arc::clone(&outbox);
        let counters = Arc::clone(&counters);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(STATS_INTERVAL);
            every.tick().await; // the first tick is immediate: nothing to report yet
            loop {
                every.tick().await;
                log_counters(&counters, outbox.len(), "alertcenter counters");
            }
        })
    };

    tokio::select! {
        () = server::accept(listener, settings.key.clone(), alerts_tx, Arc::clone(&counters)) => {}
        () = shutdown => {}
    }
    // The acceptor is dropped: its connection tasks are aborted, their senders of the alert
    // channel go with them, and the limiter task ends once it has taken what they sent.
    if let Err(e) = limiter_task.await {
        tracing::warn!(error = %e, "limiter task failed");
    }
    outbox.close();
    match tokio::time::timeout(FINAL_FLUSH, &mut writer_task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "redis writer task failed"),
        Err(_) => {
            writer_task.abort();
            tracing::warn!(
                lost = outbox.len(),
                "redis still unavailable at exit: the queued alerts are lost"
            );
        }
    }
    stats_task.abort();
    log_counters(&counters, outbox.len(), "alertcenter stopped");
    Ok(())
}
