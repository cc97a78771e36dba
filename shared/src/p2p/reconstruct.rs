//! Compact blocks (BIP152), receiving side: a header, short ids and a few prefilled transactions
//! become a block again, from transactions we already know plus the ones we ask for.
//!
//! 1. [`start_reconstruction`] checks the compact block (transaction count within
//!    [`MAX_BLOCK_TXS`], prefilled indexes in range, no short id twice), places the prefilled
//!    transactions and matches the caller's candidate transactions (a cache of recent
//!    transactions, the pool's own template) against the short ids. Each candidate costs one
//!    txid or wtxid computation, so offer recent transactions, not a whole mempool.
//!    [`Reconstruction::offer`] matches more candidates later.
//! 2. [`Reconstruction::missing_indexes`] lists the slots still empty, for a `getblocktxn`;
//!    [`Reconstruction::fill`] puts the `blocktxn` answer into them.
//! 3. [`Reconstruction::finish`] returns the block once its transactions hash to the header's
//!    merkle root, contain no duplicate, and match the witness commitment if any.
//!
//! Short ids are 48 bits: two different candidates can share one. Such a slot counts as missing
//! (asked for, as Bitcoin Core does). A candidate can also match the short id of a different block
//! transaction: then [`finish`](Reconstruction::finish) fails with a mismatch, and the caller asks
//! for the full block ([`ReconstructError::wants_full_block`]).
//!
//! Version 1 ([`CompactVersion::Txid`]) matches candidates by txid and rebuilds the block without
//! witnesses, as a pre-segwit node sees it (Bitcoin SV has none anyway); version 2 matches by
//! wtxid and rebuilds the full block.

use std::collections::{HashMap, HashSet};

use bitcoin::bip152::{BlockTransactions, BlockTransactionsRequest, HeaderAndShortIds, ShortId};
use bitcoin::block::Header;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{merkle_tree, Block, BlockHash, Transaction, TxMerkleNode};

use super::compact::{CompactVersion, MAX_BLOCK_TXS};
use super::error::ReconstructError;

/// One transaction position of the block being rebuilt.
#[derive(Debug, Clone)]
enum Slot {
    /// Nothing known yet: asked for with `getblocktxn`.
    Missing,
    /// Matched a candidate whose txid or wtxid (by version) is `id`.
    Matched { tx: Transaction, id: sha256d::Hash },
    /// Two different candidates have this slot's short id: asked for.
    Ambiguous,
    /// Given by the peer: prefilled, or in its `blocktxn`.
    Given(Transaction),
}

impl Slot {
    fn is_missing(&self) -> bool {
        matches!(self, Slot::Missing | Slot::Ambiguous)
    }
}

/// A block being rebuilt from a compact block.
#[derive(Debug, Clone)]
pub struct Reconstruction {
    /// The compact block's header.
    header: Header,
    /// Its hash, named by `getblocktxn` and `blocktxn`.
    block_hash: BlockHash,
    /// The connection's compact block version.
    version: CompactVersion,
    /// SipHash keys of the short ids, from the header and the compact block's nonce.
    siphash_keys: (u64, u64),
    /// One slot per transaction of the block, in block order.
    slots: Vec<Slot>,
    /// The slot of each short id.
    by_short_id: HashMap<ShortId, usize>,
}

/// Checks `compact` (received on a connection using `version`), places its prefilled
/// transactions and matches `candidates` against its short ids.
///
/// # Errors
///
/// [`ReconstructError::TooManyTransactions`], [`NoTransactions`](ReconstructError::NoTransactions)
/// and [`PrefilledIndex`](ReconstructError::PrefilledIndex) for an invalid compact block;
/// [`ShortIdCollision`](ReconstructError::ShortIdCollision) when two of its transactions share a
/// short id (ask for the full block).
pub fn start_reconstruction<'a>(
    compact: &HeaderAndShortIds,
    version: CompactVersion,
    candidates: impl IntoIterator<Item = &'a Transaction>,
) -> Result<Reconstruction, ReconstructError> {
    let count = compact
        .short_ids
        .len()
        .saturating_add(compact.prefilled_txs.len());
    if count > MAX_BLOCK_TXS {
        return Err(ReconstructError::TooManyTransactions {
            count,
            max: MAX_BLOCK_TXS,
        });
    }
    if count == 0 {
        return Err(ReconstructError::NoTransactions);
    }
    let mut slots = vec![Slot::Missing; count];
    // Prefilled indexes are differential: each is the gap after the previous one.
    let mut next_index: u64 = 0;
    for (position, prefilled) in compact.prefilled_txs.iter().enumerate() {
        let index = next_index.checked_add(u64::from(prefilled.idx));
        let slot = index
            .and_then(|index| usize::try_from(index).ok())
            .and_then(|index| slots.get_mut(index));
        let (Some(index), Some(slot)) = (index, slot) else {
            return Err(ReconstructError::PrefilledIndex {
                position,
                index: index.unwrap_or(u64::MAX),
                count,
            });
        };
        *slot = Slot::Given(version.prepare(prefilled.tx.clone()));
        next_index = index.saturating_add(1);
    }
    let mut by_short_id = HashMap::with_capacity(compact.short_ids.len());
    let open_slots = slots
        .iter()
        .enumerate()
        .filter(|(_, slot)| slot.is_missing())
        .map(|(index, _)| index);
    // Prefilled indexes are distinct and in range, so exactly `short_ids.len()` slots are open.
    for (&short_id, index) in compact.short_ids.iter().zip(open_slots) {
        if by_short_id.insert(short_id, index).is_some() {
            return Err(ReconstructError::ShortIdCollision { short_id });
        }
    }
    let mut reconstruction = Reconstruction {
        header: compact.header,
        block_hash: compact.header.block_hash(),
        version,
        siphash_keys: ShortId::calculate_siphash_keys(&compact.header, compact.nonce),
        slots,
        by_short_id,
    };
    reconstruction.offer(candidates);
    Ok(reconstruction)
}

impl Reconstruction {
    /// The block's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The block's hash.
    pub fn block_hash(&self) -> BlockHash {
        self.block_hash
    }

    /// Transactions in the block, coinbase included.
    pub fn transaction_count(&self) -> usize {
        self.slots.len()
    }

    /// Matches more candidate transactions against the short ids still open. Offer them before
    /// [`missing_indexes`](Self::missing_indexes), not between it and [`fill`](Self::fill): `fill`
    /// answers the slots missing when it is called.
    pub fn offer<'a>(&mut self, candidates: impl IntoIterator<Item = &'a Transaction>) {
        for tx in candidates {
            let id = self.version.short_id_source(tx);
            let short_id = ShortId::with_siphash_keys(&id, self.siphash_keys);
            self.offer_with_short_id(short_id, id, tx);
        }
    }

    /// Puts `tx` (whose txid or wtxid is `id`) into the slot of `short_id`, if one is open. A
    /// second, different transaction for the same slot makes it ambiguous.
    fn offer_with_short_id(&mut self, short_id: ShortId, id: sha256d::Hash, tx: &Transaction) {
        let Some(slot) = self
            .by_short_id
            .get(&short_id)
            .and_then(|&index| self.slots.get_mut(index))
        else {
            return;
        };
        match slot {
            Slot::Missing => {
                *slot = Slot::Matched {
                    tx: self.version.prepare(tx.clone()),
                    id,
                }
            }
            Slot::Matched { id: known, .. } if *known != id => *slot = Slot::Ambiguous,
            Slot::Matched { .. } | Slot::Ambiguous | Slot::Given(_) => {}
        }
    }

    /// Absolute indexes of the transactions still missing, in increasing order (for a
    /// `BlockTransactionsRequest`; empty when the block is complete).
    pub fn missing_indexes(&self) -> Vec<u64> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.is_missing())
            .filter_map(|(index, _)| u64::try_from(index).ok())
            .collect()
    }

    /// The `getblocktxn` request for the missing transactions.
    pub fn missing_request(&self) -> BlockTransactionsRequest {
        BlockTransactionsRequest {
            block_hash: self.block_hash,
            indexes: self.missing_indexes(),
        }
    }

    /// Puts the peer's `blocktxn` answer into the missing slots, in order.
    ///
    /// # Errors
    ///
    /// [`ReconstructError::WrongBlock`] when it is for another block,
    /// [`ReconstructError::CountMismatch`] when it does not hold exactly as many transactions as
    /// are missing; nothing is filled then.
    pub fn fill(&mut self, answer: BlockTransactions) -> Result<(), ReconstructError> {
        if answer.block_hash != self.block_hash {
            return Err(ReconstructError::WrongBlock {
                expected: self.block_hash,
                found: answer.block_hash,
            });
        }
        let missing = self.slots.iter().filter(|slot| slot.is_missing()).count();
        if answer.transactions.len() != missing {
            return Err(ReconstructError::CountMismatch {
                expected: missing,
                found: answer.transactions.len(),
            });
        }
        let open = self.slots.iter_mut().filter(|slot| slot.is_missing());
        for (slot, tx) in open.zip(answer.transactions) {
            *slot = Slot::Given(self.version.prepare(tx));
        }
        Ok(())
    }

    /// The rebuilt block, once every transaction is known and they match the header.
    ///
    /// # Errors
    ///
    /// [`ReconstructError::Incomplete`] while transactions are missing (a caller bug);
    /// [`DuplicateTransaction`](ReconstructError::DuplicateTransaction),
    /// [`MerkleMismatch`](ReconstructError::MerkleMismatch) and
    /// [`WitnessCommitmentMismatch`](ReconstructError::WitnessCommitmentMismatch) when a short id
    /// matched the wrong transaction: ask for the full block.
    pub fn finish(self) -> Result<Block, ReconstructError> {
        let missing = self.slots.iter().filter(|slot| slot.is_missing()).count();
        if missing > 0 {
            return Err(ReconstructError::Incomplete { missing });
        }
        let txdata: Vec<Transaction> = self
            .slots
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Matched { tx, .. } | Slot::Given(tx) => Some(tx),
                Slot::Missing | Slot::Ambiguous => None,
            })
            .collect();
        let block = Block {
            header: self.header,
            txdata,
        };
        // Txids once, for both checks. Distinct txids also rule out the duplicated-subtree
        // mutation (CVE-2012-2459) that leaves the merkle root unchanged.
        let txids: Vec<_> = block.txdata.iter().map(Transaction::compute_txid).collect();
        let mut seen = HashSet::with_capacity(txids.len());
        if let Some(&txid) = txids.iter().find(|&&txid| !seen.insert(txid)) {
            return Err(ReconstructError::DuplicateTransaction { txid });
        }
        // Never empty here (a compact block without transactions was refused at the start).
        let computed = merkle_tree::calculate_root(txids.iter().map(|txid| txid.to_raw_hash()))
            .map_or_else(TxMerkleNode::all_zeros, TxMerkleNode::from_raw_hash);
        if computed != block.header.merkle_root {
            return Err(ReconstructError::MerkleMismatch {
                header: block.header.merkle_root,
                computed,
            });
        }
        // True when no transaction has a witness (always for version 1).
        if !block.check_witness_commitment() {
            return Err(ReconstructError::WitnessCommitmentMismatch);
        }
        Ok(block)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::p2p::compact::tests::{spend, test_block};
    use crate::p2p::compact::{answer_block_txn_request, compact_block};
    use bitcoin::bip152::PrefilledTransaction;
    use bitcoin::consensus::encode::serialize;

    const NONCE: u64 = 0x0123_4567_89ab_cdef;

    fn stripped(block: &Block) -> Block {
        Block {
            header: block.header,
            txdata: block
                .txdata
                .iter()
                .map(|tx| CompactVersion::Txid.prepare(tx.clone()))
                .collect(),
        }
    }

    #[test]
    fn all_transactions_known_gives_the_same_block() {
        let block = test_block(20);
        let compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        // Candidates in another order, plus unrelated ones: order and extras do not matter.
        let mut candidates: Vec<Transaction> = block.txdata[1..].iter().rev().cloned().collect();
        candidates.extend((100..110).map(|seed| spend(seed, seed % 2 == 0)));
        let reconstruction =
            start_reconstruction(&compact, CompactVersion::Wtxid, &candidates).unwrap();
        assert_eq!(reconstruction.transaction_count(), 21);
        assert_eq!(reconstruction.block_hash(), block.block_hash());
        assert!(reconstruction.missing_indexes().is_empty());
        let rebuilt = reconstruction.finish().unwrap();
        assert_eq!(rebuilt.block_hash(), block.block_hash());
        assert_eq!(serialize(&rebuilt), serialize(&block));
    }

    #[test]
    fn unknown_transactions_are_asked_for_and_filled() {
        let block = test_block(20);
        let compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        let unknown = [2usize, 3, 7, 15, 20];
        let candidates: Vec<Transaction> = (1..21)
            .filter(|i| !unknown.contains(i))
            .map(|i| block.txdata[i].clone())
            .collect();
        let mut reconstruction =
            start_reconstruction(&compact, CompactVersion::Wtxid, &candidates).unwrap();
        assert_eq!(reconstruction.missing_indexes(), vec![2, 3, 7, 15, 20]);
        let request = reconstruction.missing_request();
        assert_eq!(request.block_hash, block.block_hash());
        let answer = answer_block_txn_request(&block, &request, CompactVersion::Wtxid).unwrap();
        reconstruction.fill(answer).unwrap();
        assert!(reconstruction.missing_indexes().is_empty());
        let rebuilt = reconstruction.finish().unwrap();
        assert_eq!(serialize(&rebuilt), serialize(&block));
    }

    #[test]
    fn finish_before_fill_reports_the_missing_count() {
        let block = test_block(4);
        let compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        let reconstruction =
            start_reconstruction(&compact, CompactVersion::Wtxid, &block.txdata[1..3]).unwrap();
        assert_eq!(
            reconstruction.finish().unwrap_err(),
            ReconstructError::Incomplete { missing: 2 }
        );
    }

    #[test]
    fn both_versions_rebuild_from_the_same_transactions() {
        let block = test_block(20);
        for version in [CompactVersion::Txid, CompactVersion::Wtxid] {
            let compact = compact_block(&block, NONCE, version).unwrap();
            let reconstruction =
                start_reconstruction(&compact, version, &block.txdata[1..]).unwrap();
            assert!(reconstruction.missing_indexes().is_empty(), "{version:?}");
            let rebuilt = reconstruction.finish().unwrap();
            assert_eq!(rebuilt.block_hash(), block.block_hash());
            let expected = match version {
                CompactVersion::Txid => stripped(&block),
                CompactVersion::Wtxid => block.clone(),
            };
            assert_eq!(serialize(&rebuilt), serialize(&expected), "{version:?}");
        }
    }

    #[test]
    fn a_witness_slot_is_not_filled_across_versions() {
        // A version-2 compact block keys witness transactions by wtxid: offering them with their
        // witnesses stripped (what a txid-keyed, pre-segwit cache holds) leaves those slots open.
        let block = test_block(20);
        let compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        let stripped_txs: Vec<Transaction> = stripped(&block).txdata[1..].to_vec();
        let reconstruction =
            start_reconstruction(&compact, CompactVersion::Wtxid, &stripped_txs).unwrap();
        assert_eq!(reconstruction.missing_indexes(), vec![3, 6, 9, 12, 15, 18]);
    }

    #[test]
    fn a_wrong_transaction_in_a_slot_is_a_merkle_mismatch() {
        let block = test_block(20);
        let compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        let mut reconstruction =
            start_reconstruction(&compact, CompactVersion::Wtxid, &block.txdata[2..]).unwrap();
        assert_eq!(reconstruction.missing_indexes(), vec![1]);
        // As if a colliding short id had matched another transaction.
        let answer = BlockTransactions {
            block_hash: block.block_hash(),
            transactions: vec![spend(999, false)],
        };
        reconstruction.fill(answer).unwrap();
        let error = reconstruction.finish().unwrap_err();
        assert!(
            matches!(error, ReconstructError::MerkleMismatch { header, .. } if header == block.header.merkle_root)
        );
        assert!(error.wants_full_block());
    }

    #[test]
    fn a_wrong_witness_is_a_witness_commitment_mismatch() {
        let block = test_block(20);
        let compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        let mut reconstruction =
            start_reconstruction(&compact, CompactVersion::Wtxid, &block.txdata[4..]).unwrap();
        assert_eq!(reconstruction.missing_indexes(), vec![1, 2, 3]);
        // Transaction 3 with another witness: same txid, other wtxid.
        let mut other_witness = block.txdata[3].clone();
        other_witness.input[0].witness = bitcoin::Witness::from_slice(&[vec![0xee; 71]]);
        let answer = BlockTransactions {
            block_hash: block.block_hash(),
            transactions: vec![
                block.txdata[1].clone(),
                block.txdata[2].clone(),
                other_witness,
            ],
        };
        reconstruction.fill(answer).unwrap();
        assert_eq!(
            reconstruction.finish().unwrap_err(),
            ReconstructError::WitnessCommitmentMismatch
        );
    }

    #[test]
    fn a_duplicated_transaction_is_refused() {
        let block = test_block(4);
        let compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        let mut reconstruction =
            start_reconstruction(&compact, CompactVersion::Wtxid, &block.txdata[1..4]).unwrap();
        let answer = BlockTransactions {
            block_hash: block.block_hash(),
            transactions: vec![block.txdata[1].clone()],
        };
        reconstruction.fill(answer).unwrap();
        assert_eq!(
            reconstruction.finish().unwrap_err(),
            ReconstructError::DuplicateTransaction {
                txid: block.txdata[1].compute_txid()
            }
        );
    }

    #[test]
    fn fill_checks_block_and_count() {
        let block = test_block(6);
        let compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        let mut reconstruction =
            start_reconstruction(&compact, CompactVersion::Wtxid, &block.txdata[3..]).unwrap();
        assert_eq!(reconstruction.missing_indexes(), vec![1, 2]);
        let wrong_block = BlockTransactions {
            block_hash: block.header.prev_blockhash,
            transactions: block.txdata[1..3].to_vec(),
        };
        assert!(matches!(
            reconstruction.fill(wrong_block),
            Err(ReconstructError::WrongBlock { .. })
        ));
        let too_few = BlockTransactions {
            block_hash: block.block_hash(),
            transactions: block.txdata[1..2].to_vec(),
        };
        assert_eq!(
            reconstruction.fill(too_few),
            Err(ReconstructError::CountMismatch {
                expected: 2,
                found: 1
            })
        );
        assert_eq!(reconstruction.missing_indexes(), vec![1, 2]);
    }

    #[test]
    fn two_candidates_with_one_short_id_leave_the_slot_missing() {
        let block = test_block(4);
        let compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        let mut reconstruction =
            start_reconstruction(&compact, CompactVersion::Wtxid, &block.txdata[2..]).unwrap();
        let short_id = compact.short_ids[0];
        let right = &block.txdata[1];
        // The same transaction twice is not ambiguous.
        reconstruction.offer_with_short_id(short_id, right.compute_wtxid().to_raw_hash(), right);
        reconstruction.offer_with_short_id(short_id, right.compute_wtxid().to_raw_hash(), right);
        assert!(reconstruction.missing_indexes().is_empty());
        // A different transaction under the same short id (a 48-bit collision) is.
        let other = spend(500, true);
        reconstruction.offer_with_short_id(short_id, other.compute_wtxid().to_raw_hash(), &other);
        assert_eq!(reconstruction.missing_indexes(), vec![1]);
        // And stays so, whatever is offered next.
        reconstruction.offer([right]);
        assert_eq!(reconstruction.missing_indexes(), vec![1]);
    }

    #[test]
    fn short_ids_twice_in_the_compact_block_want_the_full_block() {
        let block = test_block(4);
        let mut compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        compact.short_ids[2] = compact.short_ids[0];
        let error = start_reconstruction(&compact, CompactVersion::Wtxid, []).unwrap_err();
        assert_eq!(
            error,
            ReconstructError::ShortIdCollision {
                short_id: compact.short_ids[0]
            }
        );
        assert!(error.wants_full_block());
    }

    #[test]
    fn prefilled_indexes_are_differential_and_checked() {
        let block = test_block(4);
        let mut compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        // Prefill transaction 3 as well: differential index 2 after index 0 (3 - 0 - 1).
        compact.short_ids.remove(2);
        compact.prefilled_txs.push(PrefilledTransaction {
            idx: 2,
            tx: block.txdata[3].clone(),
        });
        let reconstruction =
            start_reconstruction(&compact, CompactVersion::Wtxid, &block.txdata[1..]).unwrap();
        assert!(reconstruction.missing_indexes().is_empty());
        assert_eq!(
            serialize(&reconstruction.finish().unwrap()),
            serialize(&block)
        );

        // 0 + 1 + 4 = 5: past the end of a 5-transaction block.
        compact.prefilled_txs[1].idx = 4;
        assert_eq!(
            start_reconstruction(&compact, CompactVersion::Wtxid, []).unwrap_err(),
            ReconstructError::PrefilledIndex {
                position: 1,
                index: 5,
                count: 5
            }
        );
        compact.prefilled_txs[1].idx = u16::MAX;
        assert!(matches!(
            start_reconstruction(&compact, CompactVersion::Wtxid, []),
            Err(ReconstructError::PrefilledIndex {
                position: 1,
                index: 65_536,
                count: 5
            })
        ));
    }

    #[test]
    fn oversized_or_empty_compact_blocks_are_refused() {
        let block = test_block(1);
        let mut compact = compact_block(&block, NONCE, CompactVersion::Wtxid).unwrap();
        compact.short_ids = (0..MAX_BLOCK_TXS as u64)
            .map(|i| {
                let [a, b, c, d, e, f, ..] = i.to_le_bytes();
                ShortId::from([a, b, c, d, e, f])
            })
            .collect();
        assert_eq!(
            start_reconstruction(&compact, CompactVersion::Wtxid, []).unwrap_err(),
            ReconstructError::TooManyTransactions {
                count: MAX_BLOCK_TXS + 1,
                max: MAX_BLOCK_TXS
            }
        );
        compact.short_ids.pop();
        assert!(start_reconstruction(&compact, CompactVersion::Wtxid, []).is_ok());
        compact.short_ids.clear();
        compact.prefilled_txs.clear();
        assert_eq!(
            start_reconstruction(&compact, CompactVersion::Wtxid, []).unwrap_err(),
            ReconstructError::NoTransactions
        );
    }
}
