//! The proof-of-work constants of each network, the ones Bitcoin Core keeps in its chain params.
//!
//! The jobmaster needs them before its node answers: to compute the bits of the block after a tip
//! it only heard about, and to check that an announced header is not made up.

use bitcoin::{CompactTarget, Network, Target};

use crate::work::subsidy::{MAINNET_HALVING_INTERVAL, REGTEST_HALVING_INTERVAL};

/// Blocks between two difficulty adjustments (Bitcoin Core `DifficultyAdjustmentInterval()`).
pub const RETARGET_INTERVAL: u32 = 2_016;
/// The time a retarget period should take: two weeks (`nPowTargetTimespan`).
pub const TARGET_TIMESPAN_SECS: u32 = 14 * 24 * 60 * 60;
/// The time a block should take: ten minutes (`nPowTargetSpacing`).
pub const TARGET_SPACING_SECS: u32 = 10 * 60;
/// Mainnet's (and both testnets') proof-of-work limit, difficulty 1.
pub const POW_LIMIT_MAINNET: u32 = 0x1d00_ffff;
/// Signet's proof-of-work limit.
pub const POW_LIMIT_SIGNET: u32 = 0x1e03_77ae;
/// Regtest's proof-of-work limit (about half of all hashes meet it).
pub const POW_LIMIT_REGTEST: u32 = 0x207f_ffff;

/// A [`ChainRules`] field that no network has (its fields are public, so a caller can build any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("chain rules field `{field}` = {value}: expected a positive number")]
pub struct RulesError {
    /// The field.
    pub field: &'static str,
    /// Its value.
    pub value: u32,
}

/// Proof-of-work and subsidy rules of one network.
///
/// `pow_limit` is kept in compact form. Bitcoin Core keeps a full 256-bit `powLimit`
/// (`0x00000000ffff…ff` on mainnet) that no compact value lands strictly between with the target
/// of this compact form, so comparing a compact target with either gives the same answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainRules {
    /// Blocks between two subsidy halvings.
    pub halving_interval: u32,
    /// Blocks between two difficulty adjustments.
    pub retarget_interval: u32,
    /// How long a retarget period should take, in seconds.
    pub target_timespan_secs: u32,
    /// How long a block should take, in seconds.
    pub target_spacing_secs: u32,
    /// The difficulty never changes (regtest).
    pub no_retargeting: bool,
    /// A block more than two target spacings after its parent may use the proof-of-work limit
    /// (testnet's 20-minute rule, and regtest).
    pub allow_min_difficulty_blocks: bool,
    /// BIP94 (testnet4): a retarget scales the bits of the *first* block of the period, not the
    /// last, so that a min-difficulty block at the end of a period cannot drag the next one down.
    ///
    /// Not in the field list of the first design: without it testnet4's retargets would be computed
    /// from the wrong bits.
    pub enforce_bip94: bool,
    /// The easiest target a block may have.
    pub pow_limit: CompactTarget,
}

impl ChainRules {
    /// The rules of `network`, as Bitcoin Core's chain params set them.
    ///
    /// `Network` is an exhaustive enum in bitcoin 0.32, so the match has no fallback arm: a
    /// network added by a later version stops the build here until its rules are written down,
    /// rather than silently getting another network's.
    pub fn for_network(network: Network) -> ChainRules {
        let mainnet = ChainRules {
            halving_interval: MAINNET_HALVING_INTERVAL,
            retarget_interval: RETARGET_INTERVAL,
            target_timespan_secs: TARGET_TIMESPAN_SECS,
            target_spacing_secs: TARGET_SPACING_SECS,
            no_retargeting: false,
            allow_min_difficulty_blocks: false,
            enforce_bip94: false,
            pow_limit: CompactTarget::from_consensus(POW_LIMIT_MAINNET),
        };
        match network {
            Network::Bitcoin => mainnet,
            Network::Testnet => ChainRules {
                allow_min_difficulty_blocks: true,
                ..mainnet
            },
            Network::Testnet4 => ChainRules {
                allow_min_difficulty_blocks: true,
                enforce_bip94: true,
                ..mainnet
            },
            Network::Signet => ChainRules {
                pow_limit: CompactTarget::from_consensus(POW_LIMIT_SIGNET),
                ..mainnet
            },
            Network::Regtest => ChainRules {
                halving_interval: REGTEST_HALVING_INTERVAL,
                no_retargeting: true,
                allow_min_difficulty_blocks: true,
                pow_limit: CompactTarget::from_consensus(POW_LIMIT_REGTEST),
                ..mainnet
            },
        }
    }

    /// Checks the fields that are divisors: `halving_interval`, `retarget_interval` and
    /// `target_timespan_secs` must be positive.
    ///
    /// # Errors
    ///
    /// [`RulesError`] naming the first field that is zero.
    pub fn check(&self) -> Result<(), RulesError> {
        for (field, value) in [
            ("halving_interval", self.halving_interval),
            ("retarget_interval", self.retarget_interval),
            ("target_timespan_secs", self.target_timespan_secs),
        ] {
            if value == 0 {
                return Err(RulesError { field, value });
            }
        }
        Ok(())
    }

    /// The proof-of-work limit as a 256-bit target.
    pub fn pow_limit_target(&self) -> Target {
        Target::from_compact(self.pow_limit)
    }

    /// Whether the block at `height` gets new bits by retargeting (ignores `no_retargeting`).
    /// `None` when `retarget_interval` is 0, which no network has.
    pub fn is_retarget_height(&self, height: u32) -> Option<bool> {
        height.checked_rem(self.retarget_interval).map(|r| r == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_get_bitcoin_core_constants() {
        let main = ChainRules::for_network(Network::Bitcoin);
        assert_eq!(main.halving_interval, 210_000);
        assert_eq!(main.retarget_interval, 2_016);
        assert_eq!(main.target_timespan_secs, 1_209_600);
        assert_eq!(main.target_spacing_secs, 600);
        assert!(!main.no_retargeting && !main.allow_min_difficulty_blocks);
        assert_eq!(main.pow_limit.to_consensus(), 0x1d00_ffff);
        assert_eq!(main.pow_limit_target(), Target::MAX_ATTAINABLE_MAINNET);

        let testnet = ChainRules::for_network(Network::Testnet);
        assert!(testnet.allow_min_difficulty_blocks && !testnet.enforce_bip94);
        assert_eq!(testnet.pow_limit, main.pow_limit);
        let testnet4 = ChainRules::for_network(Network::Testnet4);
        assert!(testnet4.allow_min_difficulty_blocks && testnet4.enforce_bip94);

        let signet = ChainRules::for_network(Network::Signet);
        assert!(!signet.allow_min_difficulty_blocks && !signet.no_retargeting);
        assert_eq!(signet.pow_limit_target(), Target::MAX_ATTAINABLE_SIGNET);

        let regtest = ChainRules::for_network(Network::Regtest);
        assert_eq!(regtest.halving_interval, 150);
        assert!(regtest.no_retargeting && regtest.allow_min_difficulty_blocks);
        assert_eq!(regtest.pow_limit_target(), Target::MAX_ATTAINABLE_REGTEST);
    }

    #[test]
    fn retarget_heights() {
        let main = ChainRules::for_network(Network::Bitcoin);
        assert_eq!(main.is_retarget_height(0), Some(true));
        assert_eq!(main.is_retarget_height(2_015), Some(false));
        assert_eq!(main.is_retarget_height(2_016), Some(true));
        let broken = ChainRules {
            retarget_interval: 0,
            ..main
        };
        assert_eq!(broken.is_retarget_height(2_016), None);
        assert_eq!(
            broken.check(),
            Err(RulesError {
                field: "retarget_interval",
                value: 0
            })
        );
        for network in [
            Network::Bitcoin,
            Network::Testnet,
            Network::Testnet4,
            Network::Signet,
            Network::Regtest,
        ] {
            assert_eq!(ChainRules::for_network(network).check(), Ok(()));
        }
    }
}
