//! Multi-buffer SHA-256 on AVX-512F: sixteen independent messages, one per 32-bit lane of a
//! `__m512i`, with the native rotate (`vprord`) and three-input logic (`vpternlogd`) that make a
//! round about half the instructions of the AVX2 one.
//!
//! Every function here carries `#[target_feature(enable = "avx2,avx512f")]`; the only callers
//! outside this module are the dispatcher's `unsafe` blocks in `mod.rs`, after run-time detection.

use super::avx2::{load8, store8, transpose8};
use super::constants::{K, PAD_64_WK};
use super::pipeline;
use super::share::ShareWork;
use core::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_castsi256_si512, _mm512_castsi512_si256,
    _mm512_extracti64x4_epi64, _mm512_inserti64x4, _mm512_loadu_si512, _mm512_ror_epi32,
    _mm512_set1_epi32, _mm512_srli_epi32, _mm512_storeu_si512, _mm512_ternarylogic_epi32,
};

/// `a ^ b ^ c`.
const XOR3: i32 = 0x96;
/// `a ? b : c` (SHA-256's Ch).
const CHOOSE: i32 = 0xCA;
/// Majority of `a`, `b`, `c` (SHA-256's Maj).
const MAJORITY: i32 = 0xE8;

#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn add(a: __m512i, b: __m512i) -> __m512i {
    _mm512_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn xor3(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
    _mm512_ternarylogic_epi32::<XOR3>(a, b, c)
}

/// `W[i]` for `i >= 16`, in place in the rolling 16-word window.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn schedule(w: &mut [__m512i; 16], i: usize) -> __m512i {
    let w15 = w[(i + 1) & 15];
    let w2 = w[(i + 14) & 15];
    let s0 = xor3(
        _mm512_ror_epi32::<7>(w15),
        _mm512_ror_epi32::<18>(w15),
        _mm512_srli_epi32::<3>(w15),
    );
    let s1 = xor3(
        _mm512_ror_epi32::<17>(w2),
        _mm512_ror_epi32::<19>(w2),
        _mm512_srli_epi32::<10>(w2),
    );
    let v = add(add(w[i & 15], s0), add(w[(i + 9) & 15], s1));
    w[i & 15] = v;
    v
}

/// One round; the caller rotates the register names.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
#[allow(clippy::too_many_arguments)]
fn round(
    a: __m512i,
    b: __m512i,
    c: __m512i,
    d: &mut __m512i,
    e: __m512i,
    f: __m512i,
    g: __m512i,
    h: &mut __m512i,
    kw: __m512i,
) {
    let s1 = xor3(
        _mm512_ror_epi32::<6>(e),
        _mm512_ror_epi32::<11>(e),
        _mm512_ror_epi32::<25>(e),
    );
    let ch = _mm512_ternarylogic_epi32::<CHOOSE>(e, f, g);
    let t1 = add(add(*h, s1), add(ch, kw));
    let s0 = xor3(
        _mm512_ror_epi32::<2>(a),
        _mm512_ror_epi32::<13>(a),
        _mm512_ror_epi32::<22>(a),
    );
    let maj = _mm512_ternarylogic_epi32::<MAJORITY>(a, b, c);
    *d = add(*d, t1);
    *h = add(t1, add(s0, maj));
}

/// The 64 rounds on transposed state `s` and message `w`; adds the input state back.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn rounds(s: &mut [__m512i; 8], w: &mut [__m512i; 16]) {
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *s;
    macro_rules! eight {
        ($i:expr, $wk:ident) => {
            let i = $i;
            round(a, b, c, &mut d, e, f, g, &mut h, $wk(w, i));
            round(h, a, b, &mut c, d, e, f, &mut g, $wk(w, i + 1));
            round(g, h, a, &mut b, c, d, e, &mut f, $wk(w, i + 2));
            round(f, g, h, &mut a, b, c, d, &mut e, $wk(w, i + 3));
            round(e, f, g, &mut h, a, b, c, &mut d, $wk(w, i + 4));
            round(d, e, f, &mut g, h, a, b, &mut c, $wk(w, i + 5));
            round(c, d, e, &mut f, g, h, a, &mut b, $wk(w, i + 6));
            round(b, c, d, &mut e, f, g, h, &mut a, $wk(w, i + 7));
        };
    }
    let first = |w: &mut [__m512i; 16], i: usize| add(w[i], _mm512_set1_epi32(K[i] as i32));
    let later =
        |w: &mut [__m512i; 16], i: usize| add(schedule(w, i), _mm512_set1_epi32(K[i] as i32));
    for i in [0, 8] {
        eight!(i, first);
    }
    for i in [16, 24, 32, 40, 48, 56] {
        eight!(i, later);
    }
    for (x, v) in s.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *x = add(*x, v);
    }
}

/// The 64 rounds with a fixed schedule-plus-constants table (same for every lane).
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn rounds_fixed(s: &mut [__m512i; 8], wk: &[u32; 64]) {
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *s;
    let kw = |i: usize| _mm512_set1_epi32(wk[i] as i32);
    for i in (0..64).step_by(8) {
        round(a, b, c, &mut d, e, f, g, &mut h, kw(i));
        round(h, a, b, &mut c, d, e, f, &mut g, kw(i + 1));
        round(g, h, a, &mut b, c, d, e, &mut f, kw(i + 2));
        round(f, g, h, &mut a, b, c, d, &mut e, kw(i + 3));
        round(e, f, g, &mut h, a, b, c, &mut d, kw(i + 4));
        round(d, e, f, &mut g, h, a, b, &mut c, kw(i + 5));
        round(c, d, e, &mut f, g, h, a, &mut b, kw(i + 6));
        round(b, c, d, &mut e, f, g, h, &mut a, kw(i + 7));
    }
    for (x, v) in s.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *x = add(*x, v);
    }
}

/// Loads sixteen states, transposed.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn load_states(states: &[[u32; 8]; 16]) -> [__m512i; 8] {
    let rows = |first: usize| transpose8(core::array::from_fn(|l| load8(&states[first + l])));
    join(rows(0), rows(8))
}

/// Stores sixteen transposed states.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn store_states(states: &mut [[u32; 8]; 16], s: &[__m512i; 8]) {
    let lo = transpose8(core::array::from_fn(|i| _mm512_castsi512_si256(s[i])));
    let hi = transpose8(core::array::from_fn(|i| {
        _mm512_extracti64x4_epi64::<1>(s[i])
    }));
    for l in 0..8 {
        store8(&mut states[l], lo[l]);
        store8(&mut states[8 + l], hi[l]);
    }
}

/// Compresses `PAD_64` into sixteen states.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn compress_pad64_x16(states: &mut [[u32; 8]; 16]) {
    let mut s = load_states(states);
    rounds_fixed(&mut s, &PAD_64_WK);
    store_states(states, &s);
}

/// Joins two 8-lane halves (lanes 0..8 low, 8..16 high).
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn join(
    lo: [core::arch::x86_64::__m256i; 8],
    hi: [core::arch::x86_64::__m256i; 8],
) -> [__m512i; 8] {
    core::array::from_fn(|i| _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo[i]), hi[i]))
}

/// `x` in every lane.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn splat(x: u32) -> __m512i {
    _mm512_set1_epi32(x as i32)
}

/// One word per lane.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn load_lanes(words: &[u32; 16]) -> __m512i {
    // SAFETY: `words` is 64 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(words.as_ptr().cast()) }
}

/// One word per lane.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn store_lanes(words: &mut [u32; 16], v: __m512i) {
    // SAFETY: `words` is 64 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), v) }
}

/// Sixteen blocks (rows) as sixteen registers of one message word each: transposed in 8x8 tiles
/// with AVX2 shuffles, then the halves joined.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn transpose_blocks(blocks: &[[u32; 16]; 16]) -> [__m512i; 16] {
    let words = |first: usize, half: usize| {
        transpose8(core::array::from_fn(|l| {
            load8(&blocks[first + l].as_chunks::<8>().0[half])
        }))
    };
    let w0 = join(words(0, 0), words(8, 0));
    let w1 = join(words(0, 1), words(8, 1));
    core::array::from_fn(|i| if i < 8 { w0[i] } else { w1[i - 8] })
}

super::lockstep::define_hash_lockstep!("avx2,avx512f", 16, __m512i);

/// Compresses sixteen independent (state, block) pairs.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
pub(crate) fn compress_x16(states: &mut [[u32; 8]; 16], blocks: &[[u32; 16]; 16]) {
    // Transposed in 8x8 tiles with AVX2 shuffles, then the halves joined.
    let mut s = load_states(states);
    let mut w = transpose_blocks(blocks);
    rounds(&mut s, &mut w);
    store_states(states, &s);
}

/// Share pipeline, sixteen shares per step.
#[target_feature(enable = "avx2,avx512f")]
pub(crate) fn hash_shares_x16(works: &[ShareWork<'_>], out: &mut [[u8; 32]]) {
    pipeline::hash_shares::<16>(
        works,
        out,
        |s, b| compress_x16(s, b),
        |s| compress_pad64_x16(s),
    );
}

/// 80-byte headers, sixteen per step.
#[target_feature(enable = "avx2,avx512f")]
pub(crate) fn hash_headers_x16(headers: &[[u8; 80]], out: &mut [[u8; 32]]) {
    pipeline::hash_headers::<16>(headers, out, |s, b| compress_x16(s, b));
}

/// Any number of (state, block) pairs, sixteen per step.
#[target_feature(enable = "avx2,avx512f")]
pub(crate) fn compress_blocks_x16(states: &mut [[u32; 8]], blocks: &[[u8; 64]]) {
    pipeline::compress_blocks::<16>(states, blocks, |s, b| compress_x16(s, b));
}
