//! Shares of one job and one extranonce layout, `LANES` at a time in lockstep on a multi-buffer
//! backend (AVX2, AVX-512).
//!
//! Such shares go through the same sequence of compressions, so each step's message words can be
//! built directly in SIMD registers: a merkle level's block is the running digest (already one
//! register per word) and the branch node (one broadcast per word), an outer hash is the digest
//! and constant padding, the header is the digest, the job's constants and three per-lane words.
//! Only the coinbase blocks, which carry each share's extranonces, are assembled per lane and
//! transposed. [`split`] cuts a batch into such groups and leaves the rest to a per-lane
//! pipeline.

use super::share::{JobHasher, ShareWork};

/// The key shares must share to run in lockstep: the job and the extranonce lengths.
#[inline]
fn key(w: &ShareWork<'_>) -> (usize, usize, usize) {
    (
        w.job as *const JobHasher as usize,
        w.extranonce1.len(),
        w.extranonce2.len(),
    )
}

/// Hashes `works` into `out`: every full group of `N` shares with one key through `full`, the
/// remaining shares (fewer than `N` per key) through `rest`, in one call.
#[inline]
pub(crate) fn split<const N: usize>(
    works: &[ShareWork<'_>],
    out: &mut [[u8; 32]],
    mut full: impl FnMut(&[ShareWork<'_>; N], &mut [[u8; 32]; N]),
    rest: impl FnOnce(&[ShareWork<'_>], &mut [[u8; 32]]),
) {
    assert_eq!(works.len(), out.len(), "one output per share");
    // The common batch: one job, one extranonce layout. Chunks in place, no allocation.
    if works.iter().all(|w| key(w) == key(&works[0])) {
        let whole = works.len() / N * N;
        for (w, o) in works[..whole]
            .chunks_exact(N)
            .zip(out[..whole].chunks_exact_mut(N))
        {
            full(w.try_into().unwrap(), o.try_into().unwrap());
        }
        if whole < works.len() {
            rest(&works[whole..], &mut out[whole..]);
        }
        return;
    }
    // A mixed batch: runs of one key (sorted, stable so shares keep their order within a run).
    let mut order: Vec<usize> = (0..works.len()).collect();
    order.sort_by_key(|&i| key(&works[i]));
    let mut left = Vec::new();
    for run in order.chunk_by(|&a, &b| key(&works[a]) == key(&works[b])) {
        let whole = run.len() / N * N;
        for chunk in run[..whole].chunks_exact(N) {
            let group: [ShareWork<'_>; N] = core::array::from_fn(|l| works[chunk[l]]);
            let mut hashes = [[0u8; 32]; N];
            full(&group, &mut hashes);
            for (&i, hash) in chunk.iter().zip(hashes) {
                out[i] = hash;
            }
        }
        left.extend_from_slice(&run[whole..]);
    }
    if !left.is_empty() {
        let group: Vec<ShareWork<'_>> = left.iter().map(|&i| works[i]).collect();
        let mut hashes = vec![[0u8; 32]; group.len()];
        rest(&group, &mut hashes);
        for (&i, hash) in left.iter().zip(hashes) {
            out[i] = hash;
        }
    }
}

/// Defines `hash_lockstep(works: &[ShareWork; LANES], out: &mut [[u8; 32]; LANES])` in a SIMD
/// backend module, with that module's primitives: `splat`, `load_lanes`, `store_lanes`,
/// `transpose_blocks`, `rounds` and `rounds_fixed`.
macro_rules! define_hash_lockstep {
    ($features:literal, $lanes:literal, $v:ty) => {
        /// Header hashes of `LANES` shares of one job with equal extranonce lengths, in
        /// lockstep. Shares of different keys give wrong hashes (never unsafety): only
        /// [`super::lockstep::split`] calls it.
        #[target_feature(enable = $features)]
        pub(crate) fn hash_lockstep(
            works: &[$crate::sha256d::ShareWork<'_>; $lanes],
            out: &mut [[u8; 32]; $lanes],
        ) {
            use core::array::from_fn;
            use $crate::sha256d::constants::{IV, PAD_32, PAD_64_WK};
            let job = works[0].job;
            debug_assert!(works.iter().all(|w| core::ptr::eq(w.job, job)
                && w.extranonce1.len() == works[0].extranonce1.len()
                && w.extranonce2.len() == works[0].extranonce2.len()));
            let iv: [$v; 8] = from_fn(|i| splat(IV[i]));
            // Coinbase, from the job's midstate: the only blocks assembled per lane.
            let tail_len = works[0].coinbase_tail_len();
            let blocks = $crate::sha256d::share::coinbase_blocks(tail_len);
            let mut s: [$v; 8] = from_fn(|i| splat(job.midstate[i]));
            let mut rows = [[0u32; 16]; $lanes];
            for k in 0..blocks {
                for (row, work) in rows.iter_mut().zip(works) {
                    work.coinbase_block(k, tail_len, blocks, row);
                }
                let mut w = transpose_blocks(&rows);
                rounds(&mut s, &mut w);
            }
            // The outer hash of the digest in `s`.
            let outer = |s: &mut [$v; 8]| {
                let mut w: [$v; 16] = from_fn(|i| if i < 8 { s[i] } else { splat(PAD_32[i - 8]) });
                *s = iv;
                rounds(s, &mut w);
            };
            outer(&mut s);
            // Merkle branch: digest ‖ node, the constant padding block, the outer hash.
            for node in &job.branch {
                let mut w: [$v; 16] = from_fn(|i| if i < 8 { s[i] } else { splat(node[i - 8]) });
                s = iv;
                rounds(&mut s, &mut w);
                rounds_fixed(&mut s, &PAD_64_WK);
                outer(&mut s);
            }
            // Header: version ‖ prev_hash ‖ root[0..28], then root[28..32] ‖ ntime ‖ bits ‖ nonce.
            let per_lane = |f: fn(&$crate::sha256d::ShareWork<'_>) -> u32| -> $v {
                load_lanes(&from_fn(|l| f(&works[l]).swap_bytes()))
            };
            let mut w: [$v; 16] = from_fn(|i| match i {
                0 => per_lane(|w| w.version),
                1..=8 => splat(job.prev[i - 1]),
                _ => s[i - 9],
            });
            let root_last = s[7];
            s = iv;
            rounds(&mut s, &mut w);
            let mut w: [$v; 16] = from_fn(|i| match i {
                0 => root_last,
                1 => per_lane(|w| w.ntime),
                2 => splat(job.bits_word),
                3 => per_lane(|w| w.nonce),
                4 => splat(0x8000_0000),
                15 => splat(640),
                _ => splat(0),
            });
            rounds(&mut s, &mut w);
            outer(&mut s);
            let mut words = [[0u32; $lanes]; 8];
            for (word, v) in words.iter_mut().zip(s) {
                store_lanes(word, v);
            }
            for (l, hash) in out.iter_mut().enumerate() {
                for (i, chunk) in hash.chunks_exact_mut(4).enumerate() {
                    chunk.copy_from_slice(&words[i][l].to_be_bytes());
                }
            }
        }
    };
}
pub(crate) use define_hash_lockstep;
