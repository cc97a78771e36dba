//! The jobs the jobmaster keeps to rebuild blocks: the last K of the current tip, and those of the
//! previous tip (a block found on it just before the tip moved can still win a race).

pub use ironpool_shared::work::JobContext;
use std::collections::VecDeque;
use std::sync::Arc;

/// Jobs by tip, newest last.
#[derive(Debug)]
pub struct JobStore {
    keep_per_tip: usize,
    /// At most two tips: `[previous, current]`.
    tips: VecDeque<([u8; 32], VecDeque<Arc<JobContext>>)>,
}

impl JobStore {
    pub fn new(keep_per_tip: usize) -> Self {
        assert!(keep_per_tip > 0, "validated by the config");
        JobStore {
            keep_per_tip,
            tips: VecDeque::with_capacity(2),
        }
    }

    /// Adds a job; a job on a new tip starts a new generation and drops the one before the
    /// previous. Returns the ids of the jobs dropped.
    pub fn insert(&mut self, job: Arc<JobContext>) -> Vec<u32> {
        let mut dropped = Vec::new();
        let tip = job.record.prev_hash;
        if self.tips.back().map(|(t, _)| *t) != Some(tip) {
            if self.tips.len() == 2 {
                if let Some((_, old)) = self.tips.pop_front() {
                    dropped.extend(old.iter().map(|j| j.record.job_id));
                }
            }
            self.tips
                .push_back((tip, VecDeque::with_capacity(self.keep_per_tip)));
        }
        let (_, jobs) = self.tips.back_mut().expect("pushed above");
        if jobs.len() == self.keep_per_tip {
            if let Some(old) = jobs.pop_front() {
                dropped.push(old.record.job_id);
            }
        }
        jobs.push_back(job);
        dropped
    }

    /// The job with `job_id`, newest tip first.
    pub fn get(&self, job_id: u32) -> Option<Arc<JobContext>> {
        self.tips
            .iter()
            .rev()
            .flat_map(|(_, jobs)| jobs.iter().rev())
            .find(|j| j.record.job_id == job_id)
            .cloned()
    }

    /// The newest job.
    pub fn latest(&self) -> Option<&Arc<JobContext>> {
        self.tips.back().and_then(|(_, jobs)| jobs.back())
    }

    /// Ids of every job held, oldest first.
    pub fn ids(&self) -> Vec<u32> {
        self.tips
            .iter()
            .flat_map(|(_, jobs)| jobs.iter().map(|j| j.record.job_id))
            .collect()
    }

    /// Number of jobs held.
    pub fn len(&self) -> usize {
        self.tips.iter().map(|(_, j)| j.len()).sum()
    }

    /// Whether no job is held (before the first template).
    pub fn is_empty(&self) -> bool {
        self.tips.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpool_shared::work::{CoinbaseParts, ExtranonceSizes, JobRecord};

    fn job(id: u32, tip: u8) -> Arc<JobContext> {
        let record = JobRecord {
            job_id: id,
            clean: false,
            height: 1,
            prev_hash: [tip; 32],
            version: 0,
            version_mask: 0,
            bits: 0,
            ntime: 0,
            ntime_min: 0,
            ntime_max: 0,
            extranonce: ExtranonceSizes::default(),
            coinb1: vec![],
            coinb2: vec![],
            merkle_branch: vec![],
            created_at_us: 0,
        };
        let coinbase = CoinbaseParts {
            coinb1: vec![],
            coinb2: vec![],
            extranonce: ExtranonceSizes::default(),
            script_sig_len: 0,
            tag_len_used: 0,
            has_witness_commitment: false,
        };
        Arc::new(JobContext {
            record,
            coinbase,
            transactions: Arc::new(vec![]),
        })
    }

    #[test]
    fn keeps_k_per_tip_and_one_previous_tip() {
        let mut store = JobStore::new(3);
        assert!(store.is_empty());
        let mut dropped = Vec::new();
        for id in 1..=5 {
            dropped.extend(store.insert(job(id, 1)));
        }
        assert_eq!(dropped, [1, 2]);
        assert!(store.get(1).is_none() && store.get(2).is_none());
        assert!(store.get(3).is_some() && store.get(5).is_some());
        assert!(store.insert(job(6, 2)).is_empty());
        // The previous tip's jobs are still there for late blocks.
        assert!(store.get(5).is_some());
        assert_eq!(store.latest().map(|j| j.record.job_id), Some(6));
        assert_eq!(store.insert(job(7, 3)), [3, 4, 5]);
        assert!(store.get(5).is_none(), "two tips back is gone");
        assert!(store.get(6).is_some());
        assert_eq!(store.len(), 2);
        assert_eq!(store.ids(), [6, 7]);
    }
}
