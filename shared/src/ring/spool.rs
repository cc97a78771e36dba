//! The share spool: an append-only file of encoded share records, where a shard's
//! [`ShareSender`](super::ShareSender) keeps what neither the ring nor the memory backlog can take,
//! and a durable copy of every block candidate that could not enter the ring.
//!
//! Format (little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `IPSPOOL\0` |
//! | 8 | 4 | format version (1) |
//! | 12 | 4 | reserved, zero |
//! | 16 | 8 | cursor: offset of the first entry not yet moved into the ring |
//! | 24 | 4 | CRC-32C of bytes 0..24 |
//! | 28 | 4 | reserved, zero |
//! | 32 | … | entries: length (4), CRC-32C of flags and payload (4), flags (1), zero (3), payload |
//!
//! Flags: 0 a queued record, 1 a safety copy of a block candidate that is also at the front of
//! the memory backlog (skipped while this process drains the spool; replayed after a restart,
//! when the backlog is gone).
//!
//! Crash behaviour: the cursor is written after records move into the ring, so a crash can replay
//! at most the records moved since the last checkpoint (at-least-once). An entry cut short by a
//! crash at the end of the file is dropped at start-up (it was never acknowledged) and counted;
//! a checksum mismatch anywhere else is an error, never skipped silently.

#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::checksum::{crc32c, crc32c_extend};
use super::error::SpoolError;
use super::share_record::{EncodedShare, RECORD_BYTES};

const MAGIC: [u8; 8] = *b"IPSPOOL\0";
const VERSION: u32 = 1;
pub(crate) const HEADER_BYTES: u64 = 32;
const ENTRY_HEADER_BYTES: usize = 12;
/// Largest entry payload accepted when reading; version 1 only writes [`RECORD_BYTES`].
const ENTRY_PAYLOAD_MAX: u32 = 4096;

/// Kind of a spool entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Queued = 0,
    BlockCopy = 1,
}

/// What [`Spool::open`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SpoolRecovery {
    /// Entries waiting at start-up.
    pub(crate) entries: u64,
    /// Bytes of an incomplete last entry that were cut off.
    pub(crate) torn_tail_bytes: u64,
}

/// One entry read back.
#[derive(Debug)]
pub(crate) struct SpoolEntry {
    pub(crate) record: EncodedShare,
    /// Offset of the entry after this one.
    pub(crate) next: u64,
    /// A block copy written by this process: it is also in the memory backlog.
    pub(crate) skip: bool,
}

#[derive(Debug)]
pub(crate) struct Spool {
    file: File,
    path: PathBuf,
    /// First entry not yet moved into the ring.
    cursor: u64,
    /// The cursor as last written to the header.
    persisted_cursor: u64,
    /// End of the last complete entry (entries are appended here).
    end: u64,
    /// Entries before this offset were in the file at start-up: block copies among them are
    /// replayed, since the backlog that held them died with the previous process.
    startup_end: u64,
}

fn header_bytes(cursor: u64) -> [u8; HEADER_BYTES as usize] {
    let mut header = [0u8; HEADER_BYTES as usize];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&cursor.to_le_bytes());
    let checksum = crc32c(&header[..24]);
    header[24..28].copy_from_slice(&checksum.to_le_bytes());
    header
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(source) = bytes.get(at..at + 4) {
        word.copy_from_slice(source);
    }
    u32::from_le_bytes(word)
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(source) = bytes.get(at..at + 8) {
        word.copy_from_slice(source);
    }
    u64::from_le_bytes(word)
}

/// One entry read back: its kind, its record, and the offset of the entry after it. `None` from
/// a read means the file ends inside the entry (a torn tail).
type Scanned = Option<(EntryKind, EncodedShare, u64)>;

impl Spool {
    /// Opens (or creates) the spool at `path`, validates every waiting entry and cuts off an
    /// incomplete last entry.
    pub(crate) fn open(path: &Path) -> Result<(Self, SpoolRecovery), SpoolError> {
        let io_error = |op: &'static str| {
            move |source| SpoolError::Io {
                path: path.to_path_buf(),
                op,
                source,
            }
        };
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_error("create spool directory"))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_error("open"))?;
        let len = file.metadata().map_err(io_error("fstat"))?.len();
        let mut spool = Spool {
            file,
            path: path.to_path_buf(),
            cursor: HEADER_BYTES,
            persisted_cursor: HEADER_BYTES,
            end: HEADER_BYTES,
            startup_end: HEADER_BYTES,
        };
        let mut recovery = SpoolRecovery::default();
        if len < HEADER_BYTES {
            // New, or its creation was cut short before any entry: start it over.
            recovery.torn_tail_bytes = len;
            spool.file.set_len(0).map_err(io_error("truncate"))?;
            spool.write_header(HEADER_BYTES)?;
            return Ok((spool, recovery));
        }
        let cursor = spool.read_header(len)?;
        spool.cursor = cursor;
        spool.persisted_cursor = cursor;
        let (end, entries) = spool.scan(cursor, len)?;
        if end < len {
            recovery.torn_tail_bytes = len - end;
            spool
                .file
                .set_len(end)
                .map_err(io_error("truncate torn tail"))?;
        }
        recovery.entries = entries;
        spool.end = end;
        spool.startup_end = end;
        Ok((spool, recovery))
    }

    fn write_header(&mut self, cursor: u64) -> Result<(), SpoolError> {
        self.file
            .write_all_at(&header_bytes(cursor), 0)
            .map_err(|source| SpoolError::Io {
                path: self.path.clone(),
                op: "write header",
                source,
            })?;
        self.persisted_cursor = cursor;
        Ok(())
    }

    /// Validates the header and returns the cursor.
    fn read_header(&self, len: u64) -> Result<u64, SpoolError> {
        let mut header = [0u8; HEADER_BYTES as usize];
        self.file
            .read_exact_at(&mut header, 0)
            .map_err(|source| SpoolError::Io {
                path: self.path.clone(),
                op: "read header",
                source,
            })?;
        let field = |field: &'static str, expected: u64, found: u64| SpoolError::Header {
            path: self.path.clone(),
            field,
            expected,
            found,
        };
        if header[..8] != MAGIC {
            return Err(field("magic", le_u64(&MAGIC, 0), le_u64(&header, 0)));
        }
        let version = le_u32(&header, 8);
        if version != VERSION {
            return Err(field("version", u64::from(VERSION), u64::from(version)));
        }
        let stored = le_u32(&header, 24);
        let computed = crc32c(&header[..24]);
        if stored != computed {
            return Err(field("checksum", u64::from(computed), u64::from(stored)));
        }
        let cursor = le_u64(&header, 16);
        if cursor > len && len == HEADER_BYTES {
            // Drained and truncated, then the process died before the cursor was reset.
            return Ok(HEADER_BYTES);
        }
        if cursor < HEADER_BYTES || cursor > len {
            return Err(SpoolError::Cursor {
                path: self.path.clone(),
                cursor,
                len,
            });
        }
        Ok(cursor)
    }

    /// Validates every entry in `[cursor, len)`; returns the end of the last complete entry and
    /// how many entries there are.
    fn scan(&self, cursor: u64, len: u64) -> Result<(u64, u64), SpoolError> {
        let io_error = |op: &'static str| {
            move |source| SpoolError::Io {
                path: self.path.clone(),
                op,
                source,
            }
        };
        let mut reader = BufReader::with_capacity(64 * 1024, &self.file);
        reader
            .seek(SeekFrom::Start(cursor))
            .map_err(io_error("seek"))?;
        let mut offset = cursor;
        let mut entries = 0u64;
        loop {
            if offset == len {
                return Ok((offset, entries));
            }
            match self.read_entry(&mut reader, offset, len)? {
                Some((_, _, next)) => {
                    offset = next;
                    entries += 1;
                }
                None => return Ok((offset, entries)),
            }
        }
    }

    /// Reads and validates the entry at `offset` from `reader` (positioned there).
    fn read_entry(
        &self,
        reader: &mut impl Read,
        offset: u64,
        len: u64,
    ) -> Result<Scanned, SpoolError> {
        let io_error = |op: &'static str| {
            move |source| SpoolError::Io {
                path: self.path.clone(),
                op,
                source,
            }
        };
        if len - offset < ENTRY_HEADER_BYTES as u64 {
            return Ok(None);
        }
        let mut header = [0u8; ENTRY_HEADER_BYTES];
        reader
            .read_exact(&mut header)
            .map_err(io_error("read entry header"))?;
        let payload_len = le_u32(&header, 0);
        if payload_len > ENTRY_PAYLOAD_MAX {
            return Err(SpoolError::EntryLength {
                path: self.path.clone(),
                offset,
                max: u64::from(ENTRY_PAYLOAD_MAX),
                found: u64::from(payload_len),
            });
        }
        let next = offset + ENTRY_HEADER_BYTES as u64 + u64::from(payload_len);
        if next > len {
            return Ok(None);
        }
        // Cast: payload_len ≤ 4096.
        let mut payload = vec![0u8; payload_len as usize];
        reader
            .read_exact(&mut payload)
            .map_err(io_error("read entry"))?;
        let stored = le_u32(&header, 4);
        let computed = crc32c_extend(crc32c(&header[8..9]), &payload);
        if stored != computed {
            return Err(SpoolError::EntryChecksum {
                path: self.path.clone(),
                offset,
                expected: computed,
                found: stored,
            });
        }
        let kind = match header[8] {
            0 => EntryKind::Queued,
            1 => EntryKind::BlockCopy,
            found => {
                return Err(SpoolError::EntryFlags {
                    path: self.path.clone(),
                    offset,
                    found,
                })
            }
        };
        let record =
            EncodedShare::from_bytes(&payload).map_err(|source| SpoolError::EntryRecord {
                path: self.path.clone(),
                offset,
                source,
            })?;
        Ok(Some((kind, record, next)))
    }

    /// Appends `record`; with `sync`, also waits for the data to reach the disk (block copies).
    pub(crate) fn append(
        &mut self,
        record: &EncodedShare,
        kind: EntryKind,
        sync: bool,
    ) -> Result<(), SpoolError> {
        let mut entry = [0u8; ENTRY_HEADER_BYTES + RECORD_BYTES];
        entry[..4].copy_from_slice(&(RECORD_BYTES as u32).to_le_bytes());
        entry[8] = kind as u8;
        entry[ENTRY_HEADER_BYTES..].copy_from_slice(record.as_bytes());
        let checksum = crc32c_extend(crc32c(&entry[8..9]), record.as_bytes());
        entry[4..8].copy_from_slice(&checksum.to_le_bytes());
        if let Err(error) = self.file.write_all_at(&entry, self.end) {
            // Best effort: drop a partial entry so the next append starts on a clean boundary.
            let _ = self.file.set_len(self.end);
            return Err(self.io_error("append")(error));
        }
        self.end += entry.len() as u64;
        if sync {
            self.file.sync_data().map_err(self.io_error("sync"))?;
        }
        Ok(())
    }

    fn io_error(&self, op: &'static str) -> impl FnOnce(io::Error) -> SpoolError {
        let path = self.path.clone();
        move |source| SpoolError::Io { path, op, source }
    }

    /// True when entries wait between the cursor and the end.
    pub(crate) fn has_pending(&self) -> bool {
        self.cursor < self.end
    }

    /// The entry at the cursor, if any (not consumed: call [`advance`](Self::advance)).
    pub(crate) fn peek(&self) -> Result<Option<SpoolEntry>, SpoolError> {
        if !self.has_pending() {
            return Ok(None);
        }
        let mut reader = ReadAt {
            file: &self.file,
            offset: self.cursor,
        };
        match self.read_entry(&mut reader, self.cursor, self.end)? {
            Some((kind, record, next)) => Ok(Some(SpoolEntry {
                record,
                next,
                skip: kind == EntryKind::BlockCopy && self.cursor >= self.startup_end,
            })),
            // `end` only ever covers complete entries this process validated or wrote.
            None => Err(SpoolError::Cursor {
                path: self.path.clone(),
                cursor: self.cursor,
                len: self.end,
            }),
        }
    }

    /// Moves the cursor past an entry returned by [`peek`](Self::peek).
    pub(crate) fn advance(&mut self, next: u64) {
        debug_assert!(
            next > self.cursor && next <= self.end,
            "advance to {next} outside the entries"
        );
        self.cursor = next.min(self.end);
    }

    /// Persists the cursor; when every entry has been moved, truncates the file back to its header.
    pub(crate) fn checkpoint(&mut self) -> Result<(), SpoolError> {
        if !self.has_pending() && self.end > HEADER_BYTES {
            // Truncate first: a crash before the header is rewritten leaves a cursor past the end
            // of a header-only file, which `open` reads as drained.
            self.file
                .set_len(HEADER_BYTES)
                .map_err(|source| SpoolError::Io {
                    path: self.path.clone(),
                    op: "truncate drained spool",
                    source,
                })?;
            self.cursor = HEADER_BYTES;
            self.end = HEADER_BYTES;
            self.startup_end = HEADER_BYTES;
            return self.write_header(HEADER_BYTES);
        }
        if self.cursor != self.persisted_cursor {
            return self.write_header(self.cursor);
        }
        Ok(())
    }

    /// Bytes of entries between the cursor and the end.
    pub(crate) fn pending_bytes(&self) -> u64 {
        self.end - self.cursor
    }

    /// Length of the file as this process knows it.
    pub(crate) fn file_len(&self) -> u64 {
        self.end
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every pending entry that is not a skipped block copy (for rewriting the spool).
    pub(crate) fn pending_records(&self) -> Result<Vec<EncodedShare>, SpoolError> {
        let mut records = Vec::new();
        let mut offset = self.cursor;
        while offset < self.end {
            let mut reader = ReadAt {
                file: &self.file,
                offset,
            };
            match self.read_entry(&mut reader, offset, self.end)? {
                Some((kind, record, next)) => {
                    if !(kind == EntryKind::BlockCopy && offset >= self.startup_end) {
                        records.push(record);
                    }
                    offset = next;
                }
                None => {
                    return Err(SpoolError::Cursor {
                        path: self.path.clone(),
                        cursor: offset,
                        len: self.end,
                    })
                }
            }
        }
        Ok(records)
    }

    /// Replaces the spool with one holding `records` (in order) and nothing else, through a
    /// temporary file and a rename.
    pub(crate) fn rewrite(&mut self, records: &[EncodedShare]) -> Result<(), SpoolError> {
        let temp_path = self.path.with_extension("spool.tmp");
        let io_error = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| SpoolError::Io { path, op, source }
        };
        let _ = std::fs::remove_file(&temp_path);
        let (mut fresh, _) = Spool::open(&temp_path)?;
        for record in records {
            fresh.append(record, EntryKind::Queued, false)?;
        }
        fresh
            .file
            .sync_data()
            .map_err(io_error("sync", &temp_path))?;
        std::fs::rename(&temp_path, &self.path)
            .map_err(io_error("rename into place", &self.path))?;
        fresh.path = self.path.clone();
        fresh.startup_end = fresh.end;
        *self = fresh;
        Ok(())
    }
}

/// `Read` over positioned reads, so that peeking does not move a shared file offset.
struct ReadAt<'a> {
    file: &'a File,
    offset: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.file.read_at(buf, self.offset)?;
        self.offset += read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::share_record::{ShareKind, ShareRecord};

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ironpool-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        dir
    }

    fn record(nonce: u32, kind: ShareKind) -> EncodedShare {
        ShareRecord {
            kind,
            shard_id: 1,
            session_id: 2,
            job_id: 3,
            extranonce1: vec![1, 2, 3, 4],
            extranonce2: vec![5, 6, 7, 8],
            ntime: 4,
            nonce,
            version: 0x2000_0000,
            share_difficulty: 1.0,
            accepted_at_ms: 5,
            user: "user".to_owned(),
            worker: "worker".to_owned(),
            network_difficulty: 0.0,
            detail: crate::ring::share_record::RecordDetail::zero_for(kind),
        }
        .encode()
        .expect("test record fits")
    }

    fn drain(spool: &mut Spool) -> Vec<EncodedShare> {
        let mut out = Vec::new();
        while let Some(entry) = spool.peek().expect("peek") {
            if !entry.skip {
                out.push(entry.record);
            }
            spool.advance(entry.next);
        }
        out
    }

    #[test]
    fn entries_survive_reopen_in_order_and_cursor_is_kept() {
        let dir = temp_dir("reopen");
        let path = dir.join("s.spool");
        let (mut spool, recovery) = Spool::open(&path).expect("open");
        assert_eq!(recovery, SpoolRecovery::default());
        for nonce in 0..10 {
            spool
                .append(&record(nonce, ShareKind::Share), EntryKind::Queued, false)
                .expect("append");
        }
        // Move three entries out, checkpoint, "crash".
        for _ in 0..3 {
            let entry = spool.peek().expect("peek").expect("entry");
            spool.advance(entry.next);
        }
        spool.checkpoint().expect("checkpoint");
        drop(spool);
        let (mut spool, recovery) = Spool::open(&path).expect("reopen");
        assert_eq!(recovery.entries, 7);
        let nonces: Vec<u32> = drain(&mut spool)
            .iter()
            .map(|r| r.decode().expect("valid").nonce)
            .collect();
        assert_eq!(nonces, (3..10).collect::<Vec<_>>());
        spool.checkpoint().expect("checkpoint");
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len(),
            HEADER_BYTES,
            "drained spool is truncated"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn torn_tail_is_cut_and_counted() {
        let dir = temp_dir("torn");
        let path = dir.join("s.spool");
        let (mut spool, _) = Spool::open(&path).expect("open");
        spool
            .append(&record(1, ShareKind::Share), EntryKind::Queued, false)
            .expect("append");
        spool
            .append(&record(2, ShareKind::Share), EntryKind::Queued, false)
            .expect("append");
        let full = spool.file_len();
        drop(spool);
        let file = OpenOptions::new().write(true).open(&path).expect("open");
        file.set_len(full - 100).expect("cut");
        drop(file);
        let (mut spool, recovery) = Spool::open(&path).expect("reopen");
        assert_eq!(recovery.entries, 1);
        assert_eq!(
            recovery.torn_tail_bytes,
            (ENTRY_HEADER_BYTES + RECORD_BYTES - 100) as u64
        );
        let nonces: Vec<u32> = drain(&mut spool)
            .iter()
            .map(|r| r.decode().expect("valid").nonce)
            .collect();
        assert_eq!(nonces, vec![1]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corruption_gives_precise_errors() {
        let dir = temp_dir("corrupt");
        let path = dir.join("s.spool");
        let (mut spool, _) = Spool::open(&path).expect("open");
        spool
            .append(&record(1, ShareKind::Share), EntryKind::Queued, false)
            .expect("append");
        spool
            .append(&record(2, ShareKind::Share), EntryKind::Queued, false)
            .expect("append");
        drop(spool);
        let pristine = std::fs::read(&path).expect("read");

        let mut bytes = pristine.clone();
        bytes[HEADER_BYTES as usize + 100] ^= 0x10;
        std::fs::write(&path, &bytes).expect("write");
        match Spool::open(&path) {
            Err(SpoolError::EntryChecksum { offset, .. }) => assert_eq!(offset, HEADER_BYTES),
            other => panic!("expected a checksum error, got {other:?}"),
        }

        let mut bytes = pristine.clone();
        bytes[HEADER_BYTES as usize..HEADER_BYTES as usize + 4]
            .copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &bytes).expect("write");
        assert!(
            matches!(Spool::open(&path), Err(SpoolError::EntryLength { found, .. }) if found == u64::from(u32::MAX))
        );

        let mut bytes = pristine.clone();
        bytes[0] = b'X';
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            Spool::open(&path),
            Err(SpoolError::Header { field: "magic", .. })
        ));

        let mut bytes = pristine;
        bytes[16..24].copy_from_slice(&1_000_000u64.to_le_bytes());
        let checksum = crc32c(&bytes[..24]);
        bytes[24..28].copy_from_slice(&checksum.to_le_bytes());
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            Spool::open(&path),
            Err(SpoolError::Cursor {
                cursor: 1_000_000,
                ..
            })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn garbage_files_never_panic() {
        let dir = temp_dir("garbage");
        let path = dir.join("s.spool");
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for round in 0..300u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = usize::try_from(state % 2000).unwrap_or(0);
            let mut bytes: Vec<u8> = (0..len)
                .map(|i| (state >> (i % 56)) as u8 ^ i as u8)
                .collect();
            if round % 2 == 0 && bytes.len() >= 32 {
                bytes[..32].copy_from_slice(&header_bytes(HEADER_BYTES));
            }
            std::fs::write(&path, &bytes).expect("write");
            let _ = Spool::open(&path);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
