//! Errors of the P2P module, one type per consequence:
//!
//! - [`P2pError`]: the byte stream from a peer cannot be turned into messages. Every variant is
//!   fatal for the connection: the caller disconnects (the stream has no resynchronisation point,
//!   and a peer that sends any of these is broken or hostile).
//! - [`CompactBlockError`]: one of our blocks cannot be sent as a compact block; send it whole.
//! - [`BlockTxnRequestError`]: a peer's `getblocktxn` cannot be answered: it asked for another
//!   block or for transactions the block does not have. Ignore the request or drop the peer.
//! - [`ReconstructError`]: a compact block did not become a block.
//!   [`wants_full_block`](ReconstructError::wants_full_block) says whether to ask the peer for the
//!   full block (the compact block was well formed but did not resolve, as short ids may collide)
//!   or whether the peer sent something invalid.
//!
//! Messages are lower-case and name the field and the value found.

use bitcoin::bip152::ShortId;
use bitcoin::hex::DisplayHex;
use bitcoin::p2p::Magic;
use bitcoin::{BlockHash, TxMerkleNode, Txid};

/// A peer's byte stream that cannot be cut into messages or whose message cannot be decoded.
/// Fatal for the connection: the caller disconnects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum P2pError {
    /// The header's network magic is not ours: another network, or not the Bitcoin protocol.
    #[error("network magic {found} is not the expected {expected}")]
    Magic { found: Magic, expected: Magic },
    /// The 12 command bytes are not printable ASCII followed by NUL padding only.
    #[error("command bytes {} are not printable ascii padded with nul", .bytes.as_hex())]
    BadCommand { bytes: [u8; 12] },
    /// The announced payload length exceeds the limit; refused before any payload is buffered.
    #[error("{command}: payload of {len} bytes exceeds the limit of {max} bytes")]
    Oversize {
        command: String,
        len: u64,
        max: usize,
    },
    /// The first 4 bytes of the payload's double SHA-256 differ from the header's checksum.
    #[error("{command}: checksum {} does not match the payload's {}", .found.as_hex(), .expected.as_hex())]
    Checksum {
        command: String,
        found: [u8; 4],
        expected: [u8; 4],
    },
    /// A list longer than the protocol allows (`inv`, `getdata`, `notfound`, `headers`).
    #[error("{command}: {count} entries exceed the limit of {max}")]
    TooMany {
        command: String,
        count: u64,
        max: usize,
    },
    /// The payload does not decode as the command's message (truncated, trailing bytes, a value
    /// out of range).
    #[error("{command}: payload does not decode: {reason}")]
    Payload { command: String, reason: String },
}

/// A block of ours that cannot be sent as a compact block: send the whole block instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompactBlockError {
    /// The block has no transaction at all (not even a coinbase).
    #[error("block {block} has no transaction")]
    NoTransactions { block: BlockHash },
    /// More transactions than a receiver accepts in a compact block.
    #[error("block {block} has {count} transactions, more than the {max} of a compact block")]
    TooManyTransactions {
        block: BlockHash,
        count: usize,
        max: usize,
    },
    /// The bitcoin crate refused to build it (cannot happen with the versions and prefill used
    /// here; kept so that no input makes the code panic).
    #[error("block {block}: {reason}")]
    Bip152 { block: BlockHash, reason: String },
}

/// A `getblocktxn` that cannot be answered from the block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockTxnRequestError {
    /// The request names another block than the one given.
    #[error("request is for block {requested}, not {block}")]
    WrongBlock {
        requested: BlockHash,
        block: BlockHash,
    },
    /// An index at or past the block's transaction count.
    #[error("transaction index {index} is out of range for a block of {count} transactions")]
    IndexOutOfRange { index: u64, count: usize },
}

/// A compact block that did not become a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReconstructError {
    /// The compact block announces more transactions than a 4,000,000-weight block can hold:
    /// invalid.
    #[error("compact block announces {count} transactions, more than the {max} a block can hold")]
    TooManyTransactions { count: usize, max: usize },
    /// The compact block has neither short ids nor prefilled transactions: invalid.
    #[error("compact block has no transaction")]
    NoTransactions,
    /// A prefilled transaction's (differentially encoded) index overflows or points at or past the
    /// end of the block: invalid. `position` is its place in the prefilled list.
    #[error(
        "prefilled transaction {position} has index {index}, out of range for {count} transactions"
    )]
    PrefilledIndex {
        position: usize,
        index: u64,
        count: usize,
    },
    /// Two transactions of the block have the same short id: the block may be valid, ask for the
    /// full block.
    #[error("short id {short_id:x} appears twice in the compact block")]
    ShortIdCollision { short_id: ShortId },
    /// A `blocktxn` for another block.
    #[error("blocktxn is for block {found}, not {expected}")]
    WrongBlock {
        expected: BlockHash,
        found: BlockHash,
    },
    /// A `blocktxn` with another count of transactions than the missing ones asked for.
    #[error("blocktxn holds {found} transactions, {expected} were asked for")]
    CountMismatch { expected: usize, found: usize },
    /// [`finish`](super::Reconstruction::finish) called while transactions are still missing
    /// (a caller bug: fill them first).
    #[error("{missing} transactions are still missing")]
    Incomplete { missing: usize },
    /// The same transaction twice in the reconstructed block (a short id matched a transaction
    /// that is elsewhere in the block, or a mutated block): ask for the full block.
    #[error("transaction {txid} appears twice in the reconstructed block")]
    DuplicateTransaction { txid: Txid },
    /// The transactions do not hash to the header's merkle root (a short id matched the wrong
    /// transaction): ask for the full block.
    #[error("merkle root {computed} of the transactions is not the header's {header}")]
    MerkleMismatch {
        header: TxMerkleNode,
        computed: TxMerkleNode,
    },
    /// The witnesses do not match the coinbase's witness commitment (a version-2 short id matched
    /// a transaction with another witness): ask for the full block.
    #[error("witness commitment of the reconstructed block does not match its coinbase")]
    WitnessCommitmentMismatch,
}

impl ReconstructError {
    /// Whether the compact block was well formed and the block may still be valid: the caller asks
    /// the peer for the full block. Otherwise the peer sent something invalid (or the caller
    /// misused [`Reconstruction`](super::Reconstruction)).
    pub fn wants_full_block(&self) -> bool {
        matches!(
            self,
            ReconstructError::ShortIdCollision { .. }
                | ReconstructError::DuplicateTransaction { .. }
                | ReconstructError::MerkleMismatch { .. }
                | ReconstructError::WitnessCommitmentMismatch
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_and_the_value() {
        let e = P2pError::Magic {
            found: Magic::BITCOIN,
            expected: Magic::from_bytes([0xda, 0xb5, 0xbf, 0xfa]),
        };
        assert_eq!(
            e.to_string(),
            "network magic f9beb4d9 is not the expected dab5bffa"
        );
        let e = P2pError::Checksum {
            command: "inv".to_owned(),
            found: [1, 2, 3, 4],
            expected: [0xaa, 0xbb, 0xcc, 0xdd],
        };
        assert_eq!(
            e.to_string(),
            "inv: checksum 01020304 does not match the payload's aabbccdd"
        );
        let e = P2pError::BadCommand {
            bytes: *b"inv\0x\0\0\0\0\0\0\0",
        };
        assert_eq!(
            e.to_string(),
            "command bytes 696e76007800000000000000 are not printable ascii padded with nul"
        );
    }

    #[test]
    fn only_unresolved_compact_blocks_want_the_full_block() {
        assert!(ReconstructError::WitnessCommitmentMismatch.wants_full_block());
        assert!(ReconstructError::ShortIdCollision {
            short_id: ShortId::from([1, 2, 3, 4, 5, 6])
        }
        .wants_full_block());
        assert!(!ReconstructError::NoTransactions.wants_full_block());
        assert!(!ReconstructError::CountMismatch {
            expected: 2,
            found: 1
        }
        .wants_full_block());
    }
}
