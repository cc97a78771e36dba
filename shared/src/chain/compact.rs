//! Compact targets (`nBits`) decoded with Bitcoin Core's checks.
//!
//! `bitcoin::Target::from_compact` turns a negative mantissa into zero and lets an exponent past
//! 256 bits wrap silently; a header carrying such bits must be refused, not mined on. Bitcoin Core
//! (`arith_uint256::SetCompact`) reports both cases, and its proof-of-work check refuses them and a
//! zero target: this module does the same before handing the value to `Target`.

use bitcoin::{CompactTarget, Target};

/// Why compact bits do not describe a usable target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    /// The sign bit (0x00800000) is set with a non-zero mantissa: a negative target.
    #[error("bits {bits:#010x} have the sign bit 0x00800000 set: a negative target")]
    Negative {
        /// The bits as found.
        bits: u32,
    },
    /// The exponent shifts the mantissa past 256 bits.
    #[error("bits {bits:#010x} overflow 256 bits")]
    Overflow {
        /// The bits as found.
        bits: u32,
    },
    /// The target is zero: no hash meets it.
    #[error("bits {bits:#010x} give a zero target")]
    Zero {
        /// The bits as found.
        bits: u32,
    },
}

/// The target of `bits`, refused when Bitcoin Core's `SetCompact` flags it negative or overflowing,
/// or when it is zero.
///
/// # Errors
///
/// [`CompactError`] naming the bits and which of the three it is.
pub fn target_from_compact(bits: CompactTarget) -> Result<Target, CompactError> {
    let raw = bits.to_consensus();
    let size = raw >> 24;
    let mut word = raw & 0x007f_ffff;
    if size <= 3 {
        // size is at most 3 here, so the shift is at most 24 bits.
        word >>= 8 * (3 - size);
    }
    if word != 0 && raw & 0x0080_0000 != 0 {
        return Err(CompactError::Negative { bits: raw });
    }
    if word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32)) {
        return Err(CompactError::Overflow { bits: raw });
    }
    if word == 0 {
        return Err(CompactError::Zero { bits: raw });
    }
    // Sign bit clear and no overflow: the bitcoin crate's decoding is exact from here.
    Ok(Target::from_compact(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bits: u32) -> Result<Target, CompactError> {
        target_from_compact(CompactTarget::from_consensus(bits))
    }

    /// The target in hex, without leading zeros.
    fn target_hex(t: Target) -> String {
        let hex = format!("{t:x}");
        hex.trim_start_matches('0').to_owned()
    }

    #[test]
    fn valid_bits_decode_as_bitcoin_core_does() {
        assert_eq!(decode(0x1d00_ffff), Ok(Target::MAX_ATTAINABLE_MAINNET));
        assert_eq!(decode(0x207f_ffff), Ok(Target::MAX_ATTAINABLE_REGTEST));
        assert_eq!(decode(0x0112_3456).map(target_hex), Ok("12".to_owned()));
        assert_eq!(decode(0x0200_8000).map(target_hex), Ok("80".to_owned()));
        assert_eq!(
            decode(0x0500_9234).map(target_hex),
            Ok("92340000".to_owned())
        );
        assert_eq!(
            decode(0x0412_3456).map(target_hex),
            Ok("12345600".to_owned())
        );
        // The largest values that do not overflow, one per exponent past 32 bytes.
        assert!(decode(0x2200_00ff).is_ok());
        assert!(decode(0x2100_ffff).is_ok());
        assert!(decode(0x207f_ffff).is_ok());
    }

    #[test]
    fn negative_overflowing_and_zero_bits_are_refused() {
        assert_eq!(
            decode(0x0492_3456),
            Err(CompactError::Negative { bits: 0x0492_3456 })
        );
        assert_eq!(
            decode(0x01fe_dcba),
            Err(CompactError::Negative { bits: 0x01fe_dcba })
        );
        assert_eq!(
            decode(0xff12_3456),
            Err(CompactError::Overflow { bits: 0xff12_3456 })
        );
        assert_eq!(
            decode(0x2300_0001),
            Err(CompactError::Overflow { bits: 0x2300_0001 })
        );
        assert_eq!(
            decode(0x2200_0100),
            Err(CompactError::Overflow { bits: 0x2200_0100 })
        );
        assert_eq!(
            decode(0x2101_0000),
            Err(CompactError::Overflow { bits: 0x2101_0000 })
        );
        assert_eq!(decode(0), Err(CompactError::Zero { bits: 0 }));
        // The mantissa shifted out entirely by a small exponent, sign bit set or not.
        assert_eq!(
            decode(0x0100_3456),
            Err(CompactError::Zero { bits: 0x0100_3456 })
        );
        assert_eq!(
            decode(0x0180_0000),
            Err(CompactError::Zero { bits: 0x0180_0000 })
        );
        assert_eq!(
            decode(0xff00_0000),
            Err(CompactError::Zero { bits: 0xff00_0000 })
        );
    }
}
