//! The previous block hash of another pool's `mining.notify`, back in header byte order.
//!
//! Stratum sends the 32 bytes of the hash in internal order with each 4-byte word byte-swapped
//! ([`prev_hash_to_stratum`]); a job watcher that reads a foreign job must undo exactly that to
//! know which block the other pool builds on.

use crate::stratum::prev_hash_to_stratum;

/// A stratum `prevhash` that is not 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrevHashError {
    /// Not 64 characters.
    #[error("stratum prevhash has {found} bytes, expected 64 hex digits")]
    Length {
        /// Its length in bytes.
        found: usize,
    },
    /// A character that is not a hex digit.
    #[error("stratum prevhash byte {offset} is {found:#04x}, not a hex digit")]
    Digit {
        /// Where it is.
        offset: usize,
        /// The byte found (part of a multi-byte character if not ASCII).
        found: u8,
    },
}

/// The previous block hash in internal byte order (as `BlockHash::to_byte_array` gives it) from
/// the `prevhash` of a `mining.notify`, upper- or lower-case.
///
/// # Errors
///
/// [`PrevHashError`]: not 64 characters, or a character that is not a hex digit, with its offset.
pub fn prev_hash_from_stratum(hex: &str) -> Result<[u8; 32], PrevHashError> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return Err(PrevHashError::Length {
            found: digits.len(),
        });
    }
    let nibble = |offset: usize| {
        let found = digits.get(offset).copied().unwrap_or(0);
        match found {
            b'0'..=b'9' => Ok(found - b'0'),
            b'a'..=b'f' => Ok(found - b'a' + 10),
            b'A'..=b'F' => Ok(found - b'A' + 10),
            _ => Err(PrevHashError::Digit { offset, found }),
        }
    };
    let mut wire = [0u8; 32];
    for (i, byte) in wire.iter_mut().enumerate() {
        *byte = (nibble(2 * i)? << 4) | nibble(2 * i + 1)?;
    }
    // The word swap is its own inverse.
    Ok(prev_hash_to_stratum(&wire))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::hex::DisplayHex;
    use bitcoin::BlockHash;
    use std::str::FromStr;

    #[test]
    fn round_trips_a_mainnet_hash() {
        // Block 840,000.
        let hash =
            BlockHash::from_str("0000000000000000000320283a032748cef8227873ff4872689bf23f1cda83a5")
                .expect("hash");
        let internal = hash.to_byte_array();
        let wire = prev_hash_to_stratum(&internal).to_lower_hex_string();
        // The displayed hash with its 4-byte words in reverse order.
        assert_eq!(
            wire,
            "1cda83a5689bf23f73ff4872cef822783a032748000320280000000000000000"
        );
        assert_eq!(prev_hash_from_stratum(&wire), Ok(internal));
        assert_eq!(prev_hash_from_stratum(&wire.to_uppercase()), Ok(internal));
    }

    #[test]
    fn the_genesis_hash_as_stratum_sends_it() {
        let internal = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Bitcoin)
            .block_hash()
            .to_byte_array();
        assert_eq!(
            prev_hash_from_stratum(
                "0a8ce26f72b3f1b646a2a6c14ff763ae65831e939c085ae10019d66800000000"
            ),
            Ok(internal)
        );
    }

    #[test]
    fn bad_hex_and_wrong_lengths_are_errors() {
        assert_eq!(
            prev_hash_from_stratum(""),
            Err(PrevHashError::Length { found: 0 })
        );
        assert_eq!(
            prev_hash_from_stratum(&"0".repeat(63)),
            Err(PrevHashError::Length { found: 63 })
        );
        assert_eq!(
            prev_hash_from_stratum(&"0".repeat(66)),
            Err(PrevHashError::Length { found: 66 })
        );
        let mut bad = "0".repeat(64);
        bad.replace_range(17..18, "g");
        assert_eq!(
            prev_hash_from_stratum(&bad),
            Err(PrevHashError::Digit {
                offset: 17,
                found: b'g'
            })
        );
        // 62 ASCII digits and one two-byte character: 64 bytes, never sliced through.
        let accented = format!("{}é", "0".repeat(62));
        assert!(matches!(
            prev_hash_from_stratum(&accented),
            Err(PrevHashError::Digit { offset: 62, .. })
        ));
    }
}
