//! The jobs the jobmaster keeps to rebuild blocks: the last K of the current tip, and those of the
//! previous tip (a block found on it just before the tip moved can still win a race).

use ironpool_shared::work::{CoinbaseParts, JobRecord, TemplateTransaction};
use std::collections::VecDeque;
use std::sync::Arc;

/// A published job and what rebuilding its blocks needs.
#[derive(Debug)]
pub struct JobContext {
    pub record: JobRecord,
    pub coinbase: CoinbaseParts,
    pub transactions: Arc<Vec<TemplateTransaction>>,
}

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
        JobStore { keep_per_tip, tips: VecDeque::with_capacity(2) }
    }

    /// Adds a job; a job on a new tip starts a new generation and drops the one before the previous.
    pub fn insert(&mut self, job: Arc<JobContext>) {
        let tip = job.record.prev_hash;
        if self.tips.back().map(|(t, _)| *t) != Some(tip) {
            if self.tips.len() == 2 {
                self.tips.pop_front();
            }
            self.tips.push_back((tip, VecDeque::with_capacity(self.keep_per_tip)));
        }
        let (_, jobs) = self.tips.back_mut().expect("pushed above");
        if jobs.len() == self.keep_per_tip {
            jobs.pop_front();
        }
        jobs.push_back(job);
    }

    /// The job with `job_id`, newest tip first.
    pub fn get(&self, job_id: u32) -> Option<Arc<JobContext>> {
        self.tips.iter().rev().flat_map(|(_, jobs)| jobs.iter().rev()).find(|j| j.record.job_id == job_id).cloned()
    }

    /// The newest job.
    pub fn latest(&self) -> Option<&Arc<JobContext>> {
        self.tips.back().and_then(|(_, jobs)| jobs.back())
    }

    /// Number of jobs held.
    pub fn len(&self) -> usize {
        self.tips.iter().map(|(_, j)| j.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpool_shared::work::ExtranonceSizes;

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
        Arc::new(JobContext { record, coinbase, transactions: Arc::new(vec![]) })
    }

    #[test]
    fn keeps_k_per_tip_and_one_previous_tip() {
        let mut store = JobStore::new(3);
        for id in 1..=5 {
            store.insert(job(id, 1));
        }
        assert!(store.get(1).is_none() && store.get(2).is_none());
        assert!(store.get(3).is_some() && store.get(5).is_some());
        store.insert(job(6, 2));
        // The previous tip's jobs are still there for late blocks.
        assert!(store.get(5).is_some());
        assert_eq!(store.latest().map(|j| j.record.job_id), Some(6));
        store.insert(job(7, 3));
        assert!(store.get(5).is_none(), "two tips back is gone");
        assert!(store.get(6).is_some());
        assert_eq!(store.len(), 2);
    }
}
