//! Compact blocks (BIP152), sending side: a block becomes a header, 6-byte short ids and the
//! coinbase; a peer that misses some transactions asks for them with `getblocktxn`, answered from
//! the block. The receiving side is [`Reconstruction`](super::Reconstruction).
//!
//! Built on `bitcoin::bip152`. Two versions exist and a connection uses the one both sides
//! announced in `sendcmpct` ([`CompactVersion`]): version 1 hashes txids and carries transactions
//! without witnesses (Bitcoin SV, which has no segwit, speaks only this one); version 2 hashes
//! wtxids and carries witnesses (Bitcoin Core speaks only this one since v22).
//!
//! Limit: a compact block holds at most [`MAX_BLOCK_TXS`] transactions, both when we build one and
//! when we receive one. The bound comes from the 4,000,000 weight limit: a valid transaction has at
//! least one input and one output, so at least 60 bytes (version 4, input count 1, outpoint 36,
//! empty script 1, sequence 4, output count 1, value 8, empty script 1, lock time 4), which weigh
//! 240. It also keeps every index within BIP152's 16-bit prefilled indexes. Bitcoin SV blocks can
//! be far larger: this module is not for them.

use bitcoin::bip152::{BlockTransactions, BlockTransactionsRequest, HeaderAndShortIds};
use bitcoin::hashes::sha256d;
use bitcoin::{Block, Transaction};

use super::error::{BlockTxnRequestError, CompactBlockError};

/// The block weight limit (BIP141).
pub const MAX_BLOCK_WEIGHT: usize = 4_000_000;

/// The weight of the smallest valid transaction: 60 bytes without witness, times 4.
pub const MIN_TRANSACTION_WEIGHT: usize = 240;

/// Most transactions in a compact block: 16,666.
pub const MAX_BLOCK_TXS: usize = MAX_BLOCK_WEIGHT / MIN_TRANSACTION_WEIGHT;

const _: () = assert!(MAX_BLOCK_TXS <= u16::MAX as usize);

/// The compact block version of a connection, as announced in `sendcmpct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompactVersion {
    /// Version 1: short ids from txids, transactions without witnesses.
    Txid,
    /// Version 2: short ids from wtxids, transactions with witnesses.
    Wtxid,
}

impl CompactVersion {
    /// The version for a `sendcmpct` version number; `None` for unknown ones (ignore them, as
    /// nodes do).
    pub fn from_number(version: u64) -> Option<Self> {
        match version {
            1 => Some(CompactVersion::Txid),
            2 => Some(CompactVersion::Wtxid),
            _ => None,
        }
    }

    /// The number sent in `sendcmpct`.
    pub fn number(self) -> u64 {
        match self {
            CompactVersion::Txid => 1,
            CompactVersion::Wtxid => 2,
        }
    }

    /// What the short id of `tx` hashes: its txid (version 1) or wtxid (version 2), in internal
    /// byte order.
    pub fn short_id_source(self, tx: &Transaction) -> sha256d::Hash {
        match self {
            CompactVersion::Txid => tx.compute_txid().to_raw_hash(),
            CompactVersion::Wtxid => tx.compute_wtxid().to_raw_hash(),
        }
    }

    /// `tx` as this version carries it: without witnesses for version 1.
    pub fn prepare(self, mut tx: Transaction) -> Transaction {
        if self == CompactVersion::Txid {
            for input in &mut tx.input {
                input.witness.clear();
            }
        }
        tx
    }
}

/// The compact form of our `block`: header, `nonce` (pick a fresh random one per block: it keys
/// the short ids, so a collision under one nonce is gone under the next), the coinbase prefilled
/// and a short id for every other transaction.
///
/// # Errors
///
/// [`CompactBlockError`] for a block without transactions or with more than [`MAX_BLOCK_TXS`]:
/// send the whole block instead.
pub fn compact_block(
    block: &Block,
    nonce: u64,
    version: CompactVersion,
) -> Result<HeaderAndShortIds, CompactBlockError> {
    let count = block.txdata.len();
    if count == 0 {
        return Err(CompactBlockError::NoTransactions {
            block: block.block_hash(),
        });
    }
    if count > MAX_BLOCK_TXS {
        return Err(CompactBlockError::TooManyTransactions {
            block: block.block_hash(),
            count,
            max: MAX_BLOCK_TXS,
        });
    }
    let number = match version {
        CompactVersion::Txid => 1,
        CompactVersion::Wtxid => 2,
    };
    // The crate always prefills the coinbase; nothing else is prefilled.
    HeaderAndShortIds::from_block(block, nonce, number, &[]).map_err(|error| {
        CompactBlockError::Bip152 {
            block: block.block_hash(),
            reason: error.to_string(),
        }
    })
}

/// The answer to a peer's `getblocktxn` for our `block`: the transactions at the requested
/// indexes, in the request's order, as `version` carries them.
///
/// Written here rather than with `BlockTransactions::from_request`: that one is safe, but its
/// error does not say which index was out of range, and it does not strip witnesses for version 1.
///
/// # Errors
///
/// [`BlockTxnRequestError`] when the request names another block or an index at or past the
/// block's transaction count.
pub fn answer_block_txn_request(
    block: &Block,
    request: &BlockTransactionsRequest,
    version: CompactVersion,
) -> Result<BlockTransactions, BlockTxnRequestError> {
    let block_hash = block.block_hash();
    if request.block_hash != block_hash {
        return Err(BlockTxnRequestError::WrongBlock {
            requested: request.block_hash,
            block: block_hash,
        });
    }
    let count = block.txdata.len();
    let transactions = request
        .indexes
        .iter()
        .map(|&index| {
            usize::try_from(index)
                .ok()
                .and_then(|at| block.txdata.get(at))
                .map(|tx| version.prepare(tx.clone()))
                .ok_or(BlockTxnRequestError::IndexOutOfRange { index, count })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BlockTransactions {
        block_hash,
        transactions,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
pub(super) mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::bip152::ShortId;
    use bitcoin::block::{Header, Version as BlockVersion};
    use bitcoin::blockdata::constants::genesis_block;
    use bitcoin::hashes::Hash;
    use bitcoin::transaction::Version;
    use bitcoin::{
        Amount, CompactTarget, Network, OutPoint, ScriptBuf, Sequence, TxIn, TxMerkleNode, TxOut,
        Txid, Witness,
    };

    /// A distinct transaction spending a made-up output; with a witness when `witness`.
    pub(in crate::p2p) fn spend(seed: u32, witness: bool) -> Transaction {
        let mut prev = [0u8; 32];
        prev[..4].copy_from_slice(&seed.to_le_bytes());
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array(prev),
                    vout: seed % 4,
                },
                script_sig: if witness {
                    ScriptBuf::new()
                } else {
                    ScriptBuf::from_bytes(vec![0x51])
                },
                sequence: Sequence::MAX,
                witness: if witness {
                    Witness::from_slice(&[vec![seed as u8; 72], vec![0x02; 33]])
                } else {
                    Witness::new()
                },
            }],
            output: vec![TxOut {
                value: Amount::from_sat(10_000 + u64::from(seed)),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            }],
        }
    }

    /// A regtest block on the genesis block: a coinbase with a witness commitment, then `count`
    /// distinct transactions, every third one with a witness (so its wtxid is not its txid).
    pub(in crate::p2p) fn test_block(count: u32) -> Block {
        let coinbase = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(vec![0x01, 0x01, 0x00]),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[[0u8; 32]]),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(5_000_000_000),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            }],
        };
        let mut block = Block {
            header: Header {
                version: BlockVersion::TWO,
                prev_blockhash: genesis_block(Network::Regtest).block_hash(),
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: 7,
            },
            txdata: std::iter::once(coinbase)
                .chain((1..=count).map(|seed| spend(seed, seed % 3 == 0)))
                .collect(),
        };
        let witness_root = block.witness_root().unwrap();
        let commitment = Block::compute_witness_commitment(&witness_root, &[0u8; 32]);
        let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
        script.extend_from_slice(&commitment.to_byte_array());
        block.txdata[0].output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(script),
        });
        block.header.merkle_root = block.compute_merkle_root().unwrap();
        assert!(block.check_merkle_root());
        assert!(block.check_witness_commitment());
        block
    }

    #[test]
    fn versions_round_trip_through_their_numbers() {
        for version in [CompactVersion::Txid, CompactVersion::Wtxid] {
            assert_eq!(CompactVersion::from_number(version.number()), Some(version));
        }
        assert_eq!(CompactVersion::from_number(0), None);
        assert_eq!(CompactVersion::from_number(3), None);
    }

    #[test]
    fn compact_block_prefills_the_coinbase_and_keys_short_ids_by_version() {
        let block = test_block(20);
        let keys = ShortId::calculate_siphash_keys(&block.header, 42);
        for version in [CompactVersion::Txid, CompactVersion::Wtxid] {
            let compact = compact_block(&block, 42, version).unwrap();
            assert_eq!(compact.header, block.header);
            assert_eq!(compact.nonce, 42);
            assert_eq!(compact.prefilled_txs.len(), 1);
            assert_eq!(compact.prefilled_txs[0].idx, 0);
            assert_eq!(
                compact.prefilled_txs[0].tx,
                version.prepare(block.txdata[0].clone())
            );
            let expected: Vec<ShortId> = block.txdata[1..]
                .iter()
                .map(|tx| ShortId::with_siphash_keys(&version.short_id_source(tx), keys))
                .collect();
            assert_eq!(compact.short_ids, expected);
        }
        // Witness transactions (every third) get other short ids under version 2.
        let v1 = compact_block(&block, 42, CompactVersion::Txid).unwrap();
        let v2 = compact_block(&block, 42, CompactVersion::Wtxid).unwrap();
        for (position, (a, b)) in v1.short_ids.iter().zip(&v2.short_ids).enumerate() {
            let has_witness = (position + 1) % 3 == 0;
            assert_eq!(a != b, has_witness, "short id {position}");
        }
        assert!(v1.prefilled_txs[0].tx.input[0].witness.is_empty());
        assert!(!v2.prefilled_txs[0].tx.input[0].witness.is_empty());
    }

    #[test]
    fn blocks_without_transactions_or_with_too_many_are_sent_whole() {
        let mut block = test_block(0);
        block.txdata.clear();
        assert!(matches!(
            compact_block(&block, 1, CompactVersion::Wtxid),
            Err(CompactBlockError::NoTransactions { .. })
        ));
        let tx = spend(1, false);
        block.txdata = vec![tx; MAX_BLOCK_TXS + 1];
        assert!(matches!(
            compact_block(&block, 1, CompactVersion::Wtxid),
            Err(CompactBlockError::TooManyTransactions { count, max: MAX_BLOCK_TXS, .. })
                if count == MAX_BLOCK_TXS + 1
        ));
    }

    #[test]
    fn block_txn_answers_hold_the_requested_transactions_in_order() {
        let block = test_block(20);
        let request = BlockTransactionsRequest {
            block_hash: block.block_hash(),
            indexes: vec![2, 3, 9, 20],
        };
        let answer = answer_block_txn_request(&block, &request, CompactVersion::Wtxid).unwrap();
        assert_eq!(answer.block_hash, block.block_hash());
        let expected: Vec<Transaction> = [2, 3, 9, 20]
            .iter()
            .map(|&i| block.txdata[i].clone())
            .collect();
        assert_eq!(answer.transactions, expected);
        // Version 1 strips witnesses (transaction 3 and 9 have one).
        let answer = answer_block_txn_request(&block, &request, CompactVersion::Txid).unwrap();
        assert!(answer
            .transactions
            .iter()
            .all(|tx| tx.input.iter().all(|input| input.witness.is_empty())));
        assert_eq!(
            answer.transactions[1].compute_txid(),
            block.txdata[3].compute_txid()
        );
    }

    #[test]
    fn block_txn_requests_out_of_range_or_for_another_block_are_refused() {
        let block = test_block(20);
        let request = BlockTransactionsRequest {
            block_hash: block.block_hash(),
            indexes: vec![1, 21],
        };
        assert_eq!(
            answer_block_txn_request(&block, &request, CompactVersion::Wtxid),
            Err(BlockTxnRequestError::IndexOutOfRange {
                index: 21,
                count: 21
            })
        );
        let request = BlockTransactionsRequest {
            block_hash: block.block_hash(),
            indexes: vec![u64::MAX],
        };
        assert!(matches!(
            answer_block_txn_request(&block, &request, CompactVersion::Wtxid),
            Err(BlockTxnRequestError::IndexOutOfRange {
                index: u64::MAX,
                ..
            })
        ));
        let request = BlockTransactionsRequest {
            block_hash: block.header.prev_blockhash,
            indexes: vec![1],
        };
        assert!(matches!(
            answer_block_txn_request(&block, &request, CompactVersion::Wtxid),
            Err(BlockTxnRequestError::WrongBlock { .. })
        ));
    }
}
