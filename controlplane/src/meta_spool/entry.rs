//! The entries of a metawriter or metarelay spool file.
//!
//! On disk: `length u32 LE | CRC-32C u32 LE | payload`, the payload starting with a kind byte.
//! A torn or corrupt entry ends the readable part of the file (a crash mid-append).

use ironpool_shared::meta::Batch;
use ironpool_shared::ring::crc32c;

/// Where the records of an input came from: it is how a replayed input is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A local share ring (its random id): the records read from ring index `first_index` up to
    /// `end_index` (exclusive; a corrupt record skipped at the end makes it larger than
    /// `first_index` + the records kept).
    /// `own_seq` numbers the ring inputs of this spool from 0 without gaps: a metarelay
    /// forwards them as (its spool id, `own_seq`).
    Ring {
        ring_id: u64,
        first_index: u64,
        end_index: u64,
        own_seq: u64,
    },
    /// A batch received over TCP: its (origin, seq) id.
    Remote,
}

/// Records stored durably, before anything acknowledges them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Position in the spool, growing by one per input.
    pub entry_seq: u64,
    pub source: Source,
    /// The records with their id (for ring inputs, origin = ring id and seq = first index).
    pub batch: Batch,
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Input(Input),
    /// The metawriter starts applying batch `batch_seq`, made of the inputs up to `upto`.
    FlushStart {
        batch_seq: u64,
        upto: u64,
    },
    /// Everything up to input `upto` is safe downstream (applied to Redis, or acknowledged by
    /// the upstream metawriter); `batch_seq` is the metawriter's batch (0 for a relay).
    Done {
        batch_seq: u64,
        upto: u64,
    },
    /// The first entry of a compacted file: what the dropped entries had established.
    Snapshot(Snapshot),
}

/// State carried over a compaction; also the first entry of a new spool, with its id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Random, chosen when the spool is created: names this spool's Redis markers and, for a
    /// metarelay, its origin id. A new spool never meets the markers of an old one.
    pub spool_id: u64,
    pub next_own_seq: u64,
    pub next_entry_seq: u64,
    pub next_batch_seq: u64,
    pub done_upto: u64,
    /// Ring id → next ring index not yet stored.
    pub rings: Vec<(u64, u64)>,
    /// Origin → (every seq below `floor` stored, and these above it).
    pub origins: Vec<(u64, u64, Vec<u64>)>,
}

const INPUT: u8 = 1;
const FLUSH_START: u8 = 2;
const DONE: u8 = 3;
const SNAPSHOT: u8 = 4;

/// Frames `payload` as an entry.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let slice = bytes.get(at..at + 8)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(slice);
    Some(u64::from_le_bytes(word))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([slice[0], slice[1], slice[2], slice[3]]))
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::new();
        match self {
            Entry::Input(input) => {
                p.push(INPUT);
                p.extend_from_slice(&input.entry_seq.to_le_bytes());
                match input.source {
                    Source::Ring {
                        ring_id,
                        first_index,
                        end_index,
                        own_seq,
                    } => {
                        p.push(0);
                        for v in [ring_id, first_index, end_index, own_seq] {
                            p.extend_from_slice(&v.to_le_bytes());
                        }
                    }
                    Source::Remote => {
                        p.push(1);
                        p.extend_from_slice(&[0; 32]);
                    }
                }
                p.extend_from_slice(&input.batch.encode());
            }
            Entry::FlushStart { batch_seq, upto } | Entry::Done { batch_seq, upto } => {
                p.push(if matches!(self, Entry::Done { .. }) {
                    DONE
                } else {
                    FLUSH_START
                });
                p.extend_from_slice(&batch_seq.to_le_bytes());
                p.extend_from_slice(&upto.to_le_bytes());
            }
            Entry::Snapshot(s) => {
                p.push(SNAPSHOT);
                for v in [
                    s.spool_id,
                    s.next_own_seq,
                    s.next_entry_seq,
                    s.next_batch_seq,
                    s.done_upto,
                ] {
                    p.extend_from_slice(&v.to_le_bytes());
                }
                p.extend_from_slice(&(s.rings.len() as u32).to_le_bytes());
                for (id, next) in &s.rings {
                    p.extend_from_slice(&id.to_le_bytes());
                    p.extend_from_slice(&next.to_le_bytes());
                }
                p.extend_from_slice(&(s.origins.len() as u32).to_le_bytes());
                for (origin, floor, above) in &s.origins {
                    p.extend_from_slice(&origin.to_le_bytes());
                    p.extend_from_slice(&floor.to_le_bytes());
                    p.extend_from_slice(&(above.len() as u32).to_le_bytes());
                    for seq in above {
                        p.extend_from_slice(&seq.to_le_bytes());
                    }
                }
            }
        }
        frame(&p)
    }

    /// Decodes a payload (after its length and checksum were checked).
    pub fn decode(p: &[u8]) -> Result<Entry, String> {
        let kind = *p.first().ok_or("empty entry")?;
        let short = || format!("entry of kind {kind} is truncated");
        match kind {
            INPUT => {
                let entry_seq = u64_at(p, 1).ok_or_else(short)?;
                let tag = *p.get(9).ok_or_else(short)?;
                let a = u64_at(p, 10).ok_or_else(short)?;
                let b = u64_at(p, 18).ok_or_else(short)?;
                let c = u64_at(p, 26).ok_or_else(short)?;
                let d = u64_at(p, 34).ok_or_else(short)?;
                let batch =
                    Batch::decode(&p[42..]).map_err(|e| format!("input {entry_seq}: {e}"))?;
                let source = match tag {
                    0 => Source::Ring {
                        ring_id: a,
                        first_index: b,
                        end_index: c,
                        own_seq: d,
                    },
                    1 => Source::Remote,
                    other => return Err(format!("input {entry_seq}: unknown source {other}")),
                };
                Ok(Entry::Input(Input {
                    entry_seq,
                    source,
                    batch,
                }))
            }
            FLUSH_START | DONE => {
                let batch_seq = u64_at(p, 1).ok_or_else(short)?;
                let upto = u64_at(p, 9).ok_or_else(short)?;
                Ok(if kind == DONE {
                    Entry::Done { batch_seq, upto }
                } else {
                    Entry::FlushStart { batch_seq, upto }
                })
            }
            SNAPSHOT => {
                let mut s = Snapshot {
                    spool_id: u64_at(p, 1).ok_or_else(short)?,
                    next_own_seq: u64_at(p, 9).ok_or_else(short)?,
                    next_entry_seq: u64_at(p, 17).ok_or_else(short)?,
                    next_batch_seq: u64_at(p, 25).ok_or_else(short)?,
                    done_upto: u64_at(p, 33).ok_or_else(short)?,
                    ..Snapshot::default()
                };
                let mut at = 41;
                let rings = u32_at(p, at).ok_or_else(short)?;
                at += 4;
                for _ in 0..rings {
                    s.rings.push((
                        u64_at(p, at).ok_or_else(short)?,
                        u64_at(p, at + 8).ok_or_else(short)?,
                    ));
                    at += 16;
                }
                let origins = u32_at(p, at).ok_or_else(short)?;
                at += 4;
                for _ in 0..origins {
                    let origin = u64_at(p, at).ok_or_else(short)?;
                    let floor = u64_at(p, at + 8).ok_or_else(short)?;
                    let n = u32_at(p, at + 16).ok_or_else(short)?;
                    at += 20;
                    let mut above = Vec::new();
                    for _ in 0..n {
                        above.push(u64_at(p, at).ok_or_else(short)?);
                        at += 8;
                    }
                    s.origins.push((origin, floor, above));
                }
                Ok(Entry::Snapshot(s))
            }
            other => Err(format!("unknown entry kind {other}")),
        }
    }
}

/// Splits the next entry off `bytes`: `Ok(Some((payload, total length)))`, `Ok(None)` at a clean
/// end, `Err` for a torn or corrupt entry.
pub fn next_entry(bytes: &[u8]) -> Result<Option<(&[u8], usize)>, String> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let len = u32_at(bytes, 0).ok_or("torn entry header")? as usize;
    let crc = u32_at(bytes, 4).ok_or("torn entry header")?;
    let payload = bytes.get(8..8 + len).ok_or_else(|| {
        format!(
            "torn entry: {len} bytes announced, {} there",
            bytes.len() - 8
        )
    })?;
    if crc32c(payload) != crc {
        return Err("entry checksum does not match".to_owned());
    }
    Ok(Some((payload, 8 + len)))
}
