//! Hex on the stratum wire: lower-case digits out; case-insensitive digits in, into fixed-size
//! values with the bound in the type ([`BoundedBytes`]), never into a heap buffer sized by the peer.

use super::error::FieldProblem;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Longest extranonce2 a submit may carry, in bytes. Miners and proxies use 2 to 16 bytes
/// ([`ExtranonceSizes::EXTRANONCE2_RANGE`](crate::work::ExtranonceSizes::EXTRANONCE2_RANGE)); the
/// exact length a session expects is checked by the gateway.
pub const EXTRANONCE2_BYTES_MAX: usize = 16;

/// A miner's extranonce2: at most [`EXTRANONCE2_BYTES_MAX`] bytes, held inline.
pub type Extranonce2 = BoundedBytes<EXTRANONCE2_BYTES_MAX>;

/// At most `MAX` bytes held inline (no heap), for peer-supplied byte strings.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BoundedBytes<const MAX: usize> {
    bytes: [u8; MAX],
    len: usize,
}

impl<const MAX: usize> BoundedBytes<MAX> {
    /// Copies `bytes`, or returns `None` if there are more than `MAX`.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut out = BoundedBytes {
            bytes: [0; MAX],
            len: bytes.len(),
        };
        out.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(out)
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// Number of bytes held (at most `MAX`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const MAX: usize> std::fmt::Debug for BoundedBytes<MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BoundedBytes<{MAX}>(")?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// Appends `bytes` as lower-case hex.
pub(crate) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len().saturating_mul(2));
    for &b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0x0f));
    }
}

/// Appends `value` as 8 lower-case hex digits, most significant first (the stratum convention for
/// version, nbits, ntime, nonce and masks).
pub(crate) fn push_u32_hex(out: &mut Vec<u8>, value: u32) {
    push_hex(out, &value.to_be_bytes());
}

fn digit(nibble: u8) -> u8 {
    DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')
}

fn value_of(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(c.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(c.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

/// Parses 1 to 8 hex digits (or exactly 8 if `exactly_8`) as a big-endian u32.
pub(crate) fn parse_u32(text: &str, exactly_8: bool) -> Result<u32, FieldProblem> {
    let digits = text.as_bytes();
    let length_ok = if exactly_8 {
        digits.len() == 8
    } else {
        (1..=8).contains(&digits.len())
    };
    if !length_ok {
        return Err(FieldProblem::HexLength {
            expected: if exactly_8 { "8" } else { "1 to 8" },
            found: digits.len(),
        });
    }
    let mut value: u32 = 0;
    for (offset, &c) in digits.iter().enumerate() {
        let v = value_of(c).ok_or(FieldProblem::HexDigit { offset })?;
        // At most 8 digits: the shift never drops a set bit.
        value = (value << 4) | u32::from(v);
    }
    Ok(value)
}

/// Parses an even number of hex digits, at most `2 * MAX`, into bytes.
pub(crate) fn parse_bytes<const MAX: usize>(text: &str) -> Result<BoundedBytes<MAX>, FieldProblem> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) || digits.len() > MAX.saturating_mul(2) {
        return Err(FieldProblem::HexBytes {
            bytes_max: MAX,
            digits: digits.len(),
        });
    }
    let mut out = BoundedBytes {
        bytes: [0; MAX],
        len: 0,
    };
    for (slot, pair) in out.bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] => (*hi, *lo),
            _ => break,
        };
        let offset = out.len.saturating_mul(2);
        let hi = value_of(hi).ok_or(FieldProblem::HexDigit { offset })?;
        let lo = value_of(lo).ok_or(FieldProblem::HexDigit {
            offset: offset.saturating_add(1),
        })?;
        *slot = (hi << 4) | lo;
        out.len = out.len.saturating_add(1);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn writes_lower_case_hex() {
        let mut out = Vec::new();
        push_hex(&mut out, &[0x00, 0x1f, 0xab, 0xff]);
        push_u32_hex(&mut out, 0x2000_0004);
        assert_eq!(out, b"001fabff20000004");
    }

    #[test]
    fn parses_u32_in_both_cases_and_bounds_length() {
        assert_eq!(parse_u32("504e86B9", true), Ok(0x504e_86b9));
        assert_eq!(parse_u32("bf", false), Ok(0xbf));
        assert_eq!(parse_u32("ffffffff", false), Ok(u32::MAX));
        assert_eq!(
            parse_u32("bf", true),
            Err(FieldProblem::HexLength {
                expected: "8",
                found: 2
            })
        );
        assert_eq!(
            parse_u32("", false),
            Err(FieldProblem::HexLength {
                expected: "1 to 8",
                found: 0
            })
        );
        assert_eq!(
            parse_u32("123456789", false),
            Err(FieldProblem::HexLength {
                expected: "1 to 8",
                found: 9
            })
        );
        assert_eq!(
            parse_u32("0000000g", true),
            Err(FieldProblem::HexDigit { offset: 7 })
        );
        assert_eq!(
            parse_u32("0é", false),
            Err(FieldProblem::HexDigit { offset: 1 })
        );
        assert_eq!(
            parse_u32("é", false),
            Err(FieldProblem::HexDigit { offset: 0 })
        );
        assert_eq!(
            parse_u32("+1", false),
            Err(FieldProblem::HexDigit { offset: 0 })
        );
    }

    #[test]
    fn parses_bytes_up_to_the_bound() {
        let en2: Extranonce2 = parse_bytes("00A1ff").unwrap();
        assert_eq!(en2.as_slice(), &[0x00, 0xa1, 0xff]);
        assert_eq!(parse_bytes::<16>("").unwrap().len(), 0);
        assert_eq!(parse_bytes::<16>(&"ab".repeat(16)).unwrap().len(), 16);
        assert!(matches!(
            parse_bytes::<16>(&"ab".repeat(17)),
            Err(FieldProblem::HexBytes {
                bytes_max: 16,
                digits: 34
            })
        ));
        assert!(matches!(
            parse_bytes::<16>("abc"),
            Err(FieldProblem::HexBytes {
                bytes_max: 16,
                digits: 3
            })
        ));
        assert_eq!(
            parse_bytes::<16>("00zz"),
            Err(FieldProblem::HexDigit { offset: 2 })
        );
        assert_eq!(
            parse_bytes::<16>("000z"),
            Err(FieldProblem::HexDigit { offset: 3 })
        );
        // Multi-byte UTF-8 is not hex and is reported, never sliced through.
        assert_eq!(
            parse_bytes::<16>("00é"),
            Err(FieldProblem::HexDigit { offset: 2 })
        );
        assert_eq!(
            format!("{:?}", parse_bytes::<4>("0aff").unwrap()),
            "BoundedBytes<4>(0aff)"
        );
        assert!(BoundedBytes::<2>::from_slice(&[1, 2, 3]).is_none());
    }
}
