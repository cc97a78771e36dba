//! blockmaster: one per pool site, next to that site's node. It gets every block to every site
//! and to every local relay as fast as the links allow, so a block found (or first seen) at one
//! site is mined on everywhere within a round trip.
//!
//! - In: a block from the local jobmaster (`Block{OwnPool}`), from a local bitpeer
//!   (`Block{Network}`), or a compact block from another site's blockmaster.
//! - Out, once per block (a bounded set of known hashes stops loops in the mesh): `submitblock`
//!   to the local node, the whole block to every local bitpeer (which spread it on P2P), a BIP152
//!   compact block to every other site over the links this side made (as ViaBTC's thin blocks
//!   did), and for blocks from another site a tip announcement, so the local jobmaster mines on
//!   it before the node has checked it.
//! - Compact blocks are rebuilt from a cache of the node's mempool and of recent blocks' keyed by
//!   wtxid; what is missing is asked for on the same link, and a late or unusable answer falls
//!   back to asking for the whole block (ViaBTC lost the block there: §15 item 10 of the
//!   reference).
//!
//! Layout: `relay.rs` handles the messages; `mempool.rs` (cache), `known.rs`, `pending.rs`,
//! `recent.rs` and `links.rs` are its bookkeeping, without I/O; `mempool_poll.rs` fills the cache
//! from the node; `status.rs` is the per-block metrics and the status file.

mod known;
mod links;
mod mempool;
mod mempool_poll;
mod pending;
mod recent;
mod relay;
mod status;

use crate::config::blockmaster::Blockmaster;
use crate::node::NodeClient;
use crate::relay_link::{RelayHub, DEFAULT_MAX_BODY};
use links::{LinkKind, LinkRoles};
use mempool::{MempoolCache, CACHE_ENTRIES_MAX, KEEP_AFTER_MEMPOOL};
use relay::Relay;
use status::Status;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{info, warn};

/// Set to `1`, a blockmaster does not answer `GetBlockTxn`: only for testing the fallback to
/// the whole block.
pub const IGNORE_GETBLOCKTXN_ENV: &str = "IRONPOOL_BLOCKMASTER_IGNORE_GETBLOCKTXN";

/// How often late answers are looked for: the resolution of `missing_timeout_ms`.
const EXPIRY_CHECK: Duration = Duration::from_millis(20);

/// Why the blockmaster could not start.
#[derive(Debug, thiserror::Error)]
pub enum BlockmasterError {
    #[error("relay listen {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("node: {0}")]
    Node(#[from] crate::node::ConfigError),
}

/// Locks `m`, going on with the data of a thread that panicked while holding it (counters and
/// caches stay usable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Now, unix microseconds (0 before 1970).
pub(crate) fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Runs the blockmaster until SIGINT or SIGTERM.
///
/// # Errors
///
/// [`BlockmasterError`] when the relay address cannot be bound or the node's endpoint is
/// unusable; nothing after startup stops it.
pub async fn run(settings: Blockmaster) -> Result<(), BlockmasterError> {
    let (hub, mut inbound) = RelayHub::new(settings.relay_key.clone(), DEFAULT_MAX_BODY);
    // Two clients, two keep-alive connections: a submitblock never waits behind the poller.
    let submit_node = NodeClient::new(settings.node.clone())?;
    let mempool_node = NodeClient::new(settings.node.clone())?;
    let cache = Arc::new(Mutex::new(MempoolCache::new(
        CACHE_ENTRIES_MAX,
        KEEP_AFTER_MEMPOOL,
    )));
    let status = Arc::new(Mutex::new(Status::default()));
    let roles = LinkRoles::new(&settings.bitpeers, &settings.peers);

    hub.listen(&settings.relay_listen)
        .await
        .map_err(|source| BlockmasterError::Listen {
            addr: settings.relay_listen.clone(),
            source,
        })?;
    for addr in settings.peers.iter().chain(&settings.bitpeers) {
        hub.connect(addr.clone());
    }
    tokio::spawn(mempool_poll::poll_mempool(
        mempool_node,
        cache.clone(),
        settings.mempool_poll,
    ));
    if let Some(path) = settings.status_file.clone() {
        tokio::spawn(write_status(
            path,
            hub.clone(),
            roles.clone(),
            status.clone(),
            cache.clone(),
        ));
    }
    let ignore_getblocktxn = std::env::var(IGNORE_GETBLOCKTXN_ENV).is_ok_and(|v| v == "1");
    if ignore_getblocktxn {
        warn!(
            env = IGNORE_GETBLOCKTXN_ENV,
            "fault injection: getblocktxn requests will not be answered"
        );
    }
    info!(
        listen = %settings.relay_listen,
        peers = ?settings.peers,
        bitpeers = ?settings.bitpeers,
        node = submit_node.name(),
        "blockmaster started"
    );

    let mut relay = Relay::new(
        hub,
        submit_node,
        roles,
        cache,
        status,
        settings.missing_timeout,
        ignore_getblocktxn,
    );
    let mut expiry = tokio::time::interval(EXPIRY_CHECK);
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sigterm =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        tokio::select! {
            Some(message) = inbound.recv() => relay.on_message(message, Instant::now()),
            _ = expiry.tick() => relay.expire(Instant::now()),
            _ = tokio::signal::ctrl_c() => break,
            Some(()) = async { match sigterm.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => break,
        }
    }
    info!("blockmaster stopping");
    Ok(())
}

/// Rewrites the status file every second (a temporary file renamed over it, so a reader never
/// sees half a file).
async fn write_status(
    path: PathBuf,
    hub: RelayHub,
    roles: LinkRoles,
    status: Arc<Mutex<Status>>,
    cache: Arc<Mutex<MempoolCache>>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failed = false;
    loop {
        tick.tick().await;
        let mut links: Vec<(LinkKind, String)> = hub
            .links()
            .into_iter()
            .map(|(_, peer)| (roles.kind(&peer), peer))
            .collect();
        links.sort_by(|a, b| a.1.cmp(&b.1));
        let (entries, in_mempool, counters) = {
            let cache = lock(&cache);
            (cache.len(), cache.in_mempool(), cache.counters())
        };
        let json = lock(&status).to_json(&links, entries, in_mempool, counters);
        let tmp = path.with_extension("tmp");
        let written =
            std::fs::write(&tmp, json.to_string()).and_then(|()| std::fs::rename(&tmp, &path));
        match written {
            Ok(()) => failed = false,
            // Once per failure streak: a full disk would otherwise log every second.
            Err(e) if !failed => {
                failed = true;
                warn!(path = %path.display(), error = %e, "cannot write the status file");
            }
            Err(_) => {}
        }
    }
}
