//! A job as the pool announced it in `mining.notify`, and the block header a miner builds from it,
//! exactly as cgminer does:
//!
//! - `prevhash` is hex whose 4-byte words are each byte-swapped: swap every word back to get the
//!   hash in internal byte order (header bytes 4..36);
//! - `version`, `nbits` and `ntime` are big-endian hex of a `u32`, written little-endian in the header;
//! - the coinbase is `coinb1 + extranonce1 + extranonce2 + coinb2`; its sha256d is folded with each
//!   merkle branch entry (internal-order hex, used as decoded) into the merkle root;
//! - the nonce goes little-endian into bytes 76..80 and is submitted as big-endian hex of its value.
//!
//! Nothing here trusts the pool: every field is checked for type, length and range.

use super::protocol::ProtocolError;
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::hex::FromHex;
use serde_json::Value;

/// Longest coinbase part accepted from a pool (hex-decoded bytes): far above any real coinbase.
const COINBASE_PART_MAX: usize = 100_000;
/// Deepest merkle branch accepted: 2^32 transactions.
const MERKLE_BRANCH_MAX: usize = 32;

/// The fields of one `mining.notify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyJob {
    /// The pool's job id, echoed in submits.
    pub job_id: String,
    /// Previous block hash, internal byte order.
    pub prev_hash: [u8; 32],
    /// Coinbase bytes before `extranonce1`.
    pub coinb1: Vec<u8>,
    /// Coinbase bytes after `extranonce2`.
    pub coinb2: Vec<u8>,
    /// Merkle branch of the coinbase, internal byte order.
    pub merkle_branch: Vec<[u8; 32]>,
    /// Block version.
    pub version: u32,
    /// Compact network target.
    pub nbits: u32,
    /// Header time.
    pub ntime: u32,
    /// Whether older work must be dropped.
    pub clean: bool,
}

impl NotifyJob {
    /// Parses the `params` array of a `mining.notify`.
    pub fn from_params(params: &Value) -> Result<Self, ProtocolError> {
        let fields = params
            .as_array()
            .ok_or_else(|| ProtocolError::field("mining.notify", "params", "not an array"))?;
        if fields.len() < 9 {
            return Err(ProtocolError::field(
                "mining.notify",
                "params",
                format!("{} parameters, expected 9", fields.len()),
            ));
        }
        let text = |i: usize, name: &'static str| {
            fields[i]
                .as_str()
                .ok_or_else(|| ProtocolError::field("mining.notify", name, "not a string"))
        };
        let job_id = text(0, "job_id")?;
        // Echoed in submits: printable ASCII without quote or backslash, so it needs no escaping.
        if job_id.is_empty()
            || job_id.len() > 64
            || !job_id
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(ProtocolError::field(
                "mining.notify",
                "job_id",
                "empty, longer than 64 characters, or not printable ASCII without quotes",
            ));
        }
        let prev_hash = prevhash_from_stratum(text(1, "prevhash")?)
            .map_err(|e| ProtocolError::field("mining.notify", "prevhash", e))?;
        let coinb1 = hex_bytes(text(2, "coinb1")?, "coinb1")?;
        let coinb2 = hex_bytes(text(3, "coinb2")?, "coinb2")?;
        let branch = fields[4].as_array().ok_or_else(|| {
            ProtocolError::field("mining.notify", "merkle_branch", "not an array")
        })?;
        if branch.len() > MERKLE_BRANCH_MAX {
            return Err(ProtocolError::field(
                "mining.notify",
                "merkle_branch",
                format!("{} entries, at most {MERKLE_BRANCH_MAX}", branch.len()),
            ));
        }
        let merkle_branch = branch
            .iter()
            .map(|node| {
                node.as_str()
                    .and_then(|h| <[u8; 32]>::from_hex(h).ok())
                    .ok_or_else(|| {
                        ProtocolError::field(
                            "mining.notify",
                            "merkle_branch",
                            "entry is not 32 bytes of hex",
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let version = hex_u32(text(5, "version")?, "version")?;
        let nbits = hex_u32(text(6, "nbits")?, "nbits")?;
        let ntime = hex_u32(text(7, "ntime")?, "ntime")?;
        let clean = fields[8]
            .as_bool()
            .ok_or_else(|| ProtocolError::field("mining.notify", "clean_jobs", "not a boolean"))?;
        Ok(NotifyJob {
            job_id: job_id.to_owned(),
            prev_hash,
            coinb1,
            coinb2,
            merkle_branch,
            version,
            nbits,
            ntime,
            clean,
        })
    }
}

fn hex_bytes(text: &str, name: &'static str) -> Result<Vec<u8>, ProtocolError> {
    if text.len() > 2 * COINBASE_PART_MAX {
        return Err(ProtocolError::field("mining.notify", name, "too long"));
    }
    Vec::<u8>::from_hex(text).map_err(|e| ProtocolError::field("mining.notify", name, e))
}

/// Parses 8 hex digits (big-endian) into a `u32`, as stratum sends version, nbits and ntime.
pub fn hex_u32(text: &str, name: &'static str) -> Result<u32, ProtocolError> {
    if text.len() != 8 {
        return Err(ProtocolError::field(
            "mining.notify",
            name,
            format!("{text:?} is not 8 hex digits"),
        ));
    }
    u32::from_str_radix(text, 16).map_err(|e| ProtocolError::field("mining.notify", name, e))
}

/// The previous block hash in internal byte order from its stratum form (hex of the internal
/// bytes with each 4-byte word byte-swapped).
pub fn prevhash_from_stratum(text: &str) -> Result<[u8; 32], String> {
    let mut bytes = <[u8; 32]>::from_hex(text).map_err(|e| e.to_string())?;
    for word in bytes.chunks_exact_mut(4) {
        word.reverse();
    }
    Ok(bytes)
}

/// The sha256d of `coinb1 + extranonce1 + extranonce2 + coinb2`, internal byte order.
pub fn coinbase_txid(
    coinb1: &[u8],
    extranonce1: &[u8],
    extranonce2: &[u8],
    coinb2: &[u8],
) -> [u8; 32] {
    let mut engine = sha256d::Hash::engine();
    for part in [coinb1, extranonce1, extranonce2, coinb2] {
        engine.input(part);
    }
    sha256d::Hash::from_engine(engine).to_byte_array()
}

/// Folds the coinbase txid with the branch: `root = sha256d(root || node)` for each node.
pub fn merkle_root(coinbase_txid: [u8; 32], branch: &[[u8; 32]]) -> [u8; 32] {
    branch.iter().fold(coinbase_txid, |acc, node| {
        let mut engine = sha256d::Hash::engine();
        engine.input(&acc);
        engine.input(node);
        sha256d::Hash::from_engine(engine).to_byte_array()
    })
}

/// The 80-byte header for `job` with the given merkle root, (rolled) version, time and nonce.
pub fn build_header(
    job: &NotifyJob,
    merkle_root: &[u8; 32],
    version: u32,
    ntime: u32,
    nonce: u32,
) -> [u8; 80] {
    let mut header = [0u8; 80];
    header[0..4].copy_from_slice(&version.to_le_bytes());
    header[4..36].copy_from_slice(&job.prev_hash);
    header[36..68].copy_from_slice(merkle_root);
    header[68..72].copy_from_slice(&ntime.to_le_bytes());
    header[72..76].copy_from_slice(&job.nbits.to_le_bytes());
    header[76..80].copy_from_slice(&nonce.to_le_bytes());
    header
}

/// The block hash of a header (sha256d digest bytes, internal order).
pub fn header_hash(header: &[u8; 80]) -> [u8; 32] {
    sha256d::Hash::hash(header).to_byte_array()
}

/// Deposits the low bits of `value` into the set bits of `mask`, lowest first (a software `pdep`):
/// the `value`-th combination of rollable version bits.
pub fn spread_bits(mut value: u32, mask: u32) -> u32 {
    let mut out = 0;
    let mut remaining = mask;
    while remaining != 0 && value != 0 {
        let lowest = remaining & remaining.wrapping_neg();
        if value & 1 == 1 {
            out |= lowest;
        }
        value >>= 1;
        remaining &= remaining - 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::notify_params;
    use bitcoin::consensus::serialize;
    use ironpool_shared::work::{header_for_solution, ExtranonceSizes, JobRecord, Solution};
    use serde_json::json;

    fn job_record() -> JobRecord {
        let mut prev_hash = [0u8; 32];
        for (i, b) in prev_hash.iter_mut().enumerate() {
            *b = i as u8 * 7 + 1;
        }
        JobRecord {
            job_id: 0x2a,
            clean: true,
            height: 101,
            prev_hash,
            version: 0x2000_0000,
            version_mask: 0x1fff_e000,
            bits: 0x1f00_ffff,
            ntime: 1_700_000_000,
            ntime_min: 1_699_999_000,
            ntime_max: 1_700_007_200,
            extranonce: ExtranonceSizes::default(),
            coinb1: (0..60).collect(),
            coinb2: (100..180).collect(),
            merkle_branch: vec![[0x11; 32], [0x22; 32], [0x33; 32]],
            created_at_us: 0,
        }
    }

    #[test]
    fn header_matches_the_pool_side_header_for_solution() {
        let record = job_record();
        let job =
            NotifyJob::from_params(&notify_params(&record, record.clean)).expect("valid notify");
        assert_eq!(job.prev_hash, record.prev_hash);
        assert_eq!(job.job_id, "2a");
        // A job id is echoed inside a JSON string: quotes, backslashes and controls are refused.
        for bad in ["2\"a", "2\\a", "2 a", "", &"a".repeat(65)] {
            let mut params = notify_params(&record, record.clean);
            params[0] = json!(bad);
            assert!(NotifyJob::from_params(&params).is_err(), "{bad:?} accepted");
        }
        for (i, rolled) in [0u32, 0x2000, 0x1fff_e000, 0x0aaa_0000]
            .into_iter()
            .enumerate()
        {
            let extranonce1 = vec![0xa0, 0xb1, 0xc2, i as u8];
            let extranonce2 = (i as u64 * 977).to_be_bytes().to_vec();
            let version = record.version | rolled;
            let ntime = record.ntime + i as u32;
            let nonce = 0xdead_beef_u32.wrapping_mul(i as u32 + 1);
            let txid = coinbase_txid(&job.coinb1, &extranonce1, &extranonce2, &job.coinb2);
            let root = merkle_root(txid, &job.merkle_branch);
            let ours = build_header(&job, &root, version, ntime, nonce);
            let theirs = header_for_solution(
                &record,
                &Solution {
                    extranonce1,
                    extranonce2,
                    ntime,
                    nonce,
                    version,
                },
            )
            .expect("sizes match");
            assert_eq!(ours.to_vec(), serialize(&theirs));
            assert_eq!(header_hash(&ours), theirs.block_hash().to_byte_array());
        }
    }

    #[test]
    fn malformed_notifies_are_errors() {
        let good = notify_params(&job_record(), true);
        assert!(NotifyJob::from_params(&good).is_ok());
        for (index, bad) in [
            (1, json!("00")),
            (1, json!(5)),
            (2, json!("zz")),
            (4, json!(["00"])),
            (4, json!("not an array")),
            (5, json!("2000000")),
            (6, json!("1f00fffg")),
            (8, json!("true")),
        ] {
            let mut params = good.clone();
            params[index] = bad;
            assert!(NotifyJob::from_params(&params).is_err(), "field {index}");
        }
        assert!(NotifyJob::from_params(&json!([])).is_err());
        assert!(NotifyJob::from_params(&json!({})).is_err());
    }

    #[test]
    fn spread_bits_fills_the_mask_from_the_lowest_bit() {
        assert_eq!(spread_bits(1, 0x1fff_e000), 0x2000);
        assert_eq!(spread_bits(3, 0x1fff_e000), 0x6000);
        assert_eq!(spread_bits(0xffff, 0x1fff_e000), 0x1fff_e000);
        assert_eq!(spread_bits(0xffff_ffff, 0x1fff_e000), 0x1fff_e000);
        assert_eq!(spread_bits(5, 0), 0);
    }
}
