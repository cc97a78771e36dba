//! The durable spool of the metawriter and the metarelay: an append-only file where every input
//! (records from a share ring, or a batch from another host) is written and fsynced before it is
//! acknowledged or its ring is committed, and where the progress downstream is marked.
//!
//! - A ring read or a remote batch that was stored already is recognised ([`Dedup`]) and not
//!   stored again: a crash between storing and committing the ring, or an acknowledgement lost on
//!   the way back, costs nothing.
//! - [`Spool::open`] reads the file back after a restart, drops a torn tail (a crash mid-append),
//!   and returns the inputs not yet done downstream, in order.
//! - Once the file is large and its head is done, it is rewritten: a [`Snapshot`] of the state,
//!   then the pending entries (temporary file, fsync, rename, fsync of the directory).

mod dedup;
mod entry;

pub use dedup::Dedup;
pub use entry::{Entry, Input, Snapshot, Source};

use ironpool_shared::meta::Batch;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use tracing::{error, warn};

/// Rewrite the file when it is larger than this and its inputs are done.
pub const COMPACT_BYTES_DEFAULT: u64 = 64 << 20;

/// Where the spool stands.
#[derive(Debug, Default, Clone)]
pub struct SpoolState {
    /// This spool's random id (see [`Snapshot::spool_id`]).
    pub spool_id: u64,
    /// The `own_seq` of the next ring input.
    pub next_own_seq: u64,
    pub next_entry_seq: u64,
    pub next_batch_seq: u64,
    /// Every input up to this entry seq is done downstream (0: none; entry seqs start at 1).
    pub done_upto: u64,
    /// A metawriter batch started and not done: (batch_seq, last input in it).
    pub in_flight: Option<(u64, u64)>,
    pub dedup: Dedup,
}

/// What [`Spool::store`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Written and synced as input `entry_seq`, with this many records.
    New { entry_seq: u64, records: usize },
    /// Already stored before: nothing written.
    Duplicate,
}

#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    file: File,
    bytes: u64,
    compact_bytes: u64,
    /// An append failed and the file could not be cut back to its last good entry: nothing more
    /// is written until the spool is opened again.
    broken: bool,
    pub state: SpoolState,
}

/// A spool id that differs between spools; never 0.
fn random_id() -> u64 {
    ironpool_shared::random::unique_u64()
}

fn io(path: &Path, what: &str, e: std::io::Error) -> String {
    format!("spool {}: {what}: {e}", path.display())
}

impl Spool {
    /// Opens (or creates) `dir/spool.log`; returns the spool and the inputs not done yet.
    ///
    /// # Errors
    ///
    /// The directory or file cannot be created, read or written.
    pub fn open(dir: &Path, compact_bytes: u64) -> Result<(Spool, Vec<Input>), String> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, "create directory", e))?;
        let path = dir.join("spool.log");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| io(&path, "open", e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| io(&path, "read", e))?;
        let mut state = SpoolState {
            next_entry_seq: 1,
            ..SpoolState::default()
        };
        let mut inputs = Vec::new();
        let mut at = 0usize;
        loop {
            match entry::next_entry(&bytes[at..]) {
                Ok(None) => break,
                Ok(Some((payload, len))) => match Entry::decode(payload) {
                    Ok(entry) => {
                        Self::replay(&mut state, &mut inputs, entry);
                        at += len;
                    }
                    Err(e) => {
                        Self::keep_tail(&path, &bytes[at..], at, &e);
                        break;
                    }
                },
                Err(e) => {
                    Self::keep_tail(&path, &bytes[at..], at, &e);
                    break;
                }
            }
        }
        if at < bytes.len() {
            // The torn or corrupt tail is saved aside (keep_tail); the file ends where its good
            // part ends, so new entries follow good ones.
            file.set_len(at as u64)
                .map_err(|e| io(&path, "truncate", e))?;
            file.sync_all().map_err(|e| io(&path, "sync", e))?;
        }
        let done = state.done_upto;
        inputs.retain(|i: &Input| i.entry_seq > done);
        let mut spool = Spool {
            path,
            file,
            bytes: at as u64,
            compact_bytes,
            broken: false,
            state,
        };
        if spool.state.spool_id == 0 {
            // A new spool: its first entry names it.
            spool.state.spool_id = random_id();
            let snapshot = spool.snapshot();
            spool.append(&Entry::Snapshot(snapshot))?;
        }
        Ok((spool, inputs))
    }

    fn keep_tail(path: &Path, tail: &[u8], offset: usize, why: &str) {
        let aside = path.with_extension(format!("tail-{offset}"));
        match std::fs::write(&aside, tail) {
            Ok(()) => {
                warn!(spool = %path.display(), offset, bytes = tail.len(), reason = why, kept = %aside.display(), "spool ends in a torn or corrupt entry (a crash mid-append); the rest is kept aside")
            }
            Err(e) => {
                error!(spool = %path.display(), offset, reason = why, error = %e, "spool tail is corrupt and could not be kept aside")
            }
        }
    }

    fn replay(state: &mut SpoolState, inputs: &mut Vec<Input>, entry: Entry) {
        match entry {
            Entry::Input(input) => {
                Self::note(&mut state.dedup, &input);
                state.next_entry_seq = state.next_entry_seq.max(input.entry_seq + 1);
                if let Source::Ring { own_seq, .. } = input.source {
                    state.next_own_seq = state.next_own_seq.max(own_seq + 1);
                }
                inputs.push(input);
            }
            Entry::FlushStart { batch_seq, upto } => {
                state.in_flight = Some((batch_seq, upto));
                state.next_batch_seq = state.next_batch_seq.max(batch_seq + 1);
            }
            Entry::Done { batch_seq, upto } => {
                state.done_upto = state.done_upto.max(upto);
                if state.in_flight.is_some_and(|(b, _)| b <= batch_seq) {
                    state.in_flight = None;
                }
                state.next_batch_seq = state.next_batch_seq.max(batch_seq + 1);
            }
            Entry::Snapshot(s) => {
                state.dedup = Dedup::from_snapshot(&s);
                state.spool_id = s.spool_id;
                state.next_own_seq = state.next_own_seq.max(s.next_own_seq);
                state.next_entry_seq = state.next_entry_seq.max(s.next_entry_seq);
                state.next_batch_seq = state.next_batch_seq.max(s.next_batch_seq);
                state.done_upto = state.done_upto.max(s.done_upto);
            }
        }
    }

    fn note(dedup: &mut Dedup, input: &Input) {
        match input.source {
            Source::Ring {
                ring_id, end_index, ..
            } => dedup.note_ring(ring_id, end_index),
            Source::Remote => dedup.note_remote(input.batch.origin, input.batch.seq),
        }
    }

    fn append(&mut self, entry: &Entry) -> Result<(), String> {
        if self.broken {
            return Err(format!(
                "spool {}: an earlier append failed and could not be undone; restart to reopen it",
                self.path.display()
            ));
        }
        let bytes = entry.encode();
        // fdatasync: the entry is on disk before anyone is told it is stored.
        let written = self
            .file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // A part of the entry may be in the file: cut it off, or later entries would follow
            // garbage and be lost at the next open.
            let undone = self
                .file
                .set_len(self.bytes)
                .and_then(|()| self.file.sync_all());
            if undone.is_err() {
                self.broken = true;
            }
            return Err(io(&self.path, "append", e));
        }
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot {
            spool_id: self.state.spool_id,
            next_own_seq: self.state.next_own_seq,
            next_entry_seq: self.state.next_entry_seq,
            next_batch_seq: self.state.next_batch_seq,
            done_upto: self.state.done_upto,
            ..Snapshot::default()
        };
        self.state.dedup.fill_snapshot(&mut snapshot);
        snapshot
    }

    /// Stores an input unless it was stored before. For a ring input, the records before the
    /// ring's stored mark are dropped first (a re-read after a crash).
    ///
    /// # Errors
    ///
    /// The write or the sync failed: nothing may be acknowledged or committed.
    pub fn store(
        &mut self,
        source: Source,
        mut batch: Batch,
    ) -> Result<(Stored, Option<Input>), String> {
        let source = match source {
            Source::Ring {
                ring_id,
                first_index,
                end_index,
                ..
            } => {
                let next = self.state.dedup.ring_next(ring_id);
                if next >= end_index {
                    return Ok((Stored::Duplicate, None));
                }
                let skip = next
                    .saturating_sub(first_index)
                    .min(batch.records.len() as u64);
                batch.records.drain(..skip as usize);
                Source::Ring {
                    ring_id,
                    first_index: first_index + skip,
                    end_index,
                    own_seq: self.state.next_own_seq,
                }
            }
            Source::Remote => {
                if self.state.dedup.seen(batch.origin, batch.seq) {
                    return Ok((Stored::Duplicate, None));
                }
                Source::Remote
            }
        };
        let input = Input {
            entry_seq: self.state.next_entry_seq,
            source,
            batch,
        };
        self.append(&Entry::Input(input.clone()))?;
        self.state.next_entry_seq += 1;
        if let Source::Ring { own_seq, .. } = input.source {
            self.state.next_own_seq = own_seq + 1;
        }
        Self::note(&mut self.state.dedup, &input);
        Ok((
            Stored::New {
                entry_seq: input.entry_seq,
                records: input.batch.records.len(),
            },
            Some(input),
        ))
    }

    /// Marks the start of metawriter batch (the inputs up to `upto`); returns its batch seq.
    ///
    /// # Errors
    ///
    /// The write or the sync failed.
    pub fn flush_start(&mut self, upto: u64) -> Result<u64, String> {
        let batch_seq = self.state.next_batch_seq.max(1);
        self.append(&Entry::FlushStart { batch_seq, upto })?;
        self.state.next_batch_seq = batch_seq + 1;
        self.state.in_flight = Some((batch_seq, upto));
        Ok(batch_seq)
    }

    /// Marks everything up to input `upto` done downstream.
    ///
    /// # Errors
    ///
    /// The write or the sync failed.
    pub fn done(&mut self, batch_seq: u64, upto: u64) -> Result<(), String> {
        self.append(&Entry::Done { batch_seq, upto })?;
        self.state.done_upto = self.state.done_upto.max(upto);
        self.state.in_flight = None;
        Ok(())
    }

    /// The size of the file.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Rewrites the file (snapshot, then the inputs not done) when it is over the threshold.
    ///
    /// # Errors
    ///
    /// A write, sync or rename failed; the old file is then still in place and valid.
    pub fn compact_if_large(&mut self) -> Result<bool, String> {
        if self.bytes < self.compact_bytes {
            return Ok(false);
        }
        let pending = self.read_pending()?;
        let snapshot = self.snapshot();
        let mut out = Entry::Snapshot(snapshot).encode();
        if let Some((batch_seq, upto)) = self.state.in_flight {
            out.extend_from_slice(&Entry::FlushStart { batch_seq, upto }.encode());
        }
        for input in pending {
            out.extend_from_slice(&Entry::Input(input).encode());
        }
        let temp = self.path.with_extension("compact");
        let write = || -> std::io::Result<File> {
            let mut f = File::create(&temp)?;
            f.write_all(&out)?;
            f.sync_all()?;
            std::fs::rename(&temp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                File::open(dir)?.sync_all()?;
            }
            OpenOptions::new().read(true).append(true).open(&self.path)
        };
        self.file = write().map_err(|e| io(&self.path, "compact", e))?;
        self.bytes = out.len() as u64;
        Ok(true)
    }

    /// The inputs after `done_upto`, read back from the file.
    ///
    /// # Errors
    ///
    /// The file cannot be read.
    pub fn read_pending(&self) -> Result<Vec<Input>, String> {
        let bytes = std::fs::read(&self.path).map_err(|e| io(&self.path, "read", e))?;
        let mut at = 0;
        let mut pending = Vec::new();
        while let Ok(Some((payload, len))) = entry::next_entry(&bytes[at..]) {
            if let Ok(Entry::Input(input)) = Entry::decode(payload) {
                if input.entry_seq > self.state.done_upto {
                    pending.push(input);
                }
            }
            at += len;
        }
        Ok(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpool_shared::ring::{EncodedShare, RecordDetail, ShareKind, ShareRecord};

    fn record(nonce: u32) -> EncodedShare {
        ShareRecord {
            kind: ShareKind::Share,
            shard_id: 0,
            session_id: 1,
            job_id: 1,
            extranonce1: vec![],
            extranonce2: vec![],
            ntime: 0,
            nonce,
            version: 0,
            share_difficulty: 1.0,
            accepted_at_ms: 0,
            user: "u".into(),
            worker: "w".into(),
            network_difficulty: 0.0,
            detail: RecordDetail::None,
        }
        .encode()
        .expect("fits")
    }

    fn batch(origin: u64, seq: u64, n: u32) -> Batch {
        Batch {
            origin,
            seq,
            coin: "btc".into(),
            host: "h".into(),
            records: (0..n).map(record).collect(),
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ironpool-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn inputs_survive_a_reopen_and_replays_are_refused() {
        let d = dir("reopen");
        let (mut spool, pending) = Spool::open(&d, COMPACT_BYTES_DEFAULT).expect("open");
        assert!(pending.is_empty());
        let ring = Source::Ring {
            ring_id: 7,
            first_index: 0,
            end_index: 3,
            own_seq: 0,
        };
        assert!(matches!(
            spool.store(ring, batch(7, 0, 3)).expect("store").0,
            Stored::New { records: 3, .. }
        ));
        assert!(matches!(
            spool
                .store(Source::Remote, batch(9, 0, 2))
                .expect("store")
                .0,
            Stored::New { .. }
        ));
        assert_eq!(
            spool
                .store(Source::Remote, batch(9, 0, 2))
                .expect("store")
                .0,
            Stored::Duplicate
        );
        drop(spool);
        let (mut spool, pending) = Spool::open(&d, COMPACT_BYTES_DEFAULT).expect("reopen");
        assert_eq!(pending.len(), 2);
        // The ring is read again from index 1 (its commit was lost): only index 3 on is new.
        let (stored, input) = spool
            .store(
                Source::Ring {
                    ring_id: 7,
                    first_index: 1,
                    end_index: 4,
                    own_seq: 0,
                },
                batch(7, 1, 3),
            )
            .expect("store");
        assert_eq!(
            stored,
            Stored::New {
                entry_seq: 3,
                records: 1
            }
        );
        assert_eq!(
            input.map(|i| i.source),
            // The spool numbers its ring inputs without gaps, whatever the caller said.
            Some(Source::Ring {
                ring_id: 7,
                first_index: 3,
                end_index: 4,
                own_seq: 1,
            })
        );
        let id = spool.state.spool_id;
        assert_ne!(id, 0, "a new spool gets an id");
        drop(spool);
        let (mut spool, _) = Spool::open(&d, COMPACT_BYTES_DEFAULT).expect("reopen");
        assert_eq!(spool.state.spool_id, id, "and keeps it");
        assert_eq!(spool.state.next_own_seq, 2);
        assert_eq!(
            spool
                .store(Source::Remote, batch(9, 0, 2))
                .expect("store")
                .0,
            Stored::Duplicate
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_tail_is_dropped_and_kept_aside() {
        let d = dir("torn");
        let (mut spool, _) = Spool::open(&d, COMPACT_BYTES_DEFAULT).expect("open");
        spool.store(Source::Remote, batch(1, 0, 1)).expect("store");
        spool.store(Source::Remote, batch(1, 1, 1)).expect("store");
        let len = spool.bytes();
        drop(spool);
        // A crash in the middle of the second append: the file ends 10 bytes short.
        let file = OpenOptions::new()
            .write(true)
            .open(d.join("spool.log"))
            .expect("file");
        file.set_len(len - 10).expect("truncate");
        let (mut spool, pending) = Spool::open(&d, COMPACT_BYTES_DEFAULT).expect("reopen");
        assert_eq!(
            pending.iter().map(|i| i.batch.seq).collect::<Vec<_>>(),
            vec![0]
        );
        assert!(std::fs::read_dir(&d).expect("dir").any(|e| e
            .map(|e| e.file_name().to_string_lossy().contains("tail-"))
            .unwrap_or(false)));
        // Seq 1 was never durably stored: a resend is new.
        assert!(matches!(
            spool
                .store(Source::Remote, batch(1, 1, 1))
                .expect("store")
                .0,
            Stored::New { .. }
        ));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn compaction_keeps_pending_inputs_the_batch_in_flight_and_the_dedup_state() {
        let d = dir("compact");
        let (mut spool, _) = Spool::open(&d, 1).expect("open");
        for seq in 0..4 {
            spool
                .store(Source::Remote, batch(5, seq, 2))
                .expect("store");
        }
        let first = spool.flush_start(2).expect("start");
        spool.done(first, 2).expect("done");
        let second = spool.flush_start(3).expect("start");
        assert!(spool.compact_if_large().expect("compact"));
        drop(spool);
        let (mut spool, pending) = Spool::open(&d, 1).expect("reopen");
        assert_eq!(
            pending.iter().map(|i| i.entry_seq).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(spool.state.in_flight, Some((second, 3)));
        assert_eq!(spool.state.next_entry_seq, 5);
        for seq in 0..4 {
            assert_eq!(
                spool
                    .store(Source::Remote, batch(5, seq, 2))
                    .expect("store")
                    .0,
                Stored::Duplicate
            );
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
