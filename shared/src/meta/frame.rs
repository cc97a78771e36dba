//! The frame every ironpool TCP link between hosts uses (metarelay → metawriter, remote sites,
//! alerts): a fixed header, a body, and an HMAC-SHA256 tag over both with a pre-shared key, so
//! that nobody without the key can inject shares or alerts.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `IPMF` |
//! | 4 | 1 | version (1) |
//! | 5 | 1 | kind ([`FrameKind`]) |
//! | 6 | 2 | reserved, zero |
//! | 8 | 4 | body length, little-endian |
//! | 12 | n | body |
//! | 12 + n | 32 | HMAC-SHA256(key, header ‖ body) |
//!
//! A reader checks the header before it reads the body (an oversized length is refused before any
//! memory is committed to it), then the tag, then decodes the body (`message`).

use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
use std::fmt;

pub const FRAME_HEADER_BYTES: usize = 12;
pub const FRAME_TAG_BYTES: usize = 32;
const MAGIC: [u8; 4] = *b"IPMF";
const VERSION: u8 = 1;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Share-ring records from one origin, with an id (origin, sequence).
    Batch = 1,
    /// A batch is stored (or was a duplicate): the sender may forget it.
    Ack = 2,
    /// A batch was refused, with the reason; the link stays up.
    Nack = 3,
    /// An error-level event for alertcenter.
    Alert = 4,
    /// Early tips and blocks between the jobmaster, bitpeer, poolbench and blockmasters
    /// (`crate::relay`).
    Relay = 5,
}

impl FrameKind {
    fn from_byte(byte: u8) -> Option<FrameKind> {
        match byte {
            1 => Some(FrameKind::Batch),
            2 => Some(FrameKind::Ack),
            3 => Some(FrameKind::Nack),
            4 => Some(FrameKind::Alert),
            5 => Some(FrameKind::Relay),
            _ => None,
        }
    }
}

/// The pre-shared key of a link (at least 16 bytes; never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct PresharedKey(Vec<u8>);

impl fmt::Debug for PresharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PresharedKey({} bytes)", self.0.len())
    }
}

/// Shortest key accepted.
pub const KEY_BYTES_MIN: usize = 16;

impl PresharedKey {
    /// # Errors
    ///
    /// A key shorter than 16 bytes.
    pub fn new(bytes: &[u8]) -> Result<PresharedKey, FrameError> {
        if bytes.len() < KEY_BYTES_MIN {
            return Err(FrameError::KeyTooShort {
                found: bytes.len(),
                min: KEY_BYTES_MIN,
            });
        }
        Ok(PresharedKey(bytes.to_vec()))
    }

    fn tag(&self, header: &[u8], body: &[u8]) -> [u8; 32] {
        let mut engine = hmac::HmacEngine::<sha256::Hash>::new(&self.0);
        engine.input(header);
        engine.input(body);
        hmac::Hmac::<sha256::Hash>::from_engine(engine).to_byte_array()
    }

    /// Checks `tag` against header and body, in constant time.
    ///
    /// # Errors
    ///
    /// [`FrameError::Tag`] when it does not match.
    pub fn verify(&self, header: &[u8], body: &[u8], tag: &[u8]) -> Result<(), FrameError> {
        let expected = self.tag(header, body);
        if tag.len() != expected.len() {
            return Err(FrameError::Tag);
        }
        let difference = expected
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference == 0 {
            Ok(())
        } else {
            Err(FrameError::Tag)
        }
    }
}

/// A frame that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame magic is {found:02x?}, expected \"IPMF\"")]
    Magic { found: [u8; 4] },
    #[error("frame version is {found}, expected 1")]
    Version { found: u8 },
    #[error("frame kind {found} is unknown")]
    Kind { found: u8 },
    #[error("frame reserved bytes are {found:#06x}, expected 0")]
    Reserved { found: u16 },
    /// The body is longer than the receiver accepts; the reader may skip it and go on.
    #[error("frame body is {found} bytes, at most {max} accepted")]
    Oversize { found: u32, max: u32 },
    #[error("frame authentication tag does not match (wrong key, or altered in transit)")]
    Tag,
    #[error("pre-shared key is {found} bytes, at least {min} required")]
    KeyTooShort { found: usize, min: usize },
}

/// A checked frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub kind: FrameKind,
    pub body_len: u32,
}

impl FrameHeader {
    /// Parses and checks a header.
    ///
    /// # Errors
    ///
    /// Magic, version, reserved bytes and kind, in that order; then [`FrameError::Oversize`] when
    /// the body exceeds `max_body` (the only error after which the stream is still in step: the
    /// caller may skip `body_len + 32` bytes). `Kind` errors are also in step.
    pub fn parse(
        bytes: &[u8; FRAME_HEADER_BYTES],
        max_body: u32,
    ) -> Result<FrameHeader, FrameError> {
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if magic != MAGIC {
            return Err(FrameError::Magic { found: magic });
        }
        if bytes[4] != VERSION {
            return Err(FrameError::Version { found: bytes[4] });
        }
        let reserved = u16::from_le_bytes([bytes[6], bytes[7]]);
        if reserved != 0 {
            return Err(FrameError::Reserved { found: reserved });
        }
        let body_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        let kind = FrameKind::from_byte(bytes[5]).ok_or(FrameError::Kind { found: bytes[5] })?;
        if body_len > max_body {
            return Err(FrameError::Oversize {
                found: body_len,
                max: max_body,
            });
        }
        Ok(FrameHeader { kind, body_len })
    }

    /// The raw kind byte and length of a header whose magic and version are right, for skipping
    /// a frame that [`parse`](Self::parse) refused as oversized or of an unknown kind.
    pub fn skippable_len(bytes: &[u8; FRAME_HEADER_BYTES]) -> Option<u32> {
        (bytes[0..4] == MAGIC && bytes[4] == VERSION)
            .then(|| u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]))
    }
}

/// Encodes a whole frame: header, body, tag.
///
/// # Panics
///
/// Never for bodies below 4 GiB; callers bound their bodies far below that.
pub fn encode_frame(key: &PresharedKey, kind: FrameKind, body: &[u8]) -> Vec<u8> {
    let body_len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + body.len() + FRAME_TAG_BYTES);
    frame.extend_from_slice(&MAGIC);
    frame.push(VERSION);
    frame.push(kind as u8);
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&body_len.to_le_bytes());
    frame.extend_from_slice(body);
    let tag = key.tag(&frame[..FRAME_HEADER_BYTES], body);
    frame.extend_from_slice(&tag);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> PresharedKey {
        PresharedKey::new(&[byte; 32]).expect("long enough")
    }

    fn split(frame: &[u8]) -> ([u8; FRAME_HEADER_BYTES], &[u8], &[u8]) {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        header.copy_from_slice(&frame[..FRAME_HEADER_BYTES]);
        let body_end = frame.len() - FRAME_TAG_BYTES;
        (
            header,
            &frame[FRAME_HEADER_BYTES..body_end],
            &frame[body_end..],
        )
    }

    #[test]
    fn a_frame_verifies_with_its_key_only() {
        let frame = encode_frame(&key(7), FrameKind::Batch, b"hello");
        let (header, body, tag) = split(&frame);
        let parsed = FrameHeader::parse(&header, 1024).expect("valid header");
        assert_eq!(
            parsed,
            FrameHeader {
                kind: FrameKind::Batch,
                body_len: 5
            }
        );
        assert_eq!(body, b"hello");
        assert_eq!(key(7).verify(&header, body, tag), Ok(()));
        assert_eq!(key(8).verify(&header, body, tag), Err(FrameError::Tag));
        // Any altered byte of header, body or tag is caught.
        for i in 0..frame.len() {
            let mut bad = frame.clone();
            bad[i] ^= 0x40;
            let (header, body, tag) = split(&bad);
            let header_ok = FrameHeader::parse(&header, 1024).is_ok();
            assert!(
                !header_ok || key(7).verify(&header, body, tag).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn headers_are_checked_field_by_field() {
        let frame = encode_frame(&key(1), FrameKind::Ack, &[0u8; 100]);
        let (good, _, _) = split(&frame);
        let mut bad = good;
        bad[0] = b'X';
        assert!(matches!(
            FrameHeader::parse(&bad, 1024),
            Err(FrameError::Magic { .. })
        ));
        let mut bad = good;
        bad[4] = 2;
        assert_eq!(
            FrameHeader::parse(&bad, 1024),
            Err(FrameError::Version { found: 2 })
        );
        let mut bad = good;
        bad[5] = 9;
        assert_eq!(
            FrameHeader::parse(&bad, 1024),
            Err(FrameError::Kind { found: 9 })
        );
        assert_eq!(FrameHeader::skippable_len(&bad), Some(100));
        let mut bad = good;
        bad[7] = 1;
        assert_eq!(
            FrameHeader::parse(&bad, 1024),
            Err(FrameError::Reserved { found: 256 })
        );
        assert_eq!(
            FrameHeader::parse(&good, 99),
            Err(FrameError::Oversize {
                found: 100,
                max: 99
            })
        );
        assert_eq!(FrameHeader::skippable_len(&good), Some(100));
    }

    #[test]
    fn short_keys_are_refused_and_never_printed() {
        assert_eq!(
            PresharedKey::new(b"short"),
            Err(FrameError::KeyTooShort { found: 5, min: 16 })
        );
        let printed = format!("{:?}", key(0x41));
        assert!(!printed.contains("AAAA") && printed.contains("32 bytes"));
    }
}
