//! Jobs from Bitcoin Core's regtest templates in `../shared/fixtures/`, for tests and benchmarks
//! that need real work without a node.

use ironpool_shared::work::{
    build_job, BlockTemplate, ExtranonceSizes, JobContext, JobParams, JobRecord, PayoutRecipient,
};
use std::path::PathBuf;
use std::sync::Arc;

/// A regtest P2PKH address (testnet prefix): valid on Bitcoin Core and on the Bitcoin SV test node.
pub const REGTEST_PAYOUT: &str = "n1ESb9aqqxPZMG33uCvA9avKqHAtP5DBau";

/// The template with 10 transactions (6 with witness data).
pub const TEMPLATE_10TX: &str = "bitcoin-core-regtest-gbt-10tx.json";

/// A fixture template, parsed.
///
/// # Panics
///
/// When the fixture is missing or unreadable: `../shared` must sit beside the repository.
pub fn template(name: &str) -> BlockTemplate {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BlockTemplate::from_json(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Job settings paying [`REGTEST_PAYOUT`], with the default extranonce layout and rolling mask.
pub fn params(tag: &str) -> JobParams {
    JobParams {
        tag: tag.as_bytes().to_vec(),
        payouts: vec![
            PayoutRecipient::parse(REGTEST_PAYOUT, 1, bitcoin::Network::Regtest)
                .expect("a valid regtest address"),
        ],
        extranonce: ExtranonceSizes::default(),
        version_mask: 0x1fff_e000,
        ntime_roll_secs: 600,
    }
}

/// Job `job_id` built from the 10-transaction template, on a previous block hash of
/// `prev_byte` repeated, with network bits `bits` (`0x207fffff` regtest; `0x1d00ffff` difficulty 1,
/// so that shares at small difficulties are not blocks).
pub fn job(job_id: u32, clean: bool, prev_byte: u8, bits: u32) -> JobRecord {
    job_context(job_id, clean, prev_byte, bits, 0).record
}

/// As [`job`], with the coinbase and transactions a jobmaster keeps, created at `created_at_us`.
pub fn job_context(
    job_id: u32,
    clean: bool,
    prev_byte: u8,
    bits: u32,
    created_at_us: u64,
) -> JobContext {
    let mut t = template(TEMPLATE_10TX);
    t.bits = bitcoin::CompactTarget::from_consensus(bits);
    t.previous_block_hash = bitcoin::hashes::Hash::from_byte_array([prev_byte; 32]);
    let built = build_job(&t, &params("/ironpool-test/"), job_id, clean, created_at_us)
        .expect("the fixture builds a job");
    JobContext {
        record: built.record,
        coinbase: built.coinbase,
        transactions: Arc::new(t.transactions),
    }
}
