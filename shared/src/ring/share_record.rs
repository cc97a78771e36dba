//! `ShareRecord`: one accepted share, block candidate, rejected share or session event, as a shard
//! hands it to the control plane, and its fixed 256-byte binary encoding (format version 2; version
//! 1 records, which had only shares and block candidates and an all-zero reserved area, still
//! decode).
//!
//! The encoding is explicit and little-endian, independent of Rust's struct layout:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | format version (2) |
//! | 1 | 1 | kind: 1 share, 2 block candidate, 3 rejected share, 4 connected, 5 disconnected, 6 new worker, 7 connections sample |
//! | 2 | 2 | shard id |
//! | 4 | 4 | job id |
//! | 8 | 8 | session id |
//! | 16 | 4 | ntime |
//! | 20 | 4 | nonce |
//! | 24 | 4 | version (the full rolled header version) |
//! | 28 | 1 | extranonce1 length (≤ 8) |
//! | 29 | 1 | extranonce2 length (≤ 16) |
//! | 30 | 1 | user length (≤ 64) |
//! | 31 | 1 | worker length (≤ 64) |
//! | 32 | 8 | share difficulty (IEEE 754 binary64 bits) |
//! | 40 | 8 | accepted at, unix milliseconds |
//! | 48 | 8 | extranonce1, zero-padded |
//! | 56 | 16 | extranonce2, zero-padded |
//! | 72 | 64 | user (UTF-8), zero-padded |
//! | 136 | 64 | worker (UTF-8), zero-padded |
//! | 200 | 8 | network difficulty of the job (binary64 bits; shares and block candidates, else 0) |
//! | 208 | 32 | detail, by kind: block hash (internal byte order) for a block candidate; reject code (1 byte) for a rejected share; peer (family 4 or 6, 16 address bytes, port u16) for connected / disconnected; open sessions (u64) for a connections sample; zero otherwise |
//! | 240 | 12 | reserved, zero |
//! | 252 | 4 | CRC-32C of bytes 0..252 |
//!
//! The encoding is canonical: [`ShareRecord::decode`] accepts exactly the byte strings that
//! [`ShareRecord::encode`] produces (padding must be zero, lengths in range, strings UTF-8, the
//! difficulty finite and positive for shares and block candidates, finite and not negative otherwise,
//! the detail matching the kind, the checksum right), and reports the first violation found.
//! Decoding never panics, whatever the bytes.

#![forbid(unsafe_code)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::checksum::crc32c;

/// Size of one encoded record, and of a share ring slot.
pub const RECORD_BYTES: usize = 256;
/// The format version this module writes and reads.
pub const RECORD_FORMAT_VERSION: u8 = 2;
/// The first format (shares and block candidates only), still accepted on decode.
const RECORD_FORMAT_V1: u8 = 1;
/// Longest extranonce1 a record holds, in bytes.
pub const EXTRANONCE1_BYTES_MAX: usize = 8;
/// Longest extranonce2 a record holds, in bytes.
pub const EXTRANONCE2_BYTES_MAX: usize = 16;
/// Longest user name a record holds, in bytes of UTF-8.
pub const USER_BYTES_MAX: usize = 64;
/// Longest worker name a record holds, in bytes of UTF-8.
pub const WORKER_BYTES_MAX: usize = 64;

const KIND: usize = 1;
const SHARD_ID: usize = 2;
const JOB_ID: usize = 4;
const SESSION_ID: usize = 8;
const NTIME: usize = 16;
const NONCE: usize = 20;
const VERSION: usize = 24;
const EXTRANONCE1_LEN: usize = 28;
const EXTRANONCE2_LEN: usize = 29;
const USER_LEN: usize = 30;
const WORKER_LEN: usize = 31;
const DIFFICULTY: usize = 32;
const ACCEPTED_AT: usize = 40;
const EXTRANONCE1: usize = 48;
const EXTRANONCE2: usize = 56;
const USER: usize = 72;
const WORKER: usize = 136;
const NETWORK_DIFFICULTY: usize = 200;
const DETAIL: usize = 208;
const DETAIL_BYTES: usize = 32;
const RESERVED: usize = 240;
const CHECKSUM: usize = 252;

const _: () = assert!(EXTRANONCE1 + EXTRANONCE1_BYTES_MAX == EXTRANONCE2);
const _: () = assert!(EXTRANONCE2 + EXTRANONCE2_BYTES_MAX == USER);
const _: () = assert!(USER + USER_BYTES_MAX == WORKER);
const _: () = assert!(WORKER + WORKER_BYTES_MAX == NETWORK_DIFFICULTY);
const _: () = assert!(DETAIL + DETAIL_BYTES == RESERVED);
const _: () = assert!(CHECKSUM + 4 == RECORD_BYTES);

/// What a record reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ShareKind {
    /// A share that met the session difficulty.
    Share = 1,
    /// A submission that met the network target: submit it as a block.
    BlockCandidate = 2,
    /// A submission refused after the session was authorized (detail: the reject code).
    Reject = 3,
    /// A session authorized its first worker (detail: the peer).
    Connected = 4,
    /// An authorized session ended (detail: the peer).
    Disconnected = 5,
    /// The first accepted share of a worker not seen on this shard within the hour.
    NewWorker = 6,
    /// Authorized sessions open on the shard, sampled once a minute (detail: the count).
    Connections = 7,
}

impl ShareKind {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(ShareKind::Share),
            2 => Some(ShareKind::BlockCandidate),
            3 => Some(ShareKind::Reject),
            4 => Some(ShareKind::Connected),
            5 => Some(ShareKind::Disconnected),
            6 => Some(ShareKind::NewWorker),
            7 => Some(ShareKind::Connections),
            _ => None,
        }
    }

    /// Shares and block candidates credit work: their difficulty must be positive.
    pub fn credits_work(self) -> bool {
        matches!(self, ShareKind::Share | ShareKind::BlockCandidate)
    }

    /// The detail a record of this kind carries.
    fn detail_kind(self) -> DetailKind {
        match self {
            ShareKind::Share | ShareKind::NewWorker => DetailKind::None,
            ShareKind::BlockCandidate => DetailKind::BlockHash,
            ShareKind::Reject => DetailKind::RejectCode,
            ShareKind::Connected | ShareKind::Disconnected => DetailKind::Peer,
            ShareKind::Connections => DetailKind::Count,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DetailKind {
    None,
    BlockHash,
    RejectCode,
    Peer,
    Count,
}

/// What a record carries besides the share fields; which one is fixed by its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordDetail {
    None,
    /// The block hash in internal byte order (block candidates).
    BlockHash([u8; 32]),
    /// The stratum error code of the rejection (rejected shares).
    RejectCode(u8),
    /// The miner's address (connected, disconnected).
    Peer(SocketAddr),
    /// Open authorized sessions (connections samples).
    Count(u64),
}

impl RecordDetail {
    /// The all-zero detail of `kind` (a zero hash, code 0, `0.0.0.0:0`, count 0).
    pub fn zero_for(kind: ShareKind) -> RecordDetail {
        match kind.detail_kind() {
            DetailKind::None => RecordDetail::None,
            DetailKind::BlockHash => RecordDetail::BlockHash([0; 32]),
            DetailKind::RejectCode => RecordDetail::RejectCode(0),
            DetailKind::Peer => RecordDetail::Peer(SocketAddr::from(([0, 0, 0, 0], 0))),
            DetailKind::Count => RecordDetail::Count(0),
        }
    }

    fn kind(&self) -> DetailKind {
        match self {
            RecordDetail::None => DetailKind::None,
            RecordDetail::BlockHash(_) => DetailKind::BlockHash,
            RecordDetail::RejectCode(_) => DetailKind::RejectCode,
            RecordDetail::Peer(_) => DetailKind::Peer,
            RecordDetail::Count(_) => DetailKind::Count,
        }
    }

    fn write(&self, out: &mut [u8]) {
        match self {
            RecordDetail::None => {}
            RecordDetail::BlockHash(hash) => out[..32].copy_from_slice(hash),
            RecordDetail::RejectCode(code) => out[0] = *code,
            RecordDetail::Peer(peer) => {
                let (family, address) = match peer.ip() {
                    IpAddr::V4(v4) => {
                        let mut address = [0u8; 16];
                        address[..4].copy_from_slice(&v4.octets());
                        (4, address)
                    }
                    IpAddr::V6(v6) => (6, v6.octets()),
                };
                out[0] = family;
                out[1..17].copy_from_slice(&address);
                out[17..19].copy_from_slice(&peer.port().to_le_bytes());
            }
            RecordDetail::Count(count) => out[..8].copy_from_slice(&count.to_le_bytes()),
        }
    }

    /// Reads the detail of `kind` from `bytes`; `None` when the bytes are not canonical.
    fn read(kind: DetailKind, bytes: &[u8]) -> Option<RecordDetail> {
        let zero_from = |from: usize| bytes[from..].iter().all(|&b| b == 0);
        match kind {
            DetailKind::None => zero_from(0).then_some(RecordDetail::None),
            DetailKind::BlockHash => {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&bytes[..32]);
                Some(RecordDetail::BlockHash(hash))
            }
            DetailKind::RejectCode => zero_from(1).then_some(RecordDetail::RejectCode(bytes[0])),
            DetailKind::Peer => {
                if !zero_from(19) {
                    return None;
                }
                let mut address = [0u8; 16];
                address.copy_from_slice(&bytes[1..17]);
                let port = u16::from_le_bytes([bytes[17], bytes[18]]);
                let ip = match bytes[0] {
                    4 if address[4..].iter().all(|&b| b == 0) => IpAddr::V4(Ipv4Addr::new(
                        address[0], address[1], address[2], address[3],
                    )),
                    6 => IpAddr::V6(Ipv6Addr::from(address)),
                    _ => return None,
                };
                Some(RecordDetail::Peer(SocketAddr::new(ip, port)))
            }
            DetailKind::Count => {
                let mut word = [0u8; 8];
                word.copy_from_slice(&bytes[..8]);
                zero_from(8).then_some(RecordDetail::Count(u64::from_le_bytes(word)))
            }
        }
    }
}

/// One accepted share, block candidate, rejected share or session event.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareRecord {
    pub kind: ShareKind,
    pub shard_id: u16,
    pub session_id: u64,
    pub job_id: u32,
    /// At most [`EXTRANONCE1_BYTES_MAX`] bytes.
    pub extranonce1: Vec<u8>,
    /// At most [`EXTRANONCE2_BYTES_MAX`] bytes.
    pub extranonce2: Vec<u8>,
    pub ntime: u32,
    pub nonce: u32,
    /// The full rolled header version.
    pub version: u32,
    /// Finite; positive for shares and block candidates, else not negative (0 for events).
    pub share_difficulty: f64,
    /// The network difficulty of the job (finite, not negative; 0 when not known or not a share).
    pub network_difficulty: f64,
    /// Must match the kind (see [`RecordDetail`]).
    pub detail: RecordDetail,
    /// Unix milliseconds.
    pub accepted_at_ms: u64,
    /// At most [`USER_BYTES_MAX`] bytes of UTF-8.
    pub user: String,
    /// At most [`WORKER_BYTES_MAX`] bytes of UTF-8.
    pub worker: String,
}

/// A record that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A variable-length field is longer than its slot in the record.
    #[error("{field} is {found} bytes, at most {max} fit in a share record")]
    FieldTooLong {
        field: &'static str,
        max: usize,
        found: usize,
    },
    /// The share difficulty is zero, negative, infinite or NaN (given as its bits).
    #[error("share difficulty {} is not finite and positive", f64::from_bits(*.bits))]
    Difficulty { bits: u64 },
    /// The network difficulty is negative, infinite or NaN (given as its bits).
    #[error("network difficulty {} is not finite and not negative", f64::from_bits(*.bits))]
    NetworkDifficulty { bits: u64 },
    /// The detail does not belong to the kind.
    #[error("a {kind:?} record cannot carry the detail {detail:?}")]
    Detail {
        kind: ShareKind,
        detail: RecordDetail,
    },
}

/// Bytes that are not a valid encoded record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is not exactly one record long.
    #[error("share record is {found} bytes, expected {expected}")]
    Length { expected: usize, found: usize },
    /// The record was written in another format version.
    #[error("share record format version is {found}, expected {expected}")]
    FormatVersion { expected: u8, found: u8 },
    /// The stored checksum does not match the bytes.
    #[error("share record checksum is {found:#010x}, the bytes give {expected:#010x}")]
    Checksum { expected: u32, found: u32 },
    /// The kind byte is neither 1 (share) nor 2 (block candidate).
    #[error("share record kind is {found}, expected 1..=7 (1..=2 in format version 1)")]
    Kind { found: u8 },
    /// A length byte exceeds its field.
    #[error("share record {field} length is {found}, at most {max}")]
    FieldLength {
        field: &'static str,
        max: usize,
        found: usize,
    },
    /// A byte past a field's length, or in the reserved area, is not zero.
    #[error("share record has a non-zero padding byte in {field} at offset {offset}")]
    Padding { field: &'static str, offset: usize },
    /// A string field is not UTF-8.
    #[error("share record {field} is not UTF-8 (valid up to byte {valid_up_to})")]
    Utf8 {
        field: &'static str,
        valid_up_to: usize,
    },
    /// The difficulty is not valid for the kind.
    #[error("share record difficulty {} is not valid for its kind", f64::from_bits(*.bits))]
    Difficulty { bits: u64 },
    /// The network difficulty is negative, infinite or NaN.
    #[error("share record network difficulty {} is not finite and not negative", f64::from_bits(*.bits))]
    NetworkDifficulty { bits: u64 },
    /// The detail bytes do not fit the kind (a bad address family, non-zero unused bytes).
    #[error("share record detail does not fit its kind {kind}")]
    Detail { kind: u8 },
}

/// A record in its 256-byte wire form, as it sits in a ring slot or a spool entry.
///
/// Only [`ShareRecord::encode`] and [`EncodedShare::from_bytes`] (which validates) build one, so its
/// bytes always decode.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedShare {
    bytes: [u8; RECORD_BYTES],
}

impl fmt::Debug for EncodedShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedShare")
            .field("kind", &self.kind())
            .field(
                "checksum",
                &format_args!("{:#010x}", u32_at(&self.bytes, CHECKSUM)),
            )
            .finish()
    }
}

impl EncodedShare {
    /// Validates `bytes` as a complete record (the same checks as [`ShareRecord::decode`]).
    ///
    /// # Errors
    ///
    /// The first problem found, as [`DecodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let array = as_record(bytes)?;
        check(array)?;
        Ok(EncodedShare { bytes: *array })
    }

    /// The kind byte (valid by construction).
    pub fn kind(&self) -> ShareKind {
        ShareKind::from_byte(self.bytes[KIND]).unwrap_or(ShareKind::Share)
    }

    /// The user name, without decoding the record.
    pub fn user(&self) -> &str {
        let len = usize::from(self.bytes[USER_LEN]);
        std::str::from_utf8(&self.bytes[USER..USER + len]).unwrap_or_default()
    }

    /// The worker name, without decoding the record.
    pub fn worker(&self) -> &str {
        let len = usize::from(self.bytes[WORKER_LEN]);
        std::str::from_utf8(&self.bytes[WORKER..WORKER + len]).unwrap_or_default()
    }

    pub fn share_difficulty(&self) -> f64 {
        f64::from_bits(u64_at(&self.bytes, DIFFICULTY))
    }

    pub fn network_difficulty(&self) -> f64 {
        f64::from_bits(u64_at(&self.bytes, NETWORK_DIFFICULTY))
    }

    pub fn as_bytes(&self) -> &[u8; RECORD_BYTES] {
        &self.bytes
    }

    /// Decodes the record.
    ///
    /// # Errors
    ///
    /// None in practice: the bytes were validated when this value was built.
    pub fn decode(&self) -> Result<ShareRecord, DecodeError> {
        ShareRecord::decode(&self.bytes)
    }
}

fn u16_at(bytes: &[u8; RECORD_BYTES], offset: usize) -> u16 {
    u16::from_le_bytes([bytes[offset], bytes[offset + 1]])
}

fn u32_at(bytes: &[u8; RECORD_BYTES], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8; RECORD_BYTES], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

fn as_record(bytes: &[u8]) -> Result<&[u8; RECORD_BYTES], DecodeError> {
    bytes.try_into().map_err(|_| DecodeError::Length {
        expected: RECORD_BYTES,
        found: bytes.len(),
    })
}

fn valid_difficulty(kind: ShareKind, value: f64) -> bool {
    if kind.credits_work() {
        value.is_finite() && value > 0.0
    } else {
        value.is_finite() && value >= 0.0
    }
}

fn valid_network_difficulty(value: f64) -> bool {
    value.is_finite() && value >= 0.0
}

/// Checks the length byte of a field and that its padding is zero; returns the used bytes.
fn field<'a>(
    bytes: &'a [u8; RECORD_BYTES],
    field: &'static str,
    len_at: usize,
    start: usize,
    max: usize,
) -> Result<&'a [u8], DecodeError> {
    let len = usize::from(bytes[len_at]);
    if len > max {
        return Err(DecodeError::FieldLength {
            field,
            max,
            found: len,
        });
    }
    let (used, padding) = bytes[start..start + max].split_at(len);
    if let Some(position) = padding.iter().position(|&byte| byte != 0) {
        return Err(DecodeError::Padding {
            field,
            offset: start + len + position,
        });
    }
    Ok(used)
}

fn text<'a>(
    bytes: &'a [u8; RECORD_BYTES],
    name: &'static str,
    len_at: usize,
    start: usize,
    max: usize,
) -> Result<&'a str, DecodeError> {
    let used = field(bytes, name, len_at, start, max)?;
    std::str::from_utf8(used).map_err(|error| DecodeError::Utf8 {
        field: name,
        valid_up_to: error.valid_up_to(),
    })
}

/// Every check of the format, in the order the errors are reported.
fn check(bytes: &[u8; RECORD_BYTES]) -> Result<(), DecodeError> {
    // The version first: a record of a later format gets a precise error, not a checksum error.
    let version = bytes[0];
    if version != RECORD_FORMAT_VERSION && version != RECORD_FORMAT_V1 {
        return Err(DecodeError::FormatVersion {
            expected: RECORD_FORMAT_VERSION,
            found: bytes[0],
        });
    }
    let stored = u32_at(bytes, CHECKSUM);
    let computed = crc32c(&bytes[..CHECKSUM]);
    if stored != computed {
        return Err(DecodeError::Checksum {
            expected: computed,
            found: stored,
        });
    }
    let kind = match ShareKind::from_byte(bytes[KIND]) {
        Some(kind) if version == RECORD_FORMAT_VERSION || kind as u8 <= 2 => kind,
        _ => return Err(DecodeError::Kind { found: bytes[KIND] }),
    };
    field(
        bytes,
        "extranonce1",
        EXTRANONCE1_LEN,
        EXTRANONCE1,
        EXTRANONCE1_BYTES_MAX,
    )?;
    field(
        bytes,
        "extranonce2",
        EXTRANONCE2_LEN,
        EXTRANONCE2,
        EXTRANONCE2_BYTES_MAX,
    )?;
    text(bytes, "user", USER_LEN, USER, USER_BYTES_MAX)?;
    text(bytes, "worker", WORKER_LEN, WORKER, WORKER_BYTES_MAX)?;
    // Version 1 had no network difficulty and no detail: the whole area was reserved.
    let reserved_from = if version == RECORD_FORMAT_V1 {
        NETWORK_DIFFICULTY
    } else {
        RESERVED
    };
    if let Some(position) = bytes[reserved_from..CHECKSUM]
        .iter()
        .position(|&byte| byte != 0)
    {
        return Err(DecodeError::Padding {
            field: "reserved",
            offset: reserved_from + position,
        });
    }
    let bits = u64_at(bytes, DIFFICULTY);
    if !valid_difficulty(kind, f64::from_bits(bits)) {
        return Err(DecodeError::Difficulty { bits });
    }
    let bits = u64_at(bytes, NETWORK_DIFFICULTY);
    if !valid_network_difficulty(f64::from_bits(bits)) {
        return Err(DecodeError::NetworkDifficulty { bits });
    }
    if version == RECORD_FORMAT_VERSION
        && RecordDetail::read(kind.detail_kind(), &bytes[DETAIL..RESERVED]).is_none()
    {
        return Err(DecodeError::Detail {
            kind: found_kind(bytes),
        });
    }
    Ok(())
}

fn found_kind(bytes: &[u8; RECORD_BYTES]) -> u8 {
    bytes[KIND]
}

fn check_len(field: &'static str, found: usize, max: usize) -> Result<u8, EncodeError> {
    if found > max {
        return Err(EncodeError::FieldTooLong { field, max, found });
    }
    // Cast: found ≤ max ≤ 64.
    Ok(found as u8)
}

impl ShareRecord {
    /// Encodes the record into its 256-byte form.
    ///
    /// # Errors
    ///
    /// [`EncodeError::FieldTooLong`] when a variable field exceeds its maximum, and
    /// [`EncodeError::Difficulty`] when the difficulty is not finite and positive.
    pub fn encode(&self) -> Result<EncodedShare, EncodeError> {
        let extranonce1_len =
            check_len("extranonce1", self.extranonce1.len(), EXTRANONCE1_BYTES_MAX)?;
        let extranonce2_len =
            check_len("extranonce2", self.extranonce2.len(), EXTRANONCE2_BYTES_MAX)?;
        let user_len = check_len("user", self.user.len(), USER_BYTES_MAX)?;
        let worker_len = check_len("worker", self.worker.len(), WORKER_BYTES_MAX)?;
        if !valid_difficulty(self.kind, self.share_difficulty) {
            return Err(EncodeError::Difficulty {
                bits: self.share_difficulty.to_bits(),
            });
        }
        if !valid_network_difficulty(self.network_difficulty) {
            return Err(EncodeError::NetworkDifficulty {
                bits: self.network_difficulty.to_bits(),
            });
        }
        if self.detail.kind() != self.kind.detail_kind() {
            return Err(EncodeError::Detail {
                kind: self.kind,
                detail: self.detail,
            });
        }
        let mut bytes = [0u8; RECORD_BYTES];
        bytes[0] = RECORD_FORMAT_VERSION;
        bytes[KIND] = self.kind as u8;
        bytes[SHARD_ID..SHARD_ID + 2].copy_from_slice(&self.shard_id.to_le_bytes());
        bytes[JOB_ID..JOB_ID + 4].copy_from_slice(&self.job_id.to_le_bytes());
        bytes[SESSION_ID..SESSION_ID + 8].copy_from_slice(&self.session_id.to_le_bytes());
        bytes[NTIME..NTIME + 4].copy_from_slice(&self.ntime.to_le_bytes());
        bytes[NONCE..NONCE + 4].copy_from_slice(&self.nonce.to_le_bytes());
        bytes[VERSION..VERSION + 4].copy_from_slice(&self.version.to_le_bytes());
        bytes[EXTRANONCE1_LEN] = extranonce1_len;
        bytes[EXTRANONCE2_LEN] = extranonce2_len;
        bytes[USER_LEN] = user_len;
        bytes[WORKER_LEN] = worker_len;
        bytes[DIFFICULTY..DIFFICULTY + 8]
            .copy_from_slice(&self.share_difficulty.to_bits().to_le_bytes());
        bytes[ACCEPTED_AT..ACCEPTED_AT + 8].copy_from_slice(&self.accepted_at_ms.to_le_bytes());
        bytes[EXTRANONCE1..EXTRANONCE1 + self.extranonce1.len()].copy_from_slice(&self.extranonce1);
        bytes[EXTRANONCE2..EXTRANONCE2 + self.extranonce2.len()].copy_from_slice(&self.extranonce2);
        bytes[USER..USER + self.user.len()].copy_from_slice(self.user.as_bytes());
        bytes[WORKER..WORKER + self.worker.len()].copy_from_slice(self.worker.as_bytes());
        bytes[NETWORK_DIFFICULTY..NETWORK_DIFFICULTY + 8]
            .copy_from_slice(&self.network_difficulty.to_bits().to_le_bytes());
        self.detail.write(&mut bytes[DETAIL..RESERVED]);
        let checksum = crc32c(&bytes[..CHECKSUM]);
        bytes[CHECKSUM..].copy_from_slice(&checksum.to_le_bytes());
        debug_assert_eq!(
            check(&bytes),
            Ok(()),
            "encode produced a record decode refuses"
        );
        Ok(EncodedShare { bytes })
    }

    /// Decodes and validates one 256-byte record.
    ///
    /// # Errors
    ///
    /// The first problem found: wrong length, format version, checksum, kind, a length byte out of
    /// range, non-zero padding, a string that is not UTF-8, or a bad difficulty.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let bytes = as_record(bytes)?;
        check(bytes)?;
        let kind =
            ShareKind::from_byte(bytes[KIND]).ok_or(DecodeError::Kind { found: bytes[KIND] })?;
        let used = |len_at: usize, start: usize| &bytes[start..start + usize::from(bytes[len_at])];
        let text =
            |len_at: usize, start: usize| String::from_utf8_lossy(used(len_at, start)).into_owned();
        Ok(ShareRecord {
            kind,
            shard_id: u16_at(bytes, SHARD_ID),
            session_id: u64_at(bytes, SESSION_ID),
            job_id: u32_at(bytes, JOB_ID),
            extranonce1: used(EXTRANONCE1_LEN, EXTRANONCE1).to_vec(),
            extranonce2: used(EXTRANONCE2_LEN, EXTRANONCE2).to_vec(),
            ntime: u32_at(bytes, NTIME),
            nonce: u32_at(bytes, NONCE),
            version: u32_at(bytes, VERSION),
            share_difficulty: f64::from_bits(u64_at(bytes, DIFFICULTY)),
            accepted_at_ms: u64_at(bytes, ACCEPTED_AT),
            // `check` validated both strings as UTF-8, so the lossy conversion copies them as is.
            user: text(USER_LEN, USER),
            worker: text(WORKER_LEN, WORKER),
            network_difficulty: f64::from_bits(u64_at(bytes, NETWORK_DIFFICULTY)),
            // `check` accepted the detail (version 1 records have none).
            detail: RecordDetail::read(kind.detail_kind(), &bytes[DETAIL..RESERVED])
                .unwrap_or(RecordDetail::None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: ShareKind) -> ShareRecord {
        let detail = match kind {
            ShareKind::Share | ShareKind::NewWorker => RecordDetail::None,
            ShareKind::BlockCandidate => RecordDetail::BlockHash([0x5a; 32]),
            ShareKind::Reject => RecordDetail::RejectCode(23),
            ShareKind::Connected => RecordDetail::Peer("192.0.2.7:3333".parse().expect("literal")),
            ShareKind::Disconnected => {
                RecordDetail::Peer("[2001:db8::1]:4444".parse().expect("literal"))
            }
            ShareKind::Connections => RecordDetail::Count(12_345),
        };
        ShareRecord {
            kind,
            shard_id: 3,
            session_id: 0x0102_0304_0506_0708,
            job_id: 0xdead_beef,
            extranonce1: vec![0xaa, 0xbb, 0xcc, 0xdd],
            extranonce2: vec![1, 2, 3, 4, 5, 6, 7, 8],
            ntime: 0x6700_0000,
            nonce: 0x1234_5678,
            version: 0x2000_e000,
            share_difficulty: 65536.5,
            accepted_at_ms: 1_790_000_000_123,
            user: "bc1qexampleuser".to_owned(),
            worker: "rig-ü1".to_owned(),
            network_difficulty: 1.25e14,
            detail,
        }
    }

    const ALL_KINDS: [ShareKind; 7] = [
        ShareKind::Share,
        ShareKind::BlockCandidate,
        ShareKind::Reject,
        ShareKind::Connected,
        ShareKind::Disconnected,
        ShareKind::NewWorker,
        ShareKind::Connections,
    ];

    /// Re-seals `bytes` with a correct checksum, so a test reaches the check behind it.
    fn reseal(bytes: &mut [u8; RECORD_BYTES]) {
        let checksum = crc32c(&bytes[..CHECKSUM]);
        bytes[CHECKSUM..].copy_from_slice(&checksum.to_le_bytes());
    }

    #[test]
    fn roundtrip_keeps_every_field() {
        for kind in ALL_KINDS {
            let record = sample(kind);
            let encoded = record.encode().expect("sample fits");
            assert_eq!(encoded.kind(), kind);
            assert_eq!(ShareRecord::decode(encoded.as_bytes()), Ok(record.clone()));
            assert_eq!(EncodedShare::from_bytes(encoded.as_bytes()), Ok(encoded));
        }
    }

    #[test]
    fn encoding_is_little_endian_at_fixed_offsets() {
        let encoded = sample(ShareKind::BlockCandidate)
            .encode()
            .expect("sample fits");
        let bytes = encoded.as_bytes();
        assert_eq!(bytes[0], 2);
        assert_eq!(bytes[1], 2);
        assert_eq!(&bytes[2..4], &[3, 0]);
        assert_eq!(&bytes[4..8], &[0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(&bytes[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&bytes[20..24], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(bytes[28..32], [4, 8, 15, 7]);
        assert_eq!(&bytes[48..52], &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(&bytes[72..87], b"bc1qexampleuser");
        assert_eq!(&bytes[200..208], &1.25e14f64.to_bits().to_le_bytes());
        assert!(bytes[208..240].iter().all(|&byte| byte == 0x5a));
        assert!(bytes[240..252].iter().all(|&byte| byte == 0));
        let peer = sample(ShareKind::Connected).encode().expect("sample fits");
        let bytes = peer.as_bytes();
        assert_eq!(&bytes[208..213], &[4, 192, 0, 2, 7]);
        assert_eq!(&bytes[225..227], &3333u16.to_le_bytes());
    }

    #[test]
    fn version_1_records_still_decode() {
        let mut record = sample(ShareKind::Share);
        record.network_difficulty = 0.0;
        let mut bytes = *record.encode().expect("sample fits").as_bytes();
        bytes[0] = 1;
        reseal(&mut bytes);
        assert_eq!(ShareRecord::decode(&bytes), Ok(record));
        // Version 1 knew only shares and block candidates, and no network difficulty.
        let mut bytes = *sample(ShareKind::Reject).encode().expect("fits").as_bytes();
        bytes[0] = 1;
        reseal(&mut bytes);
        assert_eq!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::Kind { found: 3 })
        );
        let mut share = sample(ShareKind::Share);
        // 1.1: its lowest byte, at offset 200, is not zero.
        share.network_difficulty = 1.1;
        let mut bytes = *share.encode().expect("fits").as_bytes();
        bytes[0] = 1;
        reseal(&mut bytes);
        assert_eq!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::Padding {
                field: "reserved",
                offset: 200
            })
        );
    }

    #[test]
    fn events_carry_no_work_and_details_must_match_kinds() {
        let mut event = sample(ShareKind::Connected);
        event.share_difficulty = 0.0;
        assert!(event.encode().is_ok(), "an event may carry no difficulty");
        let mut share = sample(ShareKind::Share);
        share.detail = RecordDetail::RejectCode(21);
        assert_eq!(
            share.encode(),
            Err(EncodeError::Detail {
                kind: ShareKind::Share,
                detail: RecordDetail::RejectCode(21)
            })
        );
        let mut share = sample(ShareKind::Share);
        share.network_difficulty = -1.0;
        assert!(matches!(
            share.encode(),
            Err(EncodeError::NetworkDifficulty { .. })
        ));
        // A peer with an unknown address family, and a reject code with trailing bytes.
        let mut bytes = *sample(ShareKind::Connected)
            .encode()
            .expect("fits")
            .as_bytes();
        bytes[DETAIL] = 5;
        reseal(&mut bytes);
        assert_eq!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::Detail { kind: 4 })
        );
        let mut bytes = *sample(ShareKind::Reject).encode().expect("fits").as_bytes();
        bytes[DETAIL + 1] = 1;
        reseal(&mut bytes);
        assert_eq!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::Detail { kind: 3 })
        );
    }

    #[test]
    fn encode_refuses_oversized_fields_and_bad_difficulty() {
        let mut record = sample(ShareKind::Share);
        record.extranonce2 = vec![0; 17];
        assert_eq!(
            record.encode(),
            Err(EncodeError::FieldTooLong {
                field: "extranonce2",
                max: 16,
                found: 17
            })
        );
        let mut record = sample(ShareKind::Share);
        record.worker = "w".repeat(65);
        assert_eq!(
            record.encode(),
            Err(EncodeError::FieldTooLong {
                field: "worker",
                max: 64,
                found: 65
            })
        );
        let mut record = sample(ShareKind::Share);
        record.user = "u".repeat(64);
        assert!(
            record.encode().is_ok(),
            "64 bytes is the maximum, not beyond it"
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut record = sample(ShareKind::Share);
            record.share_difficulty = bad;
            assert_eq!(
                record.encode(),
                Err(EncodeError::Difficulty {
                    bits: bad.to_bits()
                })
            );
        }
    }

    #[test]
    fn decode_reports_precise_errors() {
        let good = *sample(ShareKind::Share)
            .encode()
            .expect("sample fits")
            .as_bytes();
        assert_eq!(
            ShareRecord::decode(&good[..255]),
            Err(DecodeError::Length {
                expected: 256,
                found: 255
            })
        );

        let mut bytes = good;
        bytes[0] = 3;
        assert_eq!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::FormatVersion {
                expected: 2,
                found: 3
            })
        );

        let mut bytes = good;
        bytes[100] ^= 0x01;
        assert!(matches!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::Checksum { .. })
        ));

        let mut bytes = good;
        bytes[KIND] = 9;
        reseal(&mut bytes);
        assert_eq!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::Kind { found: 9 })
        );

        let mut bytes = good;
        bytes[EXTRANONCE1_LEN] = 9;
        reseal(&mut bytes);
        assert_eq!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::FieldLength {
                field: "extranonce1",
                max: 8,
                found: 9
            })
        );

        let mut bytes = good;
        bytes[EXTRANONCE2 + 10] = 0x55;
        reseal(&mut bytes);
        assert_eq!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::Padding {
                field: "extranonce2",
                offset: EXTRANONCE2 + 10
            })
        );

        let mut bytes = good;
        bytes[USER] = 0xff;
        reseal(&mut bytes);
        assert_eq!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::Utf8 {
                field: "user",
                valid_up_to: 0
            })
        );

        let mut bytes = good;
        bytes[RESERVED + 3] = 1;
        reseal(&mut bytes);
        assert_eq!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::Padding {
                field: "reserved",
                offset: RESERVED + 3
            })
        );

        let mut bytes = good;
        bytes[DIFFICULTY..DIFFICULTY + 8].copy_from_slice(&f64::NAN.to_bits().to_le_bytes());
        reseal(&mut bytes);
        assert_eq!(
            ShareRecord::decode(&bytes),
            Err(DecodeError::Difficulty {
                bits: f64::NAN.to_bits()
            })
        );
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let good = *sample(ShareKind::BlockCandidate)
            .encode()
            .expect("sample fits")
            .as_bytes();
        for bit in 0..RECORD_BYTES * 8 {
            let mut bytes = good;
            bytes[bit / 8] ^= 1 << (bit % 8);
            assert!(
                ShareRecord::decode(&bytes).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small xorshift generator: deterministic, no dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let good = *sample(ShareKind::Share)
            .encode()
            .expect("sample fits")
            .as_bytes();
        for round in 0..20_000 {
            let mut bytes = [0u8; RECORD_BYTES];
            for chunk in bytes.chunks_mut(8) {
                chunk.copy_from_slice(&next().to_le_bytes());
            }
            if round % 2 == 0 {
                // Mostly-valid records reach the deeper checks.
                let keep = usize::try_from(next() % 256).unwrap_or(0);
                bytes[..keep].copy_from_slice(&good[..keep]);
                bytes[0] = 2;
                reseal(&mut bytes);
            }
            let len = usize::try_from(next() % 300).unwrap_or(0).min(RECORD_BYTES);
            let _ = ShareRecord::decode(&bytes[..len]);
            let _ = ShareRecord::decode(&bytes);
            let _ = EncodedShare::from_bytes(&bytes);
        }
    }
}
