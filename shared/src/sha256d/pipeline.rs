//! The share pipeline, generic over the number of lanes of a compression kernel.
//!
//! Each lane carries one share through its sequence of compressions (coinbase blocks from the job's
//! midstate, the coinbase's outer hash, three per merkle level, three for the header); every step
//! compresses one block in every lane at once. Shares need not be alike: a lane follows its own
//! share's block count and branch depth, and a lane whose share is done takes the next share of
//! the batch at once, so jobs and coinbase lengths can be mixed freely and lanes stay full until the
//! batch runs out.
//!
//! The functions here are `#[inline(always)]` so that each backend's `#[target_feature]` wrapper
//! gets its own copy, compiled with its features and with the kernel inlined into the loop.

use super::constants::{IV, PAD_32, PAD_64};
use super::share::{coinbase_blocks, ShareWork};

/// Where a lane is in its share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// Coinbase block `index` (inner hash).
    Coinbase,
    /// The coinbase's outer hash.
    CoinbaseOuter,
    /// `acc ‖ branch[index]` (inner hash, first block).
    MerkleInner,
    /// The padding block of the 64-byte message.
    MerklePad,
    /// The level's outer hash.
    MerkleOuter,
    /// Header bytes 0..64.
    HeaderInner,
    /// Header bytes 64..80 and padding.
    HeaderTail,
    /// The header's outer hash.
    HeaderOuter,
}

#[derive(Debug, Clone, Copy)]
struct Lane {
    phase: Phase,
    /// Index of the share in the batch.
    work: usize,
    /// Coinbase block or merkle level.
    index: usize,
    /// Coinbase tail length and block count.
    tail_len: usize,
    blocks: usize,
    /// Last word of the merkle root, for the header's second block.
    root_last: u32,
}

const IDLE: Lane = Lane {
    phase: Phase::Idle,
    work: 0,
    index: 0,
    tail_len: 0,
    blocks: 0,
    root_last: 0,
};

/// Sets up the outer hash of the digest in `state`.
#[inline(always)]
fn outer(state: &mut [u32; 8], block: &mut [u32; 16]) {
    block[..8].copy_from_slice(state);
    block[8..].copy_from_slice(&PAD_32);
    *state = IV;
}

/// Digest words as bytes (internal byte order).
#[inline(always)]
fn digest_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[inline(always)]
fn start(
    work: &ShareWork<'_>,
    index: usize,
    lane: &mut Lane,
    state: &mut [u32; 8],
    block: &mut [u32; 16],
) {
    let tail_len = work.coinbase_tail_len();
    let blocks = coinbase_blocks(tail_len);
    *lane = Lane {
        phase: Phase::Coinbase,
        work: index,
        index: 0,
        tail_len,
        blocks,
        root_last: 0,
    };
    *state = work.job.midstate;
    work.coinbase_block(0, tail_len, blocks, block);
}

/// Sets up the lane's next compression after the one just done; returns `false` when the share
/// is finished (its hash then is in `out`).
#[inline(always)]
fn advance(
    work: &ShareWork<'_>,
    lane: &mut Lane,
    state: &mut [u32; 8],
    block: &mut [u32; 16],
    out: &mut [[u8; 32]],
) -> bool {
    match lane.phase {
        Phase::Coinbase => {
            lane.index += 1;
            if lane.index < lane.blocks {
                work.coinbase_block(lane.index, lane.tail_len, lane.blocks, block);
            } else {
                outer(state, block);
                lane.phase = Phase::CoinbaseOuter;
            }
        }
        Phase::CoinbaseOuter | Phase::MerkleOuter => {
            // `state` is the running merkle accumulator (coinbase txid, then each level's node).
            let level = if lane.phase == Phase::CoinbaseOuter {
                0
            } else {
                lane.index + 1
            };
            if let Some(node) = work.job.branch.get(level) {
                block[..8].copy_from_slice(state);
                block[8..].copy_from_slice(node);
                lane.index = level;
                lane.phase = Phase::MerkleInner;
            } else {
                // Header bytes 0..64: version ‖ prev_hash ‖ merkle root[0..28].
                block[0] = work.version.swap_bytes();
                block[1..9].copy_from_slice(&work.job.prev);
                block[9..].copy_from_slice(&state[..7]);
                lane.root_last = state[7];
                lane.phase = Phase::HeaderInner;
            }
            *state = IV;
        }
        Phase::MerkleInner => {
            *block = PAD_64;
            lane.phase = Phase::MerklePad;
        }
        Phase::MerklePad => {
            outer(state, block);
            lane.phase = Phase::MerkleOuter;
        }
        Phase::HeaderInner => {
            // Header bytes 64..80: merkle root[28..32] ‖ ntime ‖ bits ‖ nonce, then padding.
            *block = [
                lane.root_last,
                work.ntime.swap_bytes(),
                work.job.bits_word,
                work.nonce.swap_bytes(),
                0x8000_0000,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                640,
            ];
            lane.phase = Phase::HeaderTail;
        }
        Phase::HeaderTail => {
            outer(state, block);
            lane.phase = Phase::HeaderOuter;
        }
        Phase::HeaderOuter => {
            out[lane.work] = digest_bytes(state);
            return false;
        }
        Phase::Idle => unreachable!("idle lanes are not advanced"),
    }
    true
}

/// Header hashes of `works` into `out`, `N` lanes per step through `compress`; `compress_pad64`
/// compresses [`PAD_64`] into every lane, for the steps where every busy lane is on it (the second
/// block of each merkle level: whenever the lanes are in step, as with shares of one job).
#[inline(always)]
pub(crate) fn hash_shares<const N: usize>(
    works: &[ShareWork<'_>],
    out: &mut [[u8; 32]],
    mut compress: impl FnMut(&mut [[u32; 8]; N], &[[u32; 16]; N]),
    mut compress_pad64: impl FnMut(&mut [[u32; 8]; N]),
) {
    debug_assert_eq!(works.len(), out.len(), "one output per share");
    let mut states = [IV; N];
    let mut blocks = [PAD_64; N];
    let mut lanes = [IDLE; N];
    let mut next = 0;
    let mut active = 0;
    for l in 0..N {
        if let Some(work) = works.get(next) {
            start(work, next, &mut lanes[l], &mut states[l], &mut blocks[l]);
            next += 1;
            active += 1;
        }
    }
    while active > 0 {
        if lanes
            .iter()
            .all(|l| matches!(l.phase, Phase::MerklePad | Phase::Idle))
        {
            compress_pad64(&mut states);
        } else {
            compress(&mut states, &blocks);
        }
        for l in 0..N {
            let lane = &mut lanes[l];
            if lane.phase == Phase::Idle {
                continue;
            }
            if !advance(&works[lane.work], lane, &mut states[l], &mut blocks[l], out) {
                if let Some(work) = works.get(next) {
                    start(work, next, lane, &mut states[l], &mut blocks[l]);
                    next += 1;
                } else {
                    lane.phase = Phase::Idle;
                    active -= 1;
                }
            }
        }
    }
}

/// sha256d of 80-byte headers into `out`, `N` per step.
#[inline(always)]
pub(crate) fn hash_headers<const N: usize>(
    headers: &[[u8; 80]],
    out: &mut [[u8; 32]],
    mut compress: impl FnMut(&mut [[u32; 8]; N], &[[u32; 16]; N]),
) {
    debug_assert_eq!(headers.len(), out.len(), "one output per header");
    for (headers, out) in headers.chunks(N).zip(out.chunks_mut(N)) {
        let mut states = [IV; N];
        let mut blocks = [PAD_64; N];
        for (block, header) in blocks.iter_mut().zip(headers) {
            *block = super::block_words(header[..64].try_into().unwrap());
        }
        compress(&mut states, &blocks);
        for (block, header) in blocks.iter_mut().zip(headers) {
            let mut tail = [0u8; 64];
            tail[..16].copy_from_slice(&header[64..]);
            tail[16] = 0x80;
            tail[62..].copy_from_slice(&640u16.to_be_bytes());
            *block = super::block_words(&tail);
        }
        compress(&mut states, &blocks);
        for (state, block) in states.iter_mut().zip(blocks.iter_mut()) {
            outer(state, block);
        }
        compress(&mut states, &blocks);
        for (o, state) in out.iter_mut().zip(&states) {
            *o = digest_bytes(state);
        }
    }
}

/// Compresses `blocks[i]` into `states[i]` for every `i`, `N` per step.
#[inline(always)]
pub(crate) fn compress_blocks<const N: usize>(
    states: &mut [[u32; 8]],
    blocks: &[[u8; 64]],
    mut compress: impl FnMut(&mut [[u32; 8]; N], &[[u32; 16]; N]),
) {
    assert_eq!(states.len(), blocks.len(), "one block per state");
    for (states, blocks) in states.chunks_mut(N).zip(blocks.chunks(N)) {
        let mut lane_states = [IV; N];
        let mut lane_blocks = [PAD_64; N];
        for l in 0..states.len() {
            lane_states[l] = states[l];
            lane_blocks[l] = super::block_words(&blocks[l]);
        }
        compress(&mut lane_states, &lane_blocks);
        states.copy_from_slice(&lane_states[..states.len()]);
    }
}
