//! poolbench: other pools' stratum jobs → an early tip for the jobmaster when another pool moves
//! to a new block before we know of it, and a record of who is first and how long others lag.
//!
//! A pool that starts a job on a new block has seen that block: its job's prevhash is the block's
//! hash and its coinbase's BIP34 height says the block's height. When any watched pool shows a
//! tip above every tip seen so far, poolbench sends a [`TipAnnouncement`] over the relay links and
//! the jobmaster can start empty-block jobs on it at once, free warning from a competitor.
//!
//! Tasks: one per watched pool (`client`: connect, subscribe, authorize, read jobs, reconnect);
//! the relay hub (the jobmaster connects to `[relay] listen`); a drain of what the links send
//! (nothing poolbench needs); the status writer (`status`, every second). The bookkeeping is pure
//! and tested without sockets: `notify` (a job's fields, checked), `leaderboard` (who is first),
//! `spv` (competitors' empty-block time), `bench` (all of it, shared).
//!
//! What changes from ViaBTC's poolbench (reference §8, §15 items 13 and 26): the tip goes over
//! an authenticated link instead of unauthenticated UDP datagrams; the height is read by parsing
//! coinb1, not at a fixed offset assuming a one-byte script length; every field of a job is
//! checked, and a bad one is counted and skipped without dropping the connection; lines are
//! capped at 64 KiB. Not carried over: the `is_self` lag alerts and the CLI (the status file
//! shows both lags and states).
//!
//! [`TipAnnouncement`]: ironpool_shared::relay::TipAnnouncement

pub mod bench;
mod client;
pub mod leaderboard;
pub mod lines;
pub mod message;
pub mod notify;
pub mod spv;
pub mod status;

pub use crate::config::poolbench::{Poolbench, PoolbenchConfig};

use crate::log_throttle::LogThrottle;
use crate::relay_link::{RelayHub, DEFAULT_MAX_BODY};
use bench::{lock, Bench};
use client::{unix_us, PoolTask};
use std::time::Duration;
use tracing::{debug, info, warn};

/// How often the status file is rewritten.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// Watches the pools and serves the relay links until SIGTERM or SIGINT.
///
/// # Errors
///
/// The relay address cannot be bound, or the signal handlers cannot be installed.
pub async fn run(settings: Poolbench) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| format!("cannot install the SIGTERM handler: {e}"))?;
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| format!("cannot install the SIGINT handler: {e}"))?;

    // The jobmaster may send on its links whatever it sends to every relay peer (blocks
    // included): a smaller limit would close the link on the first block.
    let (hub, mut inbound) = RelayHub::new(settings.relay_key.clone(), DEFAULT_MAX_BODY);
    let local = hub
        .listen(&settings.relay_listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.relay_listen))?;
    info!(
        relay = %local,
        pools = settings.pools.len(),
        silence_reconnect_secs = settings.silence_reconnect.as_secs(),
        status_file = ?settings.status_file,
        "poolbench started"
    );

    let mut tasks = Vec::new();
    // poolbench needs nothing its peers send; the channel is emptied so that no link waits.
    tasks.push(tokio::spawn(async move {
        while let Some(message) = inbound.recv().await {
            debug!(peer = %message.peer, message = message.message.name(), "relay message ignored");
        }
    }));

    let bench = Bench::shared(&settings.pools);
    for (index, pool) in settings.pools.iter().enumerate() {
        tasks.push(tokio::spawn(client::watch(PoolTask {
            index,
            pool: pool.clone(),
            bench: bench.clone(),
            hub: hub.clone(),
            silence: settings.silence_reconnect,
        })));
    }
    if let Some(path) = settings.status_file.clone() {
        let bench = bench.clone();
        let hub = hub.clone();
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(STATUS_INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failures = LogThrottle::default();
            loop {
                every.tick().await;
                let document = status::status_json(&lock(&bench), hub.link_count(), unix_us() / 1_000);
                match status::write_status(&path, &document).await {
                    Ok(()) => {
                        if failures.clear() {
                            info!(path = %path.display(), "status file written again");
                        }
                    }
                    Err(e) => {
                        if failures.should_log(&e.to_string()) {
                            warn!(path = %path.display(), error = %e, "cannot write the status file");
                        }
                    }
                }
            }
        }));
    }

    tokio::select! {
        _ = terminate.recv() => info!("SIGTERM: stopping"),
        _ = interrupt.recv() => info!("SIGINT: stopping"),
    }
    for task in &tasks {
        task.abort();
    }
    let b = lock(&bench);
    info!(
        tips_announced = b.tips_announced,
        tips_unheard = b.tips_unheard,
        "poolbench stopped"
    );
    Ok(())
}
