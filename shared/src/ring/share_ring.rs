//! The share ring: one per gateway shard, single producer (the shard) → single consumer (the
//! control plane), fixed 256-byte records ([`EncodedShare`]).
//!
//! Indexes count records ever pushed (producer) and ever committed (consumer); they only grow, and
//! `producer - consumer ≤ capacity` always holds. They sit on separate 128-byte lines.
//!
//! - Shares may use at most `capacity - reserved_for_blocks` slots; block candidates may use every
//!   slot, so a block candidate still enters a ring that shares have filled.
//! - At-least-once across a consumer crash: `pop` only moves a local read index; slots are freed
//!   when the consumer `commit`s. A consumer killed before committing is restarted at the committed
//!   index and reads the uncommitted records again.
//! - Restarts: producer and consumer re-attach to an existing file and continue from the indexes in
//!   its header; nothing pushed and not committed is lost. Each role holds a lock byte (producer: 0,
//!   consumer: 1), so a second live producer or consumer is refused ([`RingError::Busy`]).
//! - Wake-ups: the consumer parks on a futex after raising a "sleeping" flag; the producer wakes it
//!   after a push when the flag is up, and after every block candidate. The flag and the producer
//!   index are checked Dekker-style (SeqCst fences on both sides), so no wake-up is lost and a busy
//!   consumer costs the producer no system call.
//!
//! Nothing read from the mapping is trusted: inconsistent indexes give [`RingError::Indexes`], a
//! corrupt record gives [`PopError::Decode`].

#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use super::error::{PopError, PushError, RingError};
use super::futex::{deadline_after, WaitOutcome};
use super::header::{
    ShareLayout, SHARE_CONSUMER_EPOCH_OFFSET, SHARE_CONSUMER_INDEX_OFFSET, SHARE_HEADER_BYTES,
    SHARE_PRODUCER_EPOCH_OFFSET, SHARE_PRODUCER_INDEX_OFFSET, SHARE_RING_ID_OFFSET,
    SHARE_SLEEPING_OFFSET, SHARE_WAKE_OFFSET,
};
use super::mapping::SharedMapMut;
use super::share_record::{EncodedShare, ShareKind, ShareRecord, RECORD_BYTES};

const PRODUCER_LOCK_BYTE: u8 = 0;
const PRODUCER_ROLE: &str = "share ring producer";
const CONSUMER_LOCK_BYTE: u8 = 1;
const CONSUMER_ROLE: &str = "share ring consumer";

/// Parameters of a share ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareRingConfig {
    /// Records the ring holds, a power of two in `2..=2^20`. Default 4096 (1 MiB of records).
    pub capacity: u32,
    /// Slots only block candidates may use, `< capacity`. Default 8.
    pub reserved_for_blocks: u32,
}

impl Default for ShareRingConfig {
    fn default() -> Self {
        ShareRingConfig {
            capacity: 4096,
            reserved_for_blocks: 8,
        }
    }
}

/// Checks the indexes read from a share ring header.
fn check_indexes(
    map: &SharedMapMut,
    layout: ShareLayout,
    producer: u64,
    consumer: u64,
) -> Result<(), RingError> {
    let capacity = u64::from(layout.capacity);
    if consumer > producer || producer - consumer > capacity {
        return Err(RingError::Indexes {
            path: map.path().to_path_buf(),
            producer,
            consumer,
            capacity,
        });
    }
    Ok(())
}

/// The producer side of a share ring (the gateway shard).
#[derive(Debug)]
pub struct ShareProducer {
    map: SharedMapMut,
    layout: ShareLayout,
    /// Records pushed, ever: only this process writes the producer index.
    tail: u64,
    /// The consumer index as last loaded; never above the real one.
    consumer_cached: u64,
    share_limit: u64,
    epoch: u64,
}

impl ShareProducer {
    /// Opens the ring at `path` as its producer, creating it when there is no file.
    ///
    /// # Errors
    ///
    /// [`RingError::Config`] for bad parameters, [`RingError::Mismatch`] when the existing file has
    /// another capacity (it is never replaced: it may hold records), [`RingError::Busy`] when
    /// another producer is alive, header errors for a file that is not a valid share ring, and
    /// [`RingError::Indexes`] when its indexes are inconsistent.
    pub fn open(path: impl AsRef<Path>, config: &ShareRingConfig) -> Result<Self, RingError> {
        let path = path.as_ref();
        let layout = ShareLayout::for_config(config.capacity)?;
        if config.reserved_for_blocks >= config.capacity {
            return Err(RingError::Config {
                field: "reserved_for_blocks",
                value: u64::from(config.reserved_for_blocks),
                reason: "must leave at least one slot for shares (be below capacity)",
            });
        }
        let map = match SharedMapMut::open(path, SHARE_HEADER_BYTES as u64) {
            Ok(map) => map,
            Err(RingError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Self::create(path, layout)?
            }
            Err(error) => return Err(error),
        };
        map.lock_role(PRODUCER_LOCK_BYTE, PRODUCER_ROLE)?;
        let found = ShareLayout::read(&map)?;
        if found != layout {
            return Err(RingError::Mismatch {
                path: path.to_path_buf(),
                field: "capacity",
                expected: u64::from(layout.capacity),
                found: u64::from(found.capacity),
            });
        }
        let tail = map.load_u64(SHARE_PRODUCER_INDEX_OFFSET, Ordering::Acquire);
        let consumer = map.load_u64(SHARE_CONSUMER_INDEX_OFFSET, Ordering::Acquire);
        check_indexes(&map, layout, tail, consumer)?;
        let epoch = map
            .fetch_add_u64(SHARE_PRODUCER_EPOCH_OFFSET, 1, Ordering::AcqRel)
            .wrapping_add(1);
        Ok(ShareProducer {
            map,
            layout,
            tail,
            consumer_cached: consumer,
            share_limit: u64::from(config.capacity - config.reserved_for_blocks),
            epoch,
        })
    }

    /// Creates the file under a temporary name and links it into place; if another process
    /// created it meanwhile, opens that one.
    fn create(path: &Path, layout: ShareLayout) -> Result<SharedMapMut, RingError> {
        let mut map = SharedMapMut::create_temp(path, layout.file_len())?;
        layout.write_header(&map);
        if map.link_to(path)? {
            return Ok(map);
        }
        SharedMapMut::open(path, SHARE_HEADER_BYTES as u64)
    }

    /// Encodes and pushes `record`.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] when the slots this kind may use are all taken, [`PushError::Encode`]
    /// when the record does not fit the format, [`PushError::Ring`] when the header is
    /// inconsistent. The ring is unchanged in every case.
    pub fn try_push(&mut self, record: &ShareRecord) -> Result<(), PushError> {
        let encoded = record.encode()?;
        self.try_push_encoded(&encoded)
    }

    /// Pushes an already encoded record (see [`try_push`](Self::try_push)).
    ///
    /// # Errors
    ///
    /// As [`try_push`](Self::try_push), without the encoding step.
    pub fn try_push_encoded(&mut self, record: &EncodedShare) -> Result<(), PushError> {
        let kind = record.kind();
        let limit = match kind {
            ShareKind::BlockCandidate => u64::from(self.layout.capacity),
            _ => self.share_limit,
        };
        // The consumer index only grows, so a cached value can only understate the free room:
        // reload it (a line the consumer writes) only when the cached value says full.
        if self.tail - self.consumer_cached >= limit {
            let consumer = self
                .map
                .load_u64(SHARE_CONSUMER_INDEX_OFFSET, Ordering::Acquire);
            check_indexes(&self.map, self.layout, self.tail, consumer)?;
            if consumer < self.consumer_cached {
                return Err(PushError::Ring(RingError::Indexes {
                    path: self.map.path().to_path_buf(),
                    producer: self.tail,
                    consumer,
                    capacity: u64::from(self.layout.capacity),
                }));
            }
            self.consumer_cached = consumer;
            let used = self.tail - consumer;
            if used >= limit {
                return Err(PushError::Full { kind, used, limit });
            }
        }
        // The slot is free: the consumer committed past it (Acquire above), so it no longer reads it.
        self.map
            .store_words(self.layout.record_offset(self.tail), record.as_bytes());
        self.tail += 1;
        self.map
            .store_u64(SHARE_PRODUCER_INDEX_OFFSET, self.tail, Ordering::Release);
        // Dekker with `ShareConsumer::wait`: our index store, then their flag; their flag store,
        // then our index. With both fences SeqCst, at least one side sees the other's store.
        fence(Ordering::SeqCst);
        // Take the flag down here, so a consumer that is slow to wake up costs one system call,
        // not one per push; it raises the flag again before it sleeps again.
        let sleeping = self.map.load_u32(SHARE_SLEEPING_OFFSET, Ordering::Relaxed) != 0
            && self
                .map
                .swap_u32(SHARE_SLEEPING_OFFSET, 0, Ordering::AcqRel)
                != 0;
        if sleeping || kind == ShareKind::BlockCandidate {
            self.wake_consumer();
        }
        Ok(())
    }

    /// Wakes the consumer if it waits (after a batch of pushes, say).
    pub fn wake_consumer(&self) {
        self.map
            .fetch_add_u32(SHARE_WAKE_OFFSET, 1, Ordering::AcqRel);
        self.map.futex_wake_all(SHARE_WAKE_OFFSET);
    }

    /// Records pushed and not yet committed by the consumer.
    pub fn len(&self) -> u64 {
        let consumer = self
            .map
            .load_u64(SHARE_CONSUMER_INDEX_OFFSET, Ordering::Acquire);
        self.tail.saturating_sub(consumer)
    }

    /// True when every pushed record has been committed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records pushed into this file, ever (the producer index).
    pub fn pushed_total(&self) -> u64 {
        self.tail
    }

    pub fn capacity(&self) -> u32 {
        self.layout.capacity
    }

    /// Slots shares may use.
    pub fn share_limit(&self) -> u64 {
        self.share_limit
    }

    /// 1 for the producer that created the file, +1 at each re-attach.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn path(&self) -> &Path {
        self.map.path()
    }
}

/// The consumer side of a share ring (the control plane).
#[derive(Debug)]
pub struct ShareConsumer {
    map: SharedMapMut,
    layout: ShareLayout,
    /// Next record to pop.
    read: u64,
    /// Records committed, ever: only this process writes the consumer index.
    committed: u64,
    epoch: u64,
}

impl ShareConsumer {
    /// Attaches to the share ring at `path` as its consumer; the file must exist (the producer
    /// creates it). Popping starts at the committed index.
    ///
    /// # Errors
    ///
    /// [`RingError::Io`] (`NotFound` before the producer first ran), [`RingError::Busy`] when
    /// another consumer is alive, header errors, and [`RingError::Indexes`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RingError> {
        let path = path.as_ref();
        let map = SharedMapMut::open(path, SHARE_HEADER_BYTES as u64)?;
        map.lock_role(CONSUMER_LOCK_BYTE, CONSUMER_ROLE)?;
        let layout = ShareLayout::read(&map)?;
        let committed = map.load_u64(SHARE_CONSUMER_INDEX_OFFSET, Ordering::Acquire);
        let producer = map.load_u64(SHARE_PRODUCER_INDEX_OFFSET, Ordering::Acquire);
        check_indexes(&map, layout, producer, committed)?;
        // A consumer that died while waiting left the flag up; it only costs the producer wake-ups.
        map.store_u32(SHARE_SLEEPING_OFFSET, 0, Ordering::Release);
        let epoch = map
            .fetch_add_u64(SHARE_CONSUMER_EPOCH_OFFSET, 1, Ordering::AcqRel)
            .wrapping_add(1);
        Ok(ShareConsumer {
            map,
            layout,
            read: committed,
            committed,
            epoch,
        })
    }

    /// Pops the next record without freeing its slot; `None` when the ring holds nothing more.
    /// Call [`commit`](Self::commit) once the popped records are safe elsewhere.
    pub fn pop(&mut self) -> Option<Result<ShareRecord, PopError>> {
        let mut bytes = [0u8; RECORD_BYTES];
        let index = match self.pop_into(&mut bytes)? {
            Ok(index) => index,
            Err(error) => return Some(Err(error)),
        };
        Some(ShareRecord::decode(&bytes).map_err(|source| PopError::Decode { index, source }))
    }

    /// As [`pop`](Self::pop), but validates and returns the record in its encoded form.
    pub fn pop_encoded(&mut self) -> Option<Result<EncodedShare, PopError>> {
        let mut bytes = [0u8; RECORD_BYTES];
        let index = match self.pop_into(&mut bytes)? {
            Ok(index) => index,
            Err(error) => return Some(Err(error)),
        };
        Some(EncodedShare::from_bytes(&bytes).map_err(|source| PopError::Decode { index, source }))
    }

    /// Copies the next record into `bytes` and returns its ring index.
    fn pop_into(&mut self, bytes: &mut [u8; RECORD_BYTES]) -> Option<Result<u64, PopError>> {
        let producer = self
            .map
            .load_u64(SHARE_PRODUCER_INDEX_OFFSET, Ordering::Acquire);
        if producer == self.read {
            return None;
        }
        let capacity = u64::from(self.layout.capacity);
        if producer < self.read || producer - self.committed > capacity {
            let consumer = self.committed;
            return Some(Err(PopError::Ring(RingError::Indexes {
                path: self.map.path().to_path_buf(),
                producer,
                consumer,
                capacity,
            })));
        }
        // The producer wrote this slot before its Release store of the index we loaded with
        // Acquire, and cannot rewrite it before we commit past it.
        self.map
            .load_words(self.layout.record_offset(self.read), bytes);
        let index = self.read;
        self.read += 1;
        Some(Ok(index))
    }

    /// Frees the slots of every popped record: after a crash, a new consumer starts after them.
    pub fn commit(&mut self) {
        if self.committed != self.read {
            self.committed = self.read;
            self.map.store_u64(
                SHARE_CONSUMER_INDEX_OFFSET,
                self.committed,
                Ordering::Release,
            );
        }
    }

    /// Goes back to the committed index: the popped, uncommitted records will be popped again.
    pub fn rewind(&mut self) {
        self.read = self.committed;
    }

    /// Records popped and not committed.
    pub fn uncommitted(&self) -> u64 {
        self.read - self.committed
    }

    /// Records pushed and not yet popped, as the mapping says now (saturating on a corrupt index).
    pub fn available(&self) -> u64 {
        self.map
            .load_u64(SHARE_PRODUCER_INDEX_OFFSET, Ordering::Acquire)
            .saturating_sub(self.read)
    }

    /// Blocks until a record is available to pop or `timeout` passes. Sleeps in the kernel
    /// (shared futex), no spinning.
    ///
    /// # Errors
    ///
    /// [`RingError::Io`] when the futex system call fails (not expected on Linux).
    pub fn wait(&self, timeout: Duration) -> Result<WaitOutcome, RingError> {
        let deadline = deadline_after(timeout);
        let outcome = self.wait_flagged(deadline);
        self.map
            .store_u32(SHARE_SLEEPING_OFFSET, 0, Ordering::Relaxed);
        outcome
    }

    fn wait_flagged(&self, deadline: Instant) -> Result<WaitOutcome, RingError> {
        loop {
            let word = self.map.load_u32(SHARE_WAKE_OFFSET, Ordering::Acquire);
            self.map
                .store_u32(SHARE_SLEEPING_OFFSET, 1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if self
                .map
                .load_u64(SHARE_PRODUCER_INDEX_OFFSET, Ordering::Relaxed)
                != self.read
            {
                return Ok(WaitOutcome::Ready);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(WaitOutcome::TimedOut);
            }
            self.map
                .futex_wait(SHARE_WAKE_OFFSET, word, deadline - now)?;
        }
    }

    /// The committed index: records committed into this file, ever.
    pub fn committed_total(&self) -> u64 {
        self.committed
    }

    /// The index the next `pop` reads.
    pub fn read_index(&self) -> u64 {
        self.read
    }

    /// The file's random id (0 for files made before ring ids existed).
    pub fn ring_id(&self) -> u64 {
        self.map.load_u64(SHARE_RING_ID_OFFSET, Ordering::Relaxed)
    }

    pub fn capacity(&self) -> u32 {
        self.layout.capacity
    }

    /// 1 for the first consumer of the file, +1 at each re-attach.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn path(&self) -> &Path {
        self.map.path()
    }
}
