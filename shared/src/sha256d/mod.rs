//! Batched double SHA-256 of stratum shares, with the compression backend chosen at run time.
//!
//! A gateway shard gathers the submissions of one turn of its loop and hashes them together with
//! [`hash_shares`]: per share, the coinbase (from the job's `coinb1` midstate, see [`JobHasher`]),
//! the merkle root from the branch and the 80-byte header, double SHA-256 each, giving the block
//! hash in internal byte order (what `bitcoin::block::Header::block_hash` gives as bytes).
//!
//! Backends ([`Backend`]), all giving identical results (`tests/sha256d_agree.rs`):
//!
//! | backend | what | needs |
//! |---|---|---|
//! | `scalar` | portable Rust, every platform | nothing |
//! | `sha-ni` | x86 SHA extensions, one share at a time | `sha`, `ssse3`, `sse4.1` |
//! | `sha-ni-x2` | SHA-NI, two shares interleaved for instruction-level parallelism | same |
//! | `avx2-x8` | multi-buffer, eight shares in the 32-bit lanes of a `__m256i` | `avx2` |
//! | `avx512-x16` | multi-buffer, sixteen shares in a `__m512i` (`vprord`, `vpternlogd`) | `avx512f` |
//!
//! The crate is built for the default x86-64 target: every SIMD function is a `#[target_feature]`
//! function, reached only through the `unsafe` blocks of this file after
//! `is_x86_feature_detected!` says the CPU has the features (see [`Backend::is_available`]).
//! Never build with `-C target-cpu=native` plus fat LTO: it made SHA-NI ~100x slower on this
//! machine (`reference/rust-crates.md` §3); `bench/benches/share_hash.rs` would show it.
//!
//! Two schedules feed the kernels. `pipeline` gives each lane its own share and its own sequence
//! of compressions (ragged batches: any jobs, coinbase lengths and branch depths mixed, a lane
//! refilled as soon as its share is done); SHA-NI and scalar always use it. `lockstep` runs full
//! groups of shares of one job and one extranonce layout step for step on AVX2 / AVX-512, with the
//! message words of merkle levels, outer hashes and the header built directly in registers (only
//! coinbase blocks are transposed); shares left over go through `pipeline`. The second block of
//! every merkle level is constant padding, compressed from a precomputed schedule whenever all
//! busy lanes are on it.
//!
//! Which backend [`hash_shares`] picks, and why: see [`dispatch`].

mod constants;
mod pipeline;
pub mod scalar;
mod share;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod lockstep;
#[cfg(target_arch = "x86_64")]
mod shani;

pub use share::{JobHasher, ShareWork};

use std::fmt;
use std::str::FromStr;

/// A SHA-256 compression backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Portable Rust.
    Scalar,
    /// SHA-NI, one message at a time.
    ShaNi,
    /// SHA-NI, two messages interleaved.
    ShaNiX2,
    /// AVX2, eight messages in SIMD lanes.
    Avx2X8,
    /// AVX-512F, sixteen messages in SIMD lanes.
    Avx512X16,
}

impl Backend {
    /// Every backend, available here or not.
    pub const ALL: [Backend; 5] = [
        Backend::Scalar,
        Backend::ShaNi,
        Backend::ShaNiX2,
        Backend::Avx2X8,
        Backend::Avx512X16,
    ];

    /// Short name, as in configs, logs and benchmark output.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::ShaNi => "sha-ni",
            Backend::ShaNiX2 => "sha-ni-x2",
            Backend::Avx2X8 => "avx2-x8",
            Backend::Avx512X16 => "avx512-x16",
        }
    }

    /// Messages compressed per step.
    pub fn lanes(self) -> usize {
        match self {
            Backend::Scalar | Backend::ShaNi => 1,
            Backend::ShaNiX2 => 2,
            Backend::Avx2X8 => 8,
            Backend::Avx512X16 => 16,
        }
    }

    /// Whether this CPU has what the backend needs (run-time detection, cached by `std`).
    pub fn is_available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Backend::Scalar => true,
                Backend::ShaNi | Backend::ShaNiX2 => {
                    std::arch::is_x86_feature_detected!("sha")
                        && std::arch::is_x86_feature_detected!("sse2")
                        && std::arch::is_x86_feature_detected!("ssse3")
                        && std::arch::is_x86_feature_detected!("sse4.1")
                }
                Backend::Avx2X8 => std::arch::is_x86_feature_detected!("avx2"),
                Backend::Avx512X16 => {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("avx512f")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Backend::Scalar
        }
    }

    /// Panics unless the backend is available: every `unsafe` call below relies on it.
    fn assert_available(self) {
        assert!(
            self.is_available(),
            "sha256d backend {} is not available on this CPU",
            self.name()
        );
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sha256d backend {0:?} (expected one of scalar, sha-ni, sha-ni-x2, avx2-x8, avx512-x16)")]
pub struct UnknownBackend(pub String);

impl FromStr for Backend {
    type Err = UnknownBackend;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBackend(s.to_owned()))
    }
}

/// The backends this CPU can run, scalar first.
pub fn available_backends() -> Vec<Backend> {
    Backend::ALL
        .into_iter()
        .filter(|b| b.is_available())
        .collect()
}

/// How [`hash_shares`] splits a batch on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch {
    /// Multi-buffer backend for full groups of its lane count of shares with one job and one
    /// extranonce layout, run in lockstep; `None` when SHA-NI does everything.
    pub groups: Option<Backend>,
    /// Backend for the remaining shares (a lone share goes through [`Backend::ShaNi`] rather
    /// than an interleaved kernel with an empty lane).
    pub rest: Backend,
}

impl fmt::Display for Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.groups {
            Some(groups) => write!(f, "{groups}+{}", self.rest),
            None => write!(f, "{}", self.rest),
        }
    }
}

/// The split [`hash_shares`] uses here, fixed by design from what was measured on this project's
/// machines (Rocket Lake guest; `bench/src/bin/share_hash_rate.rs`, medians of 3 runs, one share =
/// 250-byte coinbase + 12-level branch = 44 compressions):
///
/// - `sha256rnds2` issues about every other cycle here and has a latency of ~3, so SHA-NI is bound
///   by its own throughput: one chain (a share's compressions depend on each other) runs at
///   ~67 ns per compression (2.9 µs per share), two interleaved at ~56 (2.5 µs per share, 1.2x),
///   and nothing interleaved can pass ~43. SHA-NI x2 is slower than x1 only for a lone share
///   (its second lane runs empty: 4.6 µs), so a lone share goes through x1.
/// - Sixteen shares in the lanes of AVX-512 (native rotates, three-input logic, message words
///   built in registers) cost 1.3 µs per share once the sixteen lanes are full (2x SHA-NI x2),
///   but 3.1 µs with eight lanes busy and 11.5 µs with two. So with AVX-512F, full groups of
///   16 shares of one job and extranonce layout go there, the rest to SHA-NI.
/// - AVX2 (8 lanes, rotates from shifts: 3.7 µs per share) is slower than SHA-NI: used for
///   full groups only on CPUs without SHA-NI.
/// - Without either, scalar (~19 µs per share).
///
/// On CPUs where SHA-NI issues every cycle (AMD Zen), or where AVX-512 is split into 256-bit
/// halves (Zen 4), SHA-NI x2 may win throughout: callers who measured so use
/// [`hash_shares_with`].
pub fn dispatch() -> Dispatch {
    let sha = Backend::ShaNi.is_available();
    let groups = if Backend::Avx512X16.is_available() {
        Some(Backend::Avx512X16)
    } else if !sha && Backend::Avx2X8.is_available() {
        Some(Backend::Avx2X8)
    } else {
        None
    };
    let rest = if sha {
        Backend::ShaNiX2
    } else {
        groups.unwrap_or(Backend::Scalar)
    };
    Dispatch { groups, rest }
}

/// The backend that hashes full batches on this CPU (see [`dispatch`]).
pub fn best_backend() -> Backend {
    let d = dispatch();
    d.groups.unwrap_or(d.rest)
}

/// Header hashes (sha256d of the 80-byte header, internal byte order) of every share, computed
/// together: full groups of shares of one job and extranonce layout on the multi-buffer backend,
/// the rest on SHA-NI (see [`dispatch`]). `out[i]` is the hash of `works[i]`.
pub fn hash_shares(works: &[ShareWork<'_>], out: &mut [[u8; 32]]) {
    debug_assert_eq!(works.len(), out.len(), "one output per share");
    let d = dispatch();
    let rest = |works: &[ShareWork<'_>], out: &mut [[u8; 32]]| {
        let backend = if works.len() == 1 && d.rest == Backend::ShaNiX2 {
            Backend::ShaNi
        } else {
            d.rest
        };
        hash_shares_with(backend, works, out)
    };
    match d.groups {
        #[cfg(target_arch = "x86_64")]
        Some(Backend::Avx512X16) => lockstep::split::<16>(
            works,
            out,
            // SAFETY: `dispatch` chose the backend because the CPU has its features.
            |w, o| unsafe { avx512::hash_lockstep(w, o) },
            rest,
        ),
        #[cfg(target_arch = "x86_64")]
        Some(Backend::Avx2X8) => lockstep::split::<8>(
            works,
            out,
            // SAFETY: `dispatch` chose the backend because the CPU has its features.
            |w, o| unsafe { avx2::hash_lockstep(w, o) },
            rest,
        ),
        _ => rest(works, out),
    }
}

/// [`hash_shares`] on one given backend only. Panics if the CPU lacks it.
pub fn hash_shares_with(backend: Backend, works: &[ShareWork<'_>], out: &mut [[u8; 32]]) {
    debug_assert_eq!(works.len(), out.len(), "one output per share");
    backend.assert_available();
    match backend {
        Backend::Scalar => pipeline::hash_shares::<1>(
            works,
            out,
            |s, b| scalar::compress_words(&mut s[0], &b[0]),
            |s| scalar::compress_pad64(&mut s[0]),
        ),
        // SAFETY: `assert_available` checked the features these functions are compiled with.
        #[cfg(target_arch = "x86_64")]
        Backend::ShaNi => unsafe { shani::hash_shares_x1(works, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Backend::ShaNiX2 => unsafe { shani::hash_shares_x2(works, out) },
        // Full groups in lockstep, the rest through the per-lane pipeline.
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2X8 => lockstep::split::<8>(
            works,
            out,
            // SAFETY: as above.
            |w, o| unsafe { avx2::hash_lockstep(w, o) },
            // SAFETY: as above.
            |w, o| unsafe { avx2::hash_shares_x8(w, o) },
        ),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512X16 => lockstep::split::<16>(
            works,
            out,
            // SAFETY: as above.
            |w, o| unsafe { avx512::hash_lockstep(w, o) },
            // SAFETY: as above.
            |w, o| unsafe { avx512::hash_shares_x16(w, o) },
        ),
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only scalar is available off x86_64"),
    }
}

/// sha256d of 80-byte block headers (internal byte order) on a given backend. Panics if the CPU
/// lacks it.
pub fn hash_headers_with(backend: Backend, headers: &[[u8; 80]], out: &mut [[u8; 32]]) {
    assert_eq!(headers.len(), out.len(), "one output per header");
    backend.assert_available();
    match backend {
        Backend::Scalar => pipeline::hash_headers::<1>(headers, out, |s, b| {
            scalar::compress_words(&mut s[0], &b[0])
        }),
        // SAFETY: `assert_available` checked the features these functions are compiled with.
        #[cfg(target_arch = "x86_64")]
        Backend::ShaNi => unsafe { shani::hash_headers_x1(headers, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Backend::ShaNiX2 => unsafe { shani::hash_headers_x2(headers, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2X8 => unsafe { avx2::hash_headers_x8(headers, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512X16 => unsafe { avx512::hash_headers_x16(headers, out) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only scalar is available off x86_64"),
    }
}

/// sha256d of one 80-byte header on the fastest single-message backend.
pub fn sha256d_header(header: &[u8; 80]) -> [u8; 32] {
    let mut out = [[0u8; 32]];
    let backend = if Backend::ShaNi.is_available() {
        Backend::ShaNi
    } else {
        Backend::Scalar
    };
    hash_headers_with(backend, std::slice::from_ref(header), &mut out);
    out[0]
}

/// Compresses `blocks[i]` into `states[i]` for every `i` on a given backend (raw SHA-256
/// compression, no padding). Panics if the CPU lacks the backend or the lengths differ.
pub fn compress_blocks_with(backend: Backend, states: &mut [[u32; 8]], blocks: &[[u8; 64]]) {
    backend.assert_available();
    match backend {
        Backend::Scalar => pipeline::compress_blocks::<1>(states, blocks, |s, b| {
            scalar::compress_words(&mut s[0], &b[0])
        }),
        // SAFETY: `assert_available` checked the features these functions are compiled with.
        #[cfg(target_arch = "x86_64")]
        Backend::ShaNi => unsafe { shani::compress_blocks_x1(states, blocks) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Backend::ShaNiX2 => unsafe { shani::compress_blocks_x2(states, blocks) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2X8 => unsafe { avx2::compress_blocks_x8(states, blocks) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512X16 => unsafe { avx512::compress_blocks_x16(states, blocks) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only scalar is available off x86_64"),
    }
}

/// Compresses one 64-byte block into `state` with SHA-NI when the CPU has it, else portably.
pub fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    #[cfg(target_arch = "x86_64")]
    if Backend::ShaNi.is_available() {
        // SAFETY: SHA-NI and the SSE levels it is compiled with were detected just above.
        unsafe { shani::compress(state, block) };
        return;
    }
    scalar::compress(state, block);
}

/// The 16 big-endian message words of a block.
#[inline(always)]
pub(crate) fn block_words(block: &[u8; 64]) -> [u32; 16] {
    core::array::from_fn(|i| u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().unwrap()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-4 "abc": one padded block.
    #[test]
    fn abc_on_every_backend() {
        let mut block = [0u8; 64];
        block[..3].copy_from_slice(b"abc");
        block[3] = 0x80;
        block[63] = 24;
        let want: [u32; 8] = [
            0xba78_16bf,
            0x8f01_cfea,
            0x4141_40de,
            0x5dae_2223,
            0xb003_61a3,
            0x9617_7a9c,
            0xb410_ff61,
            0xf200_15ad,
        ];
        for backend in available_backends() {
            for n in [1, 2, 3, 17, 33] {
                let mut states = vec![constants::IV; n];
                compress_blocks_with(backend, &mut states, &vec![block; n]);
                assert!(states.iter().all(|s| *s == want), "{backend} x{n}");
            }
        }
        let mut state = constants::IV;
        compress(&mut state, &block);
        assert_eq!(state, want);
    }

    #[test]
    fn names_round_trip() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>(), Ok(b));
        }
        assert!("sha-ni-x4".parse::<Backend>().is_err());
        assert_eq!(available_backends()[0], Backend::Scalar);
        assert!(best_backend().is_available());
    }
}
