//! Errors of the ring files, the share ring and the share spool.
//!
//! One enum per consequence: [`RingError`] (a ring file cannot be used as it is: fix the file or the
//! config), [`PushError`] (this record did not enter the share ring: keep it), [`PopError`] (one
//! record could not be read: count it, keep going), [`SpoolError`] (the spool file is unusable or
//! unwritable) and [`SendError`] (what [`ShareSender`](super::ShareSender) could not do). Messages are
//! lower-case, name the file, and say what was expected and what was found. Display does not repeat
//! the `source`.

use std::io;
use std::path::PathBuf;

use super::share_record::{DecodeError, EncodeError, ShareKind};

/// A ring file that cannot be opened, mapped or trusted, or a request the ring cannot hold.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// A system call on the ring file or its directory failed.
    #[error("{}: {op} failed", .path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// The file is shorter than its header or its declared layout.
    #[error("{}: file is {found} bytes, the layout needs at least {expected}", .path.display())]
    TooSmall {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    /// The file (or the layout it declares) is larger than any ring this crate maps.
    #[error("{}: {what} is {found} bytes, the limit is {limit}", .path.display())]
    TooLarge {
        path: PathBuf,
        what: &'static str,
        limit: u64,
        found: u64,
    },
    /// The file does not start with the magic number of this kind of ring.
    #[error("{}: magic is {found:#018x}, expected {expected:#018x} ({ring})", .path.display())]
    Magic {
        path: PathBuf,
        ring: &'static str,
        expected: u64,
        found: u64,
    },
    /// The file was written with another layout version.
    #[error("{}: layout version is {found}, expected {expected}", .path.display())]
    LayoutVersion {
        path: PathBuf,
        expected: u32,
        found: u32,
    },
    /// A header field holds a value no writer of this layout produces.
    #[error("{}: header field {field} is {found}: {reason}", .path.display())]
    Field {
        path: PathBuf,
        field: &'static str,
        found: u64,
        reason: &'static str,
    },
    /// The file is valid but was created with other parameters than the caller asks for.
    #[error("{}: {field} is {found} in the file, the caller asks for {expected}", .path.display())]
    Mismatch {
        path: PathBuf,
        field: &'static str,
        expected: u64,
        found: u64,
    },
    /// The writer marked this file retired: a newer ring file replaced it at the same path.
    #[error("{}: ring file is retired (replaced by a newer file)", .path.display())]
    Retired { path: PathBuf },
    /// Another live process holds this role's lock on the file.
    #[error("{}: another {role} is attached (lock on byte {byte} is held)", .path.display())]
    Busy {
        path: PathBuf,
        role: &'static str,
        byte: u8,
    },
    /// `JobRing::publish` was given more bytes than a slot holds.
    #[error("payload is {len} bytes, the slot capacity is {capacity} bytes")]
    PayloadTooLarge { len: usize, capacity: usize },
    /// A job slot whose seqlock is stable declares a length beyond the slot capacity.
    #[error("{}: slot of sequence {sequence} declares {found} payload bytes, the capacity is {capacity}", .path.display())]
    SlotLength {
        path: PathBuf,
        sequence: u64,
        capacity: u64,
        found: u64,
    },
    /// The head says a sequence was published but its slot holds an older one.
    #[error("{}: head is at sequence {head} but the slot of sequence {sequence} holds sequence {found}", .path.display())]
    SlotBehindHead {
        path: PathBuf,
        head: u64,
        sequence: u64,
        found: u64,
    },
    /// No stable copy of a slot could be taken while the reader retried: the slot stayed
    /// mid-write, or kept holding a newer sequence than the head (a corrupt stamp).
    #[error("{}: no stable read of the slot of sequence {sequence} in {attempts} attempts", .path.display())]
    SlotBusy {
        path: PathBuf,
        sequence: u64,
        attempts: u32,
    },
    /// Producer and consumer indexes of a share ring contradict each other.
    #[error("{}: producer index {producer} and consumer index {consumer} are impossible with capacity {capacity}", .path.display())]
    Indexes {
        path: PathBuf,
        producer: u64,
        consumer: u64,
        capacity: u64,
    },
    /// The head sequence reached the end of the sequence space.
    #[error("{}: head sequence {head} cannot grow any further", .path.display())]
    SequenceExhausted { path: PathBuf, head: u64 },
    /// A configuration value is out of range.
    #[error("invalid ring config: {field} = {value}: {reason}")]
    Config {
        field: &'static str,
        value: u64,
        reason: &'static str,
    },
}

impl RingError {
    /// True for states a reader expects while a writer replaces the file (the path is briefly
    /// missing or still names the retired file): retry later instead of reporting.
    pub fn is_transient(&self) -> bool {
        match self {
            RingError::Retired { .. } => true,
            RingError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

/// Why a record did not enter the share ring. The caller still owns the record.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Every slot this kind of record may use is taken.
    #[error("share ring is full for {kind:?} records: {used} of {limit} usable slots taken")]
    Full {
        kind: ShareKind,
        used: u64,
        limit: u64,
    },
    /// The record does not fit the record format.
    #[error("share record cannot be encoded")]
    Encode(#[from] EncodeError),
    /// The ring header is inconsistent.
    #[error("share ring is unusable")]
    Ring(#[from] RingError),
}

/// Why one `pop` gave no record.
#[derive(Debug, thiserror::Error)]
pub enum PopError {
    /// The record at `index` is corrupt; the consumer moved past it (commit to drop it for good).
    #[error("share record at index {index} is corrupt")]
    Decode {
        index: u64,
        #[source]
        source: DecodeError,
    },
    /// The ring header is inconsistent; the consumer did not move.
    #[error("share ring is unusable")]
    Ring(#[from] RingError),
}

/// A spool file that cannot be read, trusted or written.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A system call on the spool file failed.
    #[error("{}: {op} failed", .path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// The spool header is not one this version writes.
    #[error("{}: spool header: {field} is {found:#x}, expected {expected:#x}", .path.display())]
    Header {
        path: PathBuf,
        field: &'static str,
        expected: u64,
        found: u64,
    },
    /// The read cursor in the header points outside the entries.
    #[error("{}: spool cursor is {cursor} but the file is {len} bytes", .path.display())]
    Cursor {
        path: PathBuf,
        cursor: u64,
        len: u64,
    },
    /// An entry in the middle of the file declares an impossible length.
    #[error("{}: spool entry at offset {offset} declares {found} bytes, at most {max} allowed", .path.display())]
    EntryLength {
        path: PathBuf,
        offset: u64,
        max: u64,
        found: u64,
    },
    /// An entry's checksum does not match its bytes.
    #[error("{}: spool entry at offset {offset}: checksum is {found:#010x}, expected {expected:#010x}", .path.display())]
    EntryChecksum {
        path: PathBuf,
        offset: u64,
        expected: u32,
        found: u32,
    },
    /// An entry's flags byte is unknown.
    #[error("{}: spool entry at offset {offset} has unknown flags {found:#04x}", .path.display())]
    EntryFlags {
        path: PathBuf,
        offset: u64,
        found: u8,
    },
    /// An entry is intact but is not an encoded share record.
    #[error("{}: spool entry at offset {offset} is not a share record", .path.display())]
    EntryRecord {
        path: PathBuf,
        offset: u64,
        #[source]
        source: DecodeError,
    },
}

/// What [`ShareSender`](super::ShareSender) could not do.
///
/// Only [`SendError::Encode`] means the record was refused; after any other error the record is
/// held (in the ring, the backlog or the spool) and nothing was dropped.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The record does not fit the record format; it was not accepted.
    #[error("share record cannot be encoded")]
    Encode(#[from] EncodeError),
    /// The spool could not be written or read; the record is held in the memory backlog.
    #[error("share spool failed")]
    Spool(#[from] SpoolError),
    /// The ring header is inconsistent; the record is held in the backlog or spool.
    #[error("share ring is unusable")]
    Ring(#[from] RingError),
}
