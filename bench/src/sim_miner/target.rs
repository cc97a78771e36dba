//! Share and network targets as 256-bit numbers in little-endian byte order: the order of a
//! sha256d digest's bytes, so a hash meets a target when, read as a little-endian number, it is
//! not greater than the target (as `bitcoin::Target::is_met_by`).
//!
//! The share target is `diff1 / difficulty` with `diff1 = 0xFFFF << 208` (the "bdiff" difficulty-1
//! target, `bitcoin::Target::MAX`), computed exactly for the `f64` the pool sent: the difficulty is
//! split into its integer mantissa and power of two and the division is done on 384-bit integers,
//! so fractional difficulties (Bitaxe-sized, regtest-sized) give the exact floor of the quotient.

use bitcoin::{CompactTarget, Target};

/// A 256-bit number, little-endian bytes.
pub type Target256 = [u8; 32];

/// The difficulty-1 target, `0xFFFF << 208`.
pub const DIFF1_TARGET: Target256 = {
    let mut t = [0u8; 32];
    t[26] = 0xff;
    t[27] = 0xff;
    t
};

/// The largest target: every hash meets it.
pub const MAX_TARGET: Target256 = [0xff; 32];

/// Number of 64-bit limbs of the intermediate: 0xFFFF shifted by up to 368 bits fits.
const WIDE_LIMBS: usize = 6;

/// The share target for `difficulty`: `floor(diff1 / difficulty)`, clamped to [`MAX_TARGET`].
/// `None` when the difficulty is not a finite number above zero.
pub fn share_target(difficulty: f64) -> Option<Target256> {
    if !(difficulty.is_finite() && difficulty > 0.0) {
        return None;
    }
    // difficulty = mantissa * 2^exponent exactly, mantissa < 2^53.
    let bits = difficulty.to_bits();
    let exponent_field = ((bits >> 52) & 0x7ff) as i32; // 11 bits: fits
    let fraction = bits & ((1u64 << 52) - 1);
    let (mantissa, exponent) = if exponent_field == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), exponent_field - 1075)
    };
    // target = floor(0xFFFF * 2^(208 - exponent) / mantissa)
    let shift = 208 - exponent;
    let mut wide = [0u64; WIDE_LIMBS];
    if shift >= 0 {
        let shift = shift as u32; // non-negative, checked above
        if shift > 64 * WIDE_LIMBS as u32 - 16 {
            // The numerator alone exceeds 2^368, so the quotient exceeds 2^315.
            return Some(MAX_TARGET);
        }
        let (limb, offset) = ((shift / 64) as usize, shift % 64);
        wide[limb] = 0xFFFF << offset;
        if offset > 48 {
            wide[limb + 1] = 0xFFFF >> (64 - offset);
        }
        divide_in_place(&mut wide, mantissa);
    } else {
        // floor(floor(a / m) / 2^k) == floor(a / (m * 2^k)).
        let down = shift.unsigned_abs();
        wide[0] = if down >= 64 {
            0
        } else {
            (0xFFFF / mantissa) >> down
        };
    }
    if wide[4] != 0 || wide[5] != 0 {
        return Some(MAX_TARGET);
    }
    let mut out = [0u8; 32];
    for (i, limb) in wide[..4].iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_le_bytes());
    }
    Some(out)
}

/// Divides a little-endian multi-limb number by `divisor` (non-zero), rounding down.
fn divide_in_place(limbs: &mut [u64; WIDE_LIMBS], divisor: u64) {
    debug_assert!(divisor != 0);
    let divisor = u128::from(divisor);
    let mut remainder = 0u128;
    for limb in limbs.iter_mut().rev() {
        let current = (remainder << 64) | u128::from(*limb);
        // current < divisor * 2^64, so the quotient fits in 64 bits.
        *limb = (current / divisor) as u64;
        remainder = current % divisor;
    }
}

/// The network target of compact `nbits`.
pub fn network_target(nbits: u32) -> Target256 {
    Target::from_compact(CompactTarget::from_consensus(nbits)).to_le_bytes()
}

/// Whether `hash` (sha256d digest bytes, little-endian number) is at most `target`.
pub fn meets(hash: &[u8; 32], target: &Target256) -> bool {
    for i in (0..32).rev() {
        if hash[i] != target[i] {
            return hash[i] < target[i];
        }
    }
    true
}

/// The difficulty a hash reaches (`diff1 / hash`), approximately: for display and tests.
pub fn hash_difficulty(hash: &[u8; 32]) -> f64 {
    let value = to_f64(hash);
    if value == 0.0 {
        return f64::INFINITY;
    }
    to_f64(&DIFF1_TARGET) / value
}

fn to_f64(number: &[u8; 32]) -> f64 {
    number
        .iter()
        .rev()
        .fold(0.0, |acc, byte| acc * 256.0 + f64::from(*byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff1_is_bitcoin_target_max() {
        assert_eq!(DIFF1_TARGET, Target::MAX.to_le_bytes());
        assert_eq!(share_target(1.0), Some(DIFF1_TARGET));
    }

    #[test]
    fn powers_of_two_shift_exactly() {
        // Up to 2^-32 the target 0xFFFF << (208 + k) still fits in 256 bits.
        for k in 0..=32i32 {
            let expected = shift_left(&DIFF1_TARGET, k as u32);
            assert_eq!(share_target(2f64.powi(-k)), Some(expected), "2^-{k}");
        }
        assert_eq!(share_target(2f64.powi(-33)), Some(MAX_TARGET));
        // 2^16: 0xFFFF << 192.
        let mut expected = [0u8; 32];
        expected[24] = 0xff;
        expected[25] = 0xff;
        assert_eq!(share_target(65536.0), Some(expected));
    }

    fn shift_left(value: &[u8; 32], bits: u32) -> [u8; 32] {
        let mut out = [0u8; 32];
        for bit in 0..256u32 {
            if value[(bit / 8) as usize] >> (bit % 8) & 1 == 1 && bit + bits < 256 {
                let to = bit + bits;
                out[(to / 8) as usize] |= 1 << (to % 8);
            }
        }
        out
    }

    #[test]
    fn fractional_difficulties_agree_with_floating_point() {
        for d in [
            0.001, 0.5, 0.75, 1.5, 3.0, 1e-6, 123.456, 1e6, 7.3e12, 1e-9, 0.3,
        ] {
            let target = share_target(d).expect("valid difficulty");
            let approx = to_f64(&DIFF1_TARGET) / d;
            let relative = (to_f64(&target) - approx).abs() / approx;
            assert!(
                relative < 1e-12,
                "difficulty {d}: relative error {relative}"
            );
            assert!((hash_difficulty(&target) - d).abs() / d < 1e-12);
        }
    }

    #[test]
    fn extremes_clamp_and_invalid_values_are_refused() {
        assert_eq!(share_target(1e-300), Some(MAX_TARGET));
        assert_eq!(share_target(f64::MIN_POSITIVE / 4.0), Some(MAX_TARGET));
        assert_eq!(share_target(1e300), Some([0; 32]));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(share_target(bad), None);
        }
    }

    #[test]
    fn meets_compares_as_little_endian_numbers() {
        let target = share_target(1.0).expect("valid");
        let mut hash = target;
        assert!(meets(&hash, &target));
        hash[0] = 1; // target's low byte is 0: now one above
        assert!(!meets(&hash, &target));
        hash = [0; 32];
        hash[27] = 0xff;
        hash[26] = 0xfe;
        hash[0] = 0xff;
        assert!(meets(&hash, &target));
        assert_eq!(
            network_target(0x207f_ffff),
            Target::MAX_ATTAINABLE_REGTEST.to_le_bytes()
        );
    }
}
