//! The coinbase transaction, cut for stratum: `coinb1 | extranonce1 | extranonce2 | coinb2`.
//!
//! The scriptSig is `height push | [coinbaseaux push] | [tag push] | extranonce push opcode |
//! extranonce1 | extranonce2`. Its length is computed exactly before anything is built and kept at
//! or under the consensus limit of 100 bytes by truncating the tag, never by emitting a coinbase a
//! node would reject (`bad-cb-length`, ViaBTC's bug 15.1.1).

use super::script_num::{push_script_num, script_num_push_len};
use bitcoin::consensus::Encodable;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{ScriptBuf, TxOut, VarInt};

/// Consensus limit on the coinbase scriptSig length (Bitcoin Core `bad-cb-length`).
pub const SCRIPT_SIG_MAX: usize = 100;
/// Weight the node leaves free for our coinbase when it fills a template (Bitcoin Core reserved
/// 4,000 weight units before v29 and 8,000 since): a coinbase heavier than this could push the
/// block over the weight limit, so it is refused at start-up.
pub const COINBASE_WEIGHT_MAX: usize = 4_000;
/// The 32-byte witness reserved value that goes in the coinbase witness when the block commits to
/// witnesses (BIP141). Zero, as every pool uses.
pub const WITNESS_RESERVED_VALUE: [u8; 32] = [0; 32];

/// How many extranonce bytes the gateway assigns per session and how many the miner rolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtranonceSizes {
    /// Assigned by the gateway, unique per session (encodes host, process, shard and session).
    pub extranonce1: usize,
    /// Rolled by the miner.
    pub extranonce2: usize,
}

impl ExtranonceSizes {
    /// Allowed `extranonce1` sizes: 4 bytes at least, so that host, process, shard and session all
    /// fit (two sessions with one value would do the same work), at most 8.
    pub const EXTRANONCE1_RANGE: std::ops::RangeInclusive<usize> = 4..=8;
    /// Allowed `extranonce2` sizes: miners and proxies expect 2 to 16 bytes.
    pub const EXTRANONCE2_RANGE: std::ops::RangeInclusive<usize> = 2..=16;

    /// Both parts together.
    pub fn total(&self) -> usize {
        self.extranonce1 + self.extranonce2
    }
}

impl Default for ExtranonceSizes {
    fn default() -> Self {
        ExtranonceSizes {
            extranonce1: 4,
            extranonce2: 8,
        }
    }
}

/// What goes into a coinbase.
#[derive(Debug, Clone)]
pub struct CoinbaseSpec<'a> {
    /// Height of the block (BIP34).
    pub height: u32,
    /// The template's `coinbaseaux` bytes, pushed as they are when not empty.
    pub aux: &'a [u8],
    /// The pool tag; truncated to what fits.
    pub tag: &'a [u8],
    /// Extranonce layout.
    pub extranonce: ExtranonceSizes,
    /// Payout outputs, in order.
    pub payouts: &'a [TxOut],
    /// The template's witness commitment script, added as the last output when present.
    pub witness_commitment: Option<&'a ScriptBuf>,
}

/// A coinbase cut around its extranonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinbaseParts {
    /// Transaction bytes up to the extranonce (legacy serialization: this is what the txid covers).
    pub coinb1: Vec<u8>,
    /// Transaction bytes after the extranonce.
    pub coinb2: Vec<u8>,
    /// The extranonce layout the parts were cut for.
    pub extranonce: ExtranonceSizes,
    /// Length of the whole scriptSig, extranonce included.
    pub script_sig_len: usize,
    /// How many bytes of the configured tag made it in.
    pub tag_len_used: usize,
    /// Whether the block commits to witnesses; then the coinbase carries the reserved value.
    pub has_witness_commitment: bool,
}

/// Why a coinbase could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoinbaseError {
    /// An extranonce size outside the range miners and the scriptSig budget allow.
    #[error("extranonce sizes {extranonce1}+{extranonce2} are out of range (extranonce1 4..=8, extranonce2 2..=16)")]
    ExtranonceSize {
        extranonce1: usize,
        extranonce2: usize,
    },
    /// Height, coinbaseaux and extranonce alone exceed the scriptSig limit.
    #[error("coinbase scriptSig needs {needed} bytes without the tag, over the limit of {SCRIPT_SIG_MAX} (coinbaseaux is {aux_len} bytes)")]
    ScriptSigTooLong { needed: usize, aux_len: usize },
    /// Too many or too large outputs for the space the node reserves for the coinbase.
    #[error("coinbase weight {weight} is over the {COINBASE_WEIGHT_MAX} weight units the node reserves for it ({outputs} outputs)")]
    TooHeavy { weight: usize, outputs: usize },
    /// A solution's extranonce does not have the sizes the parts were cut for.
    #[error("extranonce of {extranonce1}+{extranonce2} bytes, expected {expected1}+{expected2}")]
    ExtranonceMismatch {
        extranonce1: usize,
        extranonce2: usize,
        expected1: usize,
        expected2: usize,
    },
}

fn push_data_len(n: usize) -> usize {
    match n {
        0 => 0,
        1..=75 => 1 + n,
        76..=255 => 2 + n,
        _ => 3 + n,
    }
}

fn push_data(out: &mut Vec<u8>, data: &[u8]) {
    match data.len() {
        0 => {}
        n @ 1..=75 => out.push(n as u8),
        n @ 76..=255 => out.extend_from_slice(&[0x4c, n as u8]),
        // Only reachable for coinbaseaux, which the budget check limits to < 100 bytes.
        n => {
            out.push(0x4d);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
    }
    out.extend_from_slice(data);
}

/// The longest prefix of `tag` whose push fits in `available` bytes, cut at a character boundary
/// when the tag is text so that explorers show no broken character.
fn fitting_tag(tag: &[u8], available: usize) -> &[u8] {
    let mut n = tag.len().min(255);
    while n > 0 && push_data_len(n) > available {
        n -= 1;
    }
    if let Ok(text) = std::str::from_utf8(tag) {
        while n > 0 && !text.is_char_boundary(n) {
            n -= 1;
        }
    }
    &tag[..n]
}

impl CoinbaseParts {
    /// Builds the parts for `spec`.
    pub fn build(spec: &CoinbaseSpec<'_>) -> Result<Self, CoinbaseError> {
        let en = spec.extranonce;
        if !ExtranonceSizes::EXTRANONCE1_RANGE.contains(&en.extranonce1)
            || !ExtranonceSizes::EXTRANONCE2_RANGE.contains(&en.extranonce2)
        {
            return Err(CoinbaseError::ExtranonceSize {
                extranonce1: en.extranonce1,
                extranonce2: en.extranonce2,
            });
        }
        let height_len = script_num_push_len(i64::from(spec.height));
        // The extranonce is one direct push (its opcode + bytes): at most 24 bytes, always < 76.
        let fixed = height_len + push_data_len(spec.aux.len()) + 1 + en.total();
        if fixed > SCRIPT_SIG_MAX {
            return Err(CoinbaseError::ScriptSigTooLong {
                needed: fixed,
                aux_len: spec.aux.len(),
            });
        }
        let tag = fitting_tag(spec.tag, SCRIPT_SIG_MAX - fixed);
        let script_sig_len = fixed + push_data_len(tag.len());
        debug_assert!(script_sig_len <= SCRIPT_SIG_MAX);

        let mut coinb1 = Vec::with_capacity(42 + script_sig_len);
        coinb1.extend_from_slice(&1u32.to_le_bytes()); // transaction version
        coinb1.push(1); // one input
        coinb1.extend_from_slice(&[0u8; 32]); // null prevout hash
        coinb1.extend_from_slice(&u32::MAX.to_le_bytes()); // null prevout index
        coinb1.push(script_sig_len as u8); // < 0xfd, so a one-byte CompactSize
        let script_start = coinb1.len();
        push_script_num(&mut coinb1, i64::from(spec.height));
        push_data(&mut coinb1, spec.aux);
        push_data(&mut coinb1, tag);
        coinb1.push(en.total() as u8);
        debug_assert_eq!(coinb1.len() - script_start + en.total(), script_sig_len);

        let mut outputs: Vec<TxOut> = spec.payouts.to_vec();
        if let Some(commitment) = spec.witness_commitment {
            outputs.push(TxOut {
                value: bitcoin::Amount::ZERO,
                script_pubkey: commitment.clone(),
            });
        }
        let mut coinb2 = Vec::with_capacity(64 + outputs.len() * 48);
        coinb2.extend_from_slice(&u32::MAX.to_le_bytes()); // sequence
        encode(&VarInt(outputs.len() as u64), &mut coinb2);
        for output in &outputs {
            encode(output, &mut coinb2);
        }
        coinb2.extend_from_slice(&0u32.to_le_bytes()); // lock time

        let parts = CoinbaseParts {
            coinb1,
            coinb2,
            extranonce: en,
            script_sig_len,
            tag_len_used: tag.len(),
            has_witness_commitment: spec.witness_commitment.is_some(),
        };
        let weight = parts.weight();
        if weight > COINBASE_WEIGHT_MAX {
            return Err(CoinbaseError::TooHeavy {
                weight,
                outputs: outputs.len(),
            });
        }
        Ok(parts)
    }

    /// Weight of the final coinbase: 4 × legacy size, plus marker, flag and the witness.
    pub fn weight(&self) -> usize {
        let base = self.coinb1.len() + self.extranonce.total() + self.coinb2.len();
        // marker + flag + item count + item length + 32-byte reserved value.
        let witness = if self.has_witness_commitment {
            2 + 1 + 1 + 32
        } else {
            0
        };
        base * 4 + witness
    }

    fn check_sizes(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Result<(), CoinbaseError> {
        if extranonce1.len() != self.extranonce.extranonce1
            || extranonce2.len() != self.extranonce.extranonce2
        {
            return Err(CoinbaseError::ExtranonceMismatch {
                extranonce1: extranonce1.len(),
                extranonce2: extranonce2.len(),
                expected1: self.extranonce.extranonce1,
                expected2: self.extranonce.extranonce2,
            });
        }
        Ok(())
    }

    /// The legacy serialization (what the txid and the merkle root cover).
    pub fn legacy_bytes(
        &self,
        extranonce1: &[u8],
        extranonce2: &[u8],
    ) -> Result<Vec<u8>, CoinbaseError> {
        self.check_sizes(extranonce1, extranonce2)?;
        let mut tx =
            Vec::with_capacity(self.coinb1.len() + self.extranonce.total() + self.coinb2.len());
        tx.extend_from_slice(&self.coinb1);
        tx.extend_from_slice(extranonce1);
        tx.extend_from_slice(extranonce2);
        tx.extend_from_slice(&self.coinb2);
        Ok(tx)
    }

    /// The txid in internal byte order.
    pub fn txid(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Result<[u8; 32], CoinbaseError> {
        Ok(sha256d::Hash::hash(&self.legacy_bytes(extranonce1, extranonce2)?).to_byte_array())
    }

    /// The coinbase as it goes into the block: with marker, flag and the 32-byte witness reserved
    /// value when the block commits to witnesses (ViaBTC left it out and relied on `submitblock`
    /// to add it, so its blocks were invalid on the P2P path: bug 15.1.4).
    pub fn block_bytes(
        &self,
        extranonce1: &[u8],
        extranonce2: &[u8],
    ) -> Result<Vec<u8>, CoinbaseError> {
        let legacy = self.legacy_bytes(extranonce1, extranonce2)?;
        if !self.has_witness_commitment {
            return Ok(legacy);
        }
        let body_end = legacy.len() - 4; // the lock time closes the transaction
        let mut tx = Vec::with_capacity(legacy.len() + 38);
        tx.extend_from_slice(&legacy[..4]); // version
        tx.extend_from_slice(&[0x00, 0x01]); // segwit marker and flag
        tx.extend_from_slice(&legacy[4..body_end]); // inputs and outputs
        tx.push(1); // one witness item for the one input
        tx.push(32);
        tx.extend_from_slice(&WITNESS_RESERVED_VALUE);
        tx.extend_from_slice(&legacy[body_end..]); // lock time
        Ok(tx)
    }
}

fn encode<T: Encodable>(value: &T, out: &mut Vec<u8>) {
    value
        .consensus_encode(out)
        .expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::deserialize;
    use bitcoin::{Amount, Transaction};

    fn payout() -> Vec<TxOut> {
        vec![TxOut {
            value: Amount::from_sat(5_000_000_000),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }]
    }

    fn spec<'a>(
        height: u32,
        aux: &'a [u8],
        tag: &'a [u8],
        payouts: &'a [TxOut],
    ) -> CoinbaseSpec<'a> {
        CoinbaseSpec {
            height,
            aux,
            tag,
            extranonce: ExtranonceSizes::default(),
            payouts,
            witness_commitment: None,
        }
    }

    #[test]
    fn script_sig_never_exceeds_100_bytes_for_any_tag_length() {
        let payouts = payout();
        let tag: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
        for height in [1u32, 16, 17, 500, 70_000, 840_000, 8_388_608, u32::MAX] {
            for aux_len in [0usize, 1, 20, 44] {
                let aux = vec![0xab; aux_len];
                for en in [(4usize, 2usize), (4, 8), (8, 16)] {
                    for tag_len in 0..=tag.len() {
                        let mut s = spec(height, &aux, &tag[..tag_len], &payouts);
                        s.extranonce = ExtranonceSizes {
                            extranonce1: en.0,
                            extranonce2: en.1,
                        };
                        let parts = CoinbaseParts::build(&s).expect("fits");
                        assert!(parts.script_sig_len <= SCRIPT_SIG_MAX);
                        let tx: Transaction = deserialize(
                            &parts
                                .legacy_bytes(&vec![1; en.0], &vec![2; en.1])
                                .expect("sizes"),
                        )
                        .expect("a well-formed transaction");
                        let script_sig = &tx.input[0].script_sig;
                        // The length prefix says exactly what is there.
                        assert_eq!(
                            script_sig.len(),
                            parts.script_sig_len,
                            "height {height} aux {aux_len} tag {tag_len}"
                        );
                        assert!(script_sig.len() <= SCRIPT_SIG_MAX);
                        // The tag is kept whole while it fits, and only then truncated.
                        assert!(parts.tag_len_used <= tag_len);
                        if parts.tag_len_used < tag_len {
                            // One more byte would not have fit.
                            assert!(
                                parts.script_sig_len >= SCRIPT_SIG_MAX - 1,
                                "tag cut while room was left"
                            );
                        }
                        // BIP34: the scriptSig starts with the minimal height push.
                        let height_push = bitcoin::script::Builder::new()
                            .push_int(i64::from(height))
                            .into_script();
                        assert!(script_sig.as_bytes().starts_with(height_push.as_bytes()));
                        assert!(tx.is_coinbase());
                    }
                }
            }
        }
    }

    #[test]
    fn utf8_tags_are_cut_at_character_boundaries() {
        let payouts = payout();
        let tag = "é".repeat(60); // 120 bytes of two-byte characters
        let parts =
            CoinbaseParts::build(&spec(840_000, &[], tag.as_bytes(), &payouts)).expect("fits");
        assert!(parts.tag_len_used < tag.len());
        assert!(tag.is_char_boundary(parts.tag_len_used));
        assert_eq!(parts.tag_len_used % 2, 0);
    }

    #[test]
    fn oversized_aux_and_bad_extranonce_are_errors() {
        let payouts = payout();
        let aux = [0u8; 90];
        assert_eq!(
            CoinbaseParts::build(&spec(840_000, &aux, b"", &payouts)),
            Err(CoinbaseError::ScriptSigTooLong {
                needed: 4 + 92 + 1 + 12,
                aux_len: 90
            })
        );
        let mut s = spec(1, &[], b"", &payouts);
        s.extranonce = ExtranonceSizes {
            extranonce1: 4,
            extranonce2: 1,
        };
        assert!(matches!(
            CoinbaseParts::build(&s),
            Err(CoinbaseError::ExtranonceSize { .. })
        ));
        let parts = CoinbaseParts::build(&spec(1, &[], b"", &payouts)).expect("fits");
        assert!(matches!(
            parts.txid(&[0; 4], &[0; 7]),
            Err(CoinbaseError::ExtranonceMismatch { .. })
        ));
    }

    #[test]
    fn too_many_outputs_are_refused() {
        let many: Vec<TxOut> = (0..200)
            .map(|_| TxOut {
                value: Amount::from_sat(1),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51; 34]),
            })
            .collect();
        assert!(matches!(
            CoinbaseParts::build(&spec(1, &[], b"", &many)),
            Err(CoinbaseError::TooHeavy { .. })
        ));
    }

    #[test]
    fn witness_serialization_carries_the_reserved_value_and_keeps_the_txid() {
        let payouts = payout();
        let commitment =
            ScriptBuf::from_bytes([&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed][..], &[7u8; 32]].concat());
        let mut s = spec(102, &[], b"/ironpool/", &payouts);
        s.witness_commitment = Some(&commitment);
        let parts = CoinbaseParts::build(&s).expect("fits");
        let (en1, en2) = ([1u8; 4], [2u8; 8]);
        let tx: Transaction =
            deserialize(&parts.block_bytes(&en1, &en2).expect("sizes")).expect("segwit tx");
        assert_eq!(tx.input[0].witness.len(), 1);
        assert_eq!(
            tx.input[0].witness.nth(0),
            Some(&WITNESS_RESERVED_VALUE[..])
        );
        assert_eq!(
            tx.compute_txid().to_byte_array(),
            parts.txid(&en1, &en2).expect("sizes")
        );
        assert_eq!(
            tx.output.last().map(|o| &o.script_pubkey),
            Some(&commitment)
        );
        assert_eq!(tx.weight().to_wu() as usize, parts.weight());
    }
}
