//! The job record: what the jobmaster publishes on the job ring and every gateway shard reads.
//!
//! Binary, little-endian, versioned. The decoder trusts nothing: a record from a ring written by
//! another process (or another build) is checked for every length before it is used.

use super::coinbase::ExtranonceSizes;

/// First byte of every encoded job record.
const MAGIC: u8 = b'J';
/// Layout version of the encoding; bump it when a field changes.
const ENCODING_VERSION: u8 = 1;
/// `coinb1` is at most 42 bytes before the scriptSig plus the 100-byte scriptSig.
pub const COINB1_MAX: usize = 42 + 100;
/// `coinb2` carries the outputs; the coinbase weight cap keeps the whole coinbase under 1,000 bytes.
pub const COINB2_MAX: usize = 4_000;
/// A merkle branch of 32 levels covers 2^32 transactions: far beyond any block.
pub const MERKLE_BRANCH_MAX: usize = 32;

/// A job as the gateways see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Short id, sent to miners in hex (`{:x}`), unique within the jobs kept for late shares.
    pub job_id: u32,
    /// Miners must drop older work: set exactly when the previous block hash changes.
    pub clean: bool,
    /// Height of the block being mined.
    pub height: u32,
    /// Previous block hash, internal byte order.
    pub prev_hash: [u8; 32],
    /// Block version from the template.
    pub version: u32,
    /// Version bits miners may roll (BIP310), already restricted to what the pool allows.
    pub version_mask: u32,
    /// Compact network target.
    pub bits: u32,
    /// The time miners start from.
    pub ntime: u32,
    /// Earliest ntime a share may carry (the template's `mintime`).
    pub ntime_min: u32,
    /// Latest ntime a share may carry.
    pub ntime_max: u32,
    /// Extranonce layout the coinbase was cut for.
    pub extranonce: ExtranonceSizes,
    /// Coinbase bytes before `extranonce1`.
    pub coinb1: Vec<u8>,
    /// Coinbase bytes after `extranonce2`.
    pub coinb2: Vec<u8>,
    /// Merkle branch of the coinbase, internal byte order.
    pub merkle_branch: Vec<[u8; 32]>,
    /// When the jobmaster built it, unix microseconds (for latency figures).
    pub created_at_us: u64,
}

/// Why bytes are not a job record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobDecodeError {
    /// The record ends before a field.
    #[error(
        "job record truncated: {field} needs {needed} bytes at offset {offset}, {available} left"
    )]
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// Not a job record, or from an incompatible build.
    #[error("job record starts with {magic:#04x} version {version}, expected {MAGIC:#04x} version {ENCODING_VERSION}")]
    BadHeader { magic: u8, version: u8 },
    /// A length or value outside its bound.
    #[error("job record field {field} = {value}, expected at most {max}")]
    OutOfRange {
        field: &'static str,
        value: usize,
        max: usize,
    },
    /// Bytes after the last field.
    #[error("job record has {extra} trailing bytes")]
    Trailing { extra: usize },
}

impl JobRecord {
    /// The job id as sent to miners.
    pub fn job_id_hex(&self) -> String {
        format!("{:x}", self.job_id)
    }

    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        debug_assert!(self.coinb1.len() <= COINB1_MAX && self.coinb2.len() <= COINB2_MAX);
        debug_assert!(self.merkle_branch.len() <= MERKLE_BRANCH_MAX);
        let mut out = Vec::with_capacity(
            80 + self.coinb1.len() + self.coinb2.len() + 32 * self.merkle_branch.len(),
        );
        out.extend_from_slice(&[MAGIC, ENCODING_VERSION, u8::from(self.clean)]);
        for word in [
            self.job_id,
            self.height,
            self.version,
            self.version_mask,
            self.bits,
            self.ntime,
            self.ntime_min,
            self.ntime_max,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.prev_hash);
        out.extend_from_slice(&self.created_at_us.to_le_bytes());
        // Sizes are bounded by ExtranonceSizes' ranges (≤ 16) and the constants above.
        out.extend_from_slice(&[
            self.extranonce.extranonce1 as u8,
            self.extranonce.extranonce2 as u8,
        ]);
        out.extend_from_slice(&(self.coinb1.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.coinb1);
        out.extend_from_slice(&(self.coinb2.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.coinb2);
        out.push(self.merkle_branch.len() as u8);
        for node in &self.merkle_branch {
            out.extend_from_slice(node);
        }
        out
    }

    /// Decodes a record, checking every length.
    pub fn decode(bytes: &[u8]) -> Result<Self, JobDecodeError> {
        let mut r = Reader { bytes, offset: 0 };
        let [magic, version, clean] = r.array::<3>("header")?;
        if magic != MAGIC || version != ENCODING_VERSION {
            return Err(JobDecodeError::BadHeader { magic, version });
        }
        let mut words = [0u32; 8];
        for w in &mut words {
            *w = u32::from_le_bytes(r.array("header words")?);
        }
        let [job_id, height, version, version_mask, bits, ntime, ntime_min, ntime_max] = words;
        let prev_hash = r.array::<32>("prev_hash")?;
        let created_at_us = u64::from_le_bytes(r.array("created_at_us")?);
        let [en1, en2] = r.array::<2>("extranonce sizes")?;
        let extranonce = ExtranonceSizes {
            extranonce1: usize::from(en1),
            extranonce2: usize::from(en2),
        };
        if !ExtranonceSizes::EXTRANONCE1_RANGE.contains(&extranonce.extranonce1) {
            return Err(JobDecodeError::OutOfRange {
                field: "extranonce1 size",
                value: extranonce.extranonce1,
                max: 8,
            });
        }
        if !ExtranonceSizes::EXTRANONCE2_RANGE.contains(&extranonce.extranonce2) {
            return Err(JobDecodeError::OutOfRange {
                field: "extranonce2 size",
                value: extranonce.extranonce2,
                max: 16,
            });
        }
        let coinb1 = r.sized("coinb1", COINB1_MAX)?;
        let coinb2 = r.sized("coinb2", COINB2_MAX)?;
        let [branch_len] = r.array::<1>("merkle branch length")?;
        let branch_len = usize::from(branch_len);
        if branch_len > MERKLE_BRANCH_MAX {
            return Err(JobDecodeError::OutOfRange {
                field: "merkle branch length",
                value: branch_len,
                max: MERKLE_BRANCH_MAX,
            });
        }
        let mut merkle_branch = Vec::with_capacity(branch_len);
        for _ in 0..branch_len {
            merkle_branch.push(r.array::<32>("merkle branch")?);
        }
        if r.offset != bytes.len() {
            return Err(JobDecodeError::Trailing {
                extra: bytes.len() - r.offset,
            });
        }
        Ok(JobRecord {
            job_id,
            clean: clean != 0,
            height,
            prev_hash,
            version,
            version_mask,
            bits,
            ntime,
            ntime_min,
            ntime_max,
            extranonce,
            coinb1,
            coinb2,
            merkle_branch,
            created_at_us,
        })
    }
}

pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, offset: 0 }
    }

    pub(super) fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    pub(super) fn take(&mut self, field: &'static str, n: usize) -> Result<&[u8], JobDecodeError> {
        let available = self.bytes.len() - self.offset;
        if n > available {
            return Err(JobDecodeError::Truncated {
                field,
                offset: self.offset,
                needed: n,
                available,
            });
        }
        let slice = &self.bytes[self.offset..self.offset + n];
        self.offset += n;
        Ok(slice)
    }

    pub(super) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], JobDecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    fn sized(&mut self, field: &'static str, max: usize) -> Result<Vec<u8>, JobDecodeError> {
        let len = usize::from(u16::from_le_bytes(self.array(field)?));
        if len > max {
            return Err(JobDecodeError::OutOfRange {
                field,
                value: len,
                max,
            });
        }
        Ok(self.take(field, len)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> JobRecord {
        JobRecord {
            job_id: 0x1a2b,
            clean: true,
            height: 840_000,
            prev_hash: [3; 32],
            version: 0x2000_0000,
            version_mask: 0x1fff_e000,
            bits: 0x1703_4219,
            ntime: 1_700_000_000,
            ntime_min: 1_699_999_000,
            ntime_max: 1_700_000_600,
            extranonce: ExtranonceSizes::default(),
            coinb1: vec![1; 60],
            coinb2: vec![2; 120],
            merkle_branch: vec![[9; 32]; 12],
            created_at_us: 1_700_000_000_123_456,
        }
    }

    #[test]
    fn round_trips() {
        let job = sample();
        assert_eq!(JobRecord::decode(&job.encode()), Ok(job.clone()));
        assert_eq!(job.job_id_hex(), "1a2b");
        let empty = JobRecord {
            merkle_branch: vec![],
            clean: false,
            ..job
        };
        assert_eq!(JobRecord::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(JobRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            JobRecord::decode(&longer),
            Err(JobDecodeError::Trailing { extra: 1 })
        );
        let mut bad = bytes.clone();
        bad[1] = 9;
        assert_eq!(
            JobRecord::decode(&bad),
            Err(JobDecodeError::BadHeader {
                magic: b'J',
                version: 9
            })
        );
        // Flip every byte in turn: decoding may succeed or fail, but never panics.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = JobRecord::decode(&b);
        }
    }
}
