//! The transactions a compact block is rebuilt from: the local node's mempool plus the
//! transactions of recent blocks, keyed by **wtxid**.
//!
//! One key everywhere is the point: ViaBTC keyed mempool entries by txid (from `getrawmempool`)
//! and block transactions by wtxid, so segwit transactions were never found and expired while
//! still in the mempool (§15 item 10 of the reference). Here `getrawmempool` txids only say what
//! to fetch and what is still present (a txid → wtxid index); every entry is stored under the
//! wtxid computed from its bytes, the same id compact block version 2 hashes. On a chain without
//! segwit (Bitcoin SV) the two are equal.
//!
//! This file is the bookkeeping only (no node): the poller in `mempool_poll.rs` feeds it.

use bitcoin::bip152::ShortId;
use bitcoin::{Transaction, Txid, Wtxid};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an entry stays once it is no longer in the node's mempool (mined, replaced, or
/// learned from a block): a compact block from a slower site may still name it.
pub const KEEP_AFTER_MEMPOOL: Duration = Duration::from_secs(600);

/// Most entries; the oldest go first beyond it (a full Bitcoin mempool is around 300,000
/// transactions).
pub const CACHE_ENTRIES_MAX: usize = 500_000;

/// Whether an inserted transaction is in the node's mempool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Fetched from the mempool: kept while it is there.
    InMempool,
    /// From a block: kept for [`KEEP_AFTER_MEMPOOL`].
    NotInMempool,
}

#[derive(Debug)]
struct Entry {
    tx: Arc<Transaction>,
    txid: Txid,
    /// Insertion number, the key in `order`.
    seq: u64,
    /// When it was first seen missing from the node's mempool; `None` while it is there.
    left_mempool: Option<Instant>,
}

/// What the cache did since it was made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheCounters {
    pub inserted_from_mempool: u64,
    pub inserted_from_blocks: u64,
    /// Removed [`KEEP_AFTER_MEMPOOL`] after leaving the mempool.
    pub expired: u64,
    /// Removed because the cache was full.
    pub evicted_full: u64,
}

/// Transactions by wtxid.
#[derive(Debug)]
pub struct MempoolCache {
    by_wtxid: HashMap<Wtxid, Entry>,
    /// The wtxid of each cached txid: `getrawmempool` lists txids.
    wtxid_of: HashMap<Txid, Wtxid>,
    /// Insertion order, oldest first, for eviction when full.
    order: BTreeMap<u64, Wtxid>,
    next_seq: u64,
    max_entries: usize,
    keep_after_mempool: Duration,
    counters: CacheCounters,
}

impl MempoolCache {
    /// An empty cache of at most `max_entries` (at least one) that keeps entries
    /// `keep_after_mempool` after they leave the node's mempool.
    pub fn new(max_entries: usize, keep_after_mempool: Duration) -> MempoolCache {
        MempoolCache {
            by_wtxid: HashMap::new(),
            wtxid_of: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            max_entries: max_entries.max(1),
            keep_after_mempool,
            counters: CacheCounters::default(),
        }
    }

    /// The node's mempool holds exactly `txids` at `now`: cached entries among them are marked
    /// present, the other cached entries start their [`KEEP_AFTER_MEMPOOL`]. Returns at most
    /// `limit` of `txids` that are not cached, in the given order, to fetch.
    pub fn sync_mempool(&mut self, txids: &[Txid], now: Instant, limit: usize) -> Vec<Txid> {
        let present: HashSet<&Txid> = txids.iter().collect();
        for entry in self.by_wtxid.values_mut() {
            if present.contains(&entry.txid) {
                entry.left_mempool = None;
            } else if entry.left_mempool.is_none() {
                entry.left_mempool = Some(now);
            }
        }
        txids
            .iter()
            .filter(|txid| !self.wtxid_of.contains_key(*txid))
            .take(limit)
            .copied()
            .collect()
    }

    /// Adds `tx` (or refreshes it when cached); returns whether it is new. Beyond the cap the
    /// oldest entries go.
    pub fn insert(&mut self, tx: Arc<Transaction>, presence: Presence, now: Instant) -> bool {
        let wtxid = tx.compute_wtxid();
        let left_mempool = match presence {
            Presence::InMempool => None,
            Presence::NotInMempool => Some(now),
        };
        if let Some(entry) = self.by_wtxid.get_mut(&wtxid) {
            // A block's copy of a mempool transaction starts its grace period at the next sync,
            // not now: the node still has it until it connects the block.
            if presence == Presence::InMempool {
                entry.left_mempool = None;
            }
            return false;
        }
        let txid = tx.compute_txid();
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.by_wtxid.insert(
            wtxid,
            Entry {
                tx,
                txid,
                seq,
                left_mempool,
            },
        );
        self.wtxid_of.insert(txid, wtxid);
        self.order.insert(seq, wtxid);
        match presence {
            Presence::InMempool => self.counters.inserted_from_mempool += 1,
            Presence::NotInMempool => self.counters.inserted_from_blocks += 1,
        }
        while self.by_wtxid.len() > self.max_entries {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.remove(&oldest);
            self.counters.evicted_full += 1;
        }
        true
    }

    /// Removes the entries out of the mempool for [`KEEP_AFTER_MEMPOOL`] or longer at `now`;
    /// returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let keep = self.keep_after_mempool;
        let expired: Vec<Wtxid> = self
            .by_wtxid
            .iter()
            .filter(|(_, entry)| {
                entry
                    .left_mempool
                    .is_some_and(|left| now.saturating_duration_since(left) >= keep)
            })
            .map(|(wtxid, _)| *wtxid)
            .collect();
        for wtxid in &expired {
            self.remove(wtxid);
        }
        self.counters.expired += expired.len() as u64;
        expired.len()
    }

    fn remove(&mut self, wtxid: &Wtxid) {
        if let Some(entry) = self.by_wtxid.remove(wtxid) {
            self.order.remove(&entry.seq);
            // Two transactions with one txid and different witnesses: the index names the later.
            if self.wtxid_of.get(&entry.txid) == Some(wtxid) {
                self.wtxid_of.remove(&entry.txid);
            }
        }
    }

    /// The cached transactions whose short id under `siphash_keys` (a compact block's, from its
    /// header and nonce) is in `short_ids`. One SipHash per entry: cheaper than offering the whole
    /// cache to a reconstruction, which hashes every transaction it is offered.
    pub fn matching_short_ids(
        &self,
        siphash_keys: (u64, u64),
        short_ids: &HashSet<ShortId>,
    ) -> Vec<Arc<Transaction>> {
        self.by_wtxid
            .iter()
            .filter(|(wtxid, _)| {
                short_ids.contains(&ShortId::with_siphash_keys(
                    &wtxid.to_raw_hash(),
                    siphash_keys,
                ))
            })
            .map(|(_, entry)| entry.tx.clone())
            .collect()
    }

    /// Whether a transaction with this wtxid is cached.
    #[cfg(test)]
    pub fn contains(&self, wtxid: &Wtxid) -> bool {
        self.by_wtxid.contains_key(wtxid)
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.by_wtxid.len()
    }

    /// Entries in the node's mempool at the last sync (or fetched since).
    pub fn in_mempool(&self) -> usize {
        self.by_wtxid
            .values()
            .filter(|entry| entry.left_mempool.is_none())
            .count()
    }

    /// What the cache did.
    pub fn counters(&self) -> CacheCounters {
        self.counters
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::hashes::Hash;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness};

    /// A distinct transaction; with a witness (so wtxid ≠ txid) when `witness`.
    fn tx(seed: u32, witness: bool) -> Arc<Transaction> {
        let mut prev = [0u8; 32];
        prev[..4].copy_from_slice(&seed.to_le_bytes());
        Arc::new(Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array(prev),
                    vout: 0,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: if witness {
                    Witness::from_slice(&[vec![seed as u8; 72]])
                } else {
                    Witness::new()
                },
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::new(),
            }],
        })
    }

    #[test]
    fn entries_are_keyed_by_wtxid_and_refreshed_by_txid() {
        let now = Instant::now();
        let mut cache = MempoolCache::new(100, KEEP_AFTER_MEMPOOL);
        let segwit = tx(1, true);
        assert_ne!(
            segwit.compute_txid().to_raw_hash(),
            segwit.compute_wtxid().to_raw_hash()
        );
        let to_fetch = cache.sync_mempool(&[segwit.compute_txid()], now, 10);
        assert_eq!(to_fetch, vec![segwit.compute_txid()]);
        assert!(cache.insert(segwit.clone(), Presence::InMempool, now));
        assert!(cache.contains(&segwit.compute_wtxid()));
        // Still listed by txid: not fetched again, and never expires (ViaBTC's bug).
        let later = now + KEEP_AFTER_MEMPOOL * 3;
        assert!(cache
            .sync_mempool(&[segwit.compute_txid()], later, 10)
            .is_empty());
        assert_eq!(cache.expire(later), 0);
        assert_eq!(cache.in_mempool(), 1);
    }

    #[test]
    fn entries_leave_ten_minutes_after_the_mempool() {
        let now = Instant::now();
        let mut cache = MempoolCache::new(100, KEEP_AFTER_MEMPOOL);
        let a = tx(1, false);
        let b = tx(2, true);
        cache.insert(a.clone(), Presence::InMempool, now);
        cache.insert(b.clone(), Presence::InMempool, now);
        // `a` was mined: gone from the list.
        cache.sync_mempool(&[b.compute_txid()], now, 10);
        assert_eq!(cache.in_mempool(), 1);
        assert_eq!(
            cache.expire(now + KEEP_AFTER_MEMPOOL - Duration::from_secs(1)),
            0
        );
        // Later syncs do not restart its clock.
        cache.sync_mempool(&[b.compute_txid()], now + Duration::from_secs(300), 10);
        assert_eq!(cache.expire(now + KEEP_AFTER_MEMPOOL), 1);
        assert!(!cache.contains(&a.compute_wtxid()));
        assert!(cache.contains(&b.compute_wtxid()));
        // Gone from the index too: listed again, it is fetched again.
        assert_eq!(
            cache.sync_mempool(&[a.compute_txid(), b.compute_txid()], now, 10),
            vec![a.compute_txid()]
        );
        assert_eq!(cache.counters().expired, 1);
    }

    #[test]
    fn block_transactions_expire_unless_the_mempool_lists_them() {
        let now = Instant::now();
        let mut cache = MempoolCache::new(100, KEEP_AFTER_MEMPOOL);
        let a = tx(1, false);
        let b = tx(2, false);
        cache.insert(a.clone(), Presence::NotInMempool, now);
        cache.insert(b.clone(), Presence::NotInMempool, now);
        cache.sync_mempool(&[b.compute_txid()], now, 10);
        assert_eq!(cache.expire(now + KEEP_AFTER_MEMPOOL), 1);
        assert!(cache.contains(&b.compute_wtxid()));
        assert_eq!(cache.counters().inserted_from_blocks, 2);
    }

    #[test]
    fn fetches_are_limited_per_round() {
        let now = Instant::now();
        let mut cache = MempoolCache::new(100, KEEP_AFTER_MEMPOOL);
        let txids: Vec<Txid> = (0..10).map(|n| tx(n, false).compute_txid()).collect();
        assert_eq!(cache.sync_mempool(&txids, now, 4), txids[..4].to_vec());
        cache.insert(tx(0, false), Presence::InMempool, now);
        assert_eq!(cache.sync_mempool(&txids, now, 4), txids[1..5].to_vec());
    }

    #[test]
    fn a_full_cache_drops_the_oldest() {
        let now = Instant::now();
        let mut cache = MempoolCache::new(3, KEEP_AFTER_MEMPOOL);
        let txs: Vec<_> = (0..4).map(|n| tx(n, n % 2 == 0)).collect();
        for t in &txs {
            cache.insert(t.clone(), Presence::InMempool, now);
        }
        assert_eq!(cache.len(), 3);
        assert!(!cache.contains(&txs[0].compute_wtxid()));
        assert!(txs[1..].iter().all(|t| cache.contains(&t.compute_wtxid())));
        assert_eq!(cache.counters().evicted_full, 1);
        // A repeat is not new and evicts nothing.
        assert!(!cache.insert(txs[3].clone(), Presence::InMempool, now));
        assert_eq!(cache.len(), 3);
    }

    /// A block on the regtest genesis: a coinbase with the witness commitment, then `txs`.
    fn segwit_block(txs: &[Arc<Transaction>]) -> bitcoin::Block {
        use bitcoin::block::{Header, Version as BlockVersion};
        use bitcoin::blockdata::constants::genesis_block;
        use bitcoin::{CompactTarget, Network, TxMerkleNode};
        let coinbase = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(vec![0x01, 0x65, 0x00]),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[[0u8; 32]]),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(5_000_000_000),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            }],
        };
        let mut block = bitcoin::Block {
            header: Header {
                version: BlockVersion::TWO,
                prev_blockhash: genesis_block(Network::Regtest).block_hash(),
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: 1,
            },
            txdata: std::iter::once(coinbase)
                .chain(txs.iter().map(|t| (**t).clone()))
                .collect(),
        };
        let witness_root = block.witness_root().unwrap();
        let commitment = bitcoin::Block::compute_witness_commitment(&witness_root, &[0u8; 32]);
        let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
        script.extend_from_slice(&commitment.to_byte_array());
        block.txdata[0].output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(script),
        });
        block.header.merkle_root = block.compute_merkle_root().unwrap();
        block
    }

    /// The whole path the blockmaster takes, without a node: a version-2 compact block of a block
    /// with segwit transactions is rebuilt from the cache, and what the cache lacks is exactly
    /// what is asked for.
    #[test]
    fn a_version_2_compact_block_is_rebuilt_from_the_cache() {
        use ironpool_shared::p2p::{
            answer_block_txn_request, compact_block, start_reconstruction, CompactVersion,
        };
        let now = Instant::now();
        let txs: Vec<_> = (0..10).map(|n| tx(n, n % 2 == 0)).collect();
        let block = segwit_block(&txs);
        let mut cache = MempoolCache::new(100, KEEP_AFTER_MEMPOOL);
        for t in &txs[..7] {
            cache.insert(t.clone(), Presence::InMempool, now);
        }
        cache.insert(tx(99, true), Presence::InMempool, now);
        let compact = compact_block(&block, 42, CompactVersion::Wtxid).unwrap();
        let keys = ShortId::calculate_siphash_keys(&compact.header, compact.nonce);
        let short_ids: HashSet<ShortId> = compact.short_ids.iter().copied().collect();
        let candidates = cache.matching_short_ids(keys, &short_ids);
        assert_eq!(candidates.len(), 7);
        let mut reconstruction = start_reconstruction(
            &compact,
            CompactVersion::Wtxid,
            candidates.iter().map(Arc::as_ref),
        )
        .unwrap();
        assert_eq!(reconstruction.missing_indexes(), vec![8, 9, 10]);
        let answer = answer_block_txn_request(
            &block,
            &reconstruction.missing_request(),
            CompactVersion::Wtxid,
        )
        .unwrap();
        reconstruction.fill(answer).unwrap();
        let rebuilt = reconstruction.finish().unwrap();
        assert_eq!(
            bitcoin::consensus::serialize(&rebuilt),
            bitcoin::consensus::serialize(&block)
        );
    }

    #[test]
    fn short_id_matching_uses_wtxids() {
        let now = Instant::now();
        let mut cache = MempoolCache::new(100, KEEP_AFTER_MEMPOOL);
        let txs: Vec<_> = (0..6).map(|n| tx(n, n % 2 == 0)).collect();
        for t in &txs {
            cache.insert(t.clone(), Presence::InMempool, now);
        }
        let keys = (0x0123_4567, 0x89ab_cdef);
        let wanted: HashSet<ShortId> = [&txs[0], &txs[3]]
            .iter()
            .map(|t| ShortId::with_siphash_keys(&t.compute_wtxid().to_raw_hash(), keys))
            .collect();
        let mut found: Vec<Txid> = cache
            .matching_short_ids(keys, &wanted)
            .iter()
            .map(|t| t.compute_txid())
            .collect();
        found.sort();
        let mut expected = vec![txs[0].compute_txid(), txs[3].compute_txid()];
        expected.sort();
        assert_eq!(found, expected);
        // A txid-keyed short id of the segwit one matches nothing.
        let by_txid: HashSet<ShortId> = std::iter::once(ShortId::with_siphash_keys(
            &txs[0].compute_txid().to_raw_hash(),
            keys,
        ))
        .collect();
        assert!(cache.matching_short_ids(keys, &by_txid).is_empty());
    }
}
