//! Bitcoin P2P protocol, client side, sans-I/O: bytes in, messages out; messages in, bytes out;
//! compact blocks built and rebuilt. The callers own sockets, timers and peer policy:
//! bitpeer (connects to Bitcoin nodes to learn new blocks early and to push the pool's blocks)
//! and blockmaster (relays blocks between pool sites as BIP152 compact blocks).
//!
//! - [`P2pDecoder`] and [`encode_message`] (`codec`): message framing over the bitcoin crate's
//!   `NetworkMessage`, with the header checked before the payload is buffered and list counts
//!   checked before it is decoded.
//! - [`version_message`] (`version`): our `version`: protocol 70016, no services, no transaction
//!   relay.
//! - [`compact_block`] and [`answer_block_txn_request`] (`compact`): a block of ours as a compact
//!   block, and the transactions a peer asks for.
//! - [`start_reconstruction`] and [`Reconstruction`] (`reconstruct`): a peer's compact block back
//!   to a block, from transactions we know plus the ones we ask for.
//! - `error`: one error type per consequence: [`P2pError`] closes the connection,
//!   [`ReconstructError`] says whether to ask for the full block.
//!
//! The nodes: Bitcoin SV on regtest in tests (magic `da b5 bf fa`, no segwit, compact blocks
//! version 1 only) and Bitcoin Core in production (compact blocks version 2, wtxids).
//!
//! Invariants: no input makes a function here panic or allocate beyond the bounds stated on it;
//! every peer-supplied count is checked against a protocol limit ([`MAX_INV_ENTRIES`],
//! [`MAX_HEADERS_PER_MESSAGE`], [`MAX_BLOCK_TXS`], the configured payload limit) before use.

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod codec;
mod compact;
mod error;
mod reconstruct;
mod version;

pub use codec::{
    encode_message, Decoded, P2pDecoder, HEADER_BYTES, IDLE_CAPACITY_BYTES_MAX,
    MAX_HEADERS_PER_MESSAGE, MAX_INV_ENTRIES, PAYLOAD_BYTES_MAX_DEFAULT,
};
pub use compact::{
    answer_block_txn_request, compact_block, CompactVersion, MAX_BLOCK_TXS, MAX_BLOCK_WEIGHT,
    MIN_TRANSACTION_WEIGHT,
};
pub use error::{BlockTxnRequestError, CompactBlockError, P2pError, ReconstructError};
pub use reconstruct::{start_reconstruction, Reconstruction};
pub use version::{version_message, PROTOCOL_VERSION, USER_AGENT_BYTES_MAX};
