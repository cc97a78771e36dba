//! Shared-memory rings between the control plane (tokio) and the gateway shards (monoio threads in
//! other processes), on files mapped with `memmap2` under a directory (default
//! [`DEFAULT_RING_DIR`], a tmpfs).
//!
//! - [`JobRing`] / [`JobRingReader`]: job broadcast. One writer (the jobmaster), any number of
//!   readers; seqlock slots; a reader that lags or attaches late skips to the newest record and is
//!   told so (`resync`). Readers sleep on a shared futex the writer wakes at each publish.
//! - [`ShareProducer`] / [`ShareConsumer`]: one ring per shard, SPSC, fixed 256-byte
//!   [`ShareRecord`]s, slots reserved for block candidates, at-least-once delivery through an
//!   explicit consumer `commit`.
//! - [`ShareSender`]: the shard's side of the share ring, with a bounded memory backlog and an
//!   on-disk spool, so that sending never blocks and never drops.
//!
//! Trust: the mapping is shared with other processes, so every access is atomic and every value
//! read from it (and from the spool file) is validated; a corrupt file gives an error, never
//! undefined behaviour or a panic. `unsafe` is confined to `mapping` (raw memory, role locks),
//! `futex` (system calls) and `checksum` (the SSE4.2 CRC instruction after run-time detection);
//! every other file forbids it.
//!
//! Either side can restart: writers, producers and consumers re-attach to an existing compatible
//! file and continue from the indexes it holds; each role holds a lock byte in the file (an
//! open-file-description lock the kernel drops when the process dies), so two live writers of one
//! role are refused.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod checksum;
mod error;
mod futex;
mod header;
mod job_reader;
mod job_ring;
mod mapping;
mod share_record;
mod share_ring;
mod share_sender;
mod spool;

use std::path::{Path, PathBuf};

pub use checksum::crc32c;
pub use error::{PopError, PushError, RingError, SendError, SpoolError};
pub use futex::WaitOutcome;
pub use job_reader::{JobRead, JobRingReader, IDENTITY_CHECK_INTERVAL};
pub use job_ring::{JobRing, JobRingConfig, JobRingOpened};
pub use share_record::{
    DecodeError, EncodeError, EncodedShare, RecordDetail, ShareKind, ShareRecord,
    EXTRANONCE1_BYTES_MAX, EXTRANONCE2_BYTES_MAX, RECORD_BYTES, RECORD_FORMAT_VERSION,
    USER_BYTES_MAX, WORKER_BYTES_MAX,
};
pub use share_ring::{ShareConsumer, ShareProducer, ShareRingConfig};
pub use share_sender::{SenderCounters, Sent, ShareSender, ShareSenderConfig};

/// Where the ring files live unless configured otherwise (a tmpfs: the rings never touch a disk).
pub const DEFAULT_RING_DIR: &str = "/dev/shm/ironpool";

/// The job ring file in `dir`.
pub fn job_ring_path(dir: &Path) -> PathBuf {
    dir.join("jobs.ring")
}

/// The share ring file of shard `shard_id` in `dir`: every accepted share, rejection, session
/// event and block candidate, for the metawriter (accounting).
pub fn share_ring_path(dir: &Path, shard_id: u16) -> PathBuf {
    dir.join(format!("shares-{shard_id}.ring"))
}

/// The block ring file of shard `shard_id` in `dir`: block candidates only, for the jobmaster. A
/// ring of its own, so a block never waits behind shares nor on the metawriter being up.
pub fn block_ring_path(dir: &Path, shard_id: u16) -> PathBuf {
    dir.join(format!("blocks-{shard_id}.ring"))
}
