//! Block subsidy by height.

/// One bitcoin in satoshis.
pub const COIN: u64 = 100_000_000;
/// Blocks between two halvings on mainnet, testnet and signet (regtest uses 150).
pub const MAINNET_HALVING_INTERVAL: u32 = 210_000;
/// Blocks between two halvings on regtest.
pub const REGTEST_HALVING_INTERVAL: u32 = 150;

/// The subsidy in satoshis of the block at `height`: 50 BTC halved once per full interval.
///
/// The halving happens *at* height `k × interval`: the block at exactly 210,000 already earns 25 BTC.
/// ViaBTC's empty-block code used the previous era there and produced `bad-cb-amount` blocks.
pub fn block_subsidy(height: u32, halving_interval: u32) -> u64 {
    assert!(
        halving_interval > 0,
        "the halving interval comes from a network constant"
    );
    let halvings = height / halving_interval;
    // Bitcoin Core: a right shift by 64 or more is undefined, the subsidy is simply 0 from then on.
    if halvings >= 64 {
        return 0;
    }
    (50 * COIN) >> halvings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_halving_happens_at_the_boundary_height() {
        assert_eq!(block_subsidy(0, MAINNET_HALVING_INTERVAL), 5_000_000_000);
        assert_eq!(
            block_subsidy(209_999, MAINNET_HALVING_INTERVAL),
            5_000_000_000
        );
        assert_eq!(
            block_subsidy(210_000, MAINNET_HALVING_INTERVAL),
            2_500_000_000
        );
        assert_eq!(
            block_subsidy(210_001, MAINNET_HALVING_INTERVAL),
            2_500_000_000
        );
    }

    #[test]
    fn later_halvings_and_the_end_of_issuance() {
        assert_eq!(
            block_subsidy(419_999, MAINNET_HALVING_INTERVAL),
            2_500_000_000
        );
        assert_eq!(
            block_subsidy(420_000, MAINNET_HALVING_INTERVAL),
            1_250_000_000
        );
        assert_eq!(
            block_subsidy(629_999, MAINNET_HALVING_INTERVAL),
            1_250_000_000
        );
        assert_eq!(
            block_subsidy(630_000, MAINNET_HALVING_INTERVAL),
            625_000_000
        );
        assert_eq!(
            block_subsidy(840_000, MAINNET_HALVING_INTERVAL),
            312_500_000
        );
        assert_eq!(
            block_subsidy(1_050_000, MAINNET_HALVING_INTERVAL),
            156_250_000
        );
        // 33rd halving: 50 BTC >> 33 rounds down to 0 satoshi.
        assert_eq!(block_subsidy(32 * 210_000, MAINNET_HALVING_INTERVAL), 1);
        assert_eq!(block_subsidy(33 * 210_000, MAINNET_HALVING_INTERVAL), 0);
        assert_eq!(block_subsidy(u32::MAX, MAINNET_HALVING_INTERVAL), 0);
    }

    #[test]
    fn total_issuance_stays_under_21_million() {
        let total: u64 = (0..64u32)
            .map(|era| {
                block_subsidy(era * MAINNET_HALVING_INTERVAL, MAINNET_HALVING_INTERVAL) * 210_000
            })
            .sum();
        assert!(total < 21_000_000 * COIN);
        assert_eq!(total, 2_099_999_997_690_000);
    }

    #[test]
    fn regtest_halves_every_150_blocks() {
        assert_eq!(block_subsidy(149, REGTEST_HALVING_INTERVAL), 50 * COIN);
        assert_eq!(block_subsidy(150, REGTEST_HALVING_INTERVAL), 25 * COIN);
        assert_eq!(block_subsidy(300, REGTEST_HALVING_INTERVAL), 1_250_000_000);
    }
}
