//! A published job with everything needed to rebuild its blocks, and its archive encoding.
//!
//! The jobmaster archives every job it publishes (on the ring's tmpfs), so that a restarted
//! jobmaster can still rebuild blocks for jobs the gateways received from its previous run, and
//! continues job ids after them instead of reusing them.

use super::coinbase::CoinbaseParts;
use super::job::{JobDecodeError, JobRecord, Reader};
use super::merkle::merkle_branch;
use super::template::TemplateTransaction;
use bitcoin::consensus::deserialize;
use bitcoin::hashes::Hash;
use bitcoin::Transaction;
use std::sync::Arc;

/// First bytes of an archived job.
const ARCHIVE_MAGIC: [u8; 4] = *b"IPJA";
/// Layout version of the archive encoding.
const ARCHIVE_VERSION: u8 = 1;

/// A job and its block material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobContext {
    /// What the gateways received.
    pub record: JobRecord,
    /// The coinbase (its `coinb1`/`coinb2` are the record's).
    pub coinbase: CoinbaseParts,
    /// The template's transactions, in block order.
    pub transactions: Arc<Vec<TemplateTransaction>>,
}

impl JobContext {
    /// Encodes the job for the archive.
    pub fn encode_archive(&self) -> Vec<u8> {
        let record = self.record.encode();
        let tx_bytes: usize = self.transactions.iter().map(|t| 36 + t.data.len()).sum();
        let mut out = Vec::with_capacity(16 + record.len() + tx_bytes);
        out.extend_from_slice(&ARCHIVE_MAGIC);
        out.push(ARCHIVE_VERSION);
        // Both at most 100 (the scriptSig limit).
        out.extend_from_slice(&[
            self.coinbase.script_sig_len as u8,
            self.coinbase.tag_len_used as u8,
            u8::from(self.coinbase.has_witness_commitment),
        ]);
        out.extend_from_slice(&(record.len() as u32).to_le_bytes());
        out.extend_from_slice(&record);
        out.extend_from_slice(&(self.transactions.len() as u32).to_le_bytes());
        for tx in self.transactions.iter() {
            out.extend_from_slice(&tx.txid);
            out.extend_from_slice(&(tx.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&tx.data);
        }
        out
    }

    /// Decodes an archived job. Every transaction must decode and hash to its txid, the txids
    /// must give the record's merkle branch, and whether the coinbase carries a witness commitment
    /// is read from the coinbase itself: a damaged file fails here instead of rebuilding a block
    /// that passes the proof-of-work check with the wrong content.
    pub fn decode_archive(bytes: &[u8]) -> Result<Self, JobDecodeError> {
        let mut r = Reader::new(bytes);
        let [m0, m1, m2, m3, version] = r.array::<5>("archive header")?;
        if [m0, m1, m2, m3] != ARCHIVE_MAGIC || version != ARCHIVE_VERSION {
            return Err(JobDecodeError::BadHeader { magic: m0, version });
        }
        let [script_sig_len, tag_len_used, _witness] = r.array::<3>("archive coinbase facts")?;
        let record_len = u32::from_le_bytes(r.array("archive record length")?) as usize;
        let record = JobRecord::decode(r.take("archive record", record_len)?)?;
        let count = u32::from_le_bytes(r.array("archive transaction count")?) as usize;
        // Each transaction takes at least 36 bytes: a count beyond that is corruption, refused
        // before anything is allocated for it.
        if count > r.remaining() / 36 {
            return Err(JobDecodeError::OutOfRange {
                field: "archive transaction count",
                value: count,
                max: r.remaining() / 36,
            });
        }
        let mut transactions = Vec::with_capacity(count);
        for _ in 0..count {
            let txid = r.array::<32>("archive txid")?;
            let len = u32::from_le_bytes(r.array("archive transaction length")?) as usize;
            let data = r.take("archive transaction", len)?.to_vec();
            let decoded: Transaction =
                deserialize(&data).map_err(|_| JobDecodeError::OutOfRange {
                    field: "archive transaction (does not decode)",
                    value: len,
                    max: len,
                })?;
            if decoded.compute_txid().to_byte_array() != txid {
                return Err(JobDecodeError::OutOfRange {
                    field: "archive transaction (txid mismatch)",
                    value: len,
                    max: len,
                });
            }
            transactions.push(TemplateTransaction { data, txid });
        }
        if r.remaining() != 0 {
            return Err(JobDecodeError::Trailing {
                extra: r.remaining(),
            });
        }
        let txids: Vec<[u8; 32]> = transactions.iter().map(|t| t.txid).collect();
        if merkle_branch(&txids) != record.merkle_branch {
            return Err(JobDecodeError::OutOfRange {
                field: "archive transactions (merkle branch mismatch)",
                value: count,
                max: count,
            });
        }
        let has_witness_commitment = coinbase_has_witness_commitment(&record)?;
        let coinbase = CoinbaseParts {
            coinb1: record.coinb1.clone(),
            coinb2: record.coinb2.clone(),
            extranonce: record.extranonce,
            script_sig_len: usize::from(script_sig_len),
            tag_len_used: usize::from(tag_len_used),
            has_witness_commitment,
        };
        Ok(JobContext {
            record,
            coinbase,
            transactions: Arc::new(transactions),
        })
    }
}

/// Whether the record's coinbase (with zero extranonces) has a BIP141 commitment output.
fn coinbase_has_witness_commitment(record: &JobRecord) -> Result<bool, JobDecodeError> {
    let mut tx = record.coinb1.clone();
    tx.resize(tx.len() + record.extranonce.total(), 0);
    tx.extend_from_slice(&record.coinb2);
    let coinbase: Transaction = deserialize(&tx).map_err(|_| JobDecodeError::OutOfRange {
        field: "archive coinbase (does not decode)",
        value: tx.len(),
        max: tx.len(),
    })?;
    Ok(coinbase.output.iter().any(|o| {
        o.script_pubkey
            .as_bytes()
            .starts_with(&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed])
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::{build_job, BlockTemplate, ExtranonceSizes, JobParams, PayoutRecipient};

    fn context() -> JobContext {
        let path = format!(
            "{}/../../shared/fixtures/bitcoin-core-regtest-gbt-10tx.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
        let template = BlockTemplate::from_json(&json).expect("template");
        let params = JobParams {
            tag: b"/t/".to_vec(),
            payouts: vec![PayoutRecipient::parse(
                "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
                1,
                bitcoin::Network::Regtest,
            )
            .expect("address")],
            extranonce: ExtranonceSizes::default(),
            version_mask: 0x1fff_e000,
            ntime_roll_secs: 600,
        };
        let built = build_job(&template, &params, 42, true, 7).expect("job");
        JobContext {
            record: built.record,
            coinbase: built.coinbase,
            transactions: Arc::new(template.transactions),
        }
    }

    #[test]
    fn archive_round_trips() {
        let job = context();
        assert_eq!(JobContext::decode_archive(&job.encode_archive()), Ok(job));
    }

    #[test]
    fn damaged_archives_are_refused() {
        let bytes = context().encode_archive();
        for cut in [0, 4, 9, 40, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                JobContext::decode_archive(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // A flipped byte inside a transaction's txid breaks the merkle branch check.
        let mut bad = bytes.clone();
        let first_txid = bytes.len()
            - context()
                .transactions
                .iter()
                .map(|t| 36 + t.data.len())
                .sum::<usize>();
        bad[first_txid] ^= 1;
        assert!(JobContext::decode_archive(&bad).is_err());
        for i in (0..bytes.len()).step_by(97) {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = JobContext::decode_archive(&b);
        }
    }
}
