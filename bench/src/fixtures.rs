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

/// The `mining.notify` params a pool sends for `job`, written from the Stratum conventions
/// (prevhash words byte-swapped, numbers as big-endian hex), not from either side's code.
pub fn notify_params(job: &JobRecord, clean: bool) -> serde_json::Value {
    use bitcoin::hex::DisplayHex;
    let mut prevhash = job.prev_hash;
    for word in prevhash.chunks_exact_mut(4) {
        word.reverse();
    }
    serde_json::json!([
        job.job_id_hex(),
        prevhash.to_lower_hex_string(),
        job.coinb1.to_lower_hex_string(),
        job.coinb2.to_lower_hex_string(),
        job.merkle_branch
            .iter()
            .map(|n| n.to_lower_hex_string())
            .collect::<Vec<_>>(),
        format!("{:08x}", job.version),
        format!("{:08x}", job.bits),
        format!("{:08x}", job.ntime),
        clean
    ])
}

/// The share-hashing workload of DESIGN.md: coinb1 (80 bytes), coinb2 (158 bytes; 250 bytes of
/// coinbase with a 4 + 8 byte extranonce) and a 12-level merkle branch, as (coinb1, coinb2,
/// branch). The hashing benchmarks all measure this one workload.
pub fn design_share_parts() -> (Vec<u8>, Vec<u8>, Vec<[u8; 32]>) {
    use bitcoin::hashes::{sha256d, Hash};
    let bytes = |n: usize, seed: u8| -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    };
    let branch: Vec<[u8; 32]> = (0..12u8)
        .map(|i| sha256d::Hash::hash(&[i]).to_byte_array())
        .collect();
    (bytes(80, 1), bytes(158, 2), branch)
}

/// [`design_share_parts`] as the gateway's per-job hasher.
pub fn design_job_hasher() -> ironpool_shared::sha256d::JobHasher {
    let (coinb1, coinb2, branch) = design_share_parts();
    ironpool_shared::sha256d::JobHasher::new(&coinb1, &coinb2, &branch, [7; 32], 0x1d00_ffff)
}
