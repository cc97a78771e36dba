//! Ids that must differ between files, processes and connections, without a random-number crate:
//! the clock, the process id and a per-process counter, mixed with SplitMix64. Not secret: never
//! use them where guessing one matters.

use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh id; never 0 (callers use 0 for "none").
pub fn unique_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_in_a_row_differ_and_are_never_zero() {
        let ids: std::collections::HashSet<u64> =
            (0..10_000).map(|_| super::unique_u64()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(!ids.contains(&0));
    }
}
