//! The metawriter: shares, rejections and events from this host's share rings and from other
//! hosts (metarelays, authenticated TCP) → a durable spool → per-minute aggregates → Redis (one
//! server or a Cluster), in the user's key format, exactly once.
//!
//! - Inputs are fsynced to the spool before the ring is committed or the sender acknowledged;
//!   a replayed input is recognised there ([`crate::meta_spool`]).
//! - Every `flush_interval` the inputs stored since the last flush become one batch. The batch
//!   is marked as started in the spool, then applied by script calls that each record a marker
//!   in Redis atomically with their writes; only when all are done is the batch marked done. A
//!   crash or a Redis outage at any point leads to the same batch being applied again, and the
//!   markers skip what was written ([`ironpool_shared::meta`]).
//! - Status (counters, pending records, spool size) goes to `<spool_dir>/status.json` every
//!   second.

pub mod apply;
pub mod redis_target;
mod retention;
pub mod store;

pub use apply::Applied;
pub use retention::Swept;
pub use store::check_batch;

use crate::config::meta::MetawriterSettings;
use crate::meta_link::ring_intake::{self, RingIntake};
use crate::meta_link::{listen, LinkCounters, StoreRequest};
use crate::meta_spool::{Source, Spool, COMPACT_BYTES_DEFAULT};
use ironpool_shared::meta::minute_of;
use ironpool_shared::ring::share_ring_path;
use redis_target::RedisTarget;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use store::Store;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// Progress of the Redis side, for the status file.
#[derive(Debug, Default)]
struct WriterCounters {
    batches_applied: AtomicU64,
    records_applied: AtomicU64,
    calls_applied: AtomicU64,
    calls_skipped: AtomicU64,
    requests: AtomicU64,
    apply_failures: AtomicU64,
    fields_removed: AtomicU64,
    redis_up: AtomicBool,
}

type SharedStore = Arc<Mutex<Store>>;

fn lock(store: &SharedStore) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Runs the metawriter until SIGTERM or SIGINT.
///
/// # Errors
///
/// The spool cannot be opened or the listener cannot bind.
pub async fn run(settings: MetawriterSettings) -> Result<(), String> {
    let config = settings.config.clone();
    let (spool, pending) = Spool::open(&config.spool_dir, COMPACT_BYTES_DEFAULT)?;
    // Markers are per writer and per spool: a new or lost spool starts its batch numbers again
    // and must never meet the markers of the old one (they would skip its batches).
    let marker_owner = format!("{}-{:016x}", config.writer_id, spool.state.spool_id);
    info!(
        spool = %config.spool_dir.display(),
        pending_inputs = pending.len(),
        in_flight = ?spool.state.in_flight,
        "spool opened"
    );
    let store: SharedStore = Arc::new(Mutex::new(Store::new(
        spool,
        pending,
        settings.coins.clone(),
    )));
    let links = Arc::new(LinkCounters::default());
    let writer = Arc::new(WriterCounters::default());
    let stop = Arc::new(AtomicBool::new(false));

    if let Some((address, key)) = settings.listen.clone() {
        let max = config
            .listen
            .as_ref()
            .map_or(8 << 20, |l| l.max_batch_bytes);
        let receiver = listen(address, key, max, links.clone()).await?;
        tokio::spawn(store_requests(receiver, store.clone()));
    }
    let mut threads = Vec::new();
    if let Some(local) = &config.local {
        let ring_store = store.clone();
        let intake = RingIntake {
            coin: local.coin.clone(),
            host: local.host.clone(),
            batch_records: 4_096,
            store: Arc::new(move |source: Source, batch| {
                lock(&ring_store).store(source, batch).map(|_| ())
            }),
            counters: links.clone(),
            stop: stop.clone(),
        };
        for shard in &local.shards {
            threads.push(ring_intake::spawn(
                share_ring_path(&local.ring_dir, *shard),
                intake.clone(),
            )?);
        }
    }

    let script = apply::apply_script();
    let target = connect(
        &config.redis.urls,
        Duration::from_millis(config.redis.timeout_ms),
        &stop,
    )
    .await;
    let Some(target) = target else {
        return Ok(());
    };
    writer.redis_up.store(true, Ordering::Relaxed);
    if config.retention.max_age_secs > 0 {
        tokio::spawn(retention_loop(
            target.clone(),
            config.retention.max_age_secs,
            Duration::from_secs(config.retention.sweep_interval_secs),
            writer.clone(),
        ));
    }
    tokio::spawn(status_loop(
        config.spool_dir.join("status.json"),
        store.clone(),
        links.clone(),
        writer.clone(),
    ));

    let mut signals = Signals::new()?;
    let mut tick = tokio::time::interval(settings.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut outage: Option<Instant> = None;
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            () = signals.wait() => true,
        };
        if stopping {
            stop.store(true, Ordering::Relaxed);
            for thread in threads.drain(..) {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
        }
        // The batch in flight (after a crash or an outage), then the next one.
        for _ in 0..2 {
            match flush_once(
                &store,
                &target,
                &script,
                &marker_owner,
                config.redis.pipeline,
                &writer,
            )
            .await
            {
                Ok(true) => {
                    if let Some(since) = outage.take() {
                        info!(
                            down_secs = since.elapsed().as_secs(),
                            "Redis writes resumed"
                        );
                    }
                    writer.redis_up.store(true, Ordering::Relaxed);
                }
                Ok(false) => break,
                Err(e) => {
                    writer.apply_failures.fetch_add(1, Ordering::Relaxed);
                    writer.redis_up.store(false, Ordering::Relaxed);
                    if outage.is_none() {
                        error!(error = %e, "Redis write failed; the batch stays in the spool and is retried every flush");
                        outage = Some(Instant::now());
                    }
                    break;
                }
            }
        }
        if stopping {
            let pending = lock(&store).pending_records();
            info!(
                pending_records = pending,
                "metawriter stopped; what is pending is in the spool"
            );
            return Ok(());
        }
    }
}

/// Connects, retrying every second until it works or the process is told to stop.
async fn connect(urls: &[String], timeout: Duration, stop: &AtomicBool) -> Option<RedisTarget> {
    let mut reported = false;
    let mut signals = Signals::new().ok()?;
    loop {
        match RedisTarget::connect(urls, timeout).await {
            Ok(target) => return Some(target),
            Err(e) => {
                if !reported {
                    warn!(error = %e, ?urls, "Redis not reachable; inputs are spooled meanwhile");
                    reported = true;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = signals.wait() => {
                stop.store(true, Ordering::Relaxed);
                return None;
            }
        }
    }
}

/// Applies one batch; `Ok(false)` when there was nothing to write.
async fn flush_once(
    store: &SharedStore,
    target: &RedisTarget,
    script: &redis::Script,
    writer_id: &str,
    pipeline: usize,
    counters: &WriterCounters,
) -> Result<bool, String> {
    let taken = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || lock(&store).take_batch())
            .await
            .map_err(|e| e.to_string())??
    };
    let Some(batch) = taken else {
        return Ok(false);
    };
    let applied = apply::apply(
        target,
        script,
        writer_id,
        batch.batch_seq,
        &batch.batch,
        pipeline,
    )
    .await?;
    {
        let store = store.clone();
        let (seq, upto) = (batch.batch_seq, batch.upto);
        tokio::task::spawn_blocking(move || lock(&store).batch_done(seq, upto))
            .await
            .map_err(|e| e.to_string())??;
    }
    counters.batches_applied.fetch_add(1, Ordering::Relaxed);
    counters
        .records_applied
        .fetch_add(batch.records, Ordering::Relaxed);
    counters
        .calls_applied
        .fetch_add(applied.calls_applied, Ordering::Relaxed);
    counters
        .calls_skipped
        .fetch_add(applied.calls_skipped, Ordering::Relaxed);
    counters
        .requests
        .fetch_add(applied.requests, Ordering::Relaxed);
    if applied.calls_skipped > 0 {
        info!(
            batch = batch.batch_seq,
            skipped = applied.calls_skipped,
            applied = applied.calls_applied,
            "batch replayed: parts already in Redis were skipped"
        );
    }
    Ok(true)
}

/// Checks and stores batches from the links, one at a time (the spool is one file).
async fn store_requests(mut requests: mpsc::Receiver<StoreRequest>, store: SharedStore) {
    while let Some((batch, answer)) = requests.recv().await {
        let store = store.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut store = lock(&store);
            store::check_batch(store.coins(), &batch)?;
            store
                .store(Source::Remote, batch)
                .map_err(|e| (ironpool_shared::meta::NackCode::Unavailable, e))
        })
        .await
        .unwrap_or_else(|e| Err((ironpool_shared::meta::NackCode::Unavailable, e.to_string())));
        if let Err((_, reason)) = &outcome {
            if reason.starts_with("spool") {
                error!(%reason, "batch could not be stored");
            }
        }
        let _ = answer.send(outcome);
    }
}

async fn retention_loop(
    target: RedisTarget,
    max_age_secs: u64,
    every: Duration,
    counters: Arc<WriterCounters>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let cutoff = minute_of(unix_ms()).saturating_sub(max_age_secs);
        match retention::sweep(&target, cutoff).await {
            Ok(swept) => {
                counters
                    .fields_removed
                    .fetch_add(swept.fields_removed, Ordering::Relaxed);
                info!(
                    keys = swept.keys,
                    removed = swept.fields_removed,
                    cutoff,
                    "retention sweep"
                );
            }
            Err(e) => warn!(error = %e, "retention sweep failed; the next one starts over"),
        }
    }
}

async fn status_loop(
    path: std::path::PathBuf,
    store: SharedStore,
    links: Arc<LinkCounters>,
    writer: Arc<WriterCounters>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let temp = path.with_extension("tmp");
    loop {
        tick.tick().await;
        let (pending, spool_bytes) = {
            let store = lock(&store);
            (store.pending_records(), store.spool_bytes())
        };
        let mut status = serde_json::Map::new();
        for (name, value) in links.snapshot() {
            status.insert(name.to_owned(), value.into());
        }
        let get = |c: &AtomicU64| serde_json::Value::from(c.load(Ordering::Relaxed));
        status.insert("batches_applied".into(), get(&writer.batches_applied));
        status.insert("records_applied".into(), get(&writer.records_applied));
        status.insert("calls_applied".into(), get(&writer.calls_applied));
        status.insert("calls_skipped".into(), get(&writer.calls_skipped));
        status.insert("requests".into(), get(&writer.requests));
        status.insert("apply_failures".into(), get(&writer.apply_failures));
        status.insert("fields_removed".into(), get(&writer.fields_removed));
        status.insert(
            "redis_up".into(),
            writer.redis_up.load(Ordering::Relaxed).into(),
        );
        status.insert("pending_records".into(), pending.into());
        status.insert("spool_bytes".into(), spool_bytes.into());
        let text = serde_json::Value::Object(status).to_string();
        if std::fs::write(&temp, text)
            .and_then(|()| std::fs::rename(&temp, &path))
            .is_err()
        {
            // The status file is for watching; the spool is what matters.
        }
    }
}

/// SIGTERM or SIGINT.
pub(crate) struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn new() -> Result<Signals, String> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?,
            int: signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?,
        })
    }

    pub(crate) async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
