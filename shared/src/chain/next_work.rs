//! The bits the next block needs, from the tip's header alone when the rules allow it.
//!
//! The jobmaster mines an empty block on a tip it heard of (a P2P announcement, another pool's
//! stratum job) before its node has a template. Those bits must be exactly what Bitcoin Core's
//! `GetNextWorkRequired` computes, or the block is `bad-diffbits`. Outside retarget heights they are
//! the tip's bits; at a retarget height they follow from the tip and the time of the period's first
//! block; testnet's min-difficulty rule sometimes needs more history than a header, and then this
//! module says so ([`NextBitsError::NeedsHistory`]) instead of guessing.

use bitcoin::{CompactTarget, Target};

use super::compact::{target_from_compact, CompactError};
use super::rules::{ChainRules, RulesError};

/// What [`next_bits`] needs of the tip (the block at `next_height - 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TipInfo {
    /// The tip's bits.
    pub bits: CompactTarget,
    /// The tip's timestamp.
    pub time: u32,
}

/// Why [`next_bits`] cannot say what the next block's bits are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NextBitsError {
    /// The rules have a zero divisor.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// Height 0 is the genesis block: it has no previous block to build on.
    #[error("next height 0 is the genesis block, which has no tip to build on")]
    GenesisHeight,
    /// A retarget height without the time of the period's first block.
    #[error("bits of block {height} need the time of block {period_start_height}, the first of its retarget period, which was not given")]
    MissingPeriodStart {
        /// Height of the block whose bits were asked for.
        height: u32,
        /// Height of the block whose time is needed.
        period_start_height: u32,
    },
    /// The answer depends on older headers than the tip.
    #[error("bits of block {height} (tip bits {tip_bits:#010x}) are {needed}, which the tip's header does not tell")]
    NeedsHistory {
        /// Height of the block whose bits were asked for.
        height: u32,
        /// The tip's bits.
        tip_bits: u32,
        /// What the bits are taken from.
        needed: &'static str,
    },
    /// The tip's bits are not a valid target, so nothing can be scaled from them.
    #[error("tip bits before block {height}: {problem}")]
    BadTipBits {
        /// Height of the block whose bits were asked for.
        height: u32,
        /// What is wrong with them.
        problem: CompactError,
    },
}

/// The bits of the block at `next_height`, built on `tip` (the block at `next_height - 1`) and
/// carrying the timestamp `block_time`.
///
/// - `no_retargeting` (regtest): the tip's bits. Core would apply the min-difficulty rule first at
///   non-retarget heights, but on such a network every block carries the genesis bits, which are
///   the proof-of-work limit, so both give the tip's bits.
/// - Not a retarget height: the tip's bits, except with `allow_min_difficulty_blocks` when
///   `block_time` is more than two target spacings (20 minutes) after the tip's: then the
///   proof-of-work limit (testnet's 20-minute rule). Within those 20 minutes Core walks back to the
///   last block of the period without min-difficulty bits and takes *its* bits. That walk is not
///   done here: when the tip itself has min-difficulty bits (and is not the first block of a
///   period, where the walk stops), the answer is [`NextBitsError::NeedsHistory`]. Since
///   `block_time` decides, a job built from this must not let miners roll ntime across the
///   20-minute line.
/// - A retarget height: the tip's target scaled by the actual duration of the period
///   (`tip.time - period_start_time`, clamped to a quarter and four times
///   `target_timespan_secs`) over `target_timespan_secs`, capped at the proof-of-work limit, in
///   compact form as Core's `GetCompact` writes it. `period_start_time` is the time of block
///   `next_height - retarget_interval` (Core's off-by-one: the period's first block, whose
///   predecessor's time is never used). With BIP94 (testnet4) Core scales the bits of that first
///   block instead of the tip's, which a `TipInfo` does not carry: [`NextBitsError::NeedsHistory`].
///
/// # Errors
///
/// [`NextBitsError`]: zero divisors in `rules`, `next_height` 0, a retarget height without
/// `period_start_time`, history needed, or tip bits that are no valid target at a retarget height.
pub fn next_bits(
    rules: &ChainRules,
    next_height: u32,
    tip: TipInfo,
    period_start_time: Option<u32>,
    block_time: u32,
) -> Result<CompactTarget, NextBitsError> {
    rules.check()?;
    let tip_height = next_height
        .checked_sub(1)
        .ok_or(NextBitsError::GenesisHeight)?;
    if rules.no_retargeting {
        return Ok(tip.bits);
    }
    let interval = rules.retarget_interval;
    if !next_height.is_multiple_of(interval) {
        if rules.allow_min_difficulty_blocks {
            let twenty_minutes = u64::from(rules.target_spacing_secs) * 2;
            if u64::from(block_time) > u64::from(tip.time) + twenty_minutes {
                return Ok(rules.pow_limit);
            }
            if tip.bits == rules.pow_limit && !tip_height.is_multiple_of(interval) {
                return Err(NextBitsError::NeedsHistory {
                    height: next_height,
                    tip_bits: tip.bits.to_consensus(),
                    needed: "those of the last block of the period without min-difficulty bits",
                });
            }
        }
        return Ok(tip.bits);
    }
    if rules.enforce_bip94 {
        return Err(NextBitsError::NeedsHistory {
            height: next_height,
            tip_bits: tip.bits.to_consensus(),
            needed: "scaled from the bits of the first block of the period (BIP94)",
        });
    }
    // next_height is a positive multiple of interval here, so this cannot underflow.
    let period_start_height = next_height - interval;
    let start = period_start_time.ok_or(NextBitsError::MissingPeriodStart {
        height: next_height,
        period_start_height,
    })?;
    let actual = i64::from(tip.time) - i64::from(start);
    retarget(rules, tip.bits, actual).map_err(|problem| NextBitsError::BadTipBits {
        height: next_height,
        problem,
    })
}

/// Core's `CalculateNextWorkRequired`: `last_bits` scaled by `actual_timespan` (clamped) over the
/// target timespan, capped at the proof-of-work limit. `rules` must have passed
/// [`ChainRules::check`].
fn retarget(
    rules: &ChainRules,
    last_bits: CompactTarget,
    actual_timespan: i64,
) -> Result<CompactTarget, CompactError> {
    let span = u64::from(rules.target_timespan_secs);
    // Both bounds and the clamped value fit easily: span < 2^32.
    let clamped = actual_timespan.clamp(span as i64 / 4, span as i64 * 4) as u64;
    let old = target_from_compact(last_bits)?;
    let limit = rules.pow_limit_target();
    // Capping before the lossy compact conversion, at the limit's compact form rather than Core's
    // full 256-bit powLimit, gives the same bits: the conversion rounds down and is monotone, and
    // no compact value lies between the two limits.
    let new = match scale(old, clamped, span) {
        Some(t) if t <= limit => t,
        _ => limit,
    };
    Ok(new.to_compact_lossy())
}

/// `target * mul / div` without losing bits, or `None` when the quotient needs more than 256 bits.
///
/// Core multiplies in 256 bits and would wrap instead; the product only exceeds 256 bits for
/// targets above 2^223 × (2^32 / 4 / timespan), far above the limit of any retargeting network.
fn scale(target: Target, mul: u64, div: u64) -> Option<Target> {
    if div == 0 {
        return None;
    }
    let bytes = target.to_le_bytes();
    let mut limbs = [0u64; 5];
    for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *limb = u64::from_le_bytes(word);
    }
    let mut carry = 0u128;
    for limb in limbs.iter_mut() {
        let product = u128::from(*limb) * u128::from(mul) + carry;
        *limb = product as u64; // low 64 bits; the rest carries
        carry = product >> 64;
    }
    // limbs[4] was 0 and absorbs the last carry: a 256-bit value times a u64 fits in 320 bits.
    let mut remainder = 0u128;
    for limb in limbs.iter_mut().rev() {
        let current = (remainder << 64) | u128::from(*limb);
        // remainder < div, so current / div < 2^64.
        *limb = (current / u128::from(div)) as u64;
        remainder = current % u128::from(div);
    }
    if limbs[4] != 0 {
        return None;
    }
    let mut out = [0u8; 32];
    for (chunk, limb) in out.chunks_exact_mut(8).zip(limbs.iter()) {
        chunk.copy_from_slice(&limb.to_le_bytes());
    }
    Some(Target::from_le_bytes(out))
}

/// Why an announced header's bits cannot be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitsError {
    /// The rules have a zero divisor.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// Height 0 has no previous block to compare with.
    #[error("height 0 is the genesis block: no previous bits to check against")]
    GenesisHeight,
    /// The bits are not a valid target.
    #[error("{which} bits at height {height}: {problem}")]
    Invalid {
        /// Height of the announced block.
        height: u32,
        /// `announced` or `previous`.
        which: &'static str,
        /// What is wrong with them.
        problem: CompactError,
    },
    /// The target is easier than the network allows.
    #[error("bits {announced:#010x} at height {height} are above the proof-of-work limit {pow_limit:#010x}")]
    AbovePowLimit {
        /// Height of the announced block.
        height: u32,
        /// The announced bits.
        announced: u32,
        /// The network's limit.
        pow_limit: u32,
    },
    /// The bits differ from what the caller computed.
    #[error("bits {announced:#010x} at height {height}, expected {expected:#010x}")]
    NotExpected {
        /// Height of the announced block.
        height: u32,
        /// The announced bits.
        announced: u32,
        /// The bits the caller computed.
        expected: u32,
    },
    /// The bits changed at a height where they may not.
    #[error("bits {announced:#010x} at height {height} differ from the previous block's {previous:#010x} outside a retarget height")]
    Changed {
        /// Height of the announced block.
        height: u32,
        /// The announced bits.
        announced: u32,
        /// The previous block's bits.
        previous: u32,
    },
    /// At a retarget height, the target moved by more than a factor of 4.
    #[error("bits {announced:#010x} at retarget height {height} are outside {easiest:#010x}..{hardest:#010x}, a factor of 4 either way from the previous block's {previous:#010x}")]
    RetargetOutOfRange {
        /// Height of the announced block.
        height: u32,
        /// The announced bits.
        announced: u32,
        /// The previous block's bits.
        previous: u32,
        /// The bits of the easiest target allowed (four times the previous, capped at the limit).
        easiest: u32,
        /// The bits of the hardest target allowed (a quarter of the previous).
        hardest: u32,
    },
}

/// Checks an announced header's bits for `height` without the chain's history: a made-up or
/// corrupted announcement must not become an empty-block job.
///
/// - The bits must be a valid target no easier than the proof-of-work limit.
/// - `expected_if_known`: the bits the caller computed with [`next_bits`]; then `announced` must be
///   them, or the proof-of-work limit on a min-difficulty network outside a retarget height (the
///   20-minute rule depends on the announced block's own time, which the caller may not have used).
/// - Otherwise, outside a retarget height (or at any height with `no_retargeting`): `previous_bits`;
///   with `allow_min_difficulty_blocks` also the proof-of-work limit, and anything valid when
///   `previous_bits` already is the limit at a height that is not the first of a period (the real
///   bits are then those of an older block, see [`next_bits`]).
/// - Otherwise, at a retarget height, the target must lie where Core's `PermittedDifficultyTransition`
///   puts it: between the previous target scaled by 1/4 and by 4 (capped at the limit), each bound
///   rounded through compact form. With BIP94 (testnet4) the scaled bits are those of the period's
///   first block, which are not known here: any valid target passes. (Core itself skips this check
///   on every min-difficulty network.)
///
/// # Errors
///
/// [`BitsError`] naming the height and the values compared, in hex.
pub fn plausible_bits(
    rules: &ChainRules,
    height: u32,
    expected_if_known: Option<CompactTarget>,
    previous_bits: CompactTarget,
    announced: CompactTarget,
) -> Result<(), BitsError> {
    rules.check()?;
    let previous_height = height.checked_sub(1).ok_or(BitsError::GenesisHeight)?;
    let announced_target =
        target_from_compact(announced).map_err(|problem| BitsError::Invalid {
            height,
            which: "announced",
            problem,
        })?;
    if announced_target > rules.pow_limit_target() {
        return Err(BitsError::AbovePowLimit {
            height,
            announced: announced.to_consensus(),
            pow_limit: rules.pow_limit.to_consensus(),
        });
    }
    let interval = rules.retarget_interval;
    let retarget_height = height.is_multiple_of(interval) && !rules.no_retargeting;
    let min_difficulty =
        rules.allow_min_difficulty_blocks && !retarget_height && announced == rules.pow_limit;
    if let Some(expected) = expected_if_known {
        if announced == expected || min_difficulty {
            return Ok(());
        }
        return Err(BitsError::NotExpected {
            height,
            announced: announced.to_consensus(),
            expected: expected.to_consensus(),
        });
    }
    if !retarget_height {
        let walked_back = rules.allow_min_difficulty_blocks
            && !rules.no_retargeting
            && previous_bits == rules.pow_limit
            && !previous_height.is_multiple_of(interval);
        if announced == previous_bits || min_difficulty || walked_back {
            return Ok(());
        }
        return Err(BitsError::Changed {
            height,
            announced: announced.to_consensus(),
            previous: previous_bits.to_consensus(),
        });
    }
    if rules.enforce_bip94 {
        return Ok(());
    }
    let invalid_previous = |problem| BitsError::Invalid {
        height,
        which: "previous",
        problem,
    };
    let span = i64::from(rules.target_timespan_secs);
    let easiest = retarget(rules, previous_bits, span * 4).map_err(invalid_previous)?;
    let hardest = retarget(rules, previous_bits, span / 4).map_err(invalid_previous)?;
    // Bits written by `to_compact_lossy` are never negative nor overflowing; the hardest bound
    // may be zero (a previous target below 4), and zero is then the right lower bound.
    let within = Target::from_compact(hardest) <= announced_target
        && announced_target <= Target::from_compact(easiest);
    if within {
        return Ok(());
    }
    Err(BitsError::RetargetOutOfRange {
        height,
        announced: announced.to_consensus(),
        previous: previous_bits.to_consensus(),
        easiest: easiest.to_consensus(),
        hardest: hardest.to_consensus(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::params::Params;
    use bitcoin::Network;

    fn bits(raw: u32) -> CompactTarget {
        CompactTarget::from_consensus(raw)
    }

    fn mainnet() -> ChainRules {
        ChainRules::for_network(Network::Bitcoin)
    }

    /// Bitcoin Core's published `pow_tests` vectors: (period start time, tip time, tip bits,
    /// expected bits).
    const CORE_VECTORS: [(u32, u32, u32, u32); 4] = [
        // get_next_work: the retarget after block 32255.
        (1_261_130_161, 1_262_152_739, 0x1d00_ffff, 0x1d00_d86a),
        // get_next_work_pow_limit: a slow period cannot go above the limit.
        (1_231_006_505, 1_233_061_996, 0x1d00_ffff, 0x1d00_ffff),
        // get_next_work_lower_limit_actual: a fast period is clamped to a quarter.
        (1_279_008_237, 1_279_297_671, 0x1c05_a3f4, 0x1c01_68fd),
        // get_next_work_upper_limit_actual: a slow period is clamped to four times.
        (1_263_163_443, 1_269_211_443, 0x1c38_7f6f, 0x1d00_e1fd),
    ];

    #[test]
    fn bitcoin_core_retarget_vectors() {
        for (i, (start, tip_time, tip_bits, expected)) in CORE_VECTORS.into_iter().enumerate() {
            let next_height = 2_016 * (i as u32 + 16);
            let got = next_bits(
                &mainnet(),
                next_height,
                TipInfo {
                    bits: bits(tip_bits),
                    time: tip_time,
                },
                Some(start),
                tip_time + 600,
            );
            assert_eq!(got, Ok(bits(expected)), "vector {i}");
        }
    }

    #[test]
    fn agrees_with_the_bitcoin_crate_on_mainnet() {
        // Its cap is min(4 × old, limit) where Core's is the limit alone; the timespan clamp makes
        // 4 × old unreachable, so the two must agree everywhere on mainnet.
        let span = 1_209_600i64;
        for tip_bits in [
            0x1d00_ffff,
            0x1c05_a3f4,
            0x1c38_7f6f,
            0x1703_4219,
            0x1b04_864c,
        ] {
            for actual in [
                -5,
                0,
                1,
                span / 4 - 1,
                span / 4,
                span / 2 + 7,
                span - 1,
                span,
                span + 1,
                span * 3,
                span * 4,
                span * 4 + 1,
                span * 10,
            ] {
                let ours = retarget(&mainnet(), bits(tip_bits), actual).expect("valid bits");
                let theirs = CompactTarget::from_next_work_required(
                    bits(tip_bits),
                    actual.max(0) as u64,
                    Params::MAINNET,
                );
                assert_eq!(ours, theirs, "bits {tip_bits:#x} timespan {actual}");
            }
        }
    }

    #[test]
    fn non_retarget_heights_keep_the_tip_bits() {
        let tip = TipInfo {
            bits: bits(0x1703_4219),
            time: 1_713_571_767,
        };
        for height in [1, 2, 840_000, 840_001, 842_399] {
            assert_eq!(
                next_bits(&mainnet(), height, tip, None, tip.time + 100_000),
                Ok(tip.bits),
                "height {height}"
            );
        }
        assert_eq!(
            next_bits(&mainnet(), 0, tip, None, tip.time),
            Err(NextBitsError::GenesisHeight)
        );
    }

    #[test]
    fn the_boundary_height_retargets_and_the_one_before_does_not() {
        let tip = TipInfo {
            bits: bits(0x1d00_ffff),
            time: 1_262_152_739,
        };
        let start = Some(1_261_130_161);
        for boundary in [2_016u32, 4_032] {
            // One block before: the tip's bits, no period start needed.
            assert_eq!(
                next_bits(&mainnet(), boundary - 1, tip, None, tip.time + 1),
                Ok(tip.bits)
            );
            assert_eq!(
                next_bits(&mainnet(), boundary - 1, tip, start, tip.time + 1),
                Ok(tip.bits)
            );
            // At the boundary: a new value, and the period start is required.
            assert_eq!(
                next_bits(&mainnet(), boundary, tip, start, tip.time + 1),
                Ok(bits(0x1d00_d86a))
            );
            assert_eq!(
                next_bits(&mainnet(), boundary, tip, None, tip.time + 1),
                Err(NextBitsError::MissingPeriodStart {
                    height: boundary,
                    period_start_height: boundary - 2_016,
                })
            );
        }
        // A period start after the tip (timestamps are not monotonic) clamps to a quarter.
        let hardest =
            next_bits(&mainnet(), 2_016, tip, Some(tip.time + 50), tip.time + 1).expect("retarget");
        assert_eq!(
            Target::from_compact(hardest),
            Target::MAX_ATTAINABLE_MAINNET.min_transition_threshold()
        );
    }

    #[test]
    fn invalid_tip_bits_at_a_retarget_height_are_an_error() {
        let tip = TipInfo {
            bits: bits(0x1d80_ffff),
            time: 10_000,
        };
        assert!(matches!(
            next_bits(&mainnet(), 2_016, tip, Some(0), 10_001),
            Err(NextBitsError::BadTipBits {
                height: 2_016,
                problem: CompactError::Negative { .. }
            })
        ));
        let broken = ChainRules {
            target_timespan_secs: 0,
            ..mainnet()
        };
        assert!(matches!(
            next_bits(&broken, 2_016, tip, Some(0), 10_001),
            Err(NextBitsError::Rules(_))
        ));
    }

    #[test]
    fn regtest_never_retargets() {
        let regtest = ChainRules::for_network(Network::Regtest);
        let tip = TipInfo {
            bits: bits(0x207f_ffff),
            time: 1_700_000_000,
        };
        for height in [1, 149, 150, 2_015, 2_016, 4_032, 1_000_000] {
            assert_eq!(
                next_bits(&regtest, height, tip, None, tip.time + 1),
                Ok(tip.bits),
                "height {height}"
            );
            assert_eq!(
                next_bits(&regtest, height, tip, None, tip.time + 7_200),
                Ok(tip.bits)
            );
        }
    }

    #[test]
    fn testnet_twenty_minute_rule() {
        let testnet = ChainRules::for_network(Network::Testnet);
        let tip = TipInfo {
            bits: bits(0x1c0f_fff0),
            time: 1_700_000_000,
        };
        // Exactly 20 minutes later: still the real difficulty; one second more: the limit.
        assert_eq!(
            next_bits(&testnet, 100, tip, None, tip.time + 1_200),
            Ok(tip.bits)
        );
        assert_eq!(
            next_bits(&testnet, 100, tip, None, tip.time + 1_201),
            Ok(testnet.pow_limit)
        );
        // Mainnet has no such rule.
        assert_eq!(
            next_bits(&mainnet(), 100, tip, None, tip.time + 1_201),
            Ok(tip.bits)
        );
        // The tip is a min-difficulty block: the real bits are older than the tip.
        let easy_tip = TipInfo {
            bits: testnet.pow_limit,
            ..tip
        };
        assert!(matches!(
            next_bits(&testnet, 100, easy_tip, None, tip.time + 60),
            Err(NextBitsError::NeedsHistory { height: 100, .. })
        ));
        assert_eq!(
            next_bits(&testnet, 100, easy_tip, None, tip.time + 1_201),
            Ok(testnet.pow_limit)
        );
        // ...unless the tip is the first block of a period, where Core's walk back stops.
        assert_eq!(
            next_bits(&testnet, 2_017, easy_tip, None, tip.time + 60),
            Ok(testnet.pow_limit)
        );
        // At a retarget height the rule does not apply: a normal retarget.
        let at_boundary = next_bits(
            &testnet,
            2_016,
            TipInfo {
                bits: bits(0x1d00_ffff),
                time: 1_262_152_739,
            },
            Some(1_261_130_161),
            1_262_152_739 + 3_600,
        );
        assert_eq!(at_boundary, Ok(bits(0x1d00_d86a)));
        // Testnet4 (BIP94) scales the bits of the period's first block, not given here.
        let testnet4 = ChainRules::for_network(Network::Testnet4);
        assert!(matches!(
            next_bits(
                &testnet4,
                2_016,
                tip,
                Some(tip.time - 1_209_600),
                tip.time + 1
            ),
            Err(NextBitsError::NeedsHistory { height: 2_016, .. })
        ));
        assert_eq!(
            next_bits(&testnet4, 2_015, tip, None, tip.time + 1_201),
            Ok(testnet4.pow_limit)
        );
    }

    #[test]
    fn scaling_keeps_every_bit() {
        let max = Target::from_le_bytes([0xff; 32]);
        assert_eq!(scale(max, 1, 1), Some(max));
        assert_eq!(scale(max, 2, 1), None);
        assert_eq!(scale(max, 4, 4), Some(max));
        assert_eq!(scale(max, 5, 0), None);
        let limit = Target::MAX_ATTAINABLE_MAINNET;
        assert_eq!(scale(limit, 1, 4), Some(limit.min_transition_threshold()));
        assert_eq!(
            scale(limit, 4, 1),
            Some(limit.max_transition_threshold_unchecked())
        );
    }

    #[test]
    fn plausible_bits_outside_retarget_heights() {
        let main = mainnet();
        let previous = bits(0x1703_4219);
        assert_eq!(
            plausible_bits(&main, 840_001, None, previous, previous),
            Ok(())
        );
        assert_eq!(
            plausible_bits(&main, 840_001, None, previous, bits(0x1703_421a)),
            Err(BitsError::Changed {
                height: 840_001,
                announced: 0x1703_421a,
                previous: 0x1703_4219,
            })
        );
        assert!(plausible_bits(&main, 840_001, None, previous, main.pow_limit).is_err());
        let testnet = ChainRules::for_network(Network::Testnet);
        assert_eq!(
            plausible_bits(&testnet, 100, None, previous, testnet.pow_limit),
            Ok(())
        );
        assert!(plausible_bits(&testnet, 100, None, previous, bits(0x1703_421a)).is_err());
        // After a min-difficulty block the real bits are older: any valid target passes.
        assert_eq!(
            plausible_bits(&testnet, 100, None, testnet.pow_limit, bits(0x1c0f_fff0)),
            Ok(())
        );
        // Regtest: the same bits, whatever the height.
        let regtest = ChainRules::for_network(Network::Regtest);
        assert_eq!(
            plausible_bits(&regtest, 2_016, None, regtest.pow_limit, regtest.pow_limit),
            Ok(())
        );
        assert!(
            plausible_bits(&regtest, 2_016, None, regtest.pow_limit, bits(0x1d00_ffff)).is_err()
        );
        assert_eq!(
            plausible_bits(&main, 0, None, previous, previous),
            Err(BitsError::GenesisHeight)
        );
    }

    #[test]
    fn plausible_bits_at_retarget_heights() {
        let main = mainnet();
        let previous = bits(0x1c38_7f6f);
        // The largest moves Core allows, both ways, and the published vectors.
        for (_, _, tip_bits, expected) in CORE_VECTORS {
            assert_eq!(
                plausible_bits(&main, 32_256, None, bits(tip_bits), bits(expected)),
                Ok(())
            );
        }
        let easiest = retarget(&main, previous, 1_209_600 * 4).expect("valid");
        let hardest = retarget(&main, previous, 1_209_600 / 4).expect("valid");
        assert_eq!(easiest, bits(0x1d00_e1fd));
        assert_eq!(
            plausible_bits(&main, 4_032, None, previous, easiest),
            Ok(())
        );
        assert_eq!(
            plausible_bits(&main, 4_032, None, previous, hardest),
            Ok(())
        );
        let too_easy = bits(easiest.to_consensus() + 1);
        assert_eq!(
            plausible_bits(&main, 4_032, None, previous, too_easy),
            Err(BitsError::RetargetOutOfRange {
                height: 4_032,
                announced: 0x1d00_e1fe,
                previous: 0x1c38_7f6f,
                easiest: 0x1d00_e1fd,
                hardest: hardest.to_consensus(),
            })
        );
        let too_hard = bits(hardest.to_consensus() - 1);
        assert!(plausible_bits(&main, 4_032, None, previous, too_hard).is_err());
        // Above the limit, or not a target at all.
        assert_eq!(
            plausible_bits(&main, 4_032, None, previous, bits(0x1d01_0000)),
            Err(BitsError::AbovePowLimit {
                height: 4_032,
                announced: 0x1d01_0000,
                pow_limit: 0x1d00_ffff,
            })
        );
        assert!(matches!(
            plausible_bits(&main, 4_032, None, previous, bits(0x1c80_0001)),
            Err(BitsError::Invalid {
                which: "announced",
                ..
            })
        ));
        assert!(matches!(
            plausible_bits(&main, 4_032, None, bits(0), previous),
            Err(BitsError::Invalid {
                which: "previous",
                ..
            })
        ));
        // Testnet4 cannot be checked without the period's first block.
        let testnet4 = ChainRules::for_network(Network::Testnet4);
        assert_eq!(
            plausible_bits(&testnet4, 4_032, None, previous, bits(0x1a01_0000)),
            Ok(())
        );
    }

    #[test]
    fn plausible_bits_with_known_expected_bits() {
        let main = mainnet();
        let expected = Some(bits(0x1d00_d86a));
        let previous = bits(0x1d00_ffff);
        assert_eq!(
            plausible_bits(&main, 32_256, expected, previous, bits(0x1d00_d86a)),
            Ok(())
        );
        let e = plausible_bits(&main, 32_256, expected, previous, bits(0x1d00_d86b))
            .expect_err("not the expected bits");
        assert_eq!(
            e.to_string(),
            "bits 0x1d00d86b at height 32256, expected 0x1d00d86a"
        );
        let testnet = ChainRules::for_network(Network::Testnet);
        assert_eq!(
            plausible_bits(&testnet, 32_257, expected, previous, testnet.pow_limit),
            Ok(())
        );
        assert!(plausible_bits(&testnet, 32_256, expected, previous, testnet.pow_limit).is_err());
    }
}
