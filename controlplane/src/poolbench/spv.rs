//! How long a competitor mines empty blocks after a new tip: its "SPV time".
//!
//! A pool that learns of a block before it has validated it (or built a template on it) sends a
//! clean job with an empty merkle branch: a coinbase-only block. Its next job at the same height
//! with a non-empty branch is the full template. The time between the two is how long the pool
//! needs to get from the header to a full template, the figure ViaBTC's poolbench logged (reference
//! §8) and the one to compare with our own empty-job time.

use std::collections::VecDeque;

/// Measurements kept per pool.
pub const SAMPLES_KEPT: usize = 20;

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpvSample {
    /// The height of the block the jobs mine (BIP34).
    pub height: u32,
    /// From the empty clean job to the first full job, milliseconds.
    pub ms: u64,
}

/// One pool's timer and its last measurements.
#[derive(Debug, Clone, Default)]
pub struct SpvTimer {
    /// The height of the empty clean job and when it came.
    started: Option<(u32, u64)>,
    samples: VecDeque<SpvSample>,
}

impl SpvTimer {
    /// A job at `height` (the block it mines) came at `now_unix_ms`; returns a measurement when
    /// this job ends an empty-block period.
    pub fn on_job(
        &mut self,
        height: u32,
        clean: bool,
        empty_block: bool,
        now_unix_ms: u64,
    ) -> Option<SpvSample> {
        match (self.started, empty_block) {
            // Another empty job at the same height (a new ntime): the period goes on, from its
            // first job.
            (Some((started_height, _)), true) if started_height == height => None,
            (_, true) => {
                // Only a clean job starts a period: an empty job that does not replace the
                // previous ones is not a reaction to a new tip.
                self.started = clean.then_some((height, now_unix_ms));
                None
            }
            (Some((started_height, at)), false) if started_height == height => {
                self.started = None;
                let sample = SpvSample {
                    height,
                    ms: now_unix_ms.saturating_sub(at),
                };
                if self.samples.len() == SAMPLES_KEPT {
                    self.samples.pop_front();
                }
                self.samples.push_back(sample);
                Some(sample)
            }
            // A full job at another height: the pool moved on without filling the block in.
            (_, false) => {
                self.started = None;
                None
            }
        }
    }

    /// The last measurements, oldest first.
    pub fn samples(&self) -> impl DoubleEndedIterator<Item = &SpvSample> {
        self.samples.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_clean_job_then_a_full_one_is_measured() {
        let mut t = SpvTimer::default();
        assert_eq!(t.on_job(100, true, false, 0), None);
        assert_eq!(t.on_job(101, true, true, 1_000), None);
        // A refreshed empty job keeps the start of the period.
        assert_eq!(t.on_job(101, false, true, 1_500), None);
        assert_eq!(
            t.on_job(101, false, false, 3_250),
            Some(SpvSample {
                height: 101,
                ms: 2_250
            })
        );
        // The next full job is nothing.
        assert_eq!(t.on_job(101, false, false, 4_000), None);
        assert_eq!(t.samples().count(), 1);
    }

    #[test]
    fn a_pool_that_moves_on_while_empty_is_not_measured() {
        let mut t = SpvTimer::default();
        assert_eq!(t.on_job(101, true, true, 1_000), None);
        // The next block's empty job restarts the timer at its own height.
        assert_eq!(t.on_job(102, true, true, 2_000), None);
        assert_eq!(t.on_job(103, true, false, 3_000), None);
        assert_eq!(t.on_job(102, false, false, 3_100), None);
        assert_eq!(t.samples().count(), 0);
    }

    #[test]
    fn an_empty_job_that_is_not_clean_starts_nothing() {
        let mut t = SpvTimer::default();
        assert_eq!(t.on_job(101, false, true, 1_000), None);
        assert_eq!(t.on_job(101, false, false, 2_000), None);
    }

    #[test]
    fn only_the_last_samples_are_kept() {
        let mut t = SpvTimer::default();
        for height in 0..(SAMPLES_KEPT as u32 + 5) {
            let at = u64::from(height) * 1_000;
            t.on_job(height, true, true, at);
            assert!(t.on_job(height, false, false, at + 10).is_some());
        }
        assert_eq!(t.samples().count(), SAMPLES_KEPT);
        assert_eq!(t.samples().next().map(|s| s.height), Some(5));
    }
}
