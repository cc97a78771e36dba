//! The metarelay: store-and-forward of the accounting from a remote site to the metawriter.
//!
//! It takes this host's share rings and batches from other relays or sites (the same
//! authenticated TCP protocol as the metawriter), fsyncs them to its own spool before it commits
//! a ring or acknowledges a sender, and forwards them upstream one at a time, in order, marking
//! each done only when the metawriter acknowledged it as durable there. Batches received from
//! others keep their original (origin, seq) id, so the metawriter recognises one that reaches it
//! twice (through two relays, or after a lost acknowledgement); ring reads get this relay's
//! origin id (its spool's id) and, as seq, their number among the spool's ring inputs (no gaps). A batch the metawriter refuses for good (unknown
//! coin, say) is written to `<spool_dir>/rejected/` for the operator, never dropped.

use crate::config::meta::MetarelaySettings;
use crate::meta_link::ring_intake::{self, RingIntake};
use crate::meta_link::{listen, BatchClient, LinkCounters, Reply, StoreRequest};
use crate::meta_spool::{Input, Source, Spool, Stored, COMPACT_BYTES_DEFAULT};
use crate::metawriter::store::check_records;
use crate::metawriter::Signals;
use ironpool_shared::meta::{AckOutcome, Batch, NackCode, PresharedKey};
use ironpool_shared::ring::share_ring_path;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// Inputs held in memory for forwarding; beyond, they are read back from the spool.
const QUEUE_MAX: usize = 10_000;

struct Relay {
    spool: Spool,
    queue: VecDeque<Input>,
    /// Inputs were stored but not queued (the queue was full): reload from the spool.
    spilled: bool,
}

struct Shared {
    relay: Mutex<Relay>,
    wake: Condvar,
    forwarded: AtomicU64,
    rejected: AtomicU64,
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Relay> {
    shared.relay.lock().unwrap_or_else(PoisonError::into_inner)
}

fn store(shared: &Shared, source: Source, batch: Batch) -> Result<AckOutcome, String> {
    let mut relay = lock(shared);
    let (stored, input) = relay.spool.store(source, batch)?;
    match (stored, input) {
        (Stored::New { .. }, Some(input)) => {
            if relay.queue.len() < QUEUE_MAX && !relay.spilled {
                relay.queue.push_back(input);
            } else {
                relay.spilled = true;
            }
            shared.wake.notify_one();
            Ok(AckOutcome::Stored)
        }
        _ => Ok(AckOutcome::Duplicate),
    }
}

/// Runs the metarelay until SIGTERM or SIGINT.
///
/// # Errors
///
/// The spool cannot be opened or the listener cannot bind.
pub async fn run(settings: MetarelaySettings) -> Result<(), String> {
    let config = settings.config.clone();
    let (spool, pending) = Spool::open(&config.spool_dir, COMPACT_BYTES_DEFAULT)?;
    // The spool's id is the origin of this relay's ring reads: it lives (and dies) with them.
    let origin = spool.state.spool_id;
    info!(spool = %config.spool_dir.display(), pending_inputs = pending.len(), origin, "metarelay spool opened");
    let spilled = pending.len() > QUEUE_MAX;
    let shared = Arc::new(Shared {
        relay: Mutex::new(Relay {
            spool,
            queue: pending.into_iter().take(QUEUE_MAX).collect(),
            spilled,
        }),
        wake: Condvar::new(),
        forwarded: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
    });
    let links = Arc::new(LinkCounters::default());
    let stop = Arc::new(AtomicBool::new(false));
    if let Some((address, key)) = settings.listen.clone() {
        let max = config
            .listen
            .as_ref()
            .map_or(8 << 20, |l| l.max_batch_bytes);
        let receiver = listen(address, key, max, links.clone()).await?;
        tokio::spawn(store_requests(receiver, shared.clone()));
    }
    if let Some(local) = &config.local {
        let ring_shared = shared.clone();
        let intake = RingIntake {
            coin: local.coin.clone(),
            host: local.host.clone(),
            batch_records: config.batch_records,
            store: Arc::new(move |source: Source, batch| {
                store(&ring_shared, source, batch).map(|_| ())
            }),
            counters: links.clone(),
            stop: stop.clone(),
        };
        for shard in &local.shards {
            ring_intake::spawn(share_ring_path(&local.ring_dir, *shard), intake.clone())?;
        }
    }
    {
        let (shared, stop) = (shared.clone(), stop.clone());
        let upstream = config.upstream.clone();
        let key = settings.upstream_key.clone();
        let rejected_dir = config.spool_dir.join("rejected");
        std::thread::Builder::new()
            .name("forwarder".into())
            .spawn(move || forward(&shared, &upstream, &key, origin, &rejected_dir, &stop))
            .map_err(|e| format!("cannot start the forwarder: {e}"))?;
    }
    let mut signals = Signals::new()?;
    signals.wait().await;
    stop.store(true, Ordering::Relaxed);
    shared.wake.notify_all();
    let pending = lock(&shared).queue.len();
    info!(
        forwarded = shared.forwarded.load(Ordering::Relaxed),
        rejected = shared.rejected.load(Ordering::Relaxed),
        queued = pending,
        "metarelay stopped; what is pending is in the spool"
    );
    Ok(())
}

async fn store_requests(mut requests: mpsc::Receiver<StoreRequest>, shared: Arc<Shared>) {
    while let Some((batch, answer)) = requests.recv().await {
        let shared = shared.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            check_records(&batch)?;
            store(&shared, Source::Remote, batch).map_err(|e| (NackCode::Unavailable, e))
        })
        .await
        .unwrap_or_else(|e| Err((NackCode::Unavailable, e.to_string())));
        let _ = answer.send(outcome);
    }
}

/// The next input to forward, waiting for one.
fn next_input(shared: &Shared, stop: &AtomicBool) -> Option<Input> {
    let mut relay = lock(shared);
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        if relay.queue.is_empty() && relay.spilled {
            match relay.spool.read_pending() {
                Ok(pending) => {
                    relay.spilled = pending.len() > QUEUE_MAX;
                    relay.queue = pending.into_iter().take(QUEUE_MAX).collect();
                }
                Err(e) => error!(error = %e, "spool cannot be read back; retrying"),
            }
        }
        if let Some(input) = relay.queue.front() {
            return Some(input.clone());
        }
        relay = shared
            .wake
            .wait_timeout(relay, Duration::from_millis(500))
            .map(|(guard, _)| guard)
            .unwrap_or_else(|e| e.into_inner().0);
    }
}

fn done(shared: &Shared, entry_seq: u64) {
    let mut relay = lock(shared);
    if let Err(e) = relay.spool.done(0, entry_seq) {
        // Not marked: it is forwarded again after a restart, and the metawriter sees a duplicate.
        error!(error = %e, entry_seq, "spool mark failed");
    }
    if relay
        .queue
        .front()
        .is_some_and(|i| i.entry_seq == entry_seq)
    {
        relay.queue.pop_front();
    }
    if relay.queue.is_empty() {
        if let Err(e) = relay.spool.compact_if_large() {
            warn!(error = %e, "spool compaction failed");
        }
    }
}

fn keep_rejected(dir: &PathBuf, input: &Input, batch: &Batch, reason: &str) {
    let path = dir.join(format!("{}.batch", input.entry_seq));
    match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, batch.encode())) {
        Ok(()) => {
            error!(entry = input.entry_seq, %reason, kept = %path.display(), "upstream refused a batch for good; kept aside")
        }
        Err(e) => {
            error!(entry = input.entry_seq, %reason, error = %e, "upstream refused a batch and it could not be kept aside")
        }
    }
}

fn forward(
    shared: &Shared,
    upstream: &str,
    key: &PresharedKey,
    origin: u64,
    rejected: &PathBuf,
    stop: &AtomicBool,
) {
    let mut client: Option<BatchClient> = None;
    let mut backoff = Duration::from_millis(200);
    let mut reported = false;
    while let Some(input) = next_input(shared, stop) {
        let batch = match input.source {
            Source::Remote => input.batch.clone(),
            Source::Ring { own_seq, .. } => Batch {
                origin,
                seq: own_seq,
                ..input.batch.clone()
            },
        };
        if client.is_none() {
            match BatchClient::connect(upstream, key.clone(), Duration::from_secs(10)) {
                Ok(c) => {
                    info!(upstream, "connected upstream");
                    client = Some(c);
                    reported = false;
                    backoff = Duration::from_millis(200);
                }
                Err(e) => {
                    if !reported {
                        warn!(upstream, error = %e, "upstream unreachable; batches wait in the spool");
                        reported = true;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
        }
        let Some(link) = client.as_mut() else {
            continue;
        };
        match link.send(&batch) {
            Ok(Reply::Ack(ack)) if ack.origin == batch.origin && ack.seq == batch.seq => {
                shared.forwarded.fetch_add(1, Ordering::Relaxed);
                done(shared, input.entry_seq);
            }
            // One batch is in flight, so a refusal that could not name it (origin 0: the frame
            // was refused before its body was read, as oversize or malformed) is about it too.
            // A wrong key is this relay's configuration, not the batch's fault: retried.
            Ok(Reply::Nack(nack))
                if !nack.code.is_retryable()
                    && nack.code != NackCode::Authentication
                    && ((nack.origin == batch.origin && nack.seq == batch.seq)
                        || (nack.origin, nack.seq) == (0, 0)) =>
            {
                shared.rejected.fetch_add(1, Ordering::Relaxed);
                keep_rejected(rejected, &input, &batch, &nack.reason);
                done(shared, input.entry_seq);
            }
            Ok(other) => {
                warn!(answer = ?other, "upstream answer does not settle the batch; sending it again");
                client = None;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                warn!(upstream, error = %e, "upstream link failed; reconnecting");
                client = None;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
