//! Multi-buffer SHA-256 on AVX2: eight independent messages, one per 32-bit lane of a `__m256i`.
//!
//! The state and message words are transposed so that register `i` holds word `i` of all eight
//! lanes; the rounds are then the textbook ones, element-wise. This is the path for CPUs with AVX2
//! but no SHA-NI (Intel before Ice Lake, except the Atom line).
//!
//! Every function here carries `#[target_feature(enable = "avx2")]`; the only callers outside this
//! module are the dispatcher's `unsafe` blocks in `mod.rs`, after run-time detection.

use super::constants::{K, PAD_64_WK};
use super::pipeline;
use super::share::ShareWork;
use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_andnot_si256, _mm256_loadu_si256,
    _mm256_or_si256, _mm256_permute2x128_si256, _mm256_set1_epi32, _mm256_slli_epi32,
    _mm256_srli_epi32, _mm256_storeu_si256, _mm256_unpackhi_epi32, _mm256_unpackhi_epi64,
    _mm256_unpacklo_epi32, _mm256_unpacklo_epi64, _mm256_xor_si256,
};

/// `x` in every lane.
#[inline]
#[target_feature(enable = "avx2")]
fn splat(x: u32) -> __m256i {
    _mm256_set1_epi32(x as i32)
}

/// One word per lane.
#[inline]
#[target_feature(enable = "avx2")]
fn load_lanes(words: &[u32; 8]) -> __m256i {
    load8(words)
}

/// One word per lane.
#[inline]
#[target_feature(enable = "avx2")]
fn store_lanes(words: &mut [u32; 8], v: __m256i) {
    store8(words, v)
}

/// Eight blocks (rows) as sixteen registers of one message word each.
#[inline]
#[target_feature(enable = "avx2")]
fn transpose_blocks(blocks: &[[u32; 16]; 8]) -> [__m256i; 16] {
    let lo = transpose8(core::array::from_fn(|l| {
        load8(&blocks[l].as_chunks::<8>().0[0])
    }));
    let hi = transpose8(core::array::from_fn(|l| {
        load8(&blocks[l].as_chunks::<8>().0[1])
    }));
    core::array::from_fn(|i| if i < 8 { lo[i] } else { hi[i - 8] })
}

super::lockstep::define_hash_lockstep!("avx2", 8, __m256i);

/// Eight consecutive words.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn load8(words: &[u32; 8]) -> __m256i {
    // SAFETY: `words` is 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(words.as_ptr().cast()) }
}

/// Stores eight consecutive words.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn store8(words: &mut [u32; 8], v: __m256i) {
    // SAFETY: `words` is 32 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm256_storeu_si256(words.as_mut_ptr().cast(), v) }
}

/// Transposes an 8x8 matrix of 32-bit words (rows in, columns out; its own inverse).
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
    let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
    let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
    let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
    let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    let u0 = _mm256_unpacklo_epi64(t0, t2);
    let u1 = _mm256_unpackhi_epi64(t0, t2);
    let u2 = _mm256_unpacklo_epi64(t1, t3);
    let u3 = _mm256_unpackhi_epi64(t1, t3);
    let u4 = _mm256_unpacklo_epi64(t4, t6);
    let u5 = _mm256_unpackhi_epi64(t4, t6);
    let u6 = _mm256_unpacklo_epi64(t5, t7);
    let u7 = _mm256_unpackhi_epi64(t5, t7);
    [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ]
}

macro_rules! rotr {
    ($x:expr, $n:literal) => {{
        let x = $x;
        _mm256_or_si256(
            _mm256_srli_epi32::<$n>(x),
            _mm256_slli_epi32::<{ 32 - $n }>(x),
        )
    }};
}

#[inline]
#[target_feature(enable = "avx2")]
fn xor3(a: __m256i, b: __m256i, c: __m256i) -> __m256i {
    _mm256_xor_si256(_mm256_xor_si256(a, b), c)
}

#[inline]
#[target_feature(enable = "avx2")]
fn add(a: __m256i, b: __m256i) -> __m256i {
    _mm256_add_epi32(a, b)
}

/// `W[i]` for `i >= 16`, in place in the rolling 16-word window.
#[inline]
#[target_feature(enable = "avx2")]
fn schedule(w: &mut [__m256i; 16], i: usize) -> __m256i {
    let w15 = w[(i + 1) & 15];
    let w2 = w[(i + 14) & 15];
    let s0 = xor3(rotr!(w15, 7), rotr!(w15, 18), _mm256_srli_epi32::<3>(w15));
    let s1 = xor3(rotr!(w2, 17), rotr!(w2, 19), _mm256_srli_epi32::<10>(w2));
    let v = add(add(w[i & 15], s0), add(w[(i + 9) & 15], s1));
    w[i & 15] = v;
    v
}

/// One round; the caller rotates the register names.
#[inline]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn round(
    a: __m256i,
    b: __m256i,
    c: __m256i,
    d: &mut __m256i,
    e: __m256i,
    f: __m256i,
    g: __m256i,
    h: &mut __m256i,
    kw: __m256i,
) {
    let s1 = xor3(rotr!(e, 6), rotr!(e, 11), rotr!(e, 25));
    let ch = _mm256_xor_si256(_mm256_and_si256(e, f), _mm256_andnot_si256(e, g));
    let t1 = add(add(*h, s1), add(ch, kw));
    let s0 = xor3(rotr!(a, 2), rotr!(a, 13), rotr!(a, 22));
    let maj = _mm256_or_si256(
        _mm256_and_si256(a, b),
        _mm256_and_si256(c, _mm256_or_si256(a, b)),
    );
    *d = add(*d, t1);
    *h = add(t1, add(s0, maj));
}

/// The 64 rounds on transposed state `s` and message `w`; adds the input state back.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn rounds(s: &mut [__m256i; 8], w: &mut [__m256i; 16]) {
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
    #[inline(always)]
    fn k(i: usize) -> i32 {
        K[i] as i32
    }
    let first = |w: &mut [__m256i; 16], i: usize| add(w[i], _mm256_set1_epi32(k(i)));
    let later = |w: &mut [__m256i; 16], i: usize| add(schedule(w, i), _mm256_set1_epi32(k(i)));
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
#[target_feature(enable = "avx2")]
pub(crate) fn rounds_fixed(s: &mut [__m256i; 8], wk: &[u32; 64]) {
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *s;
    let kw = |i: usize| _mm256_set1_epi32(wk[i] as i32);
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

/// Compresses `PAD_64` into eight states.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn compress_pad64_x8(states: &mut [[u32; 8]; 8]) {
    let mut s = transpose8(core::array::from_fn(|l| load8(&states[l])));
    rounds_fixed(&mut s, &PAD_64_WK);
    for (state, row) in states.iter_mut().zip(transpose8(s)) {
        store8(state, row);
    }
}

/// Compresses eight independent (state, block) pairs.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn compress_x8(states: &mut [[u32; 8]; 8], blocks: &[[u32; 16]; 8]) {
    let mut s = transpose8(core::array::from_fn(|l| load8(&states[l])));
    let mut w = transpose_blocks(blocks);
    rounds(&mut s, &mut w);
    let rows = transpose8(s);
    for (state, row) in states.iter_mut().zip(rows) {
        store8(state, row);
    }
}

/// Share pipeline, eight shares per step.
#[target_feature(enable = "avx2")]
pub(crate) fn hash_shares_x8(works: &[ShareWork<'_>], out: &mut [[u8; 32]]) {
    pipeline::hash_shares::<8>(
        works,
        out,
        |s, b| compress_x8(s, b),
        |s| compress_pad64_x8(s),
    );
}

/// 80-byte headers, eight per step.
#[target_feature(enable = "avx2")]
pub(crate) fn hash_headers_x8(headers: &[[u8; 80]], out: &mut [[u8; 32]]) {
    pipeline::hash_headers::<8>(headers, out, |s, b| compress_x8(s, b));
}

/// Any number of (state, block) pairs, eight per step.
#[target_feature(enable = "avx2")]
pub(crate) fn compress_blocks_x8(states: &mut [[u32; 8]], blocks: &[[u8; 64]]) {
    pipeline::compress_blocks::<8>(states, blocks, |s, b| compress_x8(s, b));
}
