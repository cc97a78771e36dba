//! SHA-256 compression with the x86 SHA extensions (SHA-NI), one message or several interleaved.
//!
//! Every function here carries `#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]`: it is safe
//! to call only from code compiled with those features, and the only callers outside this module
//! are the dispatcher's `unsafe` blocks in `mod.rs`, after run-time detection. No AVX feature is
//! enabled here on purpose: `sha256rnds2` has only a legacy-SSE encoding, and mixing it with VEX
//! code without `vzeroupper` is what made SHA-NI ~100x slower under fat LTO with
//! `target-cpu=native` (`../shared/reference/rust-crates.md` §3).
//!
//! The interleaved variants run independent messages through the same instruction stream:
//! `sha256rnds2` has a latency of several cycles but a throughput of about one per cycle, so a
//! second chain fills the bubbles of the first.

use super::constants::{K, PAD_64_WK};
use super::pipeline;
use super::share::ShareWork;
use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_loadl_epi64, _mm_loadu_si128,
    _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
    _mm_storeu_si128,
};

/// Loads `[a..h]` and returns the `(ABEF, CDGH)` register layout `sha256rnds2` works on.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn load_state(state: &[u32; 8]) -> (__m128i, __m128i) {
    let p = state.as_ptr().cast::<__m128i>();
    // SAFETY: `state` is 32 readable bytes; `loadu` has no alignment requirement.
    let (dcba, hgfe) = unsafe { (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1))) };
    let cdab = _mm_shuffle_epi32::<0xB1>(dcba);
    let efgh = _mm_shuffle_epi32::<0x1B>(hgfe);
    (
        _mm_alignr_epi8::<8>(cdab, efgh),
        _mm_blend_epi16::<0xF0>(efgh, cdab),
    )
}

/// Stores the `(ABEF, CDGH)` layout back as `[a..h]`.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn store_state(state: &mut [u32; 8], abef: __m128i, cdgh: __m128i) {
    let feba = _mm_shuffle_epi32::<0x1B>(abef);
    let dchg = _mm_shuffle_epi32::<0xB1>(cdgh);
    let dcba = _mm_blend_epi16::<0xF0>(feba, dchg);
    let hgef = _mm_alignr_epi8::<8>(dchg, feba);
    let p = state.as_mut_ptr().cast::<__m128i>();
    // SAFETY: `state` is 32 writable bytes; `storeu` has no alignment requirement.
    unsafe {
        _mm_storeu_si128(p, dcba);
        _mm_storeu_si128(p.add(1), hgef);
    }
}

/// Message words `4i..4i+4` of a block (already big-endian-decoded: no byte shuffle needed).
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn load_words(block: &[u32; 16], i: usize) -> __m128i {
    debug_assert!(i < 4);
    // SAFETY: `i < 4`, so the 16 bytes at word `4i` lie inside the 64-byte block.
    unsafe { _mm_loadu_si128(block.as_ptr().add(4 * i).cast()) }
}

/// Round constants `4i..4i+4`.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn round_constants(i: usize) -> __m128i {
    debug_assert!(i < 16);
    // SAFETY: `i < 16`, so the 16 bytes at word `4i` lie inside the 64-word `K`.
    unsafe { _mm_loadu_si128(K.as_ptr().add(4 * i).cast()) }
}

/// Message words `4n..4n+4` from the four previous groups of four.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn schedule(w0: __m128i, w1: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
    let t = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8::<4>(w3, w2));
    _mm_sha256msg2_epu32(t, w3)
}

/// Four rounds with `wk` = message words + round constants.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn rounds4(abef: &mut __m128i, cdgh: &mut __m128i, wk: __m128i) {
    *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);
    *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, _mm_shuffle_epi32::<0x0E>(wk));
}

/// `sha256rnds2` and the other SHA instructions exist only in the legacy SSE encoding. When the
/// whole crate is built with AVX enabled (`-C target-cpu=native`, `+avx2`), the code around the
/// kernels (block copies in the pipeline) may leave the upper halves of the vector registers
/// dirty, and legacy SSE instructions after that ran ~150x slower on this project's machine
/// (measured: 476 µs instead of 2.7 µs per share with fat LTO and `target-cpu=native`). Clearing
/// the upper halves at the start of each kernel, which such builds never inline (so that no
/// AVX code lands between the `vzeroupper` and the SHA instructions), costs one instruction and a
/// call; the default build (no AVX in this crate's baseline) needs neither and compiles neither.
#[inline(always)]
fn clear_upper_halves() {
    // SAFETY: compiled only when the whole crate is built with AVX enabled, so every CPU this
    // binary runs on has AVX.
    #[cfg(target_feature = "avx")]
    unsafe {
        core::arch::x86_64::_mm256_zeroupper()
    };
}

/// Compresses `N` independent (state, block) pairs, their instructions interleaved.
#[cfg_attr(not(target_feature = "avx"), inline)]
#[cfg_attr(target_feature = "avx", inline(never))]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn compress_n<const N: usize>(states: &mut [[u32; 8]; N], blocks: &[[u32; 16]; N]) {
    clear_upper_halves();
    let mut abef = [round_constants(0); N];
    let mut cdgh = abef;
    let mut w = [[abef[0]; 4]; N];
    for s in 0..N {
        (abef[s], cdgh[s]) = load_state(&states[s]);
        for (i, wi) in w[s].iter_mut().enumerate() {
            *wi = load_words(&blocks[s], i);
        }
    }
    let (abef0, cdgh0) = (abef, cdgh);
    // Sixteen groups of four rounds, unrolled so that the rolling schedule stays in registers.
    macro_rules! group {
        ($($i:literal)*) => {$(
            let k = round_constants($i);
            for s in 0..N {
                if $i >= 4 {
                    w[s][$i % 4] = schedule(
                        w[s][$i % 4],
                        w[s][($i + 1) % 4],
                        w[s][($i + 2) % 4],
                        w[s][($i + 3) % 4],
                    );
                }
                rounds4(&mut abef[s], &mut cdgh[s], _mm_add_epi32(w[s][$i % 4], k));
            }
        )*};
    }
    group!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    for s in 0..N {
        store_state(
            &mut states[s],
            _mm_add_epi32(abef[s], abef0[s]),
            _mm_add_epi32(cdgh[s], cdgh0[s]),
        );
    }
}

/// Compresses `PAD_64` into `N` states, from its precomputed schedule: no message instructions
/// and no shuffles, only the 32 `sha256rnds2` per state.
#[cfg_attr(not(target_feature = "avx"), inline)]
#[cfg_attr(target_feature = "avx", inline(never))]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn compress_pad64_n<const N: usize>(states: &mut [[u32; 8]; N]) {
    clear_upper_halves();
    let mut abef = [round_constants(0); N];
    let mut cdgh = abef;
    for s in 0..N {
        (abef[s], cdgh[s]) = load_state(&states[s]);
    }
    let (abef0, cdgh0) = (abef, cdgh);
    for i in 0..16 {
        // SAFETY: `i < 16`: words `4i..4i+4` and `4i+2..4i+4` lie inside the 64-word table.
        let (lo, hi) = unsafe {
            (
                _mm_loadu_si128(PAD_64_WK.as_ptr().add(4 * i).cast()),
                _mm_loadl_epi64(PAD_64_WK.as_ptr().add(4 * i + 2).cast()),
            )
        };
        for s in 0..N {
            cdgh[s] = _mm_sha256rnds2_epu32(cdgh[s], abef[s], lo);
            abef[s] = _mm_sha256rnds2_epu32(abef[s], cdgh[s], hi);
        }
    }
    for s in 0..N {
        store_state(
            &mut states[s],
            _mm_add_epi32(abef[s], abef0[s]),
            _mm_add_epi32(cdgh[s], cdgh0[s]),
        );
    }
}

/// Compresses one 64-byte block into `state`.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    let mut states = [*state];
    compress_n::<1>(&mut states, &[super::block_words(block)]);
    *state = states[0];
}

/// Share pipeline, one share at a time.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn hash_shares_x1(works: &[ShareWork<'_>], out: &mut [[u8; 32]]) {
    pipeline::hash_shares::<1>(
        works,
        out,
        |s, b| compress_n::<1>(s, b),
        |s| compress_pad64_n::<1>(s),
    );
}

/// Share pipeline, two shares interleaved.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn hash_shares_x2(works: &[ShareWork<'_>], out: &mut [[u8; 32]]) {
    pipeline::hash_shares::<2>(
        works,
        out,
        |s, b| compress_n::<2>(s, b),
        |s| compress_pad64_n::<2>(s),
    );
}

/// 80-byte headers, one at a time.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn hash_headers_x1(headers: &[[u8; 80]], out: &mut [[u8; 32]]) {
    pipeline::hash_headers::<1>(headers, out, |s, b| compress_n::<1>(s, b));
}

/// 80-byte headers, two interleaved.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn hash_headers_x2(headers: &[[u8; 80]], out: &mut [[u8; 32]]) {
    pipeline::hash_headers::<2>(headers, out, |s, b| compress_n::<2>(s, b));
}

/// Any number of (state, block) pairs, one at a time.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn compress_blocks_x1(states: &mut [[u32; 8]], blocks: &[[u8; 64]]) {
    pipeline::compress_blocks::<1>(states, blocks, |s, b| compress_n::<1>(s, b));
}

/// Any number of (state, block) pairs, two interleaved.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn compress_blocks_x2(states: &mut [[u32; 8]], blocks: &[[u8; 64]]) {
    pipeline::compress_blocks::<2>(states, blocks, |s, b| compress_n::<2>(s, b));
}
