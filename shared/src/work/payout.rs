//! Coinbase payouts: the block reward split among recipients, to the satoshi.

use bitcoin::{Address, Network, ScriptBuf};
use std::str::FromStr;

/// A configured recipient: an address and its weight in the split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRecipient {
    /// The address text as configured (kept for messages).
    pub address: String,
    /// The output script of the address.
    pub script_pubkey: ScriptBuf,
    /// Relative weight; recipients get `value × weight / total_weight`, rounded down.
    pub weight: u64,
}

impl PayoutRecipient {
    /// Parses `address` for `network`, verifying its checksum and that it belongs to that network.
    ///
    /// Every address type the `bitcoin` crate knows is accepted: P2PKH, P2SH, P2WPKH, P2WSH, P2TR.
    pub fn parse(address: &str, weight: u64, network: Network) -> Result<Self, PayoutError> {
        if weight == 0 {
            return Err(PayoutError::ZeroWeight {
                address: address.to_owned(),
            });
        }
        let unchecked = Address::from_str(address).map_err(|e| PayoutError::BadAddress {
            address: address.to_owned(),
            reason: e.to_string(),
        })?;
        let checked =
            unchecked
                .require_network(network)
                .map_err(|_| PayoutError::WrongNetwork {
                    address: address.to_owned(),
                    network,
                })?;
        Ok(PayoutRecipient {
            address: address.to_owned(),
            script_pubkey: checked.script_pubkey(),
            weight,
        })
    }
}

/// One coinbase output of the split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// Satoshis paid.
    pub value: u64,
    /// The recipient's script.
    pub script_pubkey: ScriptBuf,
}

/// Why a payout could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutError {
    /// The address did not parse (bad checksum, bad characters, unknown type).
    #[error("address {address:?} is not a valid bitcoin address: {reason}")]
    BadAddress { address: String, reason: String },
    /// The address is valid but for another network.
    #[error("address {address:?} is not an address of network {network}")]
    WrongNetwork { address: String, network: Network },
    /// A recipient with weight 0 would never be paid: almost certainly a configuration mistake.
    #[error("address {address:?} has weight 0")]
    ZeroWeight { address: String },
    /// No recipient at all: the block reward would be burnt.
    #[error("no payout recipient")]
    NoRecipient,
}

/// Splits `value` satoshis among `recipients` by weight. Each gets the floor of its share; the
/// satoshis left by rounding go to the first recipient, so the outputs sum to exactly `value`.
pub fn split_payouts(
    value: u64,
    recipients: &[PayoutRecipient],
) -> Result<Vec<Payout>, PayoutError> {
    if recipients.is_empty() {
        return Err(PayoutError::NoRecipient);
    }
    // u128: value (< 2^51) × weight (< 2^64) cannot overflow, and neither can the weight sum of
    // any realistic recipient list (saturating keeps it defined for absurd configs).
    let total_weight: u128 = recipients
        .iter()
        .fold(0u128, |acc, r| acc.saturating_add(u128::from(r.weight)));
    let mut payouts: Vec<Payout> = recipients
        .iter()
        .map(|r| {
            let share = u128::from(value) * u128::from(r.weight) / total_weight;
            Payout {
                value: u64::try_from(share).expect("a share of value is at most value"),
                script_pubkey: r.script_pubkey.clone(),
            }
        })
        .collect();
    let paid: u64 = payouts.iter().map(|p| p.value).sum();
    payouts[0].value += value - paid;
    Ok(payouts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    // Published vectors: the Bitcoin wiki's P2PKH and P2SH examples, BIP173 and BIP350.
    const MAINNET_P2PKH: &str = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2";
    const MAINNET_P2SH: &str = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy";
    const MAINNET_P2WPKH: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    const TESTNET_P2WSH: &str = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7";
    const MAINNET_P2TR: &str = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";
    /// A regtest P2WPKH address, for splits.
    const REGTEST_P2WPKH: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

    #[test]
    fn every_address_type_parses_on_its_network() {
        let script = |a: &str, n: Network| {
            PayoutRecipient::parse(a, 1, n)
                .unwrap_or_else(|e| panic!("{a}: {e}"))
                .script_pubkey
        };
        assert!(script(MAINNET_P2PKH, Network::Bitcoin).is_p2pkh());
        assert!(script(MAINNET_P2SH, Network::Bitcoin).is_p2sh());
        assert!(script(MAINNET_P2WPKH, Network::Bitcoin).is_p2wpkh());
        assert!(script(TESTNET_P2WSH, Network::Testnet).is_p2wsh());
        assert!(script(MAINNET_P2TR, Network::Bitcoin).is_p2tr());
        assert!(script(REGTEST_P2WPKH, Network::Regtest).is_p2wpkh());
        // Base58 regtest addresses share testnet's prefixes.
        let testnet_p2pkh = Address::p2pkh(
            bitcoin::PubkeyHash::from_byte_array([7; 20]),
            Network::Testnet,
        )
        .to_string();
        assert!(script(&testnet_p2pkh, Network::Regtest).is_p2pkh());
        // The script is the address's: P2WPKH of BIP173's key hash.
        assert_eq!(
            script(MAINNET_P2WPKH, Network::Bitcoin).as_bytes()[2..],
            bitcoin::hex::FromHex::from_hex("751e76e8199196d454941c45d1b3a323f1433bd6")
                .map(|v: Vec<u8>| v)
                .expect("hex")[..]
        );
    }

    #[test]
    fn wrong_network_and_bad_checksum_are_refused() {
        assert_eq!(
            PayoutRecipient::parse(MAINNET_P2PKH, 1, Network::Regtest),
            Err(PayoutError::WrongNetwork {
                address: MAINNET_P2PKH.into(),
                network: Network::Regtest
            })
        );
        // Last character changed: the base58 checksum no longer matches.
        let broken = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3";
        assert!(matches!(
            PayoutRecipient::parse(broken, 1, Network::Bitcoin),
            Err(PayoutError::BadAddress { .. })
        ));
        // Same for bech32.
        let broken = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt081";
        assert!(matches!(
            PayoutRecipient::parse(broken, 1, Network::Regtest),
            Err(PayoutError::BadAddress { .. })
        ));
        assert_eq!(
            PayoutRecipient::parse(MAINNET_P2WPKH, 1, Network::Regtest),
            Err(PayoutError::WrongNetwork {
                address: MAINNET_P2WPKH.into(),
                network: Network::Regtest
            })
        );
        assert_eq!(
            PayoutRecipient::parse(REGTEST_P2WPKH, 0, Network::Regtest),
            Err(PayoutError::ZeroWeight {
                address: REGTEST_P2WPKH.into()
            })
        );
    }

    fn recipients(weights: &[u64]) -> Vec<PayoutRecipient> {
        weights
            .iter()
            .map(|&w| PayoutRecipient::parse(REGTEST_P2WPKH, w, Network::Regtest).expect("valid"))
            .collect()
    }

    #[test]
    fn payouts_sum_exactly_to_the_coinbase_value() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            // xorshift: a deterministic spread of values and weights without a dependency.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2_000 {
            let value = next() % (21_000_000 * 100_000_000);
            let n = (next() % 12 + 1) as usize;
            let weights: Vec<u64> = (0..n).map(|_| next() % 1_000_000 + 1).collect();
            let payouts = split_payouts(value, &recipients(&weights)).expect("recipients");
            assert_eq!(payouts.iter().map(|p| p.value).sum::<u64>(), value);
            // Every recipient gets at least its floor share, and the rounding left over is less
            // than one satoshi per recipient.
            let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
            for (p, w) in payouts.iter().zip(&weights).skip(1) {
                assert_eq!(
                    u128::from(p.value),
                    u128::from(value) * u128::from(*w) / total
                );
            }
            let floor0 = u128::from(value) * u128::from(weights[0]) / total;
            assert!(u128::from(payouts[0].value) - floor0 < n as u128);
        }
    }

    #[test]
    fn thirds_of_an_odd_amount() {
        let payouts = split_payouts(100, &recipients(&[1, 1, 1])).expect("recipients");
        let values: Vec<u64> = payouts.iter().map(|p| p.value).collect();
        assert_eq!(values, [34, 33, 33]);
        assert_eq!(split_payouts(5, &[]), Err(PayoutError::NoRecipient));
    }
}
