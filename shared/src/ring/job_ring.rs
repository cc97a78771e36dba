//! `JobRing`: the writer side of the job broadcast ring (one writer, the jobmaster; any number of
//! readers in other processes, see [`JobRingReader`](super::JobRingReader)).
//!
//! The ring holds the last `slot_count` published payloads (opaque bytes, at most `slot_capacity`
//! each) in seqlock slots. Publishing never waits for readers: a reader that falls behind by a
//! whole ring skips to the newest record and is told so (`resync`). Each publish bumps a futex word
//! and wakes every waiting reader.
//!
//! Restart rules:
//! - a writer that opens a compatible file (same layout and parameters, not retired) re-attaches:
//!   it keeps the head sequence, bumps the writer epoch, and its first record is the next sequence;
//! - a file of another layout or other parameters is replaced: a new file is written under a
//!   temporary name, the old header is marked retired, the new file is renamed over the path and
//!   the old file's waiters are woken, so readers re-attach by themselves;
//! - a second live writer is refused ([`RingError::Busy`]): the writer holds a lock on byte 0 of
//!   the file, which the kernel releases when the process dies.

#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::atomic::{fence, Ordering};

use super::error::RingError;
use super::header::{
    JobLayout, JOB_EPOCH_OFFSET, JOB_FUTEX_OFFSET, JOB_HEADER_BYTES, JOB_HEAD_OFFSET,
    JOB_LAYOUT_VERSION, JOB_MAGIC, JOB_RETIRED_OFFSET, JOB_SLOT_LEN, JOB_SLOT_PAYLOAD,
    JOB_SLOT_STAMP, MAGIC_OFFSET, VERSION_OFFSET,
};
use super::mapping::SharedMapMut;

/// Lock byte and role name of the job ring writer.
const WRITER_LOCK_BYTE: u8 = 0;
const WRITER_ROLE: &str = "job ring writer";

/// Parameters of a job ring file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobRingConfig {
    /// Number of slots, a power of two in `2..=65536`. Default 64.
    pub slot_count: u32,
    /// Largest payload in bytes, `1..=4 MiB`. Default 16 KiB.
    pub slot_capacity: u32,
}

impl Default for JobRingConfig {
    fn default() -> Self {
        JobRingConfig {
            slot_count: 64,
            slot_capacity: 16 * 1024,
        }
    }
}

/// How [`JobRing::open`] found the file.
#[derive(Debug)]
pub enum JobRingOpened {
    /// There was no file: a new one was created.
    Created,
    /// A compatible file was there: the writer re-attached and kept its head sequence.
    Attached,
    /// An incompatible file was there and was replaced; `reason` says why it was incompatible.
    Replaced { reason: RingError },
}

/// The writer of a job ring.
#[derive(Debug)]
pub struct JobRing {
    map: SharedMapMut,
    layout: JobLayout,
    /// Last published sequence (0: none). Only this process writes the head, so the local copy is
    /// the truth.
    head: u64,
    writer_epoch: u64,
    opened: JobRingOpened,
}

/// The seqlock stamp of a slot holding `sequence`: even when stable, odd while being written.
pub(crate) fn stable_stamp(sequence: u64) -> Option<u64> {
    sequence.checked_mul(2)
}

impl JobRing {
    /// Opens the ring at `path` as its writer: creates it, re-attaches to a compatible file, or
    /// replaces an incompatible one (see the module documentation).
    ///
    /// # Errors
    ///
    /// [`RingError::Config`] for bad parameters, [`RingError::Busy`] when another writer is alive,
    /// [`RingError::Io`] when the directory or file cannot be created, mapped or renamed.
    pub fn open(path: impl AsRef<Path>, config: &JobRingConfig) -> Result<Self, RingError> {
        let path = path.as_ref();
        let layout = JobLayout::for_config(config.slot_count, config.slot_capacity)?;
        let old = match SharedMapMut::open(path, JOB_HEADER_BYTES as u64) {
            Ok(map) => map,
            Err(RingError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Self::create(path, layout, 1, None);
            }
            Err(reason @ RingError::TooSmall { .. }) => {
                // Too short to hold a header: nothing to retire, nobody can be attached.
                return Self::create(path, layout, 1, Some(reason));
            }
            Err(error) => return Err(error),
        };
        old.lock_role(WRITER_LOCK_BYTE, WRITER_ROLE)?;
        let reason = match JobLayout::read(&old) {
            Ok(found) if found == layout => {
                if old.load_u32(JOB_RETIRED_OFFSET, Ordering::Acquire) == 0 {
                    return Ok(Self::attach(old, layout));
                }
                RingError::Retired {
                    path: path.to_path_buf(),
                }
            }
            Ok(found) => Self::mismatch(path, layout, found),
            Err(reason) => reason,
        };
        // Only a header of our own magic and version has a retired flag and an epoch we know.
        let ours = old.load_u64(MAGIC_OFFSET, Ordering::Acquire) == JOB_MAGIC
            && old.load_u32(VERSION_OFFSET, Ordering::Acquire) == JOB_LAYOUT_VERSION;
        let epoch = if ours {
            old.load_u64(JOB_EPOCH_OFFSET, Ordering::Acquire)
                .saturating_add(1)
        } else {
            1
        };
        let retire = ours.then_some(&old);
        Self::replace(path, layout, epoch, retire, reason)
    }

    fn mismatch(path: &Path, expected: JobLayout, found: JobLayout) -> RingError {
        let (field, expected, found) = if expected.slot_count == found.slot_count {
            ("slot_capacity", expected.slot_capacity, found.slot_capacity)
        } else {
            ("slot_count", expected.slot_count, found.slot_count)
        };
        RingError::Mismatch {
            path: path.to_path_buf(),
            field,
            expected: u64::from(expected),
            found: u64::from(found),
        }
    }

    fn attach(map: SharedMapMut, layout: JobLayout) -> Self {
        let writer_epoch = map
            .fetch_add_u64(JOB_EPOCH_OFFSET, 1, Ordering::AcqRel)
            .wrapping_add(1);
        let head = map.load_u64(JOB_HEAD_OFFSET, Ordering::Acquire);
        JobRing {
            map,
            layout,
            head,
            writer_epoch,
            opened: JobRingOpened::Attached,
        }
    }

    /// Writes a fresh file under a temporary name, ready to be put in place.
    fn prepare(path: &Path, layout: JobLayout, epoch: u64) -> Result<SharedMapMut, RingError> {
        let map = SharedMapMut::create_temp(path, layout.file_len())?;
        if let Err(error) = map.lock_role(WRITER_LOCK_BYTE, WRITER_ROLE) {
            map.remove();
            return Err(error);
        }
        map.store_u64(JOB_EPOCH_OFFSET, epoch, Ordering::Relaxed);
        layout.write_header(&map);
        Ok(map)
    }

    fn create(
        path: &Path,
        layout: JobLayout,
        epoch: u64,
        reason: Option<RingError>,
    ) -> Result<Self, RingError> {
        let mut map = Self::prepare(path, layout, epoch)?;
        let opened = match reason {
            // A file that was too small: replace it.
            Some(reason) => {
                map.rename_to(path)?;
                JobRingOpened::Replaced { reason }
            }
            None => {
                if !map.link_to(path)? {
                    // Another process created the file between our open and our link: only
                    // writers create job rings, so another writer is starting.
                    return Err(RingError::Busy {
                        path: path.to_path_buf(),
                        role: WRITER_ROLE,
                        byte: WRITER_LOCK_BYTE,
                    });
                }
                JobRingOpened::Created
            }
        };
        Ok(JobRing {
            map,
            layout,
            head: 0,
            writer_epoch: epoch,
            opened,
        })
    }

    fn replace(
        path: &Path,
        layout: JobLayout,
        epoch: u64,
        retire: Option<&SharedMapMut>,
        reason: RingError,
    ) -> Result<Self, RingError> {
        let mut map = Self::prepare(path, layout, epoch)?;
        if let Some(old) = retire {
            old.store_u32(JOB_RETIRED_OFFSET, 1, Ordering::Release);
        }
        if let Err(error) = map.rename_to(path) {
            if let Some(old) = retire {
                // The old file stays in place: take the retirement back so its readers carry on.
                old.store_u32(JOB_RETIRED_OFFSET, 0, Ordering::Release);
            }
            return Err(error);
        }
        if let Some(old) = retire {
            // Wake readers parked on the old file so they notice the retirement at once.
            old.fetch_add_u32(JOB_FUTEX_OFFSET, 1, Ordering::Release);
            old.futex_wake_all(JOB_FUTEX_OFFSET);
        }
        Ok(JobRing {
            map,
            layout,
            head: 0,
            writer_epoch: epoch,
            opened: JobRingOpened::Replaced { reason },
        })
    }

    /// Publishes `payload` as the next record and wakes every waiting reader; returns its sequence
    /// (1 for the first record of a file).
    ///
    /// # Errors
    ///
    /// [`RingError::PayloadTooLarge`] when `payload` exceeds the slot capacity (nothing is
    /// written), [`RingError::SequenceExhausted`] after 2^62 records.
    pub fn publish(&mut self, payload: &[u8]) -> Result<u64, RingError> {
        let capacity = self.slot_capacity();
        if payload.len() > capacity {
            return Err(RingError::PayloadTooLarge {
                len: payload.len(),
                capacity,
            });
        }
        let exhausted = || RingError::SequenceExhausted {
            path: self.map.path().to_path_buf(),
            head: self.head,
        };
        let sequence = self.head.checked_add(1).ok_or_else(exhausted)?;
        let stable = stable_stamp(sequence).ok_or_else(exhausted)?;
        let slot = self.layout.slot_offset(sequence);

        // Seqlock write: mark the slot odd (being written), fence so that no payload store can be
        // seen before the odd stamp, write, then publish the even stamp with Release.
        self.map
            .store_u64(slot + JOB_SLOT_STAMP, stable | 1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.map
            .store_u64(slot + JOB_SLOT_LEN, payload.len() as u64, Ordering::Relaxed);
        self.map.store_words(slot + JOB_SLOT_PAYLOAD, payload);
        self.map
            .store_u64(slot + JOB_SLOT_STAMP, stable, Ordering::Release);

        self.map
            .store_u64(JOB_HEAD_OFFSET, sequence, Ordering::Release);
        self.head = sequence;
        self.map
            .fetch_add_u32(JOB_FUTEX_OFFSET, 1, Ordering::AcqRel);
        self.map.futex_wake_all(JOB_FUTEX_OFFSET);
        Ok(sequence)
    }

    /// Sequence of the last published record (0 before the first).
    pub fn head(&self) -> u64 {
        self.head
    }

    /// This writer's epoch: 1 for the writer that created the file, +1 at each re-attach.
    pub fn writer_epoch(&self) -> u64 {
        self.writer_epoch
    }

    /// Largest payload in bytes.
    pub fn slot_capacity(&self) -> usize {
        self.layout.slot_capacity as usize
    }

    pub fn slot_count(&self) -> u32 {
        self.layout.slot_count
    }

    pub fn path(&self) -> &Path {
        self.map.path()
    }

    /// How the file was found when this writer opened it.
    pub fn opened(&self) -> &JobRingOpened {
        &self.opened
    }
}
