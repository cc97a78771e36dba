//! Who showed each new tip first, and how long the others took to follow.
//!
//! One board for all the watched pools: the best tip height any of them has shown is the bar a
//! pool must clear to be "first" (and to be announced). A pool is compared with the others only
//! when its own tip changes, so the job it sends every thirty seconds on the same block neither
//! counts twice nor logs a competing tip again. Times are unix milliseconds passed in by the
//! caller, so the bookkeeping is tested without clocks or sockets.

use std::collections::VecDeque;

/// Heights remembered with who was first and who followed.
pub const HEIGHTS_KEPT: usize = 100;

/// A pool's index in the configuration's `[[pool]]` list.
pub type PoolIndex = usize;

/// What one pool's tip change means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// Same tip as this pool's last job: nothing new.
    Unchanged,
    /// Above every tip shown so far: this pool is first at this height.
    NewBest,
    /// The best height, with another block than the first pool's: a competing tip (two blocks
    /// at one height; one will be orphaned).
    Competing {
        /// The pool that showed the best height first.
        first: PoolIndex,
    },
    /// A tip another pool showed first (or an older one: a pool that lags or went back).
    Followed,
}

/// One pool showing a height after the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follower {
    pub pool: PoolIndex,
    /// How long after the first pool, milliseconds.
    pub after_ms: u64,
    /// Whether it showed the first pool's block; false: a competing block at that height.
    pub same_hash: bool,
}

/// A height and who showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeightRecord {
    /// The tip height.
    pub height: u32,
    /// The block the first pool built on, internal byte order.
    pub hash: [u8; 32],
    pub first: PoolIndex,
    pub first_unix_ms: u64,
    /// The other pools, in the order they showed the height.
    pub followers: Vec<Follower>,
}

/// What the board knows of one pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolTip {
    /// The pool's tip: height and hash (internal order) of the block its jobs build on.
    pub tip: Option<(u32, [u8; 32])>,
    /// When it first showed that tip.
    pub since_unix_ms: u64,
    /// Heights at which it was first.
    pub first_count: u64,
}

/// The board.
#[derive(Debug, Clone)]
pub struct Leaderboard {
    pools: Vec<PoolTip>,
    /// The best tip shown so far and who showed it first.
    best: Option<(u32, [u8; 32], PoolIndex)>,
    /// The last [`HEIGHTS_KEPT`] best heights, oldest first.
    heights: VecDeque<HeightRecord>,
}

impl Leaderboard {
    /// A board for `pools` pools, none seen yet.
    pub fn new(pools: usize) -> Self {
        Leaderboard {
            pools: vec![PoolTip::default(); pools],
            best: None,
            heights: VecDeque::with_capacity(HEIGHTS_KEPT),
        }
    }

    /// Pool `pool` sent a job on the block `hash` at tip height `height`, at `now_unix_ms`.
    /// An index out of range is ignored (`Unchanged`).
    pub fn observe(
        &mut self,
        pool: PoolIndex,
        height: u32,
        hash: [u8; 32],
        now_unix_ms: u64,
    ) -> Observation {
        let Some(record) = self.pools.get_mut(pool) else {
            return Observation::Unchanged;
        };
        if record.tip == Some((height, hash)) {
            return Observation::Unchanged;
        }
        record.tip = Some((height, hash));
        record.since_unix_ms = now_unix_ms;

        match self.best {
            Some((best, best_hash, first)) if height <= best => {
                if let Some(at) = self.heights.iter_mut().find(|h| h.height == height) {
                    // A pool that leaves a height and comes back is recorded once, the first time.
                    if at.first != pool && !at.followers.iter().any(|f| f.pool == pool) {
                        at.followers.push(Follower {
                            pool,
                            after_ms: now_unix_ms.saturating_sub(at.first_unix_ms),
                            same_hash: at.hash == hash,
                        });
                    }
                }
                if height == best && hash != best_hash {
                    Observation::Competing { first }
                } else {
                    Observation::Followed
                }
            }
            _ => {
                record.first_count += 1;
                self.best = Some((height, hash, pool));
                if self.heights.len() == HEIGHTS_KEPT {
                    self.heights.pop_front();
                }
                self.heights.push_back(HeightRecord {
                    height,
                    hash,
                    first: pool,
                    first_unix_ms: now_unix_ms,
                    followers: Vec::new(),
                });
                Observation::NewBest
            }
        }
    }

    /// The best tip height shown so far, its block, and the pool that showed it first.
    pub fn best(&self) -> Option<(u32, [u8; 32], PoolIndex)> {
        self.best
    }

    /// What the board knows of pool `pool`.
    pub fn pool(&self, pool: PoolIndex) -> Option<&PoolTip> {
        self.pools.get(pool)
    }

    /// The remembered heights, oldest first.
    pub fn heights(&self) -> impl DoubleEndedIterator<Item = &HeightRecord> {
        self.heights.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [0xa; 32];
    const B: [u8; 32] = [0xb; 32];
    const C: [u8; 32] = [0xc; 32];

    #[test]
    fn the_first_pool_at_a_new_height_is_first_and_the_others_follow() {
        let mut board = Leaderboard::new(3);
        assert_eq!(board.observe(0, 100, A, 1_000), Observation::NewBest);
        assert_eq!(board.observe(1, 100, A, 1_250), Observation::Followed);
        assert_eq!(board.observe(2, 100, A, 1_900), Observation::Followed);
        assert_eq!(board.best(), Some((100, A, 0)));

        assert_eq!(board.observe(1, 101, B, 2_000), Observation::NewBest);
        assert_eq!(board.observe(0, 101, B, 2_040), Observation::Followed);

        let heights: Vec<_> = board.heights().collect();
        assert_eq!(heights.len(), 2);
        assert_eq!((heights[0].height, heights[0].first), (100, 0));
        assert_eq!(
            heights[0].followers,
            vec![
                Follower {
                    pool: 1,
                    after_ms: 250,
                    same_hash: true
                },
                Follower {
                    pool: 2,
                    after_ms: 900,
                    same_hash: true
                },
            ]
        );
        assert_eq!((heights[1].height, heights[1].first), (101, 1));
        assert_eq!(heights[1].followers[0].after_ms, 40);
        assert_eq!(board.pool(0).map(|p| p.first_count), Some(1));
        assert_eq!(board.pool(1).map(|p| p.first_count), Some(1));
        assert_eq!(board.pool(2).map(|p| p.first_count), Some(0));
        assert_eq!(
            board.pool(2).map(|p| (p.tip, p.since_unix_ms)),
            Some((Some((100, A)), 1_900))
        );
    }

    #[test]
    fn repeated_jobs_on_the_same_tip_change_nothing() {
        let mut board = Leaderboard::new(2);
        assert_eq!(board.observe(0, 100, A, 1_000), Observation::NewBest);
        assert_eq!(board.observe(0, 100, A, 31_000), Observation::Unchanged);
        assert_eq!(board.pool(0).map(|p| p.since_unix_ms), Some(1_000));
        assert_eq!(board.pool(0).map(|p| p.first_count), Some(1));
    }

    #[test]
    fn the_same_height_with_another_block_is_a_competing_tip_not_a_new_one() {
        let mut board = Leaderboard::new(3);
        assert_eq!(board.observe(0, 100, A, 1_000), Observation::NewBest);
        assert_eq!(
            board.observe(1, 100, B, 1_100),
            Observation::Competing { first: 0 }
        );
        // Once: its next job on the same block is nothing new.
        assert_eq!(board.observe(1, 100, B, 1_200), Observation::Unchanged);
        assert_eq!(board.best(), Some((100, A, 0)));
        let record = board.heights().next().expect("a height");
        assert_eq!(
            record.followers,
            vec![Follower {
                pool: 1,
                after_ms: 100,
                same_hash: false
            }]
        );
        // A pool moving from the competing block to the first one is not recorded twice.
        assert_eq!(board.observe(1, 100, A, 1_500), Observation::Followed);
        assert_eq!(board.heights().next().map(|h| h.followers.len()), Some(1));
    }

    #[test]
    fn older_tips_and_unknown_pools_are_not_first() {
        let mut board = Leaderboard::new(2);
        assert_eq!(board.observe(0, 100, A, 1_000), Observation::NewBest);
        assert_eq!(board.observe(1, 99, C, 1_100), Observation::Followed);
        assert_eq!(board.observe(7, 200, C, 1_100), Observation::Unchanged);
        // The first pool going back (a reorg it took) does not lower the bar.
        assert_eq!(board.observe(0, 99, C, 1_200), Observation::Followed);
        assert_eq!(board.observe(1, 100, A, 1_300), Observation::Followed);
        assert_eq!(board.best(), Some((100, A, 0)));
        assert_eq!(board.heights().count(), 1);
    }

    #[test]
    fn a_clock_going_back_gives_zero_not_an_underflow() {
        let mut board = Leaderboard::new(2);
        board.observe(0, 100, A, 5_000);
        board.observe(1, 100, A, 4_000);
        assert_eq!(
            board.heights().next().map(|h| h.followers[0].after_ms),
            Some(0)
        );
    }

    #[test]
    fn only_the_last_heights_are_kept() {
        let mut board = Leaderboard::new(1);
        for height in 0..(HEIGHTS_KEPT as u32 + 20) {
            assert_eq!(
                board.observe(0, height, [height as u8; 32], u64::from(height)),
                Observation::NewBest
            );
        }
        assert_eq!(board.heights().count(), HEIGHTS_KEPT);
        assert_eq!(board.heights().next().map(|h| h.height), Some(20));
        assert_eq!(board.pool(0).map(|p| p.first_count), Some(120));
    }
}
