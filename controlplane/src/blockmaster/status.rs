//! What the blockmaster did, per block and in total: how each block arrived, how much of it the
//! mempool cache held, what the round trips cost, and what the node said. Written to the status
//! file every second; each block also gets one log line.

use super::links::LinkKind;
use super::mempool::CacheCounters;
use bitcoin::BlockHash;
use ironpool_shared::relay::BlockOrigin;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::VecDeque;

/// Blocks kept in the status.
pub const BLOCKS_KEPT: usize = 100;

/// How one block reached this blockmaster.
#[derive(Debug, Clone)]
pub struct BlockRecord {
    pub hash: BlockHash,
    /// From the coinbase (BIP34); `None` when it does not decode.
    pub height: Option<u32>,
    /// The origin the message carried.
    pub origin: BlockOrigin,
    /// `"block"` or `"compact block"`.
    pub arrived_as: &'static str,
    pub link_kind: LinkKind,
    /// The link's peer address.
    pub link_peer: String,
    /// Transactions in the block, coinbase included.
    pub transactions: usize,
    /// Compact block only: transactions sent with it (the coinbase).
    pub prefilled: usize,
    /// Compact block only: transactions found in the mempool cache.
    pub from_cache: usize,
    /// Compact block only: transactions asked for with `GetBlockTxn`.
    pub missing: usize,
    /// `GetBlockTxn` answered (0 or 1).
    pub round_trips: u32,
    /// Time from sending `GetBlockTxn` to its answer.
    pub round_trip_ms: Option<f64>,
    /// Why the whole block was asked for, when it was.
    pub fallback: Option<String>,
    /// From taking the first message off the link to the block ready to hand on.
    pub total_ms: f64,
    pub sent_to_bitpeers: usize,
    pub sent_to_peers: usize,
    /// Links the tip announcement went to (blocks from another site only).
    pub tip_links: Option<usize>,
    /// The node's `submitblock` answer, once it came.
    pub submit: Option<String>,
    /// When it was handled, unix microseconds.
    pub at_us: u64,
}

/// Totals since the start.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counters {
    pub blocks_handled: u64,
    pub own_pool_blocks: u64,
    pub network_blocks: u64,
    pub other_site_blocks: u64,
    /// Blocks (full or compact) that were already known.
    pub already_known: u64,
    pub compact_received: u64,
    /// Compact blocks rebuilt from the cache alone.
    pub compact_complete: u64,
    pub getblocktxn_sent: u64,
    pub blocktxn_received: u64,
    /// `GetBlock` sent: a reconstruction fell back to the whole block.
    pub fallbacks: u64,
    pub fallback_timeouts: u64,
    /// Whole blocks asked for that never came.
    pub lost: u64,
    pub getblocktxn_answered: u64,
    pub getblock_answered: u64,
    /// Requests for a block not kept (not answered).
    pub unknown_block_requests: u64,
    /// `GetBlockTxn` not answered on purpose (fault injection).
    pub getblocktxn_ignored: u64,
    /// Messages that did not decode or did not fit.
    pub bad_messages: u64,
    /// Answers nobody asked for.
    pub unexpected_answers: u64,
    pub submit_accepted: u64,
    pub submit_already_held: u64,
    pub submit_rejected: u64,
    pub submit_errors: u64,
}

/// The status of one blockmaster.
#[derive(Debug, Default)]
pub struct Status {
    pub counters: Counters,
    /// Compact blocks waiting for an answer now.
    pub pending_reconstructions: usize,
    blocks: VecDeque<BlockRecord>,
}

impl Status {
    /// Adds a handled block, forgetting the oldest beyond [`BLOCKS_KEPT`].
    pub fn block(&mut self, record: BlockRecord) {
        self.counters.blocks_handled += 1;
        match record.origin {
            BlockOrigin::OwnPool => self.counters.own_pool_blocks += 1,
            BlockOrigin::Network => self.counters.network_blocks += 1,
            BlockOrigin::OtherSite => self.counters.other_site_blocks += 1,
        }
        if self.blocks.len() == BLOCKS_KEPT {
            self.blocks.pop_front();
        }
        self.blocks.push_back(record);
    }

    /// The node's answer to `submitblock` for `hash`.
    pub fn submitted(&mut self, hash: BlockHash, answer: String) {
        if let Some(record) = self.blocks.iter_mut().rev().find(|r| r.hash == hash) {
            record.submit = Some(answer);
        }
    }

    /// The whole status as JSON. `links` are the live relay links (kind, peer).
    pub fn to_json(
        &self,
        links: &[(LinkKind, String)],
        cache_entries: usize,
        cache_in_mempool: usize,
        cache: CacheCounters,
    ) -> Value {
        let blocks: Vec<Value> = self
            .blocks
            .iter()
            .map(|b| {
                json!({
                    "hash": b.hash.to_string(),
                    "height": b.height,
                    "origin": origin_name(b.origin),
                    "arrived_as": b.arrived_as,
                    "link_kind": b.link_kind.name(),
                    "link_peer": b.link_peer,
                    "transactions": b.transactions,
                    "prefilled": b.prefilled,
                    "from_cache": b.from_cache,
                    "missing": b.missing,
                    "round_trips": b.round_trips,
                    "round_trip_ms": b.round_trip_ms,
                    "fallback": b.fallback.is_some(),
                    "fallback_reason": b.fallback,
                    "total_ms": b.total_ms,
                    "sent_to_bitpeers": b.sent_to_bitpeers,
                    "sent_to_peers": b.sent_to_peers,
                    "tip_links": b.tip_links,
                    "submit": b.submit,
                    "at_us": b.at_us,
                })
            })
            .collect();
        let links: Vec<Value> = links
            .iter()
            .map(|(kind, peer)| json!({ "kind": kind.name(), "peer": peer }))
            .collect();
        json!({
            "links": links,
            "pending_reconstructions": self.pending_reconstructions,
            "mempool_cache": {
                "entries": cache_entries,
                "in_mempool": cache_in_mempool,
                "inserted_from_mempool": cache.inserted_from_mempool,
                "inserted_from_blocks": cache.inserted_from_blocks,
                "expired": cache.expired,
                "evicted_full": cache.evicted_full,
            },
            "counters": self.counters,
            "blocks": blocks,
        })
    }
}

/// Lower-case name of an origin.
pub fn origin_name(origin: BlockOrigin) -> &'static str {
    match origin {
        BlockOrigin::OwnPool => "own_pool",
        BlockOrigin::Network => "network",
        BlockOrigin::OtherSite => "other_site",
    }
}
