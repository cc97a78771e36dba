//! On-file layouts of the two ring kinds: offsets, magic numbers, and the checks that turn an
//! untrusted header into a layout this process may index with.
//!
//! Both headers start with an 8-byte magic and a 4-byte layout version; every other field is
//! validated (ranges, powers of two, the file length it implies) before a single slot is touched.
//! All integers are little-endian (the atomics are native, and the crate only builds for
//! little-endian Linux targets, checked at compile time below).
//!
//! Job ring file (`JOB_*`):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `IPJOBRNG` |
//! | 8 | 4 | layout version |
//! | 12 | 4 | slot count (power of two) |
//! | 16 | 4 | slot payload capacity in bytes |
//! | 20 | 4 | slot stride in bytes |
//! | 24 | 4 | header size in bytes (128) |
//! | 28 | 4 | retired flag (non-zero: replaced by a newer file) |
//! | 32 | 8 | writer epoch (+1 at each writer attach) |
//! | 64 | 8 | head: last published sequence, 0 before the first |
//! | 72 | 4 | futex word, +1 at each publish |
//! | 128 | stride × count | slots: seqlock stamp (8), payload length (8), payload |
//!
//! Share ring file (`SHARE_*`):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `IPSHARES` |
//! | 8 | 4 | layout version |
//! | 12 | 4 | capacity in records (power of two) |
//! | 16 | 4 | record size in bytes (256) |
//! | 20 | 4 | header size in bytes (512) |
//! | 24 | 8 | producer epoch (+1 at each producer attach) |
//! | 32 | 8 | consumer epoch (+1 at each consumer attach) |
//! | 128 | 8 | producer index: records pushed, ever (own cache line) |
//! | 136 | 4 | futex word, +1 when the producer wakes the consumer |
//! | 256 | 8 | consumer index: records committed, ever (own cache line) |
//! | 264 | 4 | consumer-sleeping flag |
//! | 512 | 256 × capacity | records |

#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::atomic::Ordering;

use super::error::RingError;
use super::mapping::{SharedMap, SharedMapMut, MAP_BYTES_MAX};
use super::share_record::RECORD_BYTES;

const _: () = assert!(
    cfg!(target_endian = "little"),
    "ring layouts are little-endian"
);
const _: () = assert!(
    cfg!(target_os = "linux"),
    "rings use Linux futexes and OFD locks"
);

pub(crate) const MAGIC_OFFSET: usize = 0;
pub(crate) const VERSION_OFFSET: usize = 8;

pub(crate) const JOB_MAGIC: u64 = u64::from_le_bytes(*b"IPJOBRNG");
pub(crate) const JOB_LAYOUT_VERSION: u32 = 1;
pub(crate) const JOB_SLOT_COUNT_OFFSET: usize = 12;
pub(crate) const JOB_SLOT_CAPACITY_OFFSET: usize = 16;
pub(crate) const JOB_SLOT_STRIDE_OFFSET: usize = 20;
pub(crate) const JOB_HEADER_SIZE_OFFSET: usize = 24;
pub(crate) const JOB_RETIRED_OFFSET: usize = 28;
pub(crate) const JOB_EPOCH_OFFSET: usize = 32;
pub(crate) const JOB_HEAD_OFFSET: usize = 64;
pub(crate) const JOB_FUTEX_OFFSET: usize = 72;
pub(crate) const JOB_HEADER_BYTES: usize = 128;
/// Within a slot: seqlock stamp, then payload length, then the payload words.
pub(crate) const JOB_SLOT_STAMP: usize = 0;
pub(crate) const JOB_SLOT_LEN: usize = 8;
pub(crate) const JOB_SLOT_PAYLOAD: usize = 16;
pub(crate) const JOB_SLOT_COUNT_MAX: u32 = 1 << 16;
pub(crate) const JOB_SLOT_CAPACITY_MAX: u32 = 4 << 20;

pub(crate) const SHARE_MAGIC: u64 = u64::from_le_bytes(*b"IPSHARES");
pub(crate) const SHARE_LAYOUT_VERSION: u32 = 1;
pub(crate) const SHARE_CAPACITY_OFFSET: usize = 12;
pub(crate) const SHARE_RECORD_SIZE_OFFSET: usize = 16;
pub(crate) const SHARE_HEADER_SIZE_OFFSET: usize = 20;
pub(crate) const SHARE_PRODUCER_EPOCH_OFFSET: usize = 24;
pub(crate) const SHARE_CONSUMER_EPOCH_OFFSET: usize = 32;
/// A random id written when the file is created (0 in files made before it existed): a consumer
/// that remembers ring indexes tells a re-created file (indexes from 0 again) from the old one.
pub(crate) const SHARE_RING_ID_OFFSET: usize = 40;
pub(crate) const SHARE_PRODUCER_INDEX_OFFSET: usize = 128;
pub(crate) const SHARE_WAKE_OFFSET: usize = 136;
pub(crate) const SHARE_CONSUMER_INDEX_OFFSET: usize = 256;
pub(crate) const SHARE_SLEEPING_OFFSET: usize = 264;
pub(crate) const SHARE_HEADER_BYTES: usize = 512;
pub(crate) const SHARE_CAPACITY_MAX: u32 = 1 << 20;

const _: () = assert!(
    SHARE_PRODUCER_INDEX_OFFSET.is_multiple_of(128)
        && SHARE_CONSUMER_INDEX_OFFSET.is_multiple_of(128)
);
const _: () = assert!(SHARE_CONSUMER_INDEX_OFFSET - SHARE_PRODUCER_INDEX_OFFSET >= 128);
const _: () = assert!(SHARE_SLEEPING_OFFSET + 4 <= SHARE_HEADER_BYTES);
const _: () = assert!(JOB_FUTEX_OFFSET + 4 <= JOB_HEADER_BYTES);
const _: () = assert!(RECORD_BYTES.is_multiple_of(8));

/// Rounds `value` up to a multiple of `multiple` (a power of two), `None` on overflow.
fn round_up(value: u64, multiple: u64) -> Option<u64> {
    debug_assert!(multiple.is_power_of_two());
    Some(value.checked_add(multiple - 1)? & !(multiple - 1))
}

fn check_magic(map: &SharedMap, ring: &'static str, expected: u64) -> Result<(), RingError> {
    let found = map.load_u64(MAGIC_OFFSET, Ordering::Acquire);
    if found != expected {
        return Err(RingError::Magic {
            path: map.path().to_path_buf(),
            ring,
            expected,
            found,
        });
    }
    Ok(())
}

fn check_version(map: &SharedMap, expected: u32) -> Result<(), RingError> {
    let found = map.load_u32(VERSION_OFFSET, Ordering::Acquire);
    if found != expected {
        return Err(RingError::LayoutVersion {
            path: map.path().to_path_buf(),
            expected,
            found,
        });
    }
    Ok(())
}

/// Checks that `value` is a power of two in `[min, max]`; `path` is `None` for a config value.
fn check_power_of_two(
    path: Option<&Path>,
    field: &'static str,
    value: u32,
    min: u32,
    max: u32,
) -> Result<(), RingError> {
    let reason = if !value.is_power_of_two() {
        "must be a power of two"
    } else if value < min {
        "is below the minimum"
    } else if value > max {
        "is above the maximum"
    } else {
        return Ok(());
    };
    Err(match path {
        Some(path) => RingError::Field {
            path: path.to_path_buf(),
            field,
            found: u64::from(value),
            reason,
        },
        None => RingError::Config {
            field,
            value: u64::from(value),
            reason,
        },
    })
}

fn check_file_len(map: &SharedMap, needed: u64) -> Result<(), RingError> {
    if needed > MAP_BYTES_MAX {
        return Err(RingError::TooLarge {
            path: map.path().to_path_buf(),
            what: "declared layout",
            limit: MAP_BYTES_MAX,
            found: needed,
        });
    }
    let found = map.len() as u64;
    if found < needed {
        return Err(RingError::TooSmall {
            path: map.path().to_path_buf(),
            expected: needed,
            found,
        });
    }
    Ok(())
}

/// The validated geometry of a job ring file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobLayout {
    pub(crate) slot_count: u32,
    pub(crate) slot_capacity: u32,
    pub(crate) slot_stride: u32,
}

impl JobLayout {
    /// The layout for a configuration, or why the configuration is unusable.
    pub(crate) fn for_config(slot_count: u32, slot_capacity: u32) -> Result<Self, RingError> {
        check_power_of_two(None, "slot_count", slot_count, 2, JOB_SLOT_COUNT_MAX)?;
        if slot_capacity == 0 || slot_capacity > JOB_SLOT_CAPACITY_MAX {
            return Err(RingError::Config {
                field: "slot_capacity",
                value: u64::from(slot_capacity),
                reason: "must be between 1 and 4 MiB",
            });
        }
        let layout = JobLayout {
            slot_count,
            slot_capacity,
            slot_stride: Self::stride(slot_capacity),
        };
        let file_len = layout.file_len();
        if file_len > MAP_BYTES_MAX {
            return Err(RingError::Config {
                field: "slot_count × slot_capacity",
                value: file_len,
                reason: "the ring file would exceed 1 GiB",
            });
        }
        Ok(layout)
    }

    /// Slot stride: stamp and length words, the payload rounded to 8 bytes, all rounded to a
    /// 64-byte cache line so two slots never share a line.
    fn stride(slot_capacity: u32) -> u32 {
        let payload = u64::from(slot_capacity).div_ceil(8) * 8;
        let stride = round_up(JOB_SLOT_PAYLOAD as u64 + payload, 64).unwrap_or(u64::MAX);
        // slot_capacity ≤ 4 MiB, so the stride fits comfortably.
        u32::try_from(stride).unwrap_or(u32::MAX)
    }

    pub(crate) fn file_len(&self) -> u64 {
        JOB_HEADER_BYTES as u64 + u64::from(self.slot_count) * u64::from(self.slot_stride)
    }

    /// Offset of the slot that holds `sequence`.
    pub(crate) fn slot_offset(&self, sequence: u64) -> usize {
        let index = sequence & u64::from(self.slot_count - 1);
        // Cast: index < slot_count ≤ 2^16 and stride ≤ 4 MiB + 64, so the product fits in usize
        // (and in the mapping, checked at attach).
        JOB_HEADER_BYTES + (index as usize) * (self.slot_stride as usize)
    }

    /// Reads and validates the header of a mapped job ring file. Does not look at the retired flag.
    pub(crate) fn read(map: &SharedMap) -> Result<Self, RingError> {
        check_magic(map, "job ring", JOB_MAGIC)?;
        check_version(map, JOB_LAYOUT_VERSION)?;
        let path = map.path();
        let header_size = map.load_u32(JOB_HEADER_SIZE_OFFSET, Ordering::Acquire);
        if header_size as usize != JOB_HEADER_BYTES {
            return Err(RingError::Field {
                path: path.to_path_buf(),
                field: "header_size",
                found: u64::from(header_size),
                reason: "must be 128 in layout version 1",
            });
        }
        let slot_count = map.load_u32(JOB_SLOT_COUNT_OFFSET, Ordering::Acquire);
        check_power_of_two(Some(path), "slot_count", slot_count, 2, JOB_SLOT_COUNT_MAX)?;
        let slot_capacity = map.load_u32(JOB_SLOT_CAPACITY_OFFSET, Ordering::Acquire);
        if slot_capacity == 0 || slot_capacity > JOB_SLOT_CAPACITY_MAX {
            return Err(RingError::Field {
                path: path.to_path_buf(),
                field: "slot_capacity",
                found: u64::from(slot_capacity),
                reason: "must be between 1 and 4 MiB",
            });
        }
        let slot_stride = map.load_u32(JOB_SLOT_STRIDE_OFFSET, Ordering::Acquire);
        if slot_stride != Self::stride(slot_capacity) {
            return Err(RingError::Field {
                path: path.to_path_buf(),
                field: "slot_stride",
                found: u64::from(slot_stride),
                reason: "does not match the slot capacity",
            });
        }
        let layout = JobLayout {
            slot_count,
            slot_capacity,
            slot_stride,
        };
        check_file_len(map, layout.file_len())?;
        Ok(layout)
    }

    /// Writes the static header fields of a fresh (zero-filled, not yet visible) file.
    pub(crate) fn write_header(&self, map: &SharedMapMut) {
        map.store_u32(VERSION_OFFSET, JOB_LAYOUT_VERSION, Ordering::Relaxed);
        map.store_u32(JOB_SLOT_COUNT_OFFSET, self.slot_count, Ordering::Relaxed);
        map.store_u32(
            JOB_SLOT_CAPACITY_OFFSET,
            self.slot_capacity,
            Ordering::Relaxed,
        );
        map.store_u32(JOB_SLOT_STRIDE_OFFSET, self.slot_stride, Ordering::Relaxed);
        map.store_u32(
            JOB_HEADER_SIZE_OFFSET,
            JOB_HEADER_BYTES as u32,
            Ordering::Relaxed,
        );
        // The magic goes last, with Release: a header with the magic is a complete header.
        map.store_u64(MAGIC_OFFSET, JOB_MAGIC, Ordering::Release);
    }
}

/// The validated geometry of a share ring file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShareLayout {
    pub(crate) capacity: u32,
}

impl ShareLayout {
    pub(crate) fn for_config(capacity: u32) -> Result<Self, RingError> {
        check_power_of_two(None, "capacity", capacity, 2, SHARE_CAPACITY_MAX)?;
        Ok(ShareLayout { capacity })
    }

    pub(crate) fn file_len(&self) -> u64 {
        SHARE_HEADER_BYTES as u64 + u64::from(self.capacity) * RECORD_BYTES as u64
    }

    /// Offset of the record with ring index `index`.
    pub(crate) fn record_offset(&self, index: u64) -> usize {
        let slot = index & u64::from(self.capacity - 1);
        // Cast: slot < capacity ≤ 2^20, so slot × 256 fits in usize (and in the mapping).
        SHARE_HEADER_BYTES + (slot as usize) * RECORD_BYTES
    }

    /// Reads and validates the header of a mapped share ring file.
    pub(crate) fn read(map: &SharedMap) -> Result<Self, RingError> {
        check_magic(map, "share ring", SHARE_MAGIC)?;
        check_version(map, SHARE_LAYOUT_VERSION)?;
        let path = map.path();
        let record_size = map.load_u32(SHARE_RECORD_SIZE_OFFSET, Ordering::Acquire);
        if record_size as usize != RECORD_BYTES {
            return Err(RingError::Field {
                path: path.to_path_buf(),
                field: "record_size",
                found: u64::from(record_size),
                reason: "must be 256 in layout version 1",
            });
        }
        let header_size = map.load_u32(SHARE_HEADER_SIZE_OFFSET, Ordering::Acquire);
        if header_size as usize != SHARE_HEADER_BYTES {
            return Err(RingError::Field {
                path: path.to_path_buf(),
                field: "header_size",
                found: u64::from(header_size),
                reason: "must be 512 in layout version 1",
            });
        }
        let capacity = map.load_u32(SHARE_CAPACITY_OFFSET, Ordering::Acquire);
        check_power_of_two(Some(path), "capacity", capacity, 2, SHARE_CAPACITY_MAX)?;
        let layout = ShareLayout { capacity };
        check_file_len(map, layout.file_len())?;
        Ok(layout)
    }

    pub(crate) fn write_header(&self, map: &SharedMapMut) {
        map.store_u32(VERSION_OFFSET, SHARE_LAYOUT_VERSION, Ordering::Relaxed);
        map.store_u32(SHARE_CAPACITY_OFFSET, self.capacity, Ordering::Relaxed);
        map.store_u32(
            SHARE_RECORD_SIZE_OFFSET,
            RECORD_BYTES as u32,
            Ordering::Relaxed,
        );
        map.store_u32(
            SHARE_HEADER_SIZE_OFFSET,
            SHARE_HEADER_BYTES as u32,
            Ordering::Relaxed,
        );
        map.store_u64(SHARE_RING_ID_OFFSET, new_ring_id(), Ordering::Relaxed);
        map.store_u64(MAGIC_OFFSET, SHARE_MAGIC, Ordering::Release);
    }
}

/// A ring id that differs between files; never 0, which marks files made before ring ids
/// existed.
fn new_ring_id() -> u64 {
    crate::random::unique_u64()
}
