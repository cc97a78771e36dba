//! From a block template to a job: coinbase parts, merkle branch and the job record.

use super::coinbase::{CoinbaseError, CoinbaseParts, CoinbaseSpec, ExtranonceSizes};
use super::job::{JobRecord, MERKLE_BRANCH_MAX};
use super::merkle::merkle_branch;
use super::payout::{split_payouts, PayoutError, PayoutRecipient};
use super::template::BlockTemplate;
use bitcoin::hashes::Hash;
use bitcoin::{Amount, TxOut};

/// The version bits BIP320 leaves to miners; the pool never allows more.
pub const VERSION_ROLLING_MASK_MAX: u32 = 0x1fff_e000;

/// The pool's settings that shape every job.
#[derive(Debug, Clone)]
pub struct JobParams {
    /// Pool tag in the coinbase scriptSig (truncated to fit).
    pub tag: Vec<u8>,
    /// Who gets the block reward.
    pub payouts: Vec<PayoutRecipient>,
    /// Extranonce layout.
    pub extranonce: ExtranonceSizes,
    /// Version bits miners may roll (intersected with [`VERSION_ROLLING_MASK_MAX`]).
    pub version_mask: u32,
    /// How far past the template's `curtime` a share's ntime may go, in seconds.
    pub ntime_roll_secs: u32,
}

/// A job and what the jobmaster keeps to rebuild its blocks.
#[derive(Debug, Clone)]
pub struct BuiltJob {
    /// What goes on the ring.
    pub record: JobRecord,
    /// The coinbase, to rebuild blocks.
    pub coinbase: CoinbaseParts,
}

/// Why a template could not become a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobBuildError {
    /// The payout split failed.
    #[error(transparent)]
    Payout(#[from] PayoutError),
    /// The coinbase could not be built.
    #[error(transparent)]
    Coinbase(#[from] CoinbaseError),
    /// More transactions than a merkle branch of [`MERKLE_BRANCH_MAX`] levels covers.
    #[error("template has {0} transactions, more than a job can carry")]
    TooManyTransactions(usize),
}

/// Builds job `job_id` from `template`.
pub fn build_job(
    template: &BlockTemplate,
    params: &JobParams,
    job_id: u32,
    clean: bool,
    created_at_us: u64,
) -> Result<BuiltJob, JobBuildError> {
    let payouts: Vec<TxOut> = split_payouts(template.coinbase_value, &params.payouts)?
        .into_iter()
        .map(|p| TxOut {
            value: Amount::from_sat(p.value),
            script_pubkey: p.script_pubkey,
        })
        .collect();
    let coinbase = CoinbaseParts::build(&CoinbaseSpec {
        height: template.height,
        aux: &template.coinbase_aux,
        tag: &params.tag,
        extranonce: params.extranonce,
        payouts: &payouts,
        witness_commitment: template.default_witness_commitment.as_ref(),
    })?;
    let merkle_branch = merkle_branch(&template.txids());
    if merkle_branch.len() > MERKLE_BRANCH_MAX {
        return Err(JobBuildError::TooManyTransactions(
            template.transactions.len(),
        ));
    }
    let record = JobRecord {
        job_id,
        clean,
        height: template.height,
        prev_hash: template.previous_block_hash.to_byte_array(),
        version: template.version,
        version_mask: params.version_mask & VERSION_ROLLING_MASK_MAX,
        bits: template.bits.to_consensus(),
        // A node may send mintime > curtime (BIP94's timewarp rule, a clock behind the chain): a
        // block at curtime would then be `time-too-old`, so work starts at the later of the two.
        ntime: template.curtime.max(template.mintime),
        ntime_min: template.mintime,
        ntime_max: template
            .curtime
            .max(template.mintime)
            .saturating_add(params.ntime_roll_secs),
        extranonce: params.extranonce,
        coinb1: coinbase.coinb1.clone(),
        coinb2: coinbase.coinb2.clone(),
        merkle_branch,
        created_at_us,
    };
    Ok(BuiltJob { record, coinbase })
}
