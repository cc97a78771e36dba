//! The bodies of the frames (`frame`): batches of share-ring records, their acknowledgements and
//! refusals, and alerts. Little-endian, length-prefixed strings; every decoder checks every length
//! against what is left and reports the field that is wrong.

use crate::ring::{DecodeError, EncodedShare, RECORD_BYTES};

/// Longest coin key (`btc`).
pub const COIN_BYTES_MAX: usize = 16;
/// Longest host name.
pub const HOST_BYTES_MAX: usize = 64;
/// Longest alert message (longer ones are cut by the sender).
pub const ALERT_BYTES_MAX: usize = 8192;
/// Longest refusal reason.
pub const REASON_BYTES_MAX: usize = 1024;

/// A body that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("{field}: body ends after {found} bytes, {needed} needed")]
    Truncated {
        field: &'static str,
        needed: usize,
        found: usize,
    },
    #[error("{field}: {found} bytes, at most {max}")]
    TooLong {
        field: &'static str,
        found: usize,
        max: usize,
    },
    #[error("{field}: not UTF-8")]
    Utf8 { field: &'static str },
    #[error("{field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    #[error("{extra} bytes after the end of the message")]
    Trailing { extra: usize },
    #[error("record {index}: {source}")]
    Record { index: usize, source: DecodeError },
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], MessageError> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(MessageError::Truncated {
                field,
                needed: n,
                found: left,
            });
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, MessageError> {
        Ok(self.take(field, 1)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, MessageError> {
        let b = self.take(field, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, MessageError> {
        let b = self.take(field, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, MessageError> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(field, 8)?);
        Ok(u64::from_le_bytes(word))
    }

    fn text(
        &mut self,
        field: &'static str,
        len: usize,
        max: usize,
    ) -> Result<String, MessageError> {
        if len > max {
            return Err(MessageError::TooLong {
                field,
                found: len,
                max,
            });
        }
        let bytes = self.take(field, len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| MessageError::Utf8 { field })
    }

    fn short_text(&mut self, field: &'static str, max: usize) -> Result<String, MessageError> {
        let len = usize::from(self.u8(field)?);
        self.text(field, len, max)
    }

    fn long_text(&mut self, field: &'static str, max: usize) -> Result<String, MessageError> {
        let len = usize::from(self.u16(field)?);
        self.text(field, len, max)
    }

    fn finish(&self) -> Result<(), MessageError> {
        match self.bytes.len() - self.at {
            0 => Ok(()),
            extra => Err(MessageError::Trailing { extra }),
        }
    }
}

fn put_short(out: &mut Vec<u8>, text: &str, max: usize) {
    let len = text.len().min(max).min(255);
    out.push(len as u8);
    out.extend_from_slice(&text.as_bytes()[..len]);
}

fn put_long(out: &mut Vec<u8>, text: &str, max: usize) {
    // Cut on a character boundary, so the receiver's UTF-8 check passes.
    let mut len = text.len().min(max).min(usize::from(u16::MAX));
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&text.as_bytes()[..len]);
}

/// Share-ring records of one origin (a gateway host's ring, a metarelay's spool), in order.
/// `(origin, seq)` identifies the batch everywhere: a receiver stores each id once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// A random id the origin chose once and keeps in its spool.
    pub origin: u64,
    /// Increases by one per batch of the origin.
    pub seq: u64,
    /// Coin key, lower case (`btc`).
    pub coin: String,
    /// The gateway host the records come from (for the `mh` monitor keys).
    pub host: String,
    pub records: Vec<EncodedShare>,
}

impl Batch {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.records.len() * RECORD_BYTES);
        out.extend_from_slice(&self.origin.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        put_short(&mut out, &self.coin, COIN_BYTES_MAX);
        put_short(&mut out, &self.host, HOST_BYTES_MAX);
        out.extend_from_slice(&(self.records.len() as u32).to_le_bytes());
        for record in &self.records {
            out.extend_from_slice(record.as_bytes());
        }
        out
    }

    /// # Errors
    ///
    /// The first field that is wrong; a record that does not decode gives its index.
    pub fn decode(body: &[u8]) -> Result<Batch, MessageError> {
        let mut r = Reader { bytes: body, at: 0 };
        let origin = r.u64("origin")?;
        let seq = r.u64("seq")?;
        let coin = r.short_text("coin", COIN_BYTES_MAX)?;
        if coin.is_empty() {
            return Err(MessageError::Invalid {
                field: "coin",
                reason: "empty",
            });
        }
        let host = r.short_text("host", HOST_BYTES_MAX)?;
        let count = r.u32("record count")? as usize;
        let left = body.len() - r.at;
        if count.checked_mul(RECORD_BYTES) != Some(left) {
            return Err(MessageError::Invalid {
                field: "record count",
                reason: "does not match the bytes that follow",
            });
        }
        let mut records = Vec::with_capacity(count);
        for index in 0..count {
            let bytes = r.take("records", RECORD_BYTES)?;
            records.push(
                EncodedShare::from_bytes(bytes)
                    .map_err(|source| MessageError::Record { index, source })?,
            );
        }
        r.finish()?;
        Ok(Batch {
            origin,
            seq,
            coin,
            host,
            records,
        })
    }
}

/// What happened to an acknowledged batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AckOutcome {
    /// Stored durably for the first time.
    Stored = 0,
    /// Already stored before (a replay): nothing was counted again.
    Duplicate = 1,
}

/// A batch is safe at the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub origin: u64,
    pub seq: u64,
    pub outcome: AckOutcome,
}

impl Ack {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17);
        out.extend_from_slice(&self.origin.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.push(self.outcome as u8);
        out
    }

    /// # Errors
    ///
    /// A truncated body, trailing bytes, an unknown outcome.
    pub fn decode(body: &[u8]) -> Result<Ack, MessageError> {
        let mut r = Reader { bytes: body, at: 0 };
        let origin = r.u64("origin")?;
        let seq = r.u64("seq")?;
        let outcome = match r.u8("outcome")? {
            0 => AckOutcome::Stored,
            1 => AckOutcome::Duplicate,
            _ => {
                return Err(MessageError::Invalid {
                    field: "outcome",
                    reason: "neither 0 (stored) nor 1 (duplicate)",
                })
            }
        };
        r.finish()?;
        Ok(Ack {
            origin,
            seq,
            outcome,
        })
    }
}

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NackCode {
    /// The body does not decode.
    Malformed = 1,
    /// The authentication tag is wrong.
    Authentication = 2,
    /// The body is larger than the receiver accepts.
    Oversize = 3,
    /// The coin is not configured at the receiver.
    UnknownCoin = 4,
    /// The receiver cannot store it now (disk); send again later.
    Unavailable = 5,
    /// A frame kind the receiver does not take.
    UnexpectedKind = 6,
}

impl NackCode {
    fn from_byte(byte: u8) -> Option<NackCode> {
        match byte {
            1 => Some(NackCode::Malformed),
            2 => Some(NackCode::Authentication),
            3 => Some(NackCode::Oversize),
            4 => Some(NackCode::UnknownCoin),
            5 => Some(NackCode::Unavailable),
            6 => Some(NackCode::UnexpectedKind),
            _ => None,
        }
    }

    /// Whether sending the same batch again can succeed.
    pub fn is_retryable(self) -> bool {
        self == NackCode::Unavailable
    }
}

/// A refused frame. `origin` and `seq` are zero when the batch could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    pub origin: u64,
    pub seq: u64,
    pub code: NackCode,
    pub reason: String,
}

impl Nack {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(19 + self.reason.len());
        out.extend_from_slice(&self.origin.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.push(self.code as u8);
        put_long(&mut out, &self.reason, REASON_BYTES_MAX);
        out
    }

    /// # Errors
    ///
    /// A truncated body, trailing bytes, an unknown code, a bad reason.
    pub fn decode(body: &[u8]) -> Result<Nack, MessageError> {
        let mut r = Reader { bytes: body, at: 0 };
        let origin = r.u64("origin")?;
        let seq = r.u64("seq")?;
        let code = NackCode::from_byte(r.u8("code")?).ok_or(MessageError::Invalid {
            field: "code",
            reason: "unknown refusal code",
        })?;
        let reason = r.long_text("reason", REASON_BYTES_MAX)?;
        r.finish()?;
        Ok(Nack {
            origin,
            seq,
            code,
            reason,
        })
    }
}

/// An error-level event of some process, for alertcenter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The sending host (`alert.host` in ViaBTC).
    pub host: String,
    /// The process role (`gateway`, `jobmaster`, …).
    pub process: String,
    /// The event, as one line.
    pub message: String,
}

impl Alert {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.message.len());
        put_short(&mut out, &self.host, HOST_BYTES_MAX);
        put_short(&mut out, &self.process, HOST_BYTES_MAX);
        put_long(&mut out, &self.message, ALERT_BYTES_MAX);
        out
    }

    /// # Errors
    ///
    /// A truncated body, trailing bytes, a field too long or not UTF-8.
    pub fn decode(body: &[u8]) -> Result<Alert, MessageError> {
        let mut r = Reader { bytes: body, at: 0 };
        let host = r.short_text("host", HOST_BYTES_MAX)?;
        let process = r.short_text("process", HOST_BYTES_MAX)?;
        let message = r.long_text("message", ALERT_BYTES_MAX)?;
        r.finish()?;
        Ok(Alert {
            host,
            process,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::{RecordDetail, ShareKind, ShareRecord};

    fn record(i: u32) -> EncodedShare {
        ShareRecord {
            kind: ShareKind::Share,
            shard_id: 1,
            session_id: u64::from(i),
            job_id: i,
            extranonce1: vec![1, 2, 3, 4],
            extranonce2: vec![0; 8],
            ntime: 0,
            nonce: i,
            version: 0x2000_0000,
            share_difficulty: 1.5,
            accepted_at_ms: 1_790_000_000_000,
            user: "alice".to_owned(),
            worker: "rig1".to_owned(),
            network_difficulty: 1e6,
            detail: RecordDetail::None,
        }
        .encode()
        .expect("fits")
    }

    fn batch() -> Batch {
        Batch {
            origin: 0xfeed,
            seq: 42,
            coin: "btc".to_owned(),
            host: "10.0.0.7".to_owned(),
            records: (0..3).map(record).collect(),
        }
    }

    #[test]
    fn every_message_round_trips() {
        assert_eq!(Batch::decode(&batch().encode()), Ok(batch()));
        let ack = Ack {
            origin: 1,
            seq: 2,
            outcome: AckOutcome::Duplicate,
        };
        assert_eq!(Ack::decode(&ack.encode()), Ok(ack));
        let nack = Nack {
            origin: 1,
            seq: 2,
            code: NackCode::UnknownCoin,
            reason: "coin \"doge\" is not configured".to_owned(),
        };
        assert_eq!(Nack::decode(&nack.encode()), Ok(nack));
        let alert = Alert {
            host: "h1".to_owned(),
            process: "jobmaster".to_owned(),
            message: "node unreachable".to_owned(),
        };
        assert_eq!(Alert::decode(&alert.encode()), Ok(alert));
    }

    #[test]
    fn batches_with_bad_counts_records_or_tails_are_refused_with_the_field() {
        let good = batch().encode();
        assert!(matches!(
            Batch::decode(&good[..good.len() - 1]),
            Err(MessageError::Invalid {
                field: "record count",
                ..
            })
        ));
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(
            Batch::decode(&longer),
            Err(MessageError::Invalid {
                field: "record count",
                ..
            })
        ));
        let mut bad_record = good.clone();
        let second_record = good.len() - 2 * RECORD_BYTES + 100;
        bad_record[second_record] ^= 1;
        assert!(matches!(
            Batch::decode(&bad_record),
            Err(MessageError::Record { index: 1, .. })
        ));
        assert!(matches!(
            Batch::decode(&good[..10]),
            Err(MessageError::Truncated { field: "seq", .. })
        ));
        let mut empty_coin = batch();
        empty_coin.coin.clear();
        assert!(matches!(
            Batch::decode(&empty_coin.encode()),
            Err(MessageError::Invalid { field: "coin", .. })
        ));
        // A count that would overflow the multiplication is caught, not wrapped.
        let mut huge = good[..good.len() - 3 * RECORD_BYTES].to_vec();
        let count_at = huge.len() - 4;
        huge[count_at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Batch::decode(&huge).is_err());
    }

    #[test]
    fn long_texts_are_cut_on_character_boundaries() {
        let alert = Alert {
            host: "h".to_owned(),
            process: "p".to_owned(),
            message: "é".repeat(ALERT_BYTES_MAX),
        };
        let decoded = Alert::decode(&alert.encode()).expect("cut message decodes");
        assert!(decoded.message.len() <= ALERT_BYTES_MAX);
        assert!(decoded.message.chars().all(|c| c == 'é'));
    }

    #[test]
    fn arbitrary_bodies_never_panic() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let good = batch().encode();
        for round in 0..5_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 900) as usize;
            let mut body: Vec<u8> = if round % 2 == 0 {
                good[..len.min(good.len())].to_vec()
            } else {
                (0..len).map(|i| (state >> (i % 56)) as u8).collect()
            };
            if let Some(byte) = body.get_mut(len / 3) {
                *byte ^= state as u8;
            }
            let _ = Batch::decode(&body);
            let _ = Ack::decode(&body);
            let _ = Nack::decode(&body);
            let _ = Alert::decode(&body);
        }
    }
}
