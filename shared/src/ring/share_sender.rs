//! `ShareSender`: what a gateway shard holds to hand records to the control plane. It never blocks
//! and never drops a record.
//!
//! Path of a record, in order of preference:
//! 1. the share ring (shares only when nothing older waits in the backlog or the spool, so order
//!    is kept);
//! 2. the memory backlog (bounded by `backlog_max`);
//! 3. the spool file (append-only, checksummed), once the backlog is full and until the spool
//!    drains.
//!
//! A block candidate goes straight into the ring (it may use the reserved slots). If even that
//! fails, it goes to the *front* of the backlog and a copy is written to the spool and synced at
//! once, so a crash of the shard cannot lose it.
//!
//! [`flush`](ShareSender::flush) (call it on a timer and after the consumer frees space) moves the
//! backlog, then the spool, into the ring in order, and truncates the spool once it is drained. At
//! start-up the sender replays whatever the spool of a previous run holds.
//!
//! Not guaranteed: shares in the memory backlog (at most `backlog_max`) are lost if the process
//! dies before they reach the ring or the spool; call [`shutdown`](ShareSender::shutdown) on a
//! graceful stop to spool them, or set `backlog_max` to 0 to spool every overflow. After a crash,
//! records moved from the spool since its last checkpoint, and block candidates whose safety copy
//! was still in the spool, can be delivered twice (at-least-once): consumers deduplicate.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use super::error::{PushError, SendError};
use super::share_record::{EncodedShare, ShareKind, ShareRecord};
use super::share_ring::ShareProducer;
use super::spool::{EntryKind, Spool, SpoolRecovery};

/// Parameters of a [`ShareSender`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareSenderConfig {
    /// Directory of the spool file; the file is named after the ring file, plus `.spool`.
    pub spool_dir: PathBuf,
    /// Records the memory backlog holds before overflowing to the spool. Default 65,536
    /// (16 MiB of records).
    pub backlog_max: usize,
}

impl ShareSenderConfig {
    /// A config with the default backlog bound.
    pub fn new(spool_dir: impl Into<PathBuf>) -> Self {
        ShareSenderConfig {
            spool_dir: spool_dir.into(),
            backlog_max: 65_536,
        }
    }
}

/// Where [`ShareSender::send`] put a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Into the ring.
    Pushed,
    /// Into the memory backlog.
    Backlogged,
    /// Into the spool file.
    Spooled,
    /// A block candidate the ring could not take: at the front of the backlog, and synced to
    /// the spool.
    BlockHeld,
}

/// Counts since the sender started. A record can count in several (backlogged, then pushed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderCounters {
    /// Records that entered the ring (directly, from the backlog or from the spool).
    pub pushed: u64,
    /// Records put in the memory backlog.
    pub backlogged: u64,
    /// Records written to the spool (block safety copies included).
    pub spooled: u64,
    /// Records moved from the spool into the ring (a previous run's included).
    pub replayed: u64,
    /// Entries found in the spool at start-up.
    pub spool_entries_at_start: u64,
    /// Bytes of an incomplete last spool entry cut off at start-up.
    pub spool_torn_tail_bytes: u64,
}

/// The producer side of a share ring with its overflow backlog and spool.
#[derive(Debug)]
pub struct ShareSender {
    producer: ShareProducer,
    backlog: VecDeque<EncodedShare>,
    backlog_max: usize,
    spool: Spool,
    counters: SenderCounters,
}

impl ShareSender {
    /// Wraps `producer`, opens (or creates) the spool, and replays what it holds into the ring as
    /// far as the ring has room (the rest follows on [`flush`](Self::flush)).
    ///
    /// # Errors
    ///
    /// [`SendError::Spool`] when the spool cannot be opened or a waiting entry is corrupt (the
    /// file is left as it is), [`SendError::Ring`] when the ring header is inconsistent.
    pub fn new(producer: ShareProducer, config: &ShareSenderConfig) -> Result<Self, SendError> {
        let ring_name = producer
            .path()
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let spool_path = config.spool_dir.join(format!("{ring_name}.spool"));
        let (
            spool,
            SpoolRecovery {
                entries,
                torn_tail_bytes,
            },
        ) = Spool::open(&spool_path)?;
        let mut sender = ShareSender {
            producer,
            backlog: VecDeque::new(),
            backlog_max: config.backlog_max,
            spool,
            counters: SenderCounters {
                spool_entries_at_start: entries,
                spool_torn_tail_bytes: torn_tail_bytes,
                ..SenderCounters::default()
            },
        };
        sender.flush()?;
        Ok(sender)
    }

    /// Hands `record` over without blocking (see the module documentation for where it goes).
    ///
    /// # Errors
    ///
    /// [`SendError::Encode`]: the record does not fit the format and was refused. Any other error
    /// leaves the record held (backlog or spool) and reports a spool or ring problem.
    pub fn send(&mut self, record: &ShareRecord) -> Result<Sent, SendError> {
        let encoded = record.encode()?;
        self.send_encoded(encoded)
    }

    /// As [`send`](Self::send), for an already encoded record.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), without the encoding step.
    pub fn send_encoded(&mut self, record: EncodedShare) -> Result<Sent, SendError> {
        if record.kind() == ShareKind::BlockCandidate {
            return self.send_block(record);
        }
        // Drain older records first so this one does not overtake them; hold the record even
        // if draining failed, then report.
        let flushed = self.flush();
        let sent = self.hold_share(record);
        flushed?;
        sent
    }

    fn send_block(&mut self, record: EncodedShare) -> Result<Sent, SendError> {
        let pushed = self.producer.try_push_encoded(&record);
        match pushed {
            Ok(()) => {
                self.counters.pushed += 1;
                return Ok(Sent::Pushed);
            }
            Err(PushError::Full { .. } | PushError::Ring(_)) => {}
            Err(PushError::Encode(error)) => return Err(SendError::Encode(error)),
        }
        let spooled = self.spool.append(&record, EntryKind::BlockCopy, true);
        self.backlog.push_front(record);
        self.counters.backlogged += 1;
        spooled?;
        self.counters.spooled += 1;
        match pushed {
            Err(PushError::Ring(error)) => Err(SendError::Ring(error)),
            _ => Ok(Sent::BlockHeld),
        }
    }

    fn hold_share(&mut self, record: EncodedShare) -> Result<Sent, SendError> {
        let spool_pending = self.spool.has_pending();
        if self.backlog.is_empty() && !spool_pending {
            match self.producer.try_push_encoded(&record) {
                Ok(()) => {
                    self.counters.pushed += 1;
                    return Ok(Sent::Pushed);
                }
                Err(PushError::Full { .. }) => {}
                Err(PushError::Ring(error)) => {
                    self.backlog.push_back(record);
                    self.counters.backlogged += 1;
                    return Err(SendError::Ring(error));
                }
                Err(PushError::Encode(error)) => return Err(SendError::Encode(error)),
            }
        }
        if !spool_pending && self.backlog.len() < self.backlog_max {
            self.backlog.push_back(record);
            self.counters.backlogged += 1;
            return Ok(Sent::Backlogged);
        }
        match self.spool.append(&record, EntryKind::Queued, false) {
            Ok(()) => {
                self.counters.spooled += 1;
                Ok(Sent::Spooled)
            }
            Err(error) => {
                // Never drop: keep it in memory beyond the bound and report the spool failure.
                // The backlog drains before the spool, so this record may overtake spooled
                // ones; losing it would be worse.
                self.backlog.push_back(record);
                self.counters.backlogged += 1;
                Err(SendError::Spool(error))
            }
        }
    }

    /// Moves the backlog, then the spool, into the ring while it has room, in order; persists the
    /// spool cursor, and truncates the spool once it is drained. Returns how many records moved.
    ///
    /// # Errors
    ///
    /// [`SendError::Spool`] when the spool cannot be read or written, [`SendError::Ring`] when the
    /// ring header is inconsistent. Nothing is lost either way; the next flush retries.
    pub fn flush(&mut self) -> Result<u64, SendError> {
        let mut moved = 0u64;
        while let Some(front) = self.backlog.front() {
            match self.producer.try_push_encoded(front) {
                Ok(()) => {
                    self.backlog.pop_front();
                    self.counters.pushed += 1;
                    moved += 1;
                }
                Err(PushError::Full { .. }) => return Ok(moved),
                Err(PushError::Ring(error)) => return Err(SendError::Ring(error)),
                Err(PushError::Encode(error)) => return Err(SendError::Encode(error)),
            }
        }
        let drained = self.drain_spool(&mut moved);
        let checkpoint = self.spool.checkpoint();
        drained?;
        checkpoint?;
        Ok(moved)
    }

    fn drain_spool(&mut self, moved: &mut u64) -> Result<(), SendError> {
        while let Some(entry) = self.spool.peek()? {
            if !entry.skip {
                match self.producer.try_push_encoded(&entry.record) {
                    Ok(()) => {
                        self.counters.pushed += 1;
                        self.counters.replayed += 1;
                        *moved += 1;
                    }
                    Err(PushError::Full { .. }) => return Ok(()),
                    Err(PushError::Ring(error)) => return Err(SendError::Ring(error)),
                    Err(PushError::Encode(error)) => return Err(SendError::Encode(error)),
                }
            }
            self.spool.advance(entry.next);
        }
        Ok(())
    }

    /// Graceful stop: flushes, then writes what is still in the memory backlog to the front of the
    /// spool (rewriting it through a temporary file), so the next run replays everything in order.
    ///
    /// # Errors
    ///
    /// [`SendError::Spool`] when the spool cannot be rewritten; the old spool is then intact.
    pub fn shutdown(mut self) -> Result<SenderCounters, SendError> {
        // A failed flush leaves everything where it was; the rewrite below still saves it.
        let _ = self.flush();
        if !self.backlog.is_empty() {
            let from_backlog = self.backlog.len() as u64;
            let mut records: Vec<EncodedShare> = self.backlog.drain(..).collect();
            records.extend(self.spool.pending_records()?);
            self.spool.rewrite(&records)?;
            self.counters.spooled += from_backlog;
        }
        Ok(self.counters)
    }

    pub fn counters(&self) -> SenderCounters {
        self.counters
    }

    /// Records in the memory backlog.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// Bytes of spool entries not yet moved into the ring.
    pub fn spool_pending_bytes(&self) -> u64 {
        self.spool.pending_bytes()
    }

    /// True when nothing waits in the backlog or the spool.
    pub fn is_drained(&self) -> bool {
        self.backlog.is_empty() && !self.spool.has_pending()
    }

    /// Length of the spool file in bytes (its 32-byte header alone when drained).
    pub fn spool_file_bytes(&self) -> u64 {
        self.spool.file_len()
    }

    pub fn spool_path(&self) -> &Path {
        self.spool.path()
    }

    pub fn producer(&self) -> &ShareProducer {
        &self.producer
    }
}
