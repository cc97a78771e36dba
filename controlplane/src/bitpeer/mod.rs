//! bitpeer: a P2P client of many Bitcoin nodes that learns new blocks as early as the network
//! tells anyone, and spreads the pool's blocks to every peer at once.
//!
//! - Learning: `sendheaders` and high-bandwidth `sendcmpct` make peers push new blocks as
//!   headers or compact blocks the moment they have them; `inv` is followed by `getheaders`. A
//!   header that meets its own bits and the bits its height needs becomes a [`TipAnnouncement`]
//!   on every relay link (the jobmaster mines an empty block on it at once).
//! - Spreading: a block from the jobmaster or a blockmaster goes out as a compact block to peers
//!   that asked for them in high-bandwidth mode, in full to the first `broadcast_limit` others,
//!   and as a header announcement to the rest; bitpeer then serves `getdata` (block, witness
//!   block, compact block), `getheaders` and `getblocktxn` for it.
//! - Anything malformed from a peer (bad checksum, oversized or over-counted messages, headers
//!   without their work) ends that connection only; an `inv` flood is ignored beyond a budget,
//!   then the peer is dropped.
//!
//! [`TipAnnouncement`]: ironpool_shared::relay::TipAnnouncement

pub mod chain_view;
mod peer;
mod status;

use crate::config::bitpeer::Bitpeer;
use crate::node::NodeClient;
use crate::relay_link::{RelayHub, DEFAULT_MAX_BODY};
use bitcoin::block::Header;
use bitcoin::consensus::deserialize;
use bitcoin::{Block, BlockHash};
use chain_view::{ChainView, KnownHeader};
use ironpool_shared::chain::ChainRules;
use ironpool_shared::relay::{RelayMessage, TipAnnouncement, TipSource};
use status::Status;
use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Blocks kept for serving `getdata` / `getblocktxn` after a broadcast.
const RECENT_BLOCKS: usize = 8;

/// Why bitpeer could not start.
#[derive(Debug, thiserror::Error)]
pub enum BitpeerError {
    #[error("relay listen {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("node: {0}")]
    Node(#[from] crate::node::ConfigError),
}

/// A command for one peer's connection.
#[derive(Debug, Clone)]
pub(crate) enum PeerCommand {
    /// Spread this block; `full` says whether this peer gets it whole (else compact or an
    /// announcement, by what it asked for).
    Spread { block: Arc<Block>, full: bool },
}

/// A connected peer, as the rest of bitpeer sees it.
pub(crate) struct PeerHandle {
    pub addr: String,
    pub commands: mpsc::Sender<PeerCommand>,
}

/// What every connection shares.
pub(crate) struct Shared {
    pub magic: bitcoin::p2p::Magic,
    pub max_message_bytes: u32,
    pub broadcast_limit: usize,
    pub chain: Mutex<ChainView>,
    pub hub: RelayHub,
    pub peers: Mutex<HashMap<u64, PeerHandle>>,
    pub next_peer: AtomicU64,
    pub recent: Mutex<VecDeque<Arc<Block>>>,
    pub status: Mutex<Status>,
    /// Our version nonce: a connection to ourselves shows it back.
    pub nonce: u64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl Shared {
    /// A new best header from `peer` by `how` (`headers`, `cmpctblock`, `inv`, `block`): tell
    /// every relay link.
    pub fn announce(&self, header: &Header, height: u32, how: &str, peer: &str) {
        let seen_at_us = unix_us();
        let tip = TipAnnouncement {
            source: TipSource::Bitpeer,
            via: format!("{peer} {how}"),
            height,
            hash: bitcoin::hashes::Hash::to_byte_array(header.block_hash()),
            time: header.time,
            header: Some(
                bitcoin::consensus::serialize(header)
                    .try_into()
                    .unwrap_or([0; 80]),
            ),
            next_bits: None,
            seen_at_us,
        };
        let links = self.hub.broadcast(&RelayMessage::Tip(tip));
        info!(block = %header.block_hash(), height, how, peer, links, "new block announced");
        lock(&self.status).block_seen(header.block_hash(), height, how, peer, seen_at_us);
    }

    /// A recent block by hash.
    pub fn recent_block(&self, hash: &BlockHash) -> Option<Arc<Block>> {
        lock(&self.recent)
            .iter()
            .find(|b| b.block_hash() == *hash)
            .cloned()
    }

    /// Spreads `block` to every connected peer.
    pub fn spread(&self, block: Block) {
        let hash = block.block_hash();
        if self.recent_block(&hash).is_some() {
            return;
        }
        let block = Arc::new(block);
        {
            let mut recent = lock(&self.recent);
            if recent.len() == RECENT_BLOCKS {
                recent.pop_front();
            }
            recent.push_back(block.clone());
        }
        let height = block
            .txdata
            .first()
            .and_then(|tx| ironpool_shared::chain::height_from_coinbase(tx).ok());
        if let Some(height) = height {
            let mut chain = lock(&self.chain);
            chain.seed(
                hash,
                KnownHeader {
                    height,
                    bits: block.header.bits,
                    time: block.header.time,
                },
            );
        }
        let peers = lock(&self.peers);
        let mut sent = 0;
        for (i, peer) in peers.values().enumerate() {
            let command = PeerCommand::Spread {
                block: block.clone(),
                full: i < self.broadcast_limit,
            };
            if peer.commands.try_send(command).is_ok() {
                sent += 1;
            } else {
                warn!(peer = %peer.addr, block = %hash, "peer's queue is full; block not sent to it");
            }
        }
        info!(block = %hash, ?height, peers = sent, "block spread to peers");
        lock(&self.status).block_spread(hash, sent);
    }
}

/// Seeds the known headers from the node's best block (and its parent), so the first header a
/// peer announces has a height.
async fn seed_from_node(node: &NodeClient, shared: &Shared) {
    let result = async {
        let best = node
            .get_best_block_hash()
            .await
            .map_err(|e| e.chain().to_string())?;
        let mut hash = best;
        for _ in 0..2 {
            let header = node
                .get_block_header(&hash)
                .await
                .map_err(|e| e.chain().to_string())?;
            let height = header.get("height").and_then(|v| v.as_u64());
            let time = header.get("time").and_then(|v| v.as_u64());
            let bits = header
                .get("bits")
                .and_then(|v| v.as_str())
                .and_then(|b| u32::from_str_radix(b, 16).ok());
            let (Some(height), Some(time), Some(bits), Ok(parsed)) =
                (height, time, bits, BlockHash::from_str(&hash))
            else {
                return Err(format!("getblockheader {hash}: unusable answer {header}"));
            };
            lock(&shared.chain).seed(
                parsed,
                KnownHeader {
                    height: height as u32,
                    bits: bitcoin::CompactTarget::from_consensus(bits),
                    time: time as u32,
                },
            );
            match header.get("previousblockhash").and_then(|v| v.as_str()) {
                Some(prev) => hash = prev.to_owned(),
                None => break,
            }
        }
        Ok::<(), String>(())
    }
    .await;
    if let Err(e) = result {
        warn!(node = node.name(), error = %e, "cannot seed headers from the node");
    }
}

/// Runs bitpeer until SIGINT or SIGTERM.
pub async fn run(settings: Bitpeer) -> Result<(), BitpeerError> {
    let rules = ChainRules::for_network(settings.network);
    let (hub, mut inbound) = RelayHub::new(
        settings.relay_key.clone(),
        DEFAULT_MAX_BODY.max(settings.max_message_bytes),
    );
    let shared = Arc::new(Shared {
        magic: settings.magic,
        max_message_bytes: settings.max_message_bytes,
        broadcast_limit: settings.broadcast_limit,
        chain: Mutex::new(ChainView::new(rules)),
        hub: hub.clone(),
        peers: Mutex::new(HashMap::new()),
        next_peer: AtomicU64::new(1),
        recent: Mutex::new(VecDeque::new()),
        status: Mutex::new(Status::default()),
        nonce: ironpool_shared::random::unique_u64(),
    });
    let node = settings.node.clone().map(NodeClient::new).transpose()?;
    if let Some(node) = &node {
        seed_from_node(node, &shared).await;
        // The node's tip keeps the view placed even when no peer announces (a quiet chain).
        let (node, shared) = (node.clone(), shared.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                seed_from_node(&node, &shared).await;
            }
        });
    }
    hub.listen(&settings.relay_listen)
        .await
        .map_err(|source| BitpeerError::Listen {
            addr: settings.relay_listen.clone(),
            source,
        })?;
    for addr in &settings.peers {
        tokio::spawn(peer::keep_connected(
            addr.clone(),
            shared.clone(),
            settings.reconnect,
        ));
    }
    if let Some(path) = settings.status_file.clone() {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let peers: Vec<String> = lock(&shared.peers)
                    .values()
                    .map(|p| p.addr.clone())
                    .collect();
                let json = lock(&shared.status).to_json(&peers, shared.hub.link_count());
                let tmp = path.with_extension("tmp");
                if std::fs::write(&tmp, json.to_string())
                    .and_then(|()| std::fs::rename(&tmp, &path))
                    .is_err()
                {
                    warn!(path = %path.display(), "cannot write the status file");
                }
            }
        });
    }
    let mut sigterm =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        tokio::select! {
            Some(message) = inbound.recv() => match message.message {
                RelayMessage::Block { origin, bytes } => match deserialize::<Block>(&bytes) {
                    Ok(block) => {
                        info!(peer = %message.peer, ?origin, block = %block.block_hash(), "block to spread");
                        shared.spread(block);
                    }
                    Err(e) => warn!(peer = %message.peer, error = %e, bytes = bytes.len(), "relayed block does not decode; dropped"),
                },
                other => tracing::debug!(peer = %message.peer, message = other.name(), "relay message not for bitpeer; ignored"),
            },
            _ = tokio::signal::ctrl_c() => break,
            Some(()) = async { match sigterm.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => break,
        }
    }
    info!("bitpeer stopping");
    Ok(())
}
