//! What a share is made of, as the hasher sees it: the per-job constants ([`JobHasher`]) and the
//! per-submission values ([`ShareWork`]).

use super::constants::IV;
use crate::work::JobRecord;

/// Precomputed once per job: the SHA-256 midstate after the whole 64-byte blocks of `coinb1`, the
/// tail bytes of `coinb1` after them, `coinb2`, the merkle branch and the header constants, all in
/// the form the compression functions consume (big-endian-decoded words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobHasher {
    /// State after `coinb1[..prefix_len]`.
    pub(crate) midstate: [u32; 8],
    /// Bytes of `coinb1` covered by the midstate (a multiple of 64).
    pub(crate) prefix_len: usize,
    /// `coinb1[prefix_len..]`, fewer than 64 bytes.
    pub(crate) tail: [u8; 64],
    pub(crate) tail_len: usize,
    pub(crate) coinb2: Vec<u8>,
    /// Merkle branch, each node as eight big-endian-decoded words.
    pub(crate) branch: Vec<[u32; 8]>,
    /// Previous block hash (internal byte order) as eight big-endian-decoded words.
    pub(crate) prev: [u32; 8],
    /// `bits` as the header carries it (little-endian), big-endian-decoded.
    pub(crate) bits_word: u32,
}

impl JobHasher {
    /// Precomputes what every share of a job shares. `prev_hash` is in internal byte order (as in
    /// the header); `bits` is the compact target.
    pub fn new(
        coinb1: &[u8],
        coinb2: &[u8],
        merkle_branch: &[[u8; 32]],
        prev_hash: [u8; 32],
        bits: u32,
    ) -> Self {
        let (whole, tail_bytes) = coinb1.as_chunks::<64>();
        let mut midstate = IV;
        for block in whole {
            super::compress(&mut midstate, block);
        }
        let mut tail = [0u8; 64];
        tail[..tail_bytes.len()].copy_from_slice(tail_bytes);
        JobHasher {
            midstate,
            prefix_len: whole.len() * 64,
            tail,
            tail_len: tail_bytes.len(),
            coinb2: coinb2.to_vec(),
            branch: merkle_branch.iter().map(words_of).collect(),
            prev: words_of(&prev_hash),
            bits_word: bits.swap_bytes(),
        }
    }

    /// The hasher of a job record from the job ring.
    pub fn from_record(job: &JobRecord) -> Self {
        Self::new(
            &job.coinb1,
            &job.coinb2,
            &job.merkle_branch,
            job.prev_hash,
            job.bits,
        )
    }

    /// Length of `coinb1`.
    pub fn coinb1_len(&self) -> usize {
        self.prefix_len + self.tail_len
    }

    /// Depth of the merkle branch.
    pub fn branch_len(&self) -> usize {
        self.branch.len()
    }

    /// Compressions one share of this job costs with extranonces of `extranonce_len` bytes in all:
    /// the coinbase blocks after the midstate, the coinbase's outer hash, three per merkle level
    /// and three for the header.
    pub fn compressions_per_share(&self, extranonce_len: usize) -> usize {
        coinbase_blocks(self.tail_len + extranonce_len + self.coinb2.len())
            + 1
            + 3 * self.branch.len()
            + 3
    }
}

/// Eight big-endian words of 32 bytes.
fn words_of(bytes: &[u8; 32]) -> [u32; 8] {
    core::array::from_fn(|i| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()))
}

/// Blocks of a message tail of `len` bytes once padded (0x80, zeros, 8-byte length).
#[inline]
pub(crate) fn coinbase_blocks(len: usize) -> usize {
    (len + 9).div_ceil(64)
}

/// One submission: the job it is for and the miner's values.
#[derive(Debug, Clone, Copy)]
pub struct ShareWork<'a> {
    pub job: &'a JobHasher,
    /// The session's extranonce1.
    pub extranonce1: &'a [u8],
    /// The miner's extranonce2.
    pub extranonce2: &'a [u8],
    /// Full header version, after version rolling.
    pub version: u32,
    /// Header time.
    pub ntime: u32,
    /// Header nonce.
    pub nonce: u32,
}

impl ShareWork<'_> {
    /// Bytes of the coinbase after the job's midstate, before padding.
    #[inline]
    pub(crate) fn coinbase_tail_len(&self) -> usize {
        self.job.tail_len + self.extranonce1.len() + self.extranonce2.len() + self.job.coinb2.len()
    }

    /// Block `k` of the coinbase after the midstate (`coinb1` tail ‖ extranonce1 ‖ extranonce2 ‖
    /// `coinb2` ‖ padding), as message words. `tail_len` is [`Self::coinbase_tail_len`] and
    /// `blocks` is [`coinbase_blocks`] of it.
    #[inline]
    pub(crate) fn coinbase_block(
        &self,
        k: usize,
        tail_len: usize,
        blocks: usize,
        out: &mut [u32; 16],
    ) {
        let job = self.job;
        let start = 64 * k;
        let end = start + 64;
        let mut bytes = [0u8; 64];
        let mut pos = 0;
        for part in [
            &job.tail[..job.tail_len],
            self.extranonce1,
            self.extranonce2,
            &job.coinb2,
        ] {
            let part_end = pos + part.len();
            let lo = start.max(pos);
            let hi = end.min(part_end);
            if lo < hi {
                bytes[lo - start..hi - start].copy_from_slice(&part[lo - pos..hi - pos]);
            }
            pos = part_end;
        }
        debug_assert_eq!(pos, tail_len);
        if (start..end).contains(&tail_len) {
            bytes[tail_len - start] = 0x80;
        }
        if k + 1 == blocks {
            let bits = ((job.prefix_len + tail_len) as u64) * 8;
            bytes[56..].copy_from_slice(&bits.to_be_bytes());
        }
        *out = super::block_words(&bytes);
    }
}
