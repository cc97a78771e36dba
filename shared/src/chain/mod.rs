//! The chain as seen from a header: what the jobmaster needs to mine an empty block on a tip it
//! heard of (a P2P announcement, another pool's stratum job) before its node has a template.
//!
//! Everything here is pure logic on headers and stratum fields, and every input is a peer's claim:
//! functions check rather than trust, and say so ([`NextBitsError::NeedsHistory`]) when a header
//! alone cannot give the answer rather than guess a value that would make the block invalid.
//!
//! - [`rules`]: the proof-of-work and subsidy constants of each network ([`ChainRules`]).
//! - [`compact`]: compact bits decoded with Bitcoin Core's negative, overflow and zero checks.
//! - [`next_work`]: the bits of the next block ([`next_bits`]) and a history-free sanity check of
//!   announced bits ([`plausible_bits`]).
//! - [`header_check`]: an announced header's proof of work ([`check_proof_of_work`]).
//! - [`bip34`]: the height at the start of a coinbase scriptSig, from a stratum `coinb1`.
//! - [`stratum_prevhash`]: a `mining.notify` prevhash back in header byte order.
//! - [`empty_template`](mod@empty_template): a transaction-less [`BlockTemplate`](crate::work::BlockTemplate) on an
//!   announced tip.

pub mod bip34;
pub mod compact;
pub mod empty_template;
pub mod header_check;
pub mod next_work;
pub mod rules;
pub mod stratum_prevhash;

pub use bip34::{height_from_coinb1, height_from_coinbase, height_from_script_sig, Bip34Error};
pub use compact::{target_from_compact, CompactError};
pub use empty_template::{empty_template, AnnouncedTip, EmptyTemplateError};
pub use header_check::{check_proof_of_work, PowError};
pub use next_work::{next_bits, plausible_bits, BitsError, NextBitsError, TipInfo};
pub use rules::{ChainRules, RulesError};
pub use stratum_prevhash::{prev_hash_from_stratum, PrevHashError};
