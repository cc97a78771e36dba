//! A block candidate from a gateway: rebuilt from the job it names, checked against the network
//! target and written to disk, all before the share ring is committed past it, so that a crash at
//! any point leaves the candidate either in the ring or in `pending/`.

use super::found_blocks::FoundBlocks;
use super::job_store::JobStore;
use ironpool_shared::ring::ShareRecord;
use ironpool_shared::work::{assemble_block, check_solution_policy, Solution};
use std::sync::Mutex;
use tracing::{error, info, warn};

/// A rebuilt block, ready for `submitblock`.
#[derive(Debug, Clone)]
pub struct FoundBlock {
    pub height: u32,
    pub hash: String,
    pub bytes: Vec<u8>,
    /// Whether it is in `pending/` (if not, the submitter keeps it in memory until a node holds it).
    pub saved: bool,
}

/// Rebuilds the block of a candidate and saves it. `None` when there is no block to submit: the
/// job is unknown or the solution does not fit it (the record is kept in `unbuildable/`), or the
/// header misses the network target (a gateway bug or a forged record; logged).
///
/// `before_save` gets the checked block (height, hash, bytes) before the fsync, which takes tens
/// of milliseconds: spreading it (relay links) need not wait for the disk, only the ring commit
/// and `submitblock`'s bookkeeping do.
pub fn prepare(
    store: &Mutex<JobStore>,
    found: &FoundBlocks,
    record: &ShareRecord,
    before_save: impl FnOnce(u32, &str, &[u8]),
) -> Option<FoundBlock> {
    let job = store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(record.job_id);
    let Some(job) = job else {
        error!(job = record.job_id, shard = record.shard_id, user = %record.user, "block candidate for a job this jobmaster does not hold; record kept in unbuildable/");
        keep_unbuildable(found, record, "unknown job");
        return None;
    };
    let solution = Solution {
        extranonce1: record.extranonce1.clone(),
        extranonce2: record.extranonce2.clone(),
        ntime: record.ntime,
        nonce: record.nonce,
        version: record.version,
    };
    // The pool's own rules are for shares; a block is the node's to judge.
    if let Err(e) = check_solution_policy(&job.record, &solution) {
        warn!(job = record.job_id, user = %record.user, error = %e, "block candidate breaks pool policy; submitting it anyway");
    }
    let block = match assemble_block(&job.record, &job.coinbase, &job.transactions, &solution) {
        Ok(b) => b,
        Err(e) => {
            error!(job = record.job_id, user = %record.user, error = %e, "block candidate does not fit its job; record kept in unbuildable/");
            keep_unbuildable(found, record, &e.to_string());
            return None;
        }
    };
    if !block.meets_target {
        error!(job = record.job_id, hash = %block.hash, user = %record.user, "block candidate does not meet the network target; not submitted");
        return None;
    }
    let height = job.record.height;
    let hash = block.hash.to_string();
    info!(height, block = %hash, user = %record.user, worker = %record.worker, "block found");
    before_save(height, &hash, &block.bytes);
    let saved = match found.save_pending(height, &hash, &block.bytes) {
        Ok(_) => true,
        Err(e) => {
            error!(height, block = %hash, error = %e, "cannot save found block to disk; it is held in memory until a node has it");
            false
        }
    };
    Some(FoundBlock {
        height,
        hash,
        bytes: block.bytes,
        saved,
    })
}

fn keep_unbuildable(found: &FoundBlocks, record: &ShareRecord, reason: &str) {
    if let Err(e) = found.save_unbuildable(record, reason) {
        error!(job = record.job_id, error = %e, "cannot keep the unbuildable block candidate on disk");
    }
}
