//! The BIP34 height at the start of a coinbase scriptSig, read from a stratum `coinb1`.
//!
//! Another pool's `mining.notify` tells its next height only through its coinbase: `coinb1` holds
//! the legacy-serialized transaction up to the extranonce, and BIP34 puts the height first in the
//! scriptSig, as the minimal push `CScript() << height` writes. The bytes come from a peer, so
//! every field is read with a bound check and every error names the byte offset and what was there.

use bitcoin::hex::DisplayHex;
use bitcoin::Transaction;

/// Why no BIP34 height could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Bip34Error {
    /// The bytes end before a field does.
    #[error("{what} at byte {offset} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// How many bytes it needs.
        needed: usize,
        /// How many there are.
        available: usize,
    },
    /// A CompactSize written with more bytes than its value needs.
    #[error("{what} at byte {offset} is {value} written in {width} bytes: not canonical")]
    NonCanonicalSize {
        /// The field.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// Its value.
        value: u64,
        /// Bytes used, prefix included.
        width: usize,
    },
    /// A coinbase has exactly one input.
    #[error("input count {found} at byte {offset}: a coinbase has exactly one input (a 0 would be a segwit marker, but stratum coinbases are legacy-serialized)")]
    InputCount {
        /// Where the count is.
        offset: usize,
        /// The count.
        found: u64,
    },
    /// The input does not spend the null outpoint (32 zero bytes, index 0xffffffff).
    #[error("byte {offset} is {found:#04x}: the coinbase outpoint is 32 zero bytes then ffffffff")]
    NotCoinbaseOutpoint {
        /// The first byte that differs.
        offset: usize,
        /// Its value.
        found: u8,
    },
    /// A transaction that is not a coinbase.
    #[error("transaction {txid} with {inputs} inputs is not a coinbase")]
    NotCoinbaseTransaction {
        /// Its txid.
        txid: bitcoin::Txid,
        /// Its number of inputs.
        inputs: usize,
    },
    /// A scriptSig length no coinbase could have.
    #[error("scriptSig length {found} at byte {offset}: only the 1- and 3-byte CompactSize forms fit a scriptSig")]
    ScriptSigLength {
        /// Where the length is.
        offset: usize,
        /// The length.
        found: u64,
    },
    /// The scriptSig is empty.
    #[error("scriptSig at byte {offset} is empty: no height")]
    EmptyScriptSig {
        /// Where it starts.
        offset: usize,
    },
    /// The height push is longer than the declared scriptSig.
    #[error("height push at byte {offset} ({push_len} bytes with its opcode) runs past the end of the {script_len}-byte scriptSig")]
    PushPastScriptSig {
        /// Where the push starts.
        offset: usize,
        /// Its length, opcode included.
        push_len: usize,
        /// The declared scriptSig length.
        script_len: usize,
    },
    /// The first opcode cannot start a height.
    #[error("opcode {opcode:#04x} at byte {offset} is not a height push (OP_0, OP_1..OP_16 or a push of 1 to 5 bytes)")]
    NotAHeight {
        /// Where it is.
        offset: usize,
        /// The opcode.
        opcode: u8,
    },
    /// A height not written as `CScript() << height` writes it, which BIP34 requires byte for byte.
    #[error("height push {found} at byte {offset} is not minimal: {reason}")]
    NonMinimal {
        /// Where the push starts.
        offset: usize,
        /// The push, opcode included, in hex.
        found: String,
        /// What the minimal form would be.
        reason: &'static str,
    },
    /// A negative number.
    #[error("height push {found} at byte {offset} is negative")]
    Negative {
        /// Where the push starts.
        offset: usize,
        /// The push, opcode included, in hex.
        found: String,
    },
    /// A number that does not fit in a u32.
    #[error("height {value} at byte {offset} does not fit in 32 bits")]
    TooLarge {
        /// Where the push starts.
        offset: usize,
        /// The number.
        value: u64,
    },
}

impl Bip34Error {
    /// The same error with its offset counted from `base` bytes earlier.
    fn shifted(mut self, base: usize) -> Self {
        match &mut self {
            Bip34Error::Truncated { offset, .. }
            | Bip34Error::NonCanonicalSize { offset, .. }
            | Bip34Error::InputCount { offset, .. }
            | Bip34Error::NotCoinbaseOutpoint { offset, .. }
            | Bip34Error::ScriptSigLength { offset, .. }
            | Bip34Error::EmptyScriptSig { offset }
            | Bip34Error::PushPastScriptSig { offset, .. }
            | Bip34Error::NotAHeight { offset, .. }
            | Bip34Error::NonMinimal { offset, .. }
            | Bip34Error::Negative { offset, .. }
            | Bip34Error::TooLarge { offset, .. } => *offset = offset.saturating_add(base),
            Bip34Error::NotCoinbaseTransaction { .. } => {}
        }
        self
    }
}

/// Bytes read front to back with bound checks.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Bip34Error> {
        let rest = self.bytes.get(self.offset..).unwrap_or(&[]);
        let taken = rest.get(..n).ok_or(Bip34Error::Truncated {
            what,
            offset: self.offset,
            needed: n,
            available: rest.len(),
        })?;
        self.offset += n;
        Ok(taken)
    }

    /// A CompactSize, canonical only (Bitcoin Core refuses the others: `non-canonical ReadCompactSize()`).
    fn compact_size(&mut self, what: &'static str) -> Result<u64, Bip34Error> {
        let start = self.offset;
        let prefix = self.take(1, what)?.first().copied().unwrap_or(0);
        let (value, min, width) = match prefix {
            0xfd => (le(self.take(2, what)?), 0xfd, 3),
            0xfe => (le(self.take(4, what)?), 0x1_0000, 5),
            0xff => (le(self.take(8, what)?), 0x1_0000_0000, 9),
            n => (u64::from(n), 0, 1),
        };
        if value < min {
            return Err(Bip34Error::NonCanonicalSize {
                what,
                offset: start,
                value,
                width,
            });
        }
        Ok(value)
    }
}

/// A little-endian unsigned number of at most 8 bytes.
fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Offset of the scriptSig length in a coinbase: version, a one-byte input count, the outpoint.
const SCRIPT_SIG_LEN_OFFSET: usize = 4 + 1 + 32 + 4;

/// The BIP34 height in a stratum `coinb1`.
///
/// Reads the transaction version, the input count (exactly 1), the null outpoint, the scriptSig
/// length (1- or 3-byte CompactSize, canonical) and the first opcode of the scriptSig, which must
/// lie whole inside both `coinb1` and the declared scriptSig. The rest of the scriptSig follows in
/// the extranonce and `coinb2` and is not needed. The scriptSig length is not held to the
/// consensus range 2..=100 (a canonical 3-byte length is at least 253, so such a coinbase is
/// invalid, but its height can still be read): this reads a height, it does not validate a coinbase.
///
/// # Errors
///
/// [`Bip34Error`] with the byte offset in `coinb1` and what was found there.
pub fn height_from_coinb1(coinb1: &[u8]) -> Result<u32, Bip34Error> {
    let mut r = Reader {
        bytes: coinb1,
        offset: 0,
    };
    r.take(4, "transaction version")?;
    let count_offset = r.offset;
    let count = r.compact_size("input count")?;
    if count != 1 {
        return Err(Bip34Error::InputCount {
            offset: count_offset,
            found: count,
        });
    }
    for (expected, what) in [(0x00, "outpoint hash"), (0xff, "outpoint index")] {
        let start = r.offset;
        let len = if expected == 0x00 { 32 } else { 4 };
        let field = r.take(len, what)?;
        if let Some((i, found)) = field.iter().enumerate().find(|(_, b)| **b != expected) {
            return Err(Bip34Error::NotCoinbaseOutpoint {
                offset: start + i,
                found: *found,
            });
        }
    }
    debug_assert_eq!(r.offset, SCRIPT_SIG_LEN_OFFSET);
    let len_offset = r.offset;
    let declared = r.compact_size("scriptSig length")?;
    let script_len = usize::try_from(declared)
        .ok()
        .filter(|n| *n <= usize::from(u16::MAX))
        .ok_or(Bip34Error::ScriptSigLength {
            offset: len_offset,
            found: declared,
        })?;
    let script_offset = r.offset;
    let present = coinb1.get(script_offset..).unwrap_or(&[]);
    let whole_script_present = present.len() >= script_len;
    let script = present.get(..script_len).unwrap_or(present);
    if script.is_empty() && script_len > 0 {
        return Err(Bip34Error::Truncated {
            what: "scriptSig",
            offset: script_offset,
            needed: 1,
            available: 0,
        });
    }
    height_from_script_sig(script).map_err(|e| match e {
        // The push was cut by the declared length, not by the end of coinb1.
        Bip34Error::Truncated { needed, .. } if whole_script_present => {
            Bip34Error::PushPastScriptSig {
                offset: script_offset,
                push_len: needed,
                script_len,
            }
        }
        other => other.shifted(script_offset),
    })
}

/// The BIP34 height at the start of `script_sig` (which may be cut after the height push).
///
/// The first opcode must be `OP_0` (0), `OP_1`..`OP_16` (1..=16) or a direct push of 1 to 5 bytes
/// holding a minimally encoded, non-negative script number (little-endian, sign bit in the top bit
/// of the last byte) above 16 and at most `u32::MAX`: exactly what `CScript() << height` writes,
/// which is what BIP34 compares the scriptSig with.
///
/// # Errors
///
/// [`Bip34Error`] with the byte offset in `script_sig` and what was found there.
pub fn height_from_script_sig(script_sig: &[u8]) -> Result<u32, Bip34Error> {
    let opcode = *script_sig
        .first()
        .ok_or(Bip34Error::EmptyScriptSig { offset: 0 })?;
    match opcode {
        0x00 => Ok(0),
        0x51..=0x60 => Ok(u32::from(opcode - 0x50)),
        0x01..=0x05 => {
            let len = usize::from(opcode);
            let push = script_sig.get(..1 + len).ok_or(Bip34Error::Truncated {
                what: "height push",
                offset: 0,
                needed: 1 + len,
                available: script_sig.len(),
            })?;
            let number = push.get(1..).unwrap_or(&[]);
            let found = || push.to_lower_hex_string();
            let last = number.last().copied().unwrap_or(0);
            let before_last = number.len().checked_sub(2).and_then(|i| number.get(i));
            if last & 0x7f == 0 && before_last.is_none_or(|b| b & 0x80 == 0) {
                return Err(Bip34Error::NonMinimal {
                    offset: 0,
                    found: found(),
                    reason: "the last byte only pads",
                });
            }
            if last & 0x80 != 0 {
                return Err(Bip34Error::Negative {
                    offset: 0,
                    found: found(),
                });
            }
            let value = le(number);
            if value <= 16 {
                return Err(Bip34Error::NonMinimal {
                    offset: 0,
                    found: found(),
                    reason: "0 to 16 are written OP_0 to OP_16",
                });
            }
            u32::try_from(value).map_err(|_| Bip34Error::TooLarge { offset: 0, value })
        }
        0x4f => Err(Bip34Error::Negative {
            offset: 0,
            found: "4f".to_owned(),
        }),
        0x06..=0x4e => Err(Bip34Error::NonMinimal {
            offset: 0,
            found: format!("{opcode:02x}"),
            reason: "a height of at most 32 bits is a push of at most 5 bytes",
        }),
        _ => Err(Bip34Error::NotAHeight { offset: 0, opcode }),
    }
}

/// The BIP34 height of a coinbase transaction.
///
/// # Errors
///
/// [`Bip34Error::NotCoinbaseTransaction`], or what [`height_from_script_sig`] finds wrong (offsets
/// in the scriptSig).
pub fn height_from_coinbase(tx: &Transaction) -> Result<u32, Bip34Error> {
    let input = tx
        .input
        .first()
        .filter(|_| tx.is_coinbase())
        .ok_or_else(|| Bip34Error::NotCoinbaseTransaction {
            txid: tx.compute_txid(),
            inputs: tx.input.len(),
        })?;
    height_from_script_sig(input.script_sig.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::script_num::push_script_num;
    use crate::work::{CoinbaseParts, CoinbaseSpec, ExtranonceSizes};
    use bitcoin::consensus::deserialize;
    use bitcoin::{Amount, ScriptBuf, TxOut};

    const HEIGHTS: [u32; 15] = [
        0,
        1,
        16,
        17,
        127,
        128,
        255,
        256,
        32_767,
        32_768,
        65_535,
        840_000,
        8_388_607,
        8_388_608,
        u32::MAX >> 1,
    ];

    fn coinb1_for(height: u32, tag: &[u8]) -> CoinbaseParts {
        let payouts = [TxOut {
            value: Amount::from_sat(5_000_000_000),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }];
        CoinbaseParts::build(&CoinbaseSpec {
            height,
            aux: &[],
            tag,
            extranonce: ExtranonceSizes::default(),
            payouts: &payouts,
            witness_commitment: None,
        })
        .expect("coinbase")
    }

    /// A coinb1 prefix: version 1, one input, the null outpoint.
    fn coinbase_prefix() -> Vec<u8> {
        let mut v = vec![1, 0, 0, 0, 1];
        v.extend_from_slice(&[0; 32]);
        v.extend_from_slice(&[0xff; 4]);
        v
    }

    #[test]
    fn round_trips_with_push_script_num() {
        for height in HEIGHTS.into_iter().chain([u32::MAX]) {
            let mut script = Vec::new();
            push_script_num(&mut script, i64::from(height));
            assert_eq!(height_from_script_sig(&script), Ok(height), "{height}");
            script.extend_from_slice(b"/tag/");
            assert_eq!(height_from_script_sig(&script), Ok(height), "{height}");
        }
    }

    #[test]
    fn coinb1_of_the_coinbase_builder_decodes_to_its_height() {
        for height in HEIGHTS {
            let parts = coinb1_for(height, b"/ironpool/");
            assert_eq!(height_from_coinb1(&parts.coinb1), Ok(height), "{height}");
            let tx: Transaction = deserialize(
                &parts
                    .legacy_bytes(&[1; 4], &[2; 8])
                    .expect("extranonce sizes"),
            )
            .expect("transaction");
            assert_eq!(height_from_coinbase(&tx), Ok(height));
        }
    }

    #[test]
    fn a_three_byte_script_length_decodes() {
        let mut coinb1 = coinbase_prefix();
        coinb1.extend_from_slice(&[0xfd, 0x00, 0x01]); // 256 bytes
        coinb1.extend_from_slice(&[0x03, 0x40, 0xd1, 0x0c]); // 840,000
        assert_eq!(height_from_coinb1(&coinb1), Ok(840_000));
        // The same length written as 0xfd 0x10 0x00 (16) is not canonical.
        let mut bad = coinbase_prefix();
        bad.extend_from_slice(&[0xfd, 0x10, 0x00, 0x03, 0x40, 0xd1, 0x0c]);
        assert_eq!(
            height_from_coinb1(&bad),
            Err(Bip34Error::NonCanonicalSize {
                what: "scriptSig length",
                offset: 41,
                value: 16,
                width: 3
            })
        );
        let mut huge = coinbase_prefix();
        huge.extend_from_slice(&[0xfe, 0x00, 0x00, 0x01, 0x00, 0x51]);
        assert!(matches!(
            height_from_coinb1(&huge),
            Err(Bip34Error::ScriptSigLength {
                offset: 41,
                found: 65_536
            })
        ));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let parts = coinb1_for(840_000, b"");
        let full = &parts.coinb1;
        // version 4 + count 1 + outpoint 36 + length 1 + push 4.
        let needed = 46;
        assert_eq!(height_from_coinb1(&full[..needed]), Ok(840_000));
        for len in 0..needed {
            let e = height_from_coinb1(&full[..len]).expect_err("truncated");
            assert!(
                matches!(e, Bip34Error::Truncated { .. }),
                "length {len}: {e}"
            );
        }
        assert!(height_from_script_sig(&[0x03, 0x40, 0xd1]).is_err());
        assert_eq!(
            height_from_script_sig(&[]),
            Err(Bip34Error::EmptyScriptSig { offset: 0 })
        );
    }

    #[test]
    fn bad_pushes_are_refused_with_their_offset() {
        let cases: [(&[u8], &str); 9] = [
            (&[0x01, 0x05], "0 to 16"),          // OP_5 written as a push
            (&[0x01, 0x00], "pads"),             // zero as a push
            (&[0x02, 0x11, 0x00], "pads"),       // 17 with a padding byte
            (&[0x03, 0x40, 0x51, 0x00], "pads"), // 20,800 with a padding byte
            (&[0x01, 0x91], "negative"),
            (&[0x02, 0x40, 0x81], "negative"),
            (&[0x4f], "negative"),            // OP_1NEGATE
            (&[0x4c, 0x01, 0x11], "5 bytes"), // PUSHDATA1
            (&[0x06, 1, 2, 3, 4, 5, 6], "5 bytes"),
        ];
        for (script, needle) in cases {
            let mut coinb1 = coinbase_prefix();
            coinb1.push(script.len() as u8);
            coinb1.extend_from_slice(script);
            let e = height_from_coinb1(&coinb1).expect_err("bad push");
            let text = e.to_string();
            assert!(
                text.contains(needle) && text.contains("at byte 42"),
                "{script:02x?}: {text}"
            );
            assert!(height_from_script_sig(script).is_err());
        }
        assert_eq!(
            height_from_script_sig(&[0x05, 0, 0, 0, 0, 0x01]),
            Err(Bip34Error::TooLarge {
                offset: 0,
                value: 1 << 32
            })
        );
        assert_eq!(
            height_from_script_sig(&[0x6a]),
            Err(Bip34Error::NotAHeight {
                offset: 0,
                opcode: 0x6a
            })
        );
    }

    #[test]
    fn the_coinbase_shape_is_checked() {
        let good = coinb1_for(840_000, b"").coinb1;
        let mut zero_inputs = good.clone();
        zero_inputs[4] = 0;
        assert!(matches!(
            height_from_coinb1(&zero_inputs),
            Err(Bip34Error::InputCount {
                offset: 4,
                found: 0
            })
        ));
        let mut two_inputs = good.clone();
        two_inputs[4] = 2;
        assert!(matches!(
            height_from_coinb1(&two_inputs),
            Err(Bip34Error::InputCount { found: 2, .. })
        ));
        let mut spends = good.clone();
        spends[20] = 0xab;
        assert_eq!(
            height_from_coinb1(&spends),
            Err(Bip34Error::NotCoinbaseOutpoint {
                offset: 20,
                found: 0xab
            })
        );
        let mut index = good.clone();
        index[39] = 0;
        assert_eq!(
            height_from_coinb1(&index),
            Err(Bip34Error::NotCoinbaseOutpoint {
                offset: 39,
                found: 0
            })
        );
        // A push longer than the declared scriptSig.
        let mut short = coinbase_prefix();
        short.extend_from_slice(&[0x02, 0x03, 0x40, 0xd1, 0x0c]);
        assert_eq!(
            height_from_coinb1(&short),
            Err(Bip34Error::PushPastScriptSig {
                offset: 42,
                push_len: 4,
                script_len: 2
            })
        );
        let mut empty = coinbase_prefix();
        empty.extend_from_slice(&[0x00, 0x51]);
        assert_eq!(
            height_from_coinb1(&empty),
            Err(Bip34Error::EmptyScriptSig { offset: 42 })
        );
        let spend: Transaction = deserialize(&{
            let mut tx = spends;
            tx.extend_from_slice(&[0; 12]);
            tx.extend_from_slice(&coinb1_for(840_000, b"").coinb2);
            tx
        })
        .expect("transaction");
        assert!(matches!(
            height_from_coinbase(&spend),
            Err(Bip34Error::NotCoinbaseTransaction { inputs: 1, .. })
        ));
    }
}
