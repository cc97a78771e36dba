//! The grinding thread: one OS thread hashes for every connection, so hashing never uses more than
//! one core whatever the number of connections, and the tokio tasks only do I/O.
//!
//! Each connection owns a [`Slot`]: it publishes its current [`Work`] there (or `None` while it
//! has nothing to mine) and receives the shares found for it on a channel. The thread visits the
//! slots in turn; with a hash rate set, each slot has a token bucket refilled at that rate (at
//! most [`BURST_SECS`] of it banked), so the total rate is `connections × rate` until it reaches
//! what one thread can do. With rate 0 every slot gets [`CHUNK_UNLIMITED`] nonces per turn.
//!
//! A unit of work is `(extranonce2, rolled version)`: a fresh extranonce2 (a counter) for each new
//! publication, the rolled version starting at combination 1 of the mask, then nonces 0..2^32; at
//! the end of the nonce range the next version combination is used, then the next extranonce2.
//! The header's first 64 bytes are hashed once per unit (midstate); each nonce costs the last 16.
//!
//! At most [`QUEUE_MAX`] found shares wait per slot: a connection that does not keep up stops
//! being ground for until it catches up, which bounds memory.

use super::config::Faults;
use super::stats::{Counters, ShareKind};
use super::target::{meets, Target256};
use super::work::{build_header, coinbase_txid, merkle_root, spread_bits, NotifyJob};
use bitcoin::hashes::{sha256, sha256d, Hash, HashEngine};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Found shares waiting for their connection, per slot, before the slot is skipped.
pub(crate) const QUEUE_MAX: usize = 64;
/// Nonces per slot per turn when the rate is unlimited.
const CHUNK_UNLIMITED: u64 = 4_096;
/// Most nonces per slot per turn when rate-limited.
const CHUNK_MAX: u64 = 65_536;
/// Seconds of hashing a slot may bank while it waits its turn.
const BURST_SECS: f64 = 0.2;
/// Smallest batch worth a turn, in seconds of the slot's rate.
const MIN_BATCH_SECS: f64 = 0.005;
/// Sleep when no slot had anything to hash.
const IDLE: Duration = Duration::from_millis(2);

/// What a connection mines on.
#[derive(Debug, Clone)]
pub(crate) struct Work {
    /// The connection's session it belongs to (shares from an earlier session are dropped).
    pub session: u64,
    /// Clean-job epoch of the session when it was published.
    pub epoch: u64,
    pub job: Arc<NotifyJob>,
    pub extranonce1: Vec<u8>,
    pub extranonce2_size: usize,
    /// Version bits granted for rolling (0: no rolling).
    pub version_mask: u32,
    /// Share difficulty the work was published with.
    pub difficulty: f64,
    pub share_target: Target256,
    pub network_target: Target256,
    pub faults: Faults,
}

/// A hash the grinder wants submitted.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub work: Arc<Work>,
    /// Valid, LowDifficulty or BadVersion.
    pub kind: ShareKind,
    pub extranonce2: Vec<u8>,
    pub ntime: u32,
    pub nonce: u32,
    /// Full header version.
    pub version: u32,
    pub hash: [u8; 32],
}

/// One connection's place at the grinder.
pub(crate) struct Slot {
    generation: AtomicU64,
    work: Mutex<Option<Arc<Work>>>,
    queued: AtomicUsize,
    found_tx: mpsc::UnboundedSender<Found>,
}

impl Slot {
    pub fn new() -> (Arc<Slot>, mpsc::UnboundedReceiver<Found>) {
        let (found_tx, found_rx) = mpsc::unbounded_channel();
        let slot = Slot {
            generation: AtomicU64::new(0),
            work: Mutex::new(None),
            queued: AtomicUsize::new(0),
            found_tx,
        };
        (Arc::new(slot), found_rx)
    }

    /// Replaces the work (None: stop grinding for this connection).
    pub fn publish(&self, work: Option<Arc<Work>>) {
        *self.work.lock().unwrap_or_else(PoisonError::into_inner) = work;
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The connection took one found share off the channel.
    pub fn taken(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    fn is_full(&self) -> bool {
        self.queued.load(Ordering::Relaxed) >= QUEUE_MAX
    }

    fn emit(&self, found: Found) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.found_tx.send(found).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Starts the grinding thread. It runs until `stop` is set (and the thread unparked).
pub(crate) fn spawn(
    slots: Vec<Arc<Slot>>,
    rate_per_slot: f64,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("sim-miner-grind".into())
        .spawn(move || run(&slots, rate_per_slot, &counters, &stop))
}

fn run(slots: &[Arc<Slot>], rate: f64, counters: &Counters, stop: &AtomicBool) {
    let start = Instant::now();
    let mut cursors: Vec<Cursor> = slots.iter().map(|_| Cursor::new(start)).collect();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let mut hashed = 0u64;
        for (slot, cursor) in slots.iter().zip(cursors.iter_mut()) {
            cursor.sync(slot);
            if cursor.work.is_none() {
                cursor.tokens = 0.0;
                cursor.last_refill = now;
                continue;
            }
            let batch = if rate > 0.0 {
                let elapsed = now
                    .saturating_duration_since(cursor.last_refill)
                    .as_secs_f64();
                cursor.last_refill = now;
                let burst = (rate * BURST_SECS).max(1.0);
                // Batches of at least 16 hashes (or the whole burst, for very low rates) so a
                // turn over thousands of slots is not spent on single hashes.
                let min_batch = (rate * MIN_BATCH_SECS).max(16.0).min(burst);
                cursor.tokens = (cursor.tokens + rate * elapsed).min(burst);
                if cursor.tokens < min_batch || slot.is_full() {
                    continue;
                }
                // Tokens are bounded by the burst above: the conversion cannot overflow.
                let batch = (cursor.tokens as u64).min(CHUNK_MAX);
                cursor.tokens -= batch as f64;
                batch
            } else if slot.is_full() {
                continue;
            } else {
                CHUNK_UNLIMITED
            };
            hashed += cursor.grind(batch, slot);
        }
        counters.hashes.fetch_add(hashed, Ordering::Relaxed);
        if hashed == 0 {
            thread::park_timeout(IDLE);
        }
    }
}

/// The grinder's position in one slot's work.
struct Cursor {
    generation: u64,
    work: Option<Arc<Work>>,
    extranonce2_counter: u64,
    extranonce2: Vec<u8>,
    merkle_root: [u8; 32],
    /// Index of the version combination within the mask.
    roll: u64,
    /// Number of combinations of the mask's bits.
    rolls: u64,
    version: u32,
    header: [u8; 80],
    midstate: sha256::HashEngine,
    next_nonce: u64,
    tokens: f64,
    last_refill: Instant,
    /// A hash of this unit missing both targets, for the low-difficulty fault: (nonce, hash).
    low: Option<(u32, [u8; 32])>,
    /// While grinding for the bad-version fault: the bad version and its midstate.
    bad: Option<(u32, sha256::HashEngine)>,
}

impl Cursor {
    fn new(now: Instant) -> Self {
        Cursor {
            generation: 0,
            work: None,
            extranonce2_counter: 0,
            extranonce2: Vec::new(),
            merkle_root: [0; 32],
            roll: 0,
            rolls: 1,
            version: 0,
            header: [0; 80],
            midstate: sha256d::Hash::engine(),
            next_nonce: 0,
            tokens: 0.0,
            last_refill: now,
            low: None,
            bad: None,
        }
    }

    /// Picks up new work if the slot's generation moved.
    fn sync(&mut self, slot: &Slot) {
        let generation = slot.generation.load(Ordering::Acquire);
        if generation == self.generation {
            return;
        }
        self.generation = generation;
        self.work = slot
            .work
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(work) = self.work.clone() {
            self.rolls = 1u64 << work.version_mask.count_ones();
            self.new_extranonce2(&work);
        }
    }

    fn new_extranonce2(&mut self, work: &Work) {
        self.extranonce2_counter += 1;
        self.extranonce2 = extranonce2_bytes(self.extranonce2_counter, work.extranonce2_size);
        let txid = coinbase_txid(
            &work.job.coinb1,
            &work.extranonce1,
            &self.extranonce2,
            &work.job.coinb2,
        );
        self.merkle_root = merkle_root(txid, &work.job.merkle_branch);
        // Start at combination 1 so rolled bits show from the first share.
        self.roll = u64::from(self.rolls > 1);
        self.start_unit(work);
    }

    fn start_unit(&mut self, work: &Work) {
        let rolled = u32::try_from(self.roll).unwrap_or(u32::MAX);
        self.version =
            (work.job.version & !work.version_mask) | spread_bits(rolled, work.version_mask);
        self.header = build_header(
            &work.job,
            &self.merkle_root,
            self.version,
            work.job.ntime,
            0,
        );
        self.midstate = midstate(&self.header);
        self.next_nonce = 0;
        self.low = None;
        self.bad = None;
    }

    /// The nonce range of this unit is used up: next version combination, or next extranonce2.
    fn next_unit(&mut self, work: &Work) {
        if self.roll + 1 < self.rolls {
            self.roll += 1;
            self.start_unit(work);
        } else {
            self.new_extranonce2(work);
        }
    }

    /// Hashes up to `count` nonces; returns how many it hashed.
    fn grind(&mut self, count: u64, slot: &Slot) -> u64 {
        let Some(work) = self.work.clone() else {
            return 0;
        };
        let mut tail = [0u8; 16];
        tail.copy_from_slice(&self.header[64..80]);
        let mut done = 0;
        while done < count {
            if self.next_nonce > u64::from(u32::MAX) {
                self.next_unit(&work);
                tail.copy_from_slice(&self.header[64..80]);
            }
            // In range: checked just above.
            let nonce = self.next_nonce as u32;
            self.next_nonce += 1;
            done += 1;
            if let Some((bad_version, bad_midstate)) = &self.bad {
                let hash = hash_nonce(bad_midstate, &mut tail, nonce);
                if meets(&hash, &work.share_target) {
                    let version = *bad_version;
                    self.bad = None;
                    slot.emit(self.found(&work, ShareKind::BadVersion, version, nonce, hash));
                    if slot.is_full() {
                        break;
                    }
                }
                continue;
            }
            let hash = hash_nonce(&self.midstate, &mut tail, nonce);
            if meets(&hash, &work.share_target) {
                slot.emit(self.found(&work, ShareKind::Valid, self.version, nonce, hash));
                if work.faults.low_difficulty {
                    if let Some((low_nonce, low_hash)) = self.low.take() {
                        slot.emit(self.found(
                            &work,
                            ShareKind::LowDifficulty,
                            self.version,
                            low_nonce,
                            low_hash,
                        ));
                    }
                }
                if work.faults.bad_version {
                    let outside = outside_bit(work.version_mask, self.version);
                    if outside != 0 {
                        let mut header = self.header;
                        header[0..4].copy_from_slice(&(self.version | outside).to_le_bytes());
                        self.bad = Some((self.version | outside, midstate(&header)));
                    }
                }
                if slot.is_full() {
                    break;
                }
            } else if work.faults.low_difficulty
                && self.low.is_none()
                && !meets(&hash, &work.network_target)
            {
                self.low = Some((nonce, hash));
            }
        }
        done
    }

    fn found(
        &self,
        work: &Arc<Work>,
        kind: ShareKind,
        version: u32,
        nonce: u32,
        hash: [u8; 32],
    ) -> Found {
        Found {
            work: Arc::clone(work),
            kind,
            extranonce2: self.extranonce2.clone(),
            ntime: work.job.ntime,
            nonce,
            version,
            hash,
        }
    }
}

/// The lowest version bit that is neither rollable nor set: flipping it breaks the mask rule.
/// 0 when there is none.
pub(crate) fn outside_bit(mask: u32, version: u32) -> u32 {
    let free = !(mask | version);
    free & free.wrapping_neg()
}

/// The extranonce2 for counter value `counter`: big-endian, `size` bytes (high bytes dropped or
/// zero-padded).
pub(crate) fn extranonce2_bytes(counter: u64, size: usize) -> Vec<u8> {
    let be = counter.to_be_bytes();
    if size >= be.len() {
        let mut out = vec![0u8; size - be.len()];
        out.extend_from_slice(&be);
        out
    } else {
        be[be.len() - size..].to_vec()
    }
}

fn midstate(header: &[u8; 80]) -> sha256::HashEngine {
    let mut engine = sha256d::Hash::engine();
    engine.input(&header[..64]);
    engine
}

fn hash_nonce(midstate: &sha256::HashEngine, tail: &mut [u8; 16], nonce: u32) -> [u8; 32] {
    tail[12..16].copy_from_slice(&nonce.to_le_bytes());
    let mut engine = midstate.clone();
    engine.input(tail);
    sha256d::Hash::from_engine(engine).to_byte_array()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_miner::work::header_hash;

    #[test]
    fn midstate_hash_equals_full_header_hash() {
        let mut header = [0u8; 80];
        for (i, b) in header.iter_mut().enumerate() {
            *b = (i * 13) as u8;
        }
        let mid = midstate(&header);
        let mut tail = [0u8; 16];
        tail.copy_from_slice(&header[64..80]);
        for nonce in [0u32, 1, 0xffff_ffff, 0x1234_5678] {
            header[76..80].copy_from_slice(&nonce.to_le_bytes());
            assert_eq!(hash_nonce(&mid, &mut tail, nonce), header_hash(&header));
        }
    }

    #[test]
    fn extranonce2_layout_and_outside_bit() {
        assert_eq!(extranonce2_bytes(0x0102, 4), vec![0, 0, 1, 2]);
        assert_eq!(extranonce2_bytes(0x0102, 1), vec![2]);
        assert_eq!(extranonce2_bytes(1, 10), vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(extranonce2_bytes(7, 0).is_empty());
        assert_eq!(outside_bit(0x1fff_e000, 0x2000_0000), 1);
        assert_eq!(outside_bit(0x1fff_e000, 0x2000_0003), 4);
        assert_eq!(outside_bit(0, 0x2000_0000), 1);
        assert_eq!(outside_bit(0xffff_0000, 0x0000_ffff), 0);
    }
}
