//! A block template with no transactions, for the seconds between hearing of a new tip and the
//! node's template for it.
//!
//! Mining on the old tip in that window can only produce a stale block; an empty block on the new
//! tip can win. It needs no mempool: its coinbase pays the subsidy alone (no transactions, no fees),
//! and with no witness data it needs no witness commitment (BIP141 requires one only when a
//! transaction has a witness).

use bitcoin::BlockHash;

use super::compact::{target_from_compact, CompactError};
use super::rules::{ChainRules, RulesError};
use crate::work::subsidy::block_subsidy;
use crate::work::BlockTemplate;

/// A tip heard of before the node has a template on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnouncedTip {
    /// Its hash.
    pub hash: BlockHash,
    /// Its height (the empty block's height is one more).
    pub height: u32,
    /// Its timestamp.
    pub time: u32,
}

/// Why no empty template could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmptyTemplateError {
    /// The rules have a zero divisor.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// The tip's height is the last a u32 holds.
    #[error("tip height {tip_height} has no successor height in 32 bits")]
    HeightOverflow {
        /// The tip's height.
        tip_height: u32,
    },
    /// The tip's time is the last a u32 holds.
    #[error("tip time {tip_time} leaves no later block time in 32 bits")]
    TimeOverflow {
        /// The tip's time.
        tip_time: u32,
    },
    /// The bits are no valid target.
    #[error("bits for block {height}: {problem}")]
    BadBits {
        /// Height of the empty block.
        height: u32,
        /// What is wrong with them.
        problem: CompactError,
    },
    /// The bits are easier than the network allows.
    #[error(
        "bits {bits:#010x} for block {height} are above the proof-of-work limit {pow_limit:#010x}"
    )]
    AbovePowLimit {
        /// Height of the empty block.
        height: u32,
        /// The bits given.
        bits: u32,
        /// The network's limit.
        pow_limit: u32,
    },
}

/// The template of an empty block on `tip`, for `crate::work::build_job`.
///
/// - height `tip.height + 1`, previous block `tip.hash`, no transactions;
/// - `coinbase_value`: the subsidy at that height (no fees without transactions);
/// - `bits`: `next_bits`, which the caller gets from [`next_bits`] (checked here only for being a
///   valid target within the limit);
/// - `curtime` = `mintime` = the later of `now` and `tip.time + 1`. Miners only roll ntime forward
///   from `mintime`, and `tip.time + 1` is above the median time past of the 11 blocks up to the
///   tip: the tip's time is above the median of the 11 before it, so at least 5 of the last 10
///   before it are below it, and with the tip that makes 6 of the 11 at or below it;
/// - no witness commitment, empty `coinbase_aux`.
///
/// [`next_bits`]: super::next_work::next_bits
///
/// # Errors
///
/// [`EmptyTemplateError`]: zero divisors in `rules`, a height or time past `u32::MAX`, bits that
/// are no valid target or above the limit.
pub fn empty_template(
    rules: &ChainRules,
    tip: &AnnouncedTip,
    next_bits: bitcoin::CompactTarget,
    version: u32,
    now: u32,
) -> Result<BlockTemplate, EmptyTemplateError> {
    rules.check()?;
    let height = tip
        .height
        .checked_add(1)
        .ok_or(EmptyTemplateError::HeightOverflow {
            tip_height: tip.height,
        })?;
    let earliest = tip
        .time
        .checked_add(1)
        .ok_or(EmptyTemplateError::TimeOverflow { tip_time: tip.time })?;
    let target = target_from_compact(next_bits)
        .map_err(|problem| EmptyTemplateError::BadBits { height, problem })?;
    if target > rules.pow_limit_target() {
        return Err(EmptyTemplateError::AbovePowLimit {
            height,
            bits: next_bits.to_consensus(),
            pow_limit: rules.pow_limit.to_consensus(),
        });
    }
    let curtime = now.max(earliest);
    Ok(BlockTemplate {
        version,
        previous_block_hash: tip.hash,
        transactions: Vec::new(),
        coinbase_value: block_subsidy(height, rules.halving_interval),
        bits: next_bits,
        height,
        curtime,
        mintime: curtime,
        default_witness_commitment: None,
        coinbase_aux: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::bip34::height_from_coinb1;
    use crate::work::subsidy::COIN;
    use crate::work::{build_job, ExtranonceSizes, JobParams, PayoutRecipient};
    use bitcoin::hashes::Hash;
    use bitcoin::{CompactTarget, Network};

    fn tip(height: u32, time: u32) -> AnnouncedTip {
        AnnouncedTip {
            hash: BlockHash::from_byte_array([0x11; 32]),
            height,
            time,
        }
    }

    fn regtest() -> ChainRules {
        ChainRules::for_network(Network::Regtest)
    }

    fn make(rules: &ChainRules, t: &AnnouncedTip, now: u32) -> BlockTemplate {
        empty_template(rules, t, rules.pow_limit, 0x2000_0000, now).expect("template")
    }

    #[test]
    fn subsidy_around_the_halvings() {
        let regtest = regtest();
        assert_eq!(
            make(&regtest, &tip(148, 1_000), 0).coinbase_value,
            50 * COIN
        );
        let at_149 = make(&regtest, &tip(148, 1_000), 0);
        assert_eq!(at_149.height, 149);
        let at_150 = make(&regtest, &tip(149, 1_000), 0);
        assert_eq!(at_150.height, 150);
        assert_eq!(at_150.coinbase_value, 25 * COIN);
        assert_eq!(
            make(&regtest, &tip(150, 1_000), 0).coinbase_value,
            25 * COIN
        );

        let main = ChainRules::for_network(Network::Bitcoin);
        assert_eq!(
            make(&main, &tip(209_998, 1_000), 0).coinbase_value,
            50 * COIN
        );
        let at_halving = make(&main, &tip(209_999, 1_000), 0);
        assert_eq!(at_halving.height, 210_000);
        assert_eq!(at_halving.coinbase_value, 25 * COIN);
    }

    #[test]
    fn curtime_is_now_or_just_after_the_tip() {
        let rules = regtest();
        let later = make(&rules, &tip(10, 1_000), 5_000);
        assert_eq!((later.curtime, later.mintime), (5_000, 5_000));
        // A clock behind the tip (or a tip from the future): one second after the tip.
        let behind = make(&rules, &tip(10, 1_000), 900);
        assert_eq!((behind.curtime, behind.mintime), (1_001, 1_001));
        let equal = make(&rules, &tip(10, 1_000), 1_000);
        assert_eq!(equal.curtime, 1_001);
        assert_eq!(
            empty_template(&rules, &tip(10, u32::MAX), rules.pow_limit, 1, 0),
            Err(EmptyTemplateError::TimeOverflow { tip_time: u32::MAX })
        );
        assert_eq!(
            empty_template(&rules, &tip(u32::MAX, 1), rules.pow_limit, 1, 0),
            Err(EmptyTemplateError::HeightOverflow {
                tip_height: u32::MAX
            })
        );
    }

    #[test]
    fn no_transactions_no_commitment_and_the_tip_as_parent() {
        let rules = regtest();
        let t = tip(101, 1_700_000_000);
        let template = make(&rules, &t, 1_700_000_100);
        assert!(template.transactions.is_empty());
        assert_eq!(template.default_witness_commitment, None);
        assert!(template.coinbase_aux.is_empty());
        assert_eq!(template.previous_block_hash, t.hash);
        assert_eq!(template.bits, rules.pow_limit);
        assert_eq!(template.version, 0x2000_0000);
    }

    #[test]
    fn bits_are_checked() {
        let main = ChainRules::for_network(Network::Bitcoin);
        let t = tip(840_000, 1_713_571_767);
        assert_eq!(
            empty_template(&main, &t, CompactTarget::from_consensus(0x207f_ffff), 1, 0),
            Err(EmptyTemplateError::AbovePowLimit {
                height: 840_001,
                bits: 0x207f_ffff,
                pow_limit: 0x1d00_ffff
            })
        );
        assert!(matches!(
            empty_template(&main, &t, CompactTarget::from_consensus(0), 1, 0),
            Err(EmptyTemplateError::BadBits {
                height: 840_001,
                problem: CompactError::Zero { .. }
            })
        ));
        let ok = empty_template(&main, &t, CompactTarget::from_consensus(0x1703_4219), 1, 0)
            .expect("valid bits");
        assert_eq!(ok.bits.to_consensus(), 0x1703_4219);
    }

    #[test]
    fn build_job_accepts_it_with_an_empty_merkle_branch() {
        let rules = regtest();
        let t = tip(101, 1_700_000_000);
        let template = make(&rules, &t, 1_700_000_100);
        let params = JobParams {
            tag: b"/t/".to_vec(),
            payouts: vec![PayoutRecipient::parse(
                "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
                1,
                Network::Regtest,
            )
            .expect("address")],
            extranonce: ExtranonceSizes::default(),
            version_mask: 0x1fff_e000,
            ntime_roll_secs: 600,
        };
        let built = build_job(&template, &params, 1, true, 0).expect("job");
        assert!(built.record.merkle_branch.is_empty());
        assert_eq!(built.record.height, 102);
        assert_eq!(built.record.prev_hash, t.hash.to_byte_array());
        assert_eq!(built.record.ntime, 1_700_000_100);
        assert_eq!(built.record.ntime_min, 1_700_000_100);
        assert!(!built.coinbase.has_witness_commitment);
        assert_eq!(height_from_coinb1(&built.record.coinb1), Ok(102));
    }
}
