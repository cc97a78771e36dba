//! A CPU miner that talks to the rings directly: jobs from the job ring, block candidates into a
//! share ring, exactly as a gateway shard hands them over. The jobmaster's integration tests use
//! it to test the jobmaster without a gateway.
//!
//! It grinds real sha256d over real headers; at regtest's target about one nonce in two solves a
//! block, so it finds blocks quickly without any shortcut in what it checks.

use bitcoin::Target;
use ironpool_shared::ring::{
    JobRingReader, RingError, ShareKind, ShareRecord, ShareSender, WaitOutcome,
};
use ironpool_shared::work::{header_for_solution, JobRecord, Solution};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A job as read from the ring.
#[derive(Debug, Clone)]
pub struct ReceivedJob {
    pub record: JobRecord,
    /// The ring skipped records before this one (late attach or lag): treat as clean.
    pub resync: bool,
}

/// Reads every record the ring holds now; returns them in order. Records that do not decode as
/// jobs are an error: the writer is the jobmaster.
pub fn read_jobs(reader: &mut JobRingReader) -> Result<Vec<ReceivedJob>, String> {
    let mut jobs = Vec::new();
    loop {
        match reader.try_read() {
            Ok(Some(read)) => {
                let record = JobRecord::decode(read.payload)
                    .map_err(|e| format!("job record {}: {e}", read.sequence))?;
                jobs.push(ReceivedJob {
                    record,
                    resync: read.resync,
                });
            }
            Ok(None) => return Ok(jobs),
            Err(e) => return Err(format!("job ring: {e}")),
        }
    }
}

/// Waits up to `timeout` for the next job(s).
pub fn wait_jobs(
    reader: &mut JobRingReader,
    timeout: Duration,
) -> Result<Vec<ReceivedJob>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let jobs = read_jobs(reader)?;
        if !jobs.is_empty() {
            return Ok(jobs);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(jobs);
        }
        match reader.wait(deadline - now) {
            Ok(WaitOutcome::Ready | WaitOutcome::TimedOut) => {}
            Err(e) => return Err(format!("job ring wait: {e}")),
        }
    }
}

/// Grinds nonces `[first_nonce, first_nonce + count)` on `job` with the given extranonces;
/// returns the first solution whose header meets the job's network target.
pub fn grind(
    job: &JobRecord,
    extranonce1: &[u8],
    extranonce2: &[u8],
    first_nonce: u32,
    count: u32,
) -> Option<Solution> {
    let target = Target::from_compact(bitcoin::CompactTarget::from_consensus(job.bits));
    let mut solution = Solution {
        extranonce1: extranonce1.to_vec(),
        extranonce2: extranonce2.to_vec(),
        ntime: job.ntime,
        nonce: first_nonce,
        version: job.version,
    };
    // The merkle root does not depend on the nonce: build the header once, then roll the nonce.
    let mut header = header_for_solution(job, &solution).ok()?;
    for nonce in first_nonce..first_nonce.saturating_add(count) {
        header.nonce = nonce;
        if target.is_met_by(header.block_hash()) {
            solution.nonce = nonce;
            return Some(solution);
        }
    }
    None
}

/// The share-ring record of a block candidate.
pub fn block_candidate(
    shard_id: u16,
    job: &JobRecord,
    solution: &Solution,
    user: &str,
    worker: &str,
) -> ShareRecord {
    ShareRecord {
        kind: ShareKind::BlockCandidate,
        shard_id,
        session_id: 1,
        job_id: job.job_id,
        extranonce1: solution.extranonce1.clone(),
        extranonce2: solution.extranonce2.clone(),
        ntime: solution.ntime,
        nonce: solution.nonce,
        version: solution.version,
        share_difficulty: 1.0,
        accepted_at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        user: user.to_owned(),
        worker: worker.to_owned(),
        network_difficulty: 0.0,
        detail: ironpool_shared::ring::RecordDetail::zero_for(ShareKind::BlockCandidate),
    }
}

/// Sends `record` and flushes, so that it is in the ring (or held) when this returns.
pub fn send(sender: &mut ShareSender, record: &ShareRecord) -> Result<(), String> {
    sender
        .send(record)
        .map_err(|e| format!("share ring send: {e}"))?;
    sender
        .flush()
        .map_err(|e| format!("share ring flush: {e}"))?;
    Ok(())
}

/// Attaches to the job ring at `path`, retrying until it exists or `timeout` passes.
pub fn attach_job_ring(
    path: &std::path::Path,
    timeout: Duration,
) -> Result<JobRingReader, RingError> {
    let deadline = Instant::now() + timeout;
    loop {
        match JobRingReader::attach(path) {
            Ok(r) => return Ok(r),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
