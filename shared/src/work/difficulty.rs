//! Share difficulty: how many difficulty-1 shares a hash is worth.
//!
//! Difficulty 1 is the target `0x00000000ffff0000…` (the "bdiff" convention every miner and pool
//! uses). A share is accepted at difficulty `d` when `hash_difficulty(hash) >= d`. The f64 quotient
//! is exact to about 1e-16 relative, far finer than any difficulty a pool sets; block candidates are
//! checked separately against the exact 256-bit network target.

/// `0x00000000ffff` followed by 26 zero bytes, as an f64.
const DIFF1_TARGET: f64 =
    26_959_535_291_011_309_493_156_476_344_723_991_336_010_898_738_574_164_086_137_773_096_960.0;

/// The difficulty of a header hash given in internal byte order (little-endian number).
pub fn hash_difficulty(hash: &[u8; 32]) -> f64 {
    // The hash as a number: byte 31 is the most significant. Summing from the top keeps the
    // 53 significant bits that matter; lower bytes only round.
    let mut value = 0.0f64;
    for byte in hash.iter().rev() {
        value = value * 256.0 + f64::from(*byte);
    }
    if value == 0.0 {
        return f64::INFINITY;
    }
    DIFF1_TARGET / value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_from_be_hex(hex: &str) -> [u8; 32] {
        let mut bytes: [u8; 32] = bitcoin::hex::FromHex::from_hex(hex).expect("hex");
        bytes.reverse();
        bytes
    }

    #[test]
    fn difficulty_one_and_powers_of_two() {
        let diff1 =
            hash_from_be_hex("00000000ffff0000000000000000000000000000000000000000000000000000");
        assert!((hash_difficulty(&diff1) - 1.0).abs() < 1e-12);
        let half =
            hash_from_be_hex("000000007fff8000000000000000000000000000000000000000000000000000");
        assert!((hash_difficulty(&half) - 2.0).abs() < 1e-12);
        let easy =
            hash_from_be_hex("7fffff0000000000000000000000000000000000000000000000000000000000");
        assert!(
            hash_difficulty(&easy) < 1e-9,
            "regtest's target is far below difficulty 1"
        );
        assert_eq!(hash_difficulty(&[0; 32]), f64::INFINITY);
    }

    #[test]
    fn agrees_with_the_bitcoin_crate_for_a_mainnet_block() {
        // Block 840,000's header hash and its difficulty as the bitcoin crate computes from bits
        // 0x17034219 (86,388,558,925,171.02): the block hash is worth at least that.
        let hash =
            hash_from_be_hex("0000000000000000000320283a032748cef8227873ff4872689bf23f1cda83a5");
        let bits = bitcoin::CompactTarget::from_consensus(0x1703_4219);
        let network = bitcoin::Target::from_compact(bits).difficulty_float();
        assert!(
            hash_difficulty(&hash) >= network,
            "{} < {network}",
            hash_difficulty(&hash)
        );
    }
}
