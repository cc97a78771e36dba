//! What the blockmaster does with each relay message: blocks are handled once and handed on,
//! compact blocks are rebuilt (asking back for what is missing, then for the whole block), and
//! other sites' requests are answered from the recent blocks.
//!
//! Every path ends in an answer or a log line: ViaBTC's responder sent nothing when it missed a
//! transaction and its requester just lost the block (§15 item 10 of the reference). Here a
//! request for an unknown block is logged, and the requester falls back to the whole block when
//! the transactions do not come in time or do not fit.

use super::known::{KnownBlocks, KNOWN_BLOCKS_MAX};
use super::links::{LinkKind, LinkRoles};
use super::mempool::{MempoolCache, Presence};
use super::pending::{InsertRefused, PendingTable, TakeRefused, PENDING_MAX};
use super::recent::{RecentBlock, RecentBlocks};
use super::status::{origin_name, BlockRecord, Status};
use super::{lock, unix_us};
use crate::node::NodeClient;
use crate::relay_link::{Inbound, LinkId, RelayHub};
use bitcoin::bip152::{BlockTransactions, BlockTransactionsRequest, HeaderAndShortIds, ShortId};
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::hex::DisplayHex;
use bitcoin::{Block, BlockHash};
use ironpool_shared::chain::height_from_coinbase;
use ironpool_shared::p2p::{
    answer_block_txn_request, compact_block, start_reconstruction, CompactVersion, Reconstruction,
};
use ironpool_shared::relay::{BlockOrigin, RelayMessage, TipAnnouncement, TipSource};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// Compact block version between blockmasters: short ids from wtxids, transactions with their
/// witnesses, so the mempool cache (keyed by wtxid) and the blocks agree. On a chain without
/// segwit the wtxid is the txid.
pub const VERSION: CompactVersion = CompactVersion::Wtxid;

/// How long the whole block may take once asked for; after it the block is lost on this path
/// (the node may still get it from its P2P peers).
pub const FULL_BLOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// How a block reached this blockmaster, gathered along the way for its status record.
#[derive(Debug, Clone)]
struct Arrival {
    /// The origin the first message carried.
    origin: BlockOrigin,
    arrived_as: &'static str,
    link: LinkId,
    peer: String,
    kind: LinkKind,
    /// When the first message was taken off the link.
    received: Instant,
    prefilled: usize,
    from_cache: usize,
    missing: usize,
    round_trips: u32,
    round_trip_ms: Option<f64>,
    fallback: Option<String>,
    /// Came from another site: announced as a tip to the local jobmaster.
    from_other_site: bool,
}

/// Where a waiting compact block stands.
#[derive(Debug)]
enum Stage {
    /// `GetBlockTxn` sent at `sent`. Boxed so that a `FullBlock` entry does not take the room
    /// of a reconstruction.
    Transactions {
        reconstruction: Box<Reconstruction>,
        sent: Instant,
    },
    /// `GetBlock` sent.
    FullBlock,
}

/// A compact block waiting for an answer.
#[derive(Debug)]
struct Waiting {
    arrival: Arrival,
    stage: Stage,
}

/// The blockmaster's state, owned by its message loop.
pub(crate) struct Relay {
    hub: RelayHub,
    /// For `submitblock` only (the mempool poller has its own connection).
    node: NodeClient,
    roles: LinkRoles,
    known: KnownBlocks,
    recent: RecentBlocks,
    pending: PendingTable<Waiting>,
    mempool: Arc<Mutex<MempoolCache>>,
    status: Arc<Mutex<Status>>,
    missing_timeout: Duration,
    /// Fault injection for the fallback test: `GetBlockTxn` is not answered.
    ignore_getblocktxn: bool,
}

impl Relay {
    /// The state of a blockmaster that has handled nothing yet.
    pub fn new(
        hub: RelayHub,
        node: NodeClient,
        roles: LinkRoles,
        mempool: Arc<Mutex<MempoolCache>>,
        status: Arc<Mutex<Status>>,
        missing_timeout: Duration,
        ignore_getblocktxn: bool,
    ) -> Relay {
        Relay {
            hub,
            node,
            roles,
            known: KnownBlocks::new(KNOWN_BLOCKS_MAX),
            recent: RecentBlocks::default(),
            pending: PendingTable::new(PENDING_MAX),
            mempool,
            status,
            missing_timeout,
            ignore_getblocktxn,
        }
    }

    /// Handles one message, taken off its link at `received`.
    pub fn on_message(&mut self, inbound: Inbound, received: Instant) {
        let Inbound {
            link,
            peer,
            message,
        } = inbound;
        match message {
            RelayMessage::Block { origin, bytes } => {
                self.on_block(link, peer, origin, bytes, received)
            }
            RelayMessage::CompactBlock { origin, bytes } => {
                self.on_compact(link, peer, origin, &bytes, received)
            }
            RelayMessage::GetBlockTxn(bytes) => self.on_get_block_txn(link, &peer, &bytes),
            RelayMessage::GetBlockTxnReply(bytes) => {
                self.on_block_txn(link, &peer, &bytes, received)
            }
            RelayMessage::GetBlock(hash) => {
                self.on_get_block(link, &peer, BlockHash::from_byte_array(hash))
            }
            RelayMessage::Tip(_) => {
                debug!(%peer, "tip announcement is for the jobmaster; ignored")
            }
        }
        lock(&self.status).pending_reconstructions = self.pending.len();
    }

    fn bad_message(&self, peer: &str, what: &str, error: &dyn std::fmt::Display) {
        lock(&self.status).counters.bad_messages += 1;
        warn!(%peer, message = what, %error, "relay message unusable; ignored");
    }

    /// A whole block: from the jobmaster, a bitpeer, or another site (its answer to our
    /// `GetBlock`, or a block too large for a compact block).
    fn on_block(
        &mut self,
        link: LinkId,
        peer: String,
        origin: BlockOrigin,
        bytes: Vec<u8>,
        received: Instant,
    ) {
        let block: Block = match deserialize(&bytes) {
            Ok(block) => block,
            Err(e) => return self.bad_message(&peer, "block", &e),
        };
        // The header is what the hash names; transactions that do not hash to its merkle root
        // would make us hand on, and remember as handled, a block that is not the one named.
        if !block.check_merkle_root() {
            let hash = block.block_hash();
            return self.bad_message(
                &peer,
                "block",
                &format!("transactions of {hash} do not match its merkle root"),
            );
        }
        let hash = block.block_hash();
        if self.known.contains(&hash) {
            lock(&self.status).counters.already_known += 1;
            debug!(%peer, block = %hash, "block already handled");
            return;
        }
        let arrival = match self.pending.take(&hash) {
            // The answer to our `GetBlock` (or the block from another path while we waited): the
            // record keeps what the compact block told.
            Some(entry) if entry.link == link => {
                let mut arrival = entry.state.arrival;
                arrival.from_other_site = true;
                arrival
            }
            _ => Arrival {
                origin,
                arrived_as: "block",
                link,
                kind: self.roles.kind(&peer),
                peer,
                received,
                prefilled: 0,
                from_cache: 0,
                missing: 0,
                round_trips: 0,
                round_trip_ms: None,
                fallback: None,
                from_other_site: origin == BlockOrigin::OtherSite,
            },
        };
        self.handle(Arc::new(block), Arc::new(bytes), arrival);
    }

    /// A compact block from another site.
    fn on_compact(
        &mut self,
        link: LinkId,
        peer: String,
        origin: BlockOrigin,
        bytes: &[u8],
        received: Instant,
    ) {
        let compact: HeaderAndShortIds = match deserialize(bytes) {
            Ok(compact) => compact,
            Err(e) => return self.bad_message(&peer, "compact block", &e),
        };
        lock(&self.status).counters.compact_received += 1;
        let hash = compact.header.block_hash();
        if self.known.contains(&hash) {
            lock(&self.status).counters.already_known += 1;
            debug!(%peer, block = %hash, "compact block already handled");
            return;
        }
        if self.pending.contains(&hash) {
            debug!(%peer, block = %hash, "compact block already being rebuilt");
            return;
        }
        // Only the cache entries whose short id is in the block are offered: one SipHash per
        // entry instead of a transaction hash per entry.
        let keys = ShortId::calculate_siphash_keys(&compact.header, compact.nonce);
        let short_ids: HashSet<ShortId> = compact.short_ids.iter().copied().collect();
        let candidates = lock(&self.mempool).matching_short_ids(keys, &short_ids);
        let mut arrival = Arrival {
            origin,
            arrived_as: "compact block",
            link,
            kind: self.roles.kind(&peer),
            peer,
            received,
            prefilled: compact.prefilled_txs.len(),
            from_cache: 0,
            missing: 0,
            round_trips: 0,
            round_trip_ms: None,
            fallback: None,
            from_other_site: true,
        };
        let reconstruction =
            match start_reconstruction(&compact, VERSION, candidates.iter().map(Arc::as_ref)) {
                Ok(reconstruction) => reconstruction,
                Err(e) if e.wants_full_block() => {
                    return self.ask_full_block(hash, arrival, e.to_string())
                }
                Err(e) => return self.bad_message(&arrival.peer, "compact block", &e),
            };
        let missing = reconstruction.missing_indexes();
        arrival.missing = missing.len();
        arrival.from_cache = reconstruction
            .transaction_count()
            .saturating_sub(arrival.prefilled)
            .saturating_sub(missing.len());
        if missing.is_empty() {
            lock(&self.status).counters.compact_complete += 1;
            return self.finish(hash, reconstruction, arrival);
        }
        let request = reconstruction.missing_request();
        if !self
            .hub
            .send(link, &RelayMessage::GetBlockTxn(serialize(&request)))
        {
            warn!(peer = %arrival.peer, block = %hash, "link closed before the missing transactions could be asked for; block dropped on this path");
            return;
        }
        lock(&self.status).counters.getblocktxn_sent += 1;
        debug!(peer = %arrival.peer, block = %hash, missing = missing.len(), from_cache = arrival.from_cache, "missing transactions asked for");
        let now = Instant::now();
        let waiting = Waiting {
            arrival,
            stage: Stage::Transactions {
                reconstruction: Box::new(reconstruction),
                sent: now,
            },
        };
        self.wait(hash, waiting, link, now + self.missing_timeout);
    }

    fn wait(&mut self, hash: BlockHash, waiting: Waiting, link: LinkId, deadline: Instant) {
        match self.pending.insert(hash, waiting, link, deadline) {
            Ok(()) => {}
            Err(InsertRefused::AlreadyPending) => {
                debug!(block = %hash, "block already being rebuilt")
            }
            Err(InsertRefused::Full) => warn!(
                block = %hash,
                max = PENDING_MAX,
                "too many compact blocks waiting for answers; this one is dropped"
            ),
        }
    }

    /// The last step of a reconstruction: the block, or the whole block asked for.
    fn finish(&mut self, hash: BlockHash, reconstruction: Reconstruction, arrival: Arrival) {
        match reconstruction.finish() {
            Ok(block) => {
                let bytes = Arc::new(serialize(&block));
                self.handle(Arc::new(block), bytes, arrival);
            }
            Err(e) => self.ask_full_block(hash, arrival, e.to_string()),
        }
    }

    /// Falls back to `GetBlock` on the link the compact block came from.
    fn ask_full_block(&mut self, hash: BlockHash, mut arrival: Arrival, reason: String) {
        let link = arrival.link;
        if !self
            .hub
            .send(link, &RelayMessage::GetBlock(hash.to_byte_array()))
        {
            warn!(peer = %arrival.peer, block = %hash, %reason, "link closed before the whole block could be asked for; block dropped on this path");
            return;
        }
        lock(&self.status).counters.fallbacks += 1;
        warn!(peer = %arrival.peer, block = %hash, %reason, "compact block not rebuilt; whole block asked for");
        arrival.fallback = Some(reason);
        let waiting = Waiting {
            arrival,
            stage: Stage::FullBlock,
        };
        self.wait(hash, waiting, link, Instant::now() + FULL_BLOCK_TIMEOUT);
    }

    /// The missing transactions of a compact block we rebuild.
    fn on_block_txn(&mut self, link: LinkId, peer: &str, bytes: &[u8], received: Instant) {
        let answer: BlockTransactions = match deserialize(bytes) {
            Ok(answer) => answer,
            Err(e) => return self.bad_message(peer, "blocktxn", &e),
        };
        let hash = answer.block_hash;
        let entry = match self.pending.take_from(&hash, link) {
            Ok(entry) => entry,
            Err(refused) => {
                lock(&self.status).counters.unexpected_answers += 1;
                let why = match refused {
                    TakeRefused::NotPending => "nobody asked for it",
                    TakeRefused::OtherLink(_) => "it was asked for on another link",
                };
                warn!(%peer, block = %hash, why, "blocktxn not expected; ignored");
                return;
            }
        };
        lock(&self.status).counters.blocktxn_received += 1;
        let Waiting { mut arrival, stage } = entry.state;
        match stage {
            Stage::Transactions {
                mut reconstruction,
                sent,
            } => {
                arrival.round_trips += 1;
                arrival.round_trip_ms = Some(ms(received.saturating_duration_since(sent)));
                match reconstruction.fill(answer) {
                    Ok(()) => self.finish(hash, *reconstruction, arrival),
                    Err(e) => {
                        self.ask_full_block(hash, arrival, format!("blocktxn does not fit: {e}"))
                    }
                }
            }
            // Too late: the whole block was asked for already and is on its way.
            Stage::FullBlock => {
                debug!(%peer, block = %hash, "blocktxn after the fallback; ignored");
                let waiting = Waiting {
                    arrival,
                    stage: Stage::FullBlock,
                };
                self.wait(hash, waiting, link, entry.deadline);
            }
        }
    }

    /// Another site misses transactions of a block we sent it.
    fn on_get_block_txn(&mut self, link: LinkId, peer: &str, bytes: &[u8]) {
        if self.ignore_getblocktxn {
            lock(&self.status).counters.getblocktxn_ignored += 1;
            warn!(%peer, "fault injection (IRONPOOL_BLOCKMASTER_IGNORE_GETBLOCKTXN=1): getblocktxn not answered");
            return;
        }
        let request: BlockTransactionsRequest = match deserialize(bytes) {
            Ok(request) => request,
            Err(e) => return self.bad_message(peer, "getblocktxn", &e),
        };
        let hash = request.block_hash;
        let Some(kept) = self.recent.get(&hash) else {
            lock(&self.status).counters.unknown_block_requests += 1;
            warn!(%peer, block = %hash, "getblocktxn for a block not kept; not answered (the requester will ask for the whole block)");
            return;
        };
        match answer_block_txn_request(&kept.block, &request, VERSION) {
            Ok(answer) => {
                let count = answer.transactions.len();
                if self
                    .hub
                    .send(link, &RelayMessage::GetBlockTxnReply(serialize(&answer)))
                {
                    lock(&self.status).counters.getblocktxn_answered += 1;
                    debug!(%peer, block = %hash, transactions = count, "getblocktxn answered");
                } else {
                    warn!(%peer, block = %hash, "link closed before getblocktxn could be answered");
                }
            }
            Err(e) => self.bad_message(peer, "getblocktxn", &e),
        }
    }

    /// Another site could not rebuild a block we sent it.
    fn on_get_block(&mut self, link: LinkId, peer: &str, hash: BlockHash) {
        let Some(kept) = self.recent.get(&hash) else {
            lock(&self.status).counters.unknown_block_requests += 1;
            warn!(%peer, block = %hash, "getblock for a block not kept; not answered");
            return;
        };
        // OtherSite: to the requester, this block comes from another site.
        let message = RelayMessage::Block {
            origin: BlockOrigin::OtherSite,
            bytes: kept.bytes.to_vec(),
        };
        if self.hub.send(link, &message) {
            lock(&self.status).counters.getblock_answered += 1;
            info!(%peer, block = %hash, "whole block sent on request");
        } else {
            warn!(%peer, block = %hash, "link closed before getblock could be answered");
        }
    }

    /// Moves on every reconstruction whose answer is late: the missing transactions fall back to
    /// the whole block; a whole block that does not come is given up.
    pub fn expire(&mut self, now: Instant) {
        let expired = self.pending.take_expired(now);
        if expired.is_empty() {
            return;
        }
        for (hash, entry) in expired {
            if self.known.contains(&hash) {
                continue;
            }
            let Waiting { arrival, stage } = entry.state;
            match stage {
                Stage::Transactions { .. } => {
                    lock(&self.status).counters.fallback_timeouts += 1;
                    let reason = format!(
                        "getblocktxn unanswered after {} ms",
                        self.missing_timeout.as_millis()
                    );
                    self.ask_full_block(hash, arrival, reason);
                }
                Stage::FullBlock => {
                    lock(&self.status).counters.lost += 1;
                    error!(
                        peer = %arrival.peer,
                        block = %hash,
                        waited_s = FULL_BLOCK_TIMEOUT.as_secs(),
                        "whole block asked for never came; block not relayed on this path"
                    );
                }
            }
        }
        lock(&self.status).pending_reconstructions = self.pending.len();
    }

    /// Hands a block on, once: other sites (compact), the jobmaster (a tip, for blocks from
    /// another site), bitpeers (whole), the node (`submitblock`); then keeps it for requests and
    /// its transactions for the next reconstructions.
    fn handle(&mut self, block: Arc<Block>, bytes: Arc<Vec<u8>>, arrival: Arrival) {
        let hash = block.block_hash();
        if !self.known.insert(hash) {
            return;
        }
        // Any reconstruction of it is moot now.
        self.pending.take(&hash);
        let height = block
            .txdata
            .first()
            .and_then(|tx| height_from_coinbase(tx).ok());
        let links = self.hub.links();

        // Other sites first: theirs is the longest path.
        let peers = self
            .roles
            .select(&links, LinkKind::PeerBlockmaster, Some(arrival.link));
        let mut sent_to_peers = 0;
        if !peers.is_empty() {
            let message = match compact_block(
                &block,
                ironpool_shared::random::unique_u64(),
                VERSION,
            ) {
                Ok(compact) => RelayMessage::CompactBlock {
                    origin: arrival.origin,
                    bytes: serialize(&compact),
                },
                Err(e) => {
                    warn!(block = %hash, error = %e, "no compact form; whole block sent to the other sites");
                    RelayMessage::Block {
                        origin: BlockOrigin::OtherSite,
                        bytes: bytes.to_vec(),
                    }
                }
            };
            sent_to_peers = peers
                .iter()
                .filter(|link| self.hub.send(**link, &message))
                .count();
        }

        // The local jobmaster can mine on it before the node has checked it.
        let tip_links = if arrival.from_other_site {
            match height {
                Some(height) => Some(self.announce(&block, height, &arrival.peer)),
                None => {
                    warn!(block = %hash, "coinbase has no BIP34 height; no tip announced");
                    None
                }
            }
        } else {
            None
        };

        let bitpeers = self
            .roles
            .select(&links, LinkKind::Bitpeer, Some(arrival.link));
        let mut sent_to_bitpeers = 0;
        if !bitpeers.is_empty() {
            let message = RelayMessage::Block {
                origin: arrival.origin,
                bytes: bytes.to_vec(),
            };
            sent_to_bitpeers = bitpeers
                .iter()
                .filter(|link| self.hub.send(**link, &message))
                .count();
        }

        let total_ms = ms(arrival.received.elapsed());
        info!(
            block = %hash,
            ?height,
            origin = origin_name(arrival.origin),
            arrived_as = arrival.arrived_as,
            link = arrival.kind.name(),
            peer = %arrival.peer,
            transactions = block.txdata.len(),
            from_cache = arrival.from_cache,
            missing = arrival.missing,
            round_trip_ms = ?arrival.round_trip_ms,
            fallback = ?arrival.fallback,
            total_ms,
            sent_to_peers,
            sent_to_bitpeers,
            ?tip_links,
            "block relayed"
        );
        // Recorded before submitblock starts, so its answer finds the record.
        lock(&self.status).block(BlockRecord {
            hash,
            height,
            origin: arrival.origin,
            arrived_as: arrival.arrived_as,
            link_kind: arrival.kind,
            link_peer: arrival.peer.clone(),
            transactions: block.txdata.len(),
            prefilled: arrival.prefilled,
            from_cache: arrival.from_cache,
            missing: arrival.missing,
            round_trips: arrival.round_trips,
            round_trip_ms: arrival.round_trip_ms,
            fallback: arrival.fallback.clone(),
            total_ms,
            sent_to_bitpeers,
            sent_to_peers,
            tip_links,
            submit: None,
            at_us: unix_us(),
        });
        self.submit(hash, &bytes);

        {
            let now = Instant::now();
            let mut cache = lock(&self.mempool);
            for tx in block.txdata.iter().skip(1) {
                cache.insert(Arc::new(tx.clone()), Presence::NotInMempool, now);
            }
        }
        self.recent.push(hash, RecentBlock { block, bytes });
    }

    /// Announces a block from another site on every link; returns on how many.
    fn announce(&self, block: &Block, height: u32, via: &str) -> usize {
        let header: Option<[u8; 80]> = serialize(&block.header).try_into().ok();
        let tip = TipAnnouncement {
            source: TipSource::Blockmaster,
            via: via.to_owned(),
            height,
            hash: block.block_hash().to_byte_array(),
            time: block.header.time,
            header,
            next_bits: None,
            seen_at_us: unix_us(),
        };
        self.hub.broadcast(&RelayMessage::Tip(tip))
    }

    /// `submitblock` to the local node, in the background; the answer goes to the log and the
    /// block's record.
    fn submit(&self, hash: BlockHash, bytes: &[u8]) {
        let hex = bytes.to_lower_hex_string();
        let node = self.node.clone();
        let status = self.status.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = match node.submit_block(&hex).await {
                Ok(None) => {
                    lock(&status).counters.submit_accepted += 1;
                    info!(block = %hash, node = node.name(), submit_ms = ms(started.elapsed()), "node accepted the block");
                    "accepted".to_owned()
                }
                Ok(Some(reason)) if reason == "duplicate" || reason == "inconclusive" => {
                    lock(&status).counters.submit_already_held += 1;
                    info!(block = %hash, node = node.name(), %reason, "node already holds the block");
                    reason
                }
                Ok(Some(reason)) => {
                    lock(&status).counters.submit_rejected += 1;
                    error!(block = %hash, node = node.name(), %reason, "node rejected the block");
                    format!("rejected: {reason}")
                }
                Err(e) => {
                    lock(&status).counters.submit_errors += 1;
                    error!(block = %hash, node = node.name(), error = %e.chain(), "submitblock failed");
                    format!("error: {}", e.chain())
                }
            };
            lock(&status).submitted(hash, answer);
        });
    }
}

/// A duration in milliseconds, to the microsecond.
fn ms(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}
