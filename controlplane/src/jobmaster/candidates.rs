//! A block candidate from a gateway: rebuilt from the job it names, checked against the network
//! target, then handed to the submitter.

use super::job_store::JobStore;
use super::submitter::Submitter;
use ironpool_shared::ring::{ShareKind, ShareRecord};
use ironpool_shared::work::{assemble_block, Solution};
use std::sync::{Arc, Mutex};
use tracing::{error, info};

/// Handles one record from a share ring. Shares are counted by their consumer elsewhere (share
/// accounting); block candidates are assembled and submitted on their own task.
pub fn handle(store: &Arc<Mutex<JobStore>>, submitter: &Submitter, record: ShareRecord) {
    if record.kind != ShareKind::BlockCandidate {
        return;
    }
    let job = match store.lock() {
        Ok(s) => s.get(record.job_id),
        Err(poisoned) => poisoned.into_inner().get(record.job_id),
    };
    let Some(job) = job else {
        error!(job = record.job_id, shard = record.shard_id, user = %record.user, "block candidate for a job this jobmaster does not hold; cannot rebuild it");
        return;
    };
    let solution = Solution {
        extranonce1: record.extranonce1.clone(),
        extranonce2: record.extranonce2.clone(),
        ntime: record.ntime,
        nonce: record.nonce,
        version: record.version,
    };
    let block = match assemble_block(&job.record, &job.coinbase, &job.transactions, &solution) {
        Ok(b) => b,
        Err(e) => {
            error!(job = record.job_id, user = %record.user, error = %e, "block candidate does not fit its job");
            return;
        }
    };
    if !block.meets_target {
        error!(job = record.job_id, hash = %block.hash, user = %record.user, "block candidate does not meet the network target; not submitted");
        return;
    }
    let height = job.record.height;
    let hash = block.hash.to_string();
    info!(height, block = %hash, user = %record.user, worker = %record.worker, "block found");
    let submitter = submitter.clone();
    tokio::spawn(async move {
        submitter.submit_new(height, &hash, &block.bytes).await;
    });
}
