//! What bitpeer saw: per block, who told it first and by which message; per peer, what it did.

use bitcoin::BlockHash;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};

const BLOCKS_KEPT: usize = 100;

#[derive(Debug, Default, Clone)]
struct PeerStats {
    connected: bool,
    last_error: Option<String>,
    first_announcements: u64,
    refused_headers: u64,
    disconnects: u64,
    invs_ignored: u64,
}

#[derive(Debug, Clone)]
struct BlockSeen {
    hash: BlockHash,
    height: u32,
    how: String,
    peer: String,
    seen_us: u64,
    spread_to: Option<usize>,
}

/// Counters and the last blocks.
#[derive(Debug, Default)]
pub struct Status {
    peers: HashMap<String, PeerStats>,
    blocks: VecDeque<BlockSeen>,
    by_message: HashMap<String, u64>,
}

impl Status {
    pub fn peer_up(&mut self, addr: &str) {
        self.peers.entry(addr.to_owned()).or_default().connected = true;
    }

    pub fn peer_down(&mut self, addr: &str, reason: &str) {
        let peer = self.peers.entry(addr.to_owned()).or_default();
        peer.connected = false;
        peer.disconnects += 1;
        peer.last_error = Some(reason.to_owned());
    }

    pub fn header_refused(&mut self, addr: &str) {
        self.peers
            .entry(addr.to_owned())
            .or_default()
            .refused_headers += 1;
    }

    pub fn inv_ignored(&mut self, addr: &str) {
        self.peers.entry(addr.to_owned()).or_default().invs_ignored += 1;
    }

    /// A new best block, first seen from `peer` by `how`.
    pub fn block_seen(
        &mut self,
        hash: BlockHash,
        height: u32,
        how: &str,
        peer: &str,
        seen_us: u64,
    ) {
        self.peers
            .entry(peer.to_owned())
            .or_default()
            .first_announcements += 1;
        *self.by_message.entry(how.to_owned()).or_default() += 1;
        if self.blocks.len() == BLOCKS_KEPT {
            self.blocks.pop_front();
        }
        self.blocks.push_back(BlockSeen {
            hash,
            height,
            how: how.to_owned(),
            peer: peer.to_owned(),
            seen_us,
            spread_to: None,
        });
    }

    pub fn block_spread(&mut self, hash: BlockHash, peers: usize) {
        match self.blocks.iter_mut().find(|b| b.hash == hash) {
            Some(b) => b.spread_to = Some(peers),
            None => {
                if self.blocks.len() == BLOCKS_KEPT {
                    self.blocks.pop_front();
                }
                self.blocks.push_back(BlockSeen {
                    hash,
                    height: 0,
                    how: "relay".to_owned(),
                    peer: String::new(),
                    seen_us: super::unix_us(),
                    spread_to: Some(peers),
                });
            }
        }
    }

    pub fn to_json(&self, connected: &[String], relay_links: usize) -> Value {
        let peers: Vec<Value> = self
            .peers
            .iter()
            .map(|(addr, p)| {
                json!({
                    "addr": addr,
                    "connected": connected.contains(addr),
                    "first_announcements": p.first_announcements,
                    "refused_headers": p.refused_headers,
                    "disconnects": p.disconnects,
                    "invs_ignored": p.invs_ignored,
                    "last_error": p.last_error,
                })
            })
            .collect();
        let blocks: Vec<Value> = self
            .blocks
            .iter()
            .map(|b| {
                json!({
                    "hash": b.hash.to_string(),
                    "height": b.height,
                    "first_message": b.how,
                    "first_peer": b.peer,
                    "seen_us": b.seen_us,
                    "spread_to_peers": b.spread_to,
                })
            })
            .collect();
        json!({
            "relay_links": relay_links,
            "peers": peers,
            "first_by_message": self.by_message,
            "blocks": blocks,
        })
    }
}
