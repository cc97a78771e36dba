//! A `getblocktemplate` answer, parsed and checked.
//!
//! Everything in it comes from a node over the network, so every field is checked for type and
//! range, and each error names the field, the value seen and what was expected.

use bitcoin::consensus::deserialize;
use bitcoin::hashes::Hash;
use bitcoin::hex::FromHex;
use bitcoin::{BlockHash, CompactTarget, ScriptBuf, Target, Transaction};
use serde_json::Value;

/// Most satoshis that can exist; a larger `coinbasevalue` is garbage.
const MAX_MONEY: u64 = 21_000_000 * 100_000_000;
/// Rules a template may require (a `!` prefix in `rules`) that this pool implements. A rule it
/// does not know changes what a valid block is (signet's block solution, a future soft fork), so
/// such a template is refused rather than mined into invalid blocks.
const KNOWN_REQUIRED_RULES: [&str; 1] = ["!segwit"];
/// Start of a BIP141 witness commitment output script: OP_RETURN, push 36, `aa21a9ed`.
const WITNESS_COMMITMENT_PREFIX: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// One transaction of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateTransaction {
    /// Serialized as the node gave it (with witness when it has one); goes into the block as is.
    pub data: Vec<u8>,
    /// Txid in internal byte order (what the merkle tree is built from).
    pub txid: [u8; 32],
}

/// The parts of a block template the pool uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTemplate {
    /// Block version the node asks for.
    pub version: u32,
    /// Hash of the block this template builds on.
    pub previous_block_hash: BlockHash,
    /// Transactions, in block order, coinbase excluded.
    pub transactions: Vec<TemplateTransaction>,
    /// Subsidy plus fees, in satoshis.
    pub coinbase_value: u64,
    /// Compact target of the next block.
    pub bits: CompactTarget,
    /// Height of the next block.
    pub height: u32,
    /// The node's current time for the block.
    pub curtime: u32,
    /// Earliest time the block may carry (median time past + 1).
    pub mintime: u32,
    /// The witness commitment output script, when the template has one.
    pub default_witness_commitment: Option<ScriptBuf>,
    /// The `coinbaseaux` values, concatenated in key order.
    pub coinbase_aux: Vec<u8>,
}

/// A template field that is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block template field `{field}` = {value}: expected {expected}")]
pub struct TemplateError {
    /// The field, with an index for transactions (`transactions[3].data`).
    pub field: String,
    /// What the node sent, cut to 120 characters.
    pub value: String,
    /// What a valid template has there.
    pub expected: &'static str,
}

fn error(field: impl Into<String>, value: Option<&Value>, expected: &'static str) -> TemplateError {
    let mut value = match value {
        None => "(missing)".to_owned(),
        Some(v) => v.to_string(),
    };
    if value.len() > 120 {
        let mut cut = 117;
        while !value.is_char_boundary(cut) {
            cut -= 1;
        }
        value.truncate(cut);
        value.push_str("...");
    }
    TemplateError {
        field: field.into(),
        value,
        expected,
    }
}

fn u32_field(t: &Value, field: &str) -> Result<u32, TemplateError> {
    let v = t.get(field);
    v.and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| error(field, v, "an integer from 0 to 4294967295"))
}

fn hex32_display_order(v: Option<&Value>, field: &str) -> Result<[u8; 32], TemplateError> {
    let bytes = v
        .and_then(Value::as_str)
        .and_then(|s| <[u8; 32]>::from_hex(s).ok())
        .ok_or_else(|| error(field, v, "64 hex digits"))?;
    let mut internal = bytes;
    internal.reverse();
    Ok(internal)
}

impl BlockTemplate {
    /// Parses and checks a `getblocktemplate` result.
    pub fn from_json(t: &Value) -> Result<Self, TemplateError> {
        if !t.is_object() {
            return Err(error("(result)", Some(t), "a JSON object"));
        }
        if let Some(rules) = t.get("rules") {
            let list = rules
                .as_array()
                .ok_or_else(|| error("rules", Some(rules), "an array of strings"))?;
            for rule in list {
                let name = rule
                    .as_str()
                    .ok_or_else(|| error("rules", Some(rule), "an array of strings"))?;
                if name.starts_with('!') && !KNOWN_REQUIRED_RULES.contains(&name) {
                    return Err(error(
                        "rules",
                        Some(rule),
                        "only required rules this pool implements (!segwit)",
                    ));
                }
            }
        }
        let version = u32_field(t, "version")?;
        let previous_block_hash = BlockHash::from_byte_array(hex32_display_order(
            t.get("previousblockhash"),
            "previousblockhash",
        )?);
        let height = u32_field(t, "height")?;
        let curtime = u32_field(t, "curtime")?;
        let mintime = match t.get("mintime") {
            None => curtime,
            Some(_) => u32_field(t, "mintime")?,
        };

        let bits_value = t.get("bits");
        let bits = bits_value
            .and_then(Value::as_str)
            .and_then(|s| <[u8; 4]>::from_hex(s).ok())
            .map(|b| CompactTarget::from_consensus(u32::from_be_bytes(b)))
            .ok_or_else(|| error("bits", bits_value, "8 hex digits"))?;
        if Target::from_compact(bits) == Target::ZERO {
            return Err(error("bits", bits_value, "a non-zero compact target"));
        }

        let value = t.get("coinbasevalue");
        let coinbase_value = value
            .and_then(Value::as_u64)
            .filter(|v| *v <= MAX_MONEY)
            .ok_or_else(|| error("coinbasevalue", value, "satoshis from 0 to 21,000,000 BTC"))?;

        let commitment = t.get("default_witness_commitment");
        let default_witness_commitment = match commitment {
            None | Some(Value::Null) => None,
            Some(c) => {
                let bytes = c
                    .as_str()
                    .and_then(|s| Vec::<u8>::from_hex(s).ok())
                    .filter(|b| b.len() >= 38 && b.starts_with(&WITNESS_COMMITMENT_PREFIX))
                    .ok_or_else(|| {
                        error(
                            "default_witness_commitment",
                            commitment,
                            "a hex script starting with 6a24aa21a9ed",
                        )
                    })?;
                Some(ScriptBuf::from_bytes(bytes))
            }
        };

        let mut coinbase_aux = Vec::new();
        match t.get("coinbaseaux") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                // serde_json's map is ordered by key (no preserve_order feature): deterministic.
                for (key, v) in map {
                    let field = format!("coinbaseaux.{key}");
                    let bytes = v
                        .as_str()
                        .and_then(|s| Vec::<u8>::from_hex(s).ok())
                        .ok_or_else(|| error(field, Some(v), "hex"))?;
                    coinbase_aux.extend_from_slice(&bytes);
                }
            }
            Some(other) => {
                return Err(error(
                    "coinbaseaux",
                    Some(other),
                    "an object of hex strings",
                ))
            }
        }

        let txs_value = t.get("transactions");
        let txs = txs_value
            .and_then(Value::as_array)
            .ok_or_else(|| error("transactions", txs_value, "an array"))?;
        let mut transactions = Vec::with_capacity(txs.len());
        for (i, tx) in txs.iter().enumerate() {
            transactions.push(Self::transaction(i, tx)?);
        }

        Ok(BlockTemplate {
            version,
            previous_block_hash,
            transactions,
            coinbase_value,
            bits,
            height,
            curtime,
            mintime,
            default_witness_commitment,
            coinbase_aux,
        })
    }

    /// One transaction: its data must decode and hash to the txid the node gave, so that a
    /// node bug or a corrupted answer can never turn into a block with a wrong merkle root.
    fn transaction(i: usize, tx: &Value) -> Result<TemplateTransaction, TemplateError> {
        let data_value = tx.get("data");
        let data = data_value
            .and_then(Value::as_str)
            .and_then(|s| Vec::<u8>::from_hex(s).ok())
            .ok_or_else(|| error(format!("transactions[{i}].data"), data_value, "hex"))?;
        let decoded: Transaction = deserialize(&data).map_err(|_| {
            error(
                format!("transactions[{i}].data"),
                data_value,
                "a serialized transaction",
            )
        })?;
        let computed = decoded.compute_txid().to_byte_array();
        // Bitcoin Core gives `txid` (and `hash` = wtxid); older nodes gave only `hash` = txid.
        let (key, id_value) = match tx.get("txid") {
            Some(v) => ("txid", v),
            None => ("hash", tx.get("hash").unwrap_or(&Value::Null)),
        };
        let given = hex32_display_order(Some(id_value), &format!("transactions[{i}].{key}"))?;
        if given != computed {
            return Err(error(
                format!("transactions[{i}].{key}"),
                Some(id_value),
                "the txid of the transaction's data",
            ));
        }
        Ok(TemplateTransaction {
            data,
            txid: computed,
        })
    }

    /// The target a block must meet.
    pub fn target(&self) -> Target {
        Target::from_compact(self.bits)
    }

    /// Txids of the transactions, internal byte order.
    pub fn txids(&self) -> Vec<[u8; 32]> {
        self.transactions.iter().map(|t| t.txid).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../../shared/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).expect("fixture is JSON")
    }

    #[test]
    fn parses_the_bitcoin_core_fixtures() {
        let t = BlockTemplate::from_json(&fixture("bitcoin-core-regtest-gbt-10tx.json"))
            .expect("valid");
        assert_eq!(t.height, 102);
        assert_eq!(t.transactions.len(), 10);
        assert_eq!(t.coinbase_value, 5_000_024_740);
        assert_eq!(t.bits.to_consensus(), 0x207f_ffff);
        assert_eq!(
            t.previous_block_hash.to_string(),
            "27a592d90071e41e2594a7ff938d94b6c1efbda3552c13a4d09eef68bb9e965f"
        );
        assert!(t.default_witness_commitment.is_some());
        let big = BlockTemplate::from_json(&fixture("bitcoin-core-regtest-gbt-300tx.json"))
            .expect("valid");
        assert_eq!(big.transactions.len(), 300);
    }

    #[test]
    fn each_bad_field_is_named() {
        let good = fixture("bitcoin-core-regtest-gbt-10tx.json");
        let cases: Vec<(&str, Value, &str)> = vec![
            ("height", json!(-1), "height"),
            ("height", json!("102"), "height"),
            ("bits", json!("zz7fffff"), "bits"),
            ("bits", json!("00000000"), "bits"),
            ("previousblockhash", json!("abcd"), "previousblockhash"),
            (
                "coinbasevalue",
                json!(2_100_000_000_000_001u64),
                "coinbasevalue",
            ),
            (
                "default_witness_commitment",
                json!("6a20aa"),
                "default_witness_commitment",
            ),
            ("coinbaseaux", json!({"flags": "xyz"}), "coinbaseaux.flags"),
            ("transactions", json!({}), "transactions"),
            ("rules", json!(["csv", "!signet"]), "rules"),
            ("rules", json!("segwit"), "rules"),
        ];
        for (field, bad, named) in cases {
            let mut t = good.clone();
            t[field] = bad;
            let e = BlockTemplate::from_json(&t).expect_err(field);
            assert_eq!(e.field, named);
        }
        let mut t = good.clone();
        t.as_object_mut().expect("object").remove("curtime");
        assert_eq!(
            BlockTemplate::from_json(&t).expect_err("missing").value,
            "(missing)"
        );
        assert!(BlockTemplate::from_json(&json!("garbage")).is_err());
    }

    #[test]
    fn a_txid_that_does_not_match_the_data_is_refused() {
        let mut t = fixture("bitcoin-core-regtest-gbt-10tx.json");
        let other = t["transactions"][1]["txid"].clone();
        t["transactions"][0]["txid"] = other;
        let e = BlockTemplate::from_json(&t).expect_err("mismatch");
        assert_eq!(e.field, "transactions[0].txid");
        let mut t = fixture("bitcoin-core-regtest-gbt-10tx.json");
        t["transactions"][2]["data"] = json!("0200");
        assert_eq!(
            BlockTemplate::from_json(&t).expect_err("bad data").field,
            "transactions[2].data"
        );
    }
}
