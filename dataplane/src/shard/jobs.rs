//! The jobs a shard holds: those of the current tip (up to a bound), each with its notify lines
//! serialized once and its hashing midstate computed once, and the duplicate set of the tip.

use super::shared_line::SharedLine;
use bitcoin::{CompactTarget, Target};
use ironpool_shared::sha256d::JobHasher;
use ironpool_shared::stratum::NotifyLine;
use ironpool_shared::work::JobRecord;
use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;

/// Jobs kept per tip: as many as the jobmaster keeps (`jobs.keep_per_tip`, 16), so that a share
/// accepted here can always be rebuilt into a block there.
pub const JOBS_PER_TIP: usize = 16;
/// Duplicate keys kept per tip before the oldest half is forgotten (bounded memory under a flood).
const DUPLICATE_KEYS_MAX: usize = 4_000_000;

/// One job as the shard uses it.
#[derive(Debug)]
pub struct ShardJob {
    pub record: JobRecord,
    pub hasher: JobHasher,
    /// The notify line with `clean_jobs` true, and false.
    pub notify_clean: SharedLine,
    pub notify: SharedLine,
    pub network_target: Target,
    /// The network difficulty of `network_target`, for the accounting's `g` (goal).
    pub network_difficulty: f64,
}

impl ShardJob {
    pub fn new(record: JobRecord) -> Self {
        let hasher = JobHasher::from_record(&record);
        let notify_clean = SharedLine::new(NotifyLine::new(&record, true).into_bytes());
        let notify = SharedLine::new(NotifyLine::new(&record, false).into_bytes());
        let network_target = Target::from_compact(CompactTarget::from_consensus(record.bits));
        ShardJob {
            record,
            hasher,
            notify_clean,
            notify,
            network_difficulty: network_target.difficulty_float(),
            network_target,
        }
    }
}

/// The current tip's jobs, newest last.
#[derive(Debug, Default)]
pub struct ShardJobs {
    tip: Option<[u8; 32]>,
    jobs: VecDeque<Rc<ShardJob>>,
    /// Header hashes (first 16 bytes) of every share seen on this tip, whatever its job: two jobs
    /// with the same template can yield the same header.
    seen: RefCell<(HashSet<u128>, VecDeque<u128>)>,
}

impl ShardJobs {
    /// Adds a job; returns whether miners must drop their work (new tip, or the ring skipped
    /// records). A clean job or a new tip forgets the older jobs and the duplicate set.
    pub fn insert(&mut self, job: Rc<ShardJob>, resync: bool) -> bool {
        let clean = job.record.clean || resync || self.tip != Some(job.record.prev_hash);
        if clean {
            self.jobs.clear();
            let mut seen = self.seen.borrow_mut();
            seen.0.clear();
            seen.1.clear();
            self.tip = Some(job.record.prev_hash);
        }
        if self.jobs.len() == JOBS_PER_TIP {
            self.jobs.pop_front();
        }
        self.jobs.push_back(job);
        clean
    }

    pub fn get(&self, job_id: u32) -> Option<Rc<ShardJob>> {
        self.jobs
            .iter()
            .rev()
            .find(|j| j.record.job_id == job_id)
            .cloned()
    }

    pub fn latest(&self) -> Option<Rc<ShardJob>> {
        self.jobs.back().cloned()
    }

    /// Records a share's header hash; false when it was already seen on this tip.
    pub fn first_sighting(&self, hash: &[u8; 32]) -> bool {
        let mut key = [0u8; 16];
        key.copy_from_slice(&hash[..16]);
        let key = u128::from_le_bytes(key);
        let mut seen = self.seen.borrow_mut();
        let (set, order) = &mut *seen;
        if !set.insert(key) {
            return false;
        }
        order.push_back(key);
        if order.len() > DUPLICATE_KEYS_MAX {
            for _ in 0..DUPLICATE_KEYS_MAX / 2 {
                if let Some(old) = order.pop_front() {
                    set.remove(&old);
                }
            }
        }
        true
    }
}
