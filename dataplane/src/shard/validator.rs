//! Share validation, batched: every submission gathered during one turn of the shard's loop is
//! hashed together (several shares interleaved through SHA-NI, or multi-buffer AVX2/AVX-512 on
//! CPUs without it), then judged: block first, then duplicate, then share difficulty.

use super::events::unix_ms;
use super::jobs::ShardJob;
use super::signal::LocalSignal;
use super::Shard;
use crate::session::line;
use crate::session::requests::{count_reject, note_error};
use crate::session::state::Session;
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use ironpool_shared::ring::{RecordDetail, ShareKind, ShareRecord};
use ironpool_shared::sha256d::{hash_shares, ShareWork};
use ironpool_shared::stratum::{
    reply_error, reply_error_default, reply_true, Extranonce2, RequestId, StratumError, Submit,
};
use ironpool_shared::work::hash_difficulty;
use serde_json::value::RawValue;
use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::Instant;
use tracing::{error, info};

/// A submission that passed the checks that need no hashing.
pub struct PendingShare {
    session: Rc<Session>,
    id: Box<RawValue>,
    job: Rc<ShardJob>,
    extranonce1: Vec<u8>,
    extranonce2: Extranonce2,
    ntime: u32,
    nonce: u32,
    version: u32,
}

impl PendingShare {
    /// Checks a submit against its job: known and current (21), extranonce2 size, ntime window and
    /// version bits within the session's granted mask (20).
    pub fn check(
        shard: &Shard,
        session: &Rc<Session>,
        id: RequestId<'_>,
        submit: &Submit<'_>,
        _now: Instant,
    ) -> Result<PendingShare, (StratumError, String)> {
        let job = shard.jobs.borrow().get(submit.job_id).ok_or_else(|| {
            (
                StratumError::JobNotFound,
                format!("job {:x} not found or stale", submit.job_id),
            )
        })?;
        let record = &job.record;
        if submit.extranonce2.len() != record.extranonce.extranonce2 {
            return Err((
                StratumError::Other,
                format!(
                    "extranonce2 is {} bytes, expected {}",
                    submit.extranonce2.len(),
                    record.extranonce.extranonce2
                ),
            ));
        }
        if submit.ntime < record.ntime_min || submit.ntime > record.ntime_max {
            return Err((
                StratumError::Other,
                format!(
                    "ntime {:08x} outside {:08x}..={:08x}",
                    submit.ntime, record.ntime_min, record.ntime_max
                ),
            ));
        }
        let (mask, extranonce1) = {
            let s = session.state.borrow();
            (s.version_mask, s.extranonce1.as_slice().to_vec())
        };
        if extranonce1.len() != record.extranonce.extranonce1 {
            // The jobs changed extranonce1's size after this session subscribed.
            return Err((
                StratumError::Other,
                "extranonce1 size changed; reconnect".to_owned(),
            ));
        }
        let version = match submit.version_bits {
            None => record.version,
            Some(bits) if bits & !mask != 0 => {
                return Err((
                    StratumError::Other,
                    format!("version bits {bits:08x} outside the granted mask {mask:08x}"),
                ));
            }
            Some(bits) => (record.version & !mask) | (bits & mask),
        };
        let id = RawValue::from_string(id.as_json().to_owned())
            .map_err(|_| (StratumError::Other, "request id is not json".to_owned()))?;
        Ok(PendingShare {
            session: session.clone(),
            id,
            job,
            extranonce1,
            extranonce2: submit.extranonce2,
            ntime: submit.ntime,
            nonce: submit.nonce,
            version,
        })
    }
}

/// The shard's queue of shares waiting to be hashed.
#[derive(Default)]
pub struct Validator {
    queue: RefCell<Vec<PendingShare>>,
    signal: LocalSignal,
}

impl Validator {
    pub fn push(&self, share: PendingShare) {
        self.queue.borrow_mut().push(share);
        self.signal.notify();
    }
}

/// Returns `Pending` once, so every other task that is ready runs (and queues its shares) first.
async fn yield_once() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// The shard's validation task.
pub async fn run(shard: Rc<Shard>) {
    loop {
        shard.validator.signal.wait().await;
        yield_once().await;
        process_queue(&shard);
    }
}

/// Hashes and judges every share waiting. Also called once more when the shard stops, so that
/// shares (and blocks) submitted in its last turn are not lost.
pub fn process_queue(shard: &Rc<Shard>) {
    let batch = std::mem::take(&mut *shard.validator.queue.borrow_mut());
    if batch.is_empty() {
        return;
    }
    let works: Vec<ShareWork<'_>> = batch
        .iter()
        .map(|p| ShareWork {
            job: &p.job.hasher,
            extranonce1: &p.extranonce1,
            extranonce2: p.extranonce2.as_slice(),
            version: p.version,
            ntime: p.ntime,
            nonce: p.nonce,
        })
        .collect();
    let mut hashes = vec![[0u8; 32]; works.len()];
    hash_shares(&works, &mut hashes);
    drop(works);
    let now = Instant::now();
    for (share, hash) in batch.into_iter().zip(hashes.iter()) {
        judge(shard, share, hash, now);
    }
}

fn record(
    shard: &Shard,
    share: &PendingShare,
    kind: ShareKind,
    difficulty: f64,
    hash: &[u8; 32],
    accepted_at_ms: u64,
) -> Option<ShareRecord> {
    let state = share.session.state.borrow();
    let worker = state.worker.as_ref()?;
    Some(ShareRecord {
        kind,
        shard_id: shard.ring_id,
        session_id: share.session.id,
        job_id: share.job.record.job_id,
        extranonce1: share.extranonce1.clone(),
        extranonce2: share.extranonce2.as_slice().to_vec(),
        ntime: share.ntime,
        nonce: share.nonce,
        version: share.version,
        share_difficulty: difficulty,
        accepted_at_ms,
        user: worker.user().to_owned(),
        worker: worker.worker().to_owned(),
        network_difficulty: share.job.network_difficulty,
        detail: match kind {
            ShareKind::BlockCandidate => RecordDetail::BlockHash(*hash),
            _ => RecordDetail::None,
        },
    })
}

/// The network target first (a block is never lost to the session's share difficulty), then
/// the share difficulty, then duplicates; only then is the share stored and the miner told.
fn judge(shard: &Rc<Shard>, share: PendingShare, hash: &[u8; 32], now: Instant) {
    let id = RequestId::from_raw(&share.id);
    let mut out = Vec::with_capacity(64);
    let is_block = share
        .job
        .network_target
        .is_met_by(BlockHash::from_byte_array(*hash));
    let achieved = hash_difficulty(hash);
    let credited = share.session.state.borrow().vardiff.credit(achieved, now);
    let credited = match (credited, is_block) {
        (Some(d), _) => d,
        // A block below the session's share difficulty still counts: credit what it achieved.
        (None, true) => achieved.min(share.session.state.borrow().vardiff.current()),
        (None, false) => {
            count_reject(
                shard,
                &share.session,
                StratumError::LowDifficulty,
                share.job.record.job_id,
            );
            let current = share.session.state.borrow().vardiff.current();
            reply_error(
                &mut out,
                id,
                StratumError::LowDifficulty,
                &format!("low difficulty share ({achieved:.6} < {current})"),
            );
            return reject(shard, &share, out);
        }
    };
    // Only shares that count enter the duplicate set: junk cannot fill it.
    if !shard.jobs.borrow().first_sighting(hash) {
        count_reject(
            shard,
            &share.session,
            StratumError::Duplicate,
            share.job.record.job_id,
        );
        reply_error_default(&mut out, id, StratumError::Duplicate);
        return reject(shard, &share, out);
    }
    // One time for the block candidate and its share: they land in the same minute.
    let accepted_at_ms = unix_ms();
    if is_block {
        if let Some(candidate) = record(
            shard,
            &share,
            ShareKind::BlockCandidate,
            credited,
            hash,
            accepted_at_ms,
        ) {
            match shard.send_record(&candidate) {
                Ok(()) => {
                    info!(job = share.job.record.job_id, user = %candidate.user, worker = %candidate.worker, "block candidate sent");
                    shard
                        .counters
                        .blocks_found
                        .set(shard.counters.blocks_found.get() + 1);
                }
                Err(e) => {
                    error!(job = share.job.record.job_id, error = %e, ?candidate, "block candidate refused: it does not fit the record format")
                }
            }
        }
    }
    // Stored first, then answered: a share the miner is told was accepted is on the ring, in the
    // backlog or in the spool (an error here means the record was refused, never that it is held).
    let stored = match record(
        shard,
        &share,
        ShareKind::Share,
        credited,
        hash,
        accepted_at_ms,
    ) {
        Some(accepted) => shard.send_record(&accepted),
        None => Err("session has no account".to_owned()),
    };
    if let Err(e) = stored {
        error!(error = %e, "accepted share could not be stored; answered as an error");
        shard
            .counters
            .shares_invalid
            .set(shard.counters.shares_invalid.get() + 1);
        reply_error(
            &mut out,
            id,
            StratumError::Other,
            "share could not be recorded",
        );
        share.session.send(line(out));
        return;
    }
    reply_true(&mut out, id);
    share.session.send(line(out));
    shard
        .counters
        .shares_accepted
        .set(shard.counters.shares_accepted.get() + 1);
    shard.announce_worker(&share.session);
    let changed = {
        let mut state = share.session.state.borrow_mut();
        state.errors_in_row = 0;
        state.vardiff.on_share(now, credited)
    };
    if changed.is_some() {
        shard.send_difficulty_after_reply(&share.session);
    }
}

/// Sends a rejection and closes the session if it has made too many errors in a row.
fn reject(shard: &Shard, share: &PendingShare, out: Vec<u8>) {
    share.session.send(line(out));
    if note_error(shard, &share.session) {
        share
            .session
            .close(crate::session::outbound::CloseReason::ErrorsInRow);
    }
}
