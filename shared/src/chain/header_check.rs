//! Proof of work of an announced header, checked before any work is built on it.
//!
//! A tip announced by a P2P peer or read from another pool's stratum job is only a claim. The hash
//! must meet the target its bits encode, and those bits must be a target Bitcoin Core accepts at
//! all (`CheckProofOfWork`): not negative, not overflowing, not zero, not easier than the network's
//! limit. Whether the bits are the right ones for the height is [`plausible_bits`]'s question.
//!
//! [`plausible_bits`]: super::next_work::plausible_bits

use bitcoin::block::Header;
use bitcoin::BlockHash;

use super::compact::{target_from_compact, CompactError};
use super::rules::ChainRules;

/// Why a header's proof of work does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    /// The bits are no valid target.
    #[error("header {hash}: {problem}")]
    BadBits {
        /// The header's hash.
        hash: BlockHash,
        /// What is wrong with the bits.
        problem: CompactError,
    },
    /// The bits are easier than the network allows.
    #[error(
        "header {hash}: bits {bits:#010x} are above the proof-of-work limit {pow_limit:#010x}"
    )]
    AbovePowLimit {
        /// The header's hash.
        hash: BlockHash,
        /// The header's bits.
        bits: u32,
        /// The network's limit.
        pow_limit: u32,
    },
    /// The hash does not meet the target.
    #[error("header {hash}: hash is above the target of its bits {bits:#010x}")]
    HashAboveTarget {
        /// The header's hash.
        hash: BlockHash,
        /// The header's bits.
        bits: u32,
    },
}

/// Checks `header`'s proof of work as Bitcoin Core's `CheckProofOfWork` does, and returns its hash.
///
/// # Errors
///
/// [`PowError`] with the header's hash: bits that are no valid target, above `rules.pow_limit`,
/// or a hash above the target.
pub fn check_proof_of_work(header: &Header, rules: &ChainRules) -> Result<BlockHash, PowError> {
    let hash = header.block_hash();
    let bits = header.bits.to_consensus();
    let target =
        target_from_compact(header.bits).map_err(|problem| PowError::BadBits { hash, problem })?;
    if target > rules.pow_limit_target() {
        return Err(PowError::AbovePowLimit {
            hash,
            bits,
            pow_limit: rules.pow_limit.to_consensus(),
        });
    }
    // `Header::validate_pow` would hash again and compare the target with itself first.
    if target.is_met_by(hash) {
        Ok(hash)
    } else {
        Err(PowError::HashAboveTarget { hash, bits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::deserialize;
    use bitcoin::hashes::Hash;
    use bitcoin::hex::FromHex;
    use bitcoin::{CompactTarget, Network, TxMerkleNode};

    /// The mainnet genesis header, 80 bytes as serialized.
    const GENESIS_HEADER: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

    fn genesis() -> Header {
        let bytes = Vec::<u8>::from_hex(GENESIS_HEADER).expect("hex");
        deserialize(&bytes).expect("an 80-byte header")
    }

    #[test]
    fn the_mainnet_genesis_header_passes() {
        let header = genesis();
        assert_eq!(
            header,
            bitcoin::blockdata::constants::genesis_block(Network::Bitcoin).header
        );
        let hash = check_proof_of_work(&header, &ChainRules::for_network(Network::Bitcoin))
            .expect("valid proof of work");
        assert_eq!(
            hash.to_string(),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
    }

    #[test]
    fn a_changed_nonce_fails() {
        let mut header = genesis();
        header.nonce = header.nonce.wrapping_add(1);
        assert!(matches!(
            check_proof_of_work(&header, &ChainRules::for_network(Network::Bitcoin)),
            Err(PowError::HashAboveTarget {
                bits: 0x1d00_ffff,
                ..
            })
        ));
    }

    #[test]
    fn bits_that_are_no_valid_target_or_too_easy_fail() {
        let rules = ChainRules::for_network(Network::Bitcoin);
        let mut header = genesis();
        header.bits = CompactTarget::from_consensus(0x1d01_0000);
        assert!(matches!(
            check_proof_of_work(&header, &rules),
            Err(PowError::AbovePowLimit {
                bits: 0x1d01_0000,
                pow_limit: 0x1d00_ffff,
                ..
            })
        ));
        for (raw, problem) in [
            (0x1d80_ffff, CompactError::Negative { bits: 0x1d80_ffff }),
            (0xff12_3456, CompactError::Overflow { bits: 0xff12_3456 }),
            (0x1d00_0000, CompactError::Zero { bits: 0x1d00_0000 }),
        ] {
            header.bits = CompactTarget::from_consensus(raw);
            match check_proof_of_work(&header, &rules) {
                Err(PowError::BadBits { problem: p, .. }) => assert_eq!(p, problem),
                other => panic!("bits {raw:#x}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_ground_regtest_header_passes_on_regtest_only() {
        let regtest = ChainRules::for_network(Network::Regtest);
        let genesis = bitcoin::blockdata::constants::genesis_block(Network::Regtest);
        let mut header = Header {
            version: bitcoin::block::Version::from_consensus(0x2000_0000),
            prev_blockhash: genesis.block_hash(),
            merkle_root: TxMerkleNode::from_byte_array([7; 32]),
            time: genesis.header.time + 600,
            bits: regtest.pow_limit,
            nonce: 0,
        };
        // About half of all hashes meet 0x207fffff: 64 tries fail only with probability 2^-64.
        let mut found = None;
        for nonce in 0..64 {
            header.nonce = nonce;
            match check_proof_of_work(&header, &regtest) {
                Ok(hash) => {
                    found = Some(hash);
                    break;
                }
                Err(PowError::HashAboveTarget { .. }) => {}
                Err(other) => panic!("nonce {nonce}: {other}"),
            }
        }
        let hash = found.expect("a nonce within 64 tries");
        assert_eq!(hash, header.block_hash());
        assert!(matches!(
            check_proof_of_work(&header, &ChainRules::for_network(Network::Bitcoin)),
            Err(PowError::AbovePowLimit { .. })
        ));
    }
}
