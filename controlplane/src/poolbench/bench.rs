//! What poolbench knows of every watched pool, shared by the pool tasks and the status writer.
//!
//! One value behind one mutex: a job's bookkeeping touches the shared board and its own pool's
//! record together, takes microseconds and never waits on I/O under the lock (the tip is
//! broadcast after it is released).

use super::leaderboard::{Leaderboard, Observation, PoolIndex};
use super::notify::Notify;
use super::spv::{SpvSample, SpvTimer};
use crate::config::poolbench::WatchedPool;
use ironpool_shared::relay::{TipAnnouncement, TipSource};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One pool's connection and counters.
#[derive(Debug, Clone)]
pub struct PoolState {
    /// The configured name, host and port (never the credentials: the status file shows these).
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Whether its tips are announced.
    pub notify: bool,
    /// A TCP connection is up.
    pub connected: bool,
    /// The pool answered `mining.authorize` with `true` on this connection.
    pub authorized: bool,
    /// Jobs taken (valid `mining.notify`).
    pub jobs: u64,
    /// Lines ignored: not JSON, or a notify of the wrong shape.
    pub bad_messages: u64,
    /// Connections lost (or refused) so far.
    pub disconnects: u64,
    pub last_notify_unix_ms: Option<u64>,
    pub spv: SpvTimer,
}

/// What a job changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobOutcome {
    pub observation: Observation,
    /// An empty-block period of this pool that the job ended.
    pub spv: Option<SpvSample>,
}

/// Every pool, the shared board, and the counters of the process.
#[derive(Debug)]
pub struct Bench {
    pub pools: Vec<PoolState>,
    pub board: Leaderboard,
    /// Tips queued on the relay links (one per new best height of a `notify` pool).
    pub tips_announced: u64,
    /// Of those, the ones no jobmaster was connected for.
    pub tips_unheard: u64,
}

/// [`Bench`] shared between the tasks.
pub type SharedBench = Arc<Mutex<Bench>>;

impl Bench {
    /// Nothing seen yet of `pools`.
    pub fn new(pools: &[WatchedPool]) -> Self {
        Bench {
            pools: pools
                .iter()
                .map(|p| PoolState {
                    name: p.name.clone(),
                    host: p.host.clone(),
                    port: p.port,
                    notify: p.notify,
                    connected: false,
                    authorized: false,
                    jobs: 0,
                    bad_messages: 0,
                    disconnects: 0,
                    last_notify_unix_ms: None,
                    spv: SpvTimer::default(),
                })
                .collect(),
            board: Leaderboard::new(pools.len()),
            tips_announced: 0,
            tips_unheard: 0,
        }
    }

    /// The shared form.
    pub fn shared(pools: &[WatchedPool]) -> SharedBench {
        Arc::new(Mutex::new(Bench::new(pools)))
    }

    /// Pool `pool` sent `notify` at `now_unix_ms`. An index out of range changes nothing.
    pub fn on_job(&mut self, pool: PoolIndex, notify: &Notify, now_unix_ms: u64) -> JobOutcome {
        let Some(state) = self.pools.get_mut(pool) else {
            return JobOutcome {
                observation: Observation::Unchanged,
                spv: None,
            };
        };
        state.jobs += 1;
        state.last_notify_unix_ms = Some(now_unix_ms);
        let spv = state.spv.on_job(
            notify.height,
            notify.clean_jobs,
            notify.is_empty_block(),
            now_unix_ms,
        );
        let observation =
            self.board
                .observe(pool, notify.tip_height(), notify.prev_hash, now_unix_ms);
        JobOutcome { observation, spv }
    }

    /// The name of pool `pool` (`?` for an index out of range).
    pub fn name(&self, pool: PoolIndex) -> &str {
        self.pools.get(pool).map_or("?", |p| p.name.as_str())
    }
}

/// Locks `bench`; a task that panicked under the lock left counters, which are still worth
/// reading.
pub fn lock(bench: &SharedBench) -> MutexGuard<'_, Bench> {
    bench.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The tip a job of pool `via` shows: the block it builds on, at one below the height it mines,
/// with the bits of the block after it as the pool computed them.
pub fn tip_announcement(via: &str, notify: &Notify, seen_at_us: u64) -> TipAnnouncement {
    TipAnnouncement {
        source: TipSource::Poolbench,
        via: via.to_owned(),
        height: notify.tip_height(),
        hash: notify.prev_hash,
        time: notify.ntime,
        header: None,
        next_bits: Some(notify.nbits),
        seen_at_us,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools() -> Vec<WatchedPool> {
        ["a", "b"]
            .iter()
            .map(|name| WatchedPool {
                name: (*name).to_owned(),
                host: "h".to_owned(),
                port: 1,
                user: "u".to_owned(),
                password: "x".to_owned(),
                notify: *name == "a",
            })
            .collect()
    }

    fn job(height: u32, hash: u8, clean: bool, branch: usize) -> Notify {
        Notify {
            job_id: "1".to_owned(),
            prev_hash: [hash; 32],
            height,
            merkle_branch_len: branch,
            version: 0x2000_0000,
            nbits: 0x1703_a30c,
            ntime: 0x6650_f3a1,
            clean_jobs: clean,
        }
    }

    #[test]
    fn a_job_updates_the_pool_the_board_and_the_spv_timer() {
        let mut bench = Bench::new(&pools());
        let first = bench.on_job(0, &job(101, 1, true, 0), 1_000);
        assert_eq!(first.observation, Observation::NewBest);
        assert_eq!(first.spv, None);
        let full = bench.on_job(0, &job(101, 1, false, 3), 1_800);
        assert_eq!(full.observation, Observation::Unchanged);
        assert_eq!(full.spv.map(|s| (s.height, s.ms)), Some((101, 800)));
        assert_eq!(
            bench.on_job(1, &job(101, 1, true, 3), 2_000).observation,
            Observation::Followed
        );
        assert_eq!(bench.pools[0].jobs, 2);
        assert_eq!(bench.pools[1].last_notify_unix_ms, Some(2_000));
        assert_eq!(bench.name(1), "b");
        assert_eq!(bench.name(9), "?");
        assert_eq!(
            bench.on_job(9, &job(500, 1, true, 3), 2_000).observation,
            Observation::Unchanged
        );
    }

    #[test]
    fn the_tip_is_one_below_the_job_with_the_jobs_bits_and_time() {
        let tip = tip_announcement("a", &job(101, 7, true, 0), 42);
        assert_eq!(tip.source, TipSource::Poolbench);
        assert_eq!(tip.via, "a");
        assert_eq!(tip.height, 100);
        assert_eq!(tip.hash, [7; 32]);
        assert_eq!(tip.time, 0x6650_f3a1);
        assert_eq!(tip.header, None);
        assert_eq!(tip.next_bits, Some(0x1703_a30c));
        assert_eq!(tip.seen_at_us, 42);
    }
}
