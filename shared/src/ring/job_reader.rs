//! `JobRingReader`: one reader of the job ring, in any process (a gateway shard).
//!
//! Semantics:
//! - records come in sequence order;
//! - a reader that attaches to a ring that already has records gets only the newest one, with
//!   `resync = true`; attached to an empty ring it gets every record from sequence 1;
//! - a reader whose next record was overwritten (it fell a whole ring behind, or the writer lapped
//!   it during the copy) skips to the newest record, with `resync = true`;
//! - a torn read (the seqlock stamp changed during the copy) is never returned: the reader retries;
//! - when the writer retires the file (replaced by another layout), or the path stops naming the
//!   mapped file (checked at most every [`IDENTITY_CHECK_INTERVAL`]), the reader re-attaches by
//!   itself and its next record has `resync = true`.
//!
//! Nothing in the mapping is trusted: lengths are bounded by the slot capacity and impossible
//! states give a [`RingError`], never a panic.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use super::error::RingError;
use super::futex::{deadline_after, WaitOutcome};
use super::header::{
    JobLayout, JOB_EPOCH_OFFSET, JOB_FUTEX_OFFSET, JOB_HEADER_BYTES, JOB_HEAD_OFFSET,
    JOB_RETIRED_OFFSET, JOB_SLOT_LEN, JOB_SLOT_PAYLOAD, JOB_SLOT_STAMP,
};
use super::job_ring::stable_stamp;
use super::mapping::SharedMap;

/// How often (at most) `try_read` checks that the path still names the mapped file.
pub const IDENTITY_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// How long `wait` sleeps between re-attach attempts while the path is being replaced.
const REATTACH_POLL: Duration = Duration::from_millis(5);

/// How many times one `try_read` retries a slot the writer keeps rewriting before giving up.
const READ_ATTEMPTS: u32 = 1000;

/// One record read from the job ring. The payload borrows the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobRead<'a> {
    /// Sequence number of the record (1 for the first record of a file).
    pub sequence: u64,
    /// The writer epoch at the time of the read.
    pub writer_epoch: u64,
    /// Records were skipped before this one (late attach, lagging, or a re-attach to a new
    /// file): treat the job as `clean_jobs`.
    pub resync: bool,
    pub payload: &'a [u8],
}

/// A reader of the job ring.
#[derive(Debug)]
pub struct JobRingReader {
    path: PathBuf,
    map: SharedMap,
    layout: JobLayout,
    /// Next sequence to read; `None`: take the newest record, with `resync`.
    next: Option<u64>,
    /// The next record returned carries `resync` (set after a re-attach).
    force_resync: bool,
    /// Futex word value seen before the last look at the head (see `wait`).
    seen_futex: u32,
    buffer: Vec<u8>,
    identity_checked_at: Instant,
    /// The mapped file is retired or gone and re-attaching has not succeeded yet.
    reattach_pending: bool,
    reattaches: u64,
}

enum Slot {
    /// A stable copy of `len` bytes is in the buffer.
    Read(usize),
    /// The slot holds a newer sequence, or changed during the copy: this reader was lapped.
    Overwritten,
    /// The writer is mid-write on this very sequence.
    Busy,
}

impl JobRingReader {
    /// Attaches to the job ring file at `path`.
    ///
    /// # Errors
    ///
    /// [`RingError::Io`] when the file cannot be opened or mapped (`NotFound` when there is no
    /// writer yet), a header error ([`RingError::Magic`], [`RingError::LayoutVersion`],
    /// [`RingError::Field`], [`RingError::TooSmall`], ...) when it is not a valid job ring, and
    /// [`RingError::Retired`] when it was replaced.
    pub fn attach(path: impl AsRef<Path>) -> Result<Self, RingError> {
        let path = path.as_ref();
        let map = SharedMap::open_read_only(path, JOB_HEADER_BYTES as u64)?;
        let layout = JobLayout::read(&map)?;
        if map.load_u32(JOB_RETIRED_OFFSET, Ordering::Acquire) != 0 {
            return Err(RingError::Retired {
                path: path.to_path_buf(),
            });
        }
        let seen_futex = map.load_u32(JOB_FUTEX_OFFSET, Ordering::Acquire);
        let head = map.load_u64(JOB_HEAD_OFFSET, Ordering::Acquire);
        let buffer_len = (layout.slot_capacity as usize).div_ceil(8) * 8;
        Ok(JobRingReader {
            path: path.to_path_buf(),
            map,
            layout,
            next: if head == 0 { Some(1) } else { None },
            force_resync: false,
            seen_futex,
            buffer: vec![0; buffer_len],
            identity_checked_at: Instant::now(),
            reattach_pending: false,
            reattaches: 0,
        })
    }

    /// Reads the next record, if there is one; never blocks (beyond bounded retries while the
    /// writer rewrites the slot being read).
    ///
    /// # Errors
    ///
    /// A header or slot that no correct writer produces ([`RingError::SlotLength`],
    /// [`RingError::SlotBehindHead`], [`RingError::SlotBusy`]), or a re-attach that failed for
    /// another reason than the replacement being in progress.
    pub fn try_read(&mut self) -> Result<Option<JobRead<'_>>, RingError> {
        if self.needs_reattach()? && !self.reattach()? {
            return Ok(None);
        }
        // Load the futex word before the head: a publish after this point changes the word, so a
        // `wait` with this value cannot sleep through it.
        self.seen_futex = self.map.load_u32(JOB_FUTEX_OFFSET, Ordering::Acquire);
        let mut lapped = false;
        let mut target = 0;
        for attempt in 0..READ_ATTEMPTS {
            let head = self.map.load_u64(JOB_HEAD_OFFSET, Ordering::Acquire);
            if head == 0 {
                return Ok(None);
            }
            target = match self.next {
                None => head,
                Some(next) if next == head.wrapping_add(1) => return Ok(None),
                // The head moved backwards (the file was reset under us) or the reader is a whole
                // ring behind: take the newest record.
                Some(next) if next > head || head - next >= u64::from(self.layout.slot_count) => {
                    lapped = true;
                    head
                }
                Some(next) => next,
            };
            lapped |= self.next.is_none();
            match self.read_slot(target, head)? {
                Slot::Read(len) => {
                    self.next = Some(target + 1);
                    let resync = lapped || self.force_resync;
                    self.force_resync = false;
                    return Ok(Some(JobRead {
                        sequence: target,
                        writer_epoch: self.map.load_u64(JOB_EPOCH_OFFSET, Ordering::Acquire),
                        resync,
                        payload: &self.buffer[..len],
                    }));
                }
                Slot::Overwritten => {
                    lapped = true;
                    self.next = None;
                }
                Slot::Busy => {
                    if attempt % 64 == 63 {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
            }
        }
        Err(RingError::SlotBusy {
            path: self.path.clone(),
            sequence: target,
            attempts: READ_ATTEMPTS,
        })
    }

    /// One seqlock read of the slot of `sequence` into the buffer.
    fn read_slot(&mut self, sequence: u64, head: u64) -> Result<Slot, RingError> {
        let Some(expected) = stable_stamp(sequence) else {
            return Err(RingError::SequenceExhausted {
                path: self.path.clone(),
                head,
            });
        };
        let slot = self.layout.slot_offset(sequence);
        let stamp = self.map.load_u64(slot + JOB_SLOT_STAMP, Ordering::Acquire);
        if stamp != expected {
            let found = stamp >> 1;
            return match found.cmp(&sequence) {
                std::cmp::Ordering::Greater => Ok(Slot::Overwritten),
                std::cmp::Ordering::Equal => Ok(Slot::Busy),
                std::cmp::Ordering::Less => Err(RingError::SlotBehindHead {
                    path: self.path.clone(),
                    head,
                    sequence,
                    found,
                }),
            };
        }
        let len = self.map.load_u64(slot + JOB_SLOT_LEN, Ordering::Relaxed);
        let capacity = u64::from(self.layout.slot_capacity);
        // Cast: len ≤ capacity ≤ 4 MiB when used.
        let copy_len = len.min(capacity) as usize;
        self.map
            .load_words(slot + JOB_SLOT_PAYLOAD, &mut self.buffer[..copy_len]);
        // Seqlock read: the fence keeps the payload loads before the second stamp load.
        fence(Ordering::Acquire);
        if self.map.load_u64(slot + JOB_SLOT_STAMP, Ordering::Relaxed) != stamp {
            return Ok(Slot::Overwritten);
        }
        if len > capacity {
            // A stable slot with an impossible length: not a race, a corrupt file.
            return Err(RingError::SlotLength {
                path: self.path.clone(),
                sequence,
                capacity,
                found: len,
            });
        }
        Ok(Slot::Read(copy_len))
    }

    fn needs_reattach(&mut self) -> Result<bool, RingError> {
        if self.reattach_pending || self.map.load_u32(JOB_RETIRED_OFFSET, Ordering::Acquire) != 0 {
            return Ok(true);
        }
        if self.identity_checked_at.elapsed() < IDENTITY_CHECK_INTERVAL {
            return Ok(false);
        }
        self.identity_checked_at = Instant::now();
        Ok(!self.map.path_names_this_file()?)
    }

    /// Attaches to whatever the path names now. `Ok(false)`: not possible yet (the writer is
    /// mid-replacement), try again later.
    fn reattach(&mut self) -> Result<bool, RingError> {
        match JobRingReader::attach(&self.path) {
            Ok(fresh) => {
                let reattaches = self.reattaches + 1;
                *self = fresh;
                self.reattaches = reattaches;
                self.force_resync = true;
                Ok(true)
            }
            Err(error) if error.is_transient() => {
                self.reattach_pending = true;
                Ok(false)
            }
            Err(error) => {
                self.reattach_pending = true;
                Err(error)
            }
        }
    }

    /// Blocks until the writer publishes (or retires the file) or `timeout` passes. Sleeps in
    /// the kernel (shared futex), no spinning. Call `try_read` until it returns `None` before
    /// waiting: `wait` returns at once when a publish happened since that call.
    ///
    /// # Errors
    ///
    /// [`RingError::Io`] when the futex system call fails (not expected on Linux).
    pub fn wait(&self, timeout: Duration) -> Result<WaitOutcome, RingError> {
        let deadline = deadline_after(timeout);
        loop {
            if self.map.load_u32(JOB_FUTEX_OFFSET, Ordering::Acquire) != self.seen_futex {
                return Ok(WaitOutcome::Ready);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(WaitOutcome::TimedOut);
            }
            if self.reattach_pending
                || self.map.load_u32(JOB_RETIRED_OFFSET, Ordering::Acquire) != 0
            {
                // Nobody will publish on this file again: poll the path for its replacement.
                std::thread::sleep(REATTACH_POLL.min(deadline - now));
                return Ok(WaitOutcome::Ready);
            }
            self.map
                .futex_wait(JOB_FUTEX_OFFSET, self.seen_futex, deadline - now)?;
        }
    }

    /// Sequence of the newest published record (0 before the first), as the mapping says now.
    pub fn head(&self) -> u64 {
        self.map.load_u64(JOB_HEAD_OFFSET, Ordering::Acquire)
    }

    /// The writer epoch, as the mapping says now.
    pub fn writer_epoch(&self) -> u64 {
        self.map.load_u64(JOB_EPOCH_OFFSET, Ordering::Acquire)
    }

    /// Largest payload in bytes, for the file currently attached.
    pub fn slot_capacity(&self) -> usize {
        self.layout.slot_capacity as usize
    }

    pub fn slot_count(&self) -> u32 {
        self.layout.slot_count
    }

    /// How many times this reader re-attached to a new file.
    pub fn reattach_count(&self) -> u64 {
        self.reattaches
    }

    /// Inode of the file currently attached.
    pub fn inode(&self) -> u64 {
        self.map.identity().inode()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
