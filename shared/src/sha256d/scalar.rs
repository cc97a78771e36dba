//! Portable SHA-256 compression: the reference every other backend must agree with, and the
//! fallback on CPUs (and architectures) without SHA-NI or AVX2.

use super::constants::{K, PAD_64_WK};

/// Compresses one 64-byte block into `state`.
pub fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    compress_words(state, &super::block_words(block));
}

#[inline(always)]
fn big_sigma0(x: u32) -> u32 {
    x.rotate_right(2) ^ x.rotate_right(13) ^ x.rotate_right(22)
}

#[inline(always)]
fn big_sigma1(x: u32) -> u32 {
    x.rotate_right(6) ^ x.rotate_right(11) ^ x.rotate_right(25)
}

/// `W[i]` for `i >= 16`, in place in the rolling 16-word window.
#[inline(always)]
fn schedule(w: &mut [u32; 16], i: usize) -> u32 {
    let w15 = w[(i + 1) & 15];
    let w2 = w[(i + 14) & 15];
    let s0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
    let s1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
    let v = w[i & 15]
        .wrapping_add(s0)
        .wrapping_add(w[(i + 9) & 15])
        .wrapping_add(s1);
    w[i & 15] = v;
    v
}

/// One round; the caller rotates the names. `kw` is round constant + message word.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn round(a: u32, b: u32, c: u32, d: &mut u32, e: u32, f: u32, g: u32, h: &mut u32, kw: u32) {
    let t1 = h
        .wrapping_add(big_sigma1(e))
        .wrapping_add((e & f) ^ (!e & g))
        .wrapping_add(kw);
    let t2 = big_sigma0(a).wrapping_add((a & b) | (c & (a | b)));
    *d = d.wrapping_add(t1);
    *h = t1.wrapping_add(t2);
}

/// 64 rounds; `kw(i)` gives round constant + message word `i`.
#[inline(always)]
fn rounds(state: &mut [u32; 8], mut kw: impl FnMut(usize) -> u32) {
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
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
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(v);
    }
}

/// Compresses one block given as 16 big-endian-decoded message words.
#[inline]
pub(crate) fn compress_words(state: &mut [u32; 8], block: &[u32; 16]) {
    let mut w = *block;
    rounds(state, |i| {
        let wi = if i < 16 { w[i] } else { schedule(&mut w, i) };
        wi.wrapping_add(K[i])
    });
}

/// Compresses [`super::constants::PAD_64`] (precomputed schedule).
#[inline]
pub(crate) fn compress_pad64(state: &mut [u32; 8]) {
    rounds(state, |i| PAD_64_WK[i]);
}
