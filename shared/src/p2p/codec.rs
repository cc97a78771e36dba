//! Message framing of the Bitcoin P2P protocol: bytes from a peer in, [`NetworkMessage`]s out;
//! messages in, bytes to send out.
//!
//! A message is a 24-byte header (network magic, 12-byte NUL-padded command, payload length as a
//! little-endian `u32`, first 4 bytes of the payload's double SHA-256) followed by the payload.
//! [`P2pDecoder`] checks the header itself, in that order and before the bitcoin crate sees a
//! byte: magic, command, then length against the configured limit, so that an oversized message
//! is refused when its header arrives, without buffering its payload. Once the payload is
//! complete it checks the checksum, refuses lists longer than the protocol allows (from the
//! payload's count prefix, before decoding), then decodes with the bitcoin crate. Unknown commands
//! come out as [`NetworkMessage::Unknown`] with their payload: not an error.
//!
//! Every error is fatal for the connection: the caller disconnects. The error is returned again by
//! every later call, and further pushes are dropped.
//!
//! Memory: the decoder holds the bytes received and not yet returned as messages. It never
//! reserves more than those bytes plus the announced length of the message in progress, and only
//! after that length passed the limit; between messages it keeps at most
//! [`IDLE_CAPACITY_BYTES_MAX`] of allocation. The decoded message itself costs about its payload
//! size again: the bitcoin crate caps its up-front allocations (`MAX_VEC_SIZE / 4` per list), but
//! it does not cap list counts: an `inv` announcing 4 billion entries makes it reserve about a
//! megabyte before the payload runs out. That is why `inv`, `getdata`, `notfound` and `headers`
//! counts are checked from the count prefix before decoding.
//!
//! Two departures from the bitcoin crate's decoding, for the nodes we talk to:
//!
//! - `version` is decoded field by field and trailing bytes are ignored, as Bitcoin Core does:
//!   Bitcoin SV nodes append an association id after the relay flag (multistreams), which the
//!   crate would refuse as "extra bytes".
//! - Commands must be printable ASCII (no space) followed only by NUL bytes; the crate accepts a
//!   NUL inside the command.
//!
//! Not handled: Bitcoin SV's `extmsg` (payloads of 4 GiB and more, only sent to peers that
//! announced support in `protoconf`, which we do not send) and BIP324 encrypted transport.

use bitcoin::consensus::{Decodable, Encodable};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::Magic;
use bitcoin::VarInt;

use super::error::P2pError;

/// Bytes of a message header: magic 4, command 12, length 4, checksum 4.
pub const HEADER_BYTES: usize = 24;

/// Default for the largest payload accepted, in bytes: Bitcoin Core's
/// `MAX_PROTOCOL_MESSAGE_LENGTH` (4,000,000), which no Core node exceeds; a block of 4,000,000
/// weight is at most 4,000,000 bytes serialized. Bitcoin SV blocks can be far larger: configure
/// the decoder for the largest block expected there.
pub const PAYLOAD_BYTES_MAX_DEFAULT: usize = 4_000_000;

/// Most entries in an `inv`, `getdata` or `notfound` (Bitcoin Core's `MAX_INV_SZ`).
pub const MAX_INV_ENTRIES: usize = 50_000;

/// Most headers in a `headers` message (Bitcoin Core's `MAX_HEADERS_RESULTS`).
pub const MAX_HEADERS_PER_MESSAGE: usize = 2_000;

/// Allocation kept between messages; a larger buffer (left by a block) is released once drained.
pub const IDLE_CAPACITY_BYTES_MAX: usize = 64 * 1024;

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The command from the header (for unknown messages, the only name they have).
    pub command: String,
    /// The decoded payload.
    pub message: NetworkMessage,
    /// Payload bytes on the wire, header excluded.
    pub payload_len: usize,
}

/// A header that passed the magic, command and length checks.
#[derive(Debug)]
struct FrameHeader {
    command: String,
    payload_len: usize,
    checksum: [u8; 4],
}

impl FrameHeader {
    /// Header plus payload bytes. Cannot overflow: `payload_len` passed the limit check.
    fn frame_len(&self) -> usize {
        HEADER_BYTES.saturating_add(self.payload_len)
    }
}

/// Bytes received from one peer that do not yet form whole messages.
///
/// The caller pushes what it read from the socket, then calls
/// [`next_message`](Self::next_message) until it returns `Ok(None)` ("need more bytes").
#[derive(Debug)]
pub struct P2pDecoder {
    /// The network's magic; any other is [`P2pError::Magic`].
    magic: Magic,
    /// The largest payload accepted, in bytes.
    max_payload: usize,
    /// Received bytes; `buf[start..]` is not yet returned.
    buf: Vec<u8>,
    /// First byte of the message in progress.
    start: usize,
    /// The checked header of the message in progress, once its 24 bytes arrived.
    header: Option<FrameHeader>,
    /// The error that ended the stream, returned again on every call.
    failed: Option<P2pError>,
}

impl P2pDecoder {
    /// An empty decoder for the network `magic`, accepting payloads of at most `max_payload`
    /// bytes ([`PAYLOAD_BYTES_MAX_DEFAULT`] for Bitcoin Core peers). Allocates nothing.
    pub fn new(magic: Magic, max_payload: usize) -> Self {
        P2pDecoder {
            magic,
            max_payload,
            buf: Vec::new(),
            start: 0,
            header: None,
            failed: None,
        }
    }

    /// The network magic expected.
    pub fn magic(&self) -> Magic {
        self.magic
    }

    /// The largest payload accepted, in bytes.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Bytes received and not yet returned as messages.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// Bytes currently allocated.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends bytes read from the peer. Drain with [`next_message`](Self::next_message) after
    /// each push. Dropped once the stream has failed.
    pub fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || self.failed.is_some() {
            return;
        }
        if self.start > 0 {
            // Only the message in progress moves, once per message.
            self.buf.drain(..self.start.min(self.buf.len()));
            self.start = 0;
        }
        let received = self.buf.len().saturating_add(bytes.len());
        // The header of the message in progress was checked against the limit: reserving its
        // whole frame at once avoids regrowing a block's buffer at each read.
        let wanted = match &self.header {
            Some(header) => received.max(header.frame_len()),
            None => received,
        };
        if wanted > self.buf.capacity() {
            self.buf
                .reserve_exact(wanted.saturating_sub(self.buf.len()));
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message; `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    ///
    /// Any [`P2pError`]: the connection must be closed. The same error is returned by every later
    /// call.
    pub fn next_message(&mut self) -> Result<Option<Decoded>, P2pError> {
        if let Some(failed) = &self.failed {
            return Err(failed.clone());
        }
        match self.next_message_internal() {
            Ok(decoded) => Ok(decoded),
            Err(error) => {
                self.failed = Some(error.clone());
                self.buf = Vec::new();
                self.start = 0;
                self.header = None;
                Err(error)
            }
        }
    }

    fn next_message_internal(&mut self) -> Result<Option<Decoded>, P2pError> {
        let pending = self.buf.get(self.start..).unwrap_or(&[]);
        if self.header.is_none() {
            let Some(raw) = pending.first_chunk::<HEADER_BYTES>() else {
                self.release_if_drained();
                return Ok(None);
            };
            self.header = Some(check_header(raw, self.magic, self.max_payload)?);
        }
        let Some(header) = &self.header else {
            return Ok(None);
        };
        let frame_len = header.frame_len();
        let Some(frame) = pending.get(..frame_len) else {
            return Ok(None);
        };
        let payload = frame.get(HEADER_BYTES..).unwrap_or(&[]);
        let decoded = decode_frame(header, frame, payload);
        self.start = self.start.saturating_add(frame_len);
        self.header = None;
        let decoded = decoded?;
        self.release_if_drained();
        Ok(Some(decoded))
    }

    /// Forgets consumed bytes when nothing is pending, and drops a large allocation.
    fn release_if_drained(&mut self) {
        if self.start < self.buf.len() {
            return;
        }
        self.start = 0;
        if self.buf.capacity() > IDLE_CAPACITY_BYTES_MAX {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }
}

/// Checks magic, command and length of a header, in that order.
fn check_header(
    raw: &[u8; HEADER_BYTES],
    expected: Magic,
    max_payload: usize,
) -> Result<FrameHeader, P2pError> {
    let [m0, m1, m2, m3, command @ .., l0, l1, l2, l3, k0, k1, k2, k3] = *raw;
    let found = Magic::from_bytes([m0, m1, m2, m3]);
    if found != expected {
        return Err(P2pError::Magic { found, expected });
    }
    let Some(command) = parse_command(&command) else {
        return Err(P2pError::BadCommand { bytes: command });
    };
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    let payload_len = match usize::try_from(len) {
        Ok(payload_len) if payload_len <= max_payload => payload_len,
        _ => {
            return Err(P2pError::Oversize {
                command,
                len: u64::from(len),
                max: max_payload,
            })
        }
    };
    Ok(FrameHeader {
        command,
        payload_len,
        checksum: [k0, k1, k2, k3],
    })
}

/// The command name: printable ASCII without spaces, then NUL padding only; at least one
/// character.
fn parse_command(bytes: &[u8; 12]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let (name, padding) = bytes.split_at_checked(end)?;
    if name.is_empty() || !name.iter().all(u8::is_ascii_graphic) || padding.iter().any(|&b| b != 0)
    {
        return None;
    }
    std::str::from_utf8(name).ok().map(str::to_owned)
}

/// Checks the checksum and list counts of a complete frame, then decodes it.
fn decode_frame(header: &FrameHeader, frame: &[u8], payload: &[u8]) -> Result<Decoded, P2pError> {
    let command = header.command.as_str();
    let [c0, c1, c2, c3, ..] = sha256d::Hash::hash(payload).to_byte_array();
    let expected = [c0, c1, c2, c3];
    if header.checksum != expected {
        return Err(P2pError::Checksum {
            command: header.command.clone(),
            found: header.checksum,
            expected,
        });
    }
    check_count(command, payload)?;
    let payload_error = |error: bitcoin::consensus::encode::Error| P2pError::Payload {
        command: header.command.clone(),
        reason: error.to_string(),
    };
    let message = if command == "version" {
        // Field by field; trailing bytes (Bitcoin SV's association id) are ignored.
        let mut reader = payload;
        NetworkMessage::Version(
            VersionMessage::consensus_decode_from_finite_reader(&mut reader)
                .map_err(payload_error)?,
        )
    } else {
        // The crate checks the checksum again (a few milliseconds for a 4 MB block): its
        // per-command decoding is only reachable through `RawNetworkMessage`.
        let mut reader = frame;
        RawNetworkMessage::consensus_decode_from_finite_reader(&mut reader)
            .map_err(payload_error)?
            .into_payload()
    };
    Ok(Decoded {
        command: header.command.clone(),
        message,
        payload_len: header.payload_len,
    })
}

/// Refuses an `inv`, `getdata`, `notfound` or `headers` whose count prefix exceeds the protocol's
/// limit, before the payload is decoded. A count that does not decode is left to the decoder.
fn check_count(command: &str, payload: &[u8]) -> Result<(), P2pError> {
    let max = match command {
        "inv" | "getdata" | "notfound" => MAX_INV_ENTRIES,
        "headers" => MAX_HEADERS_PER_MESSAGE,
        _ => return Ok(()),
    };
    let mut reader = payload;
    let Ok(VarInt(count)) = VarInt::consensus_decode(&mut reader) else {
        return Ok(());
    };
    if usize::try_from(count).map_or(true, |count| count > max) {
        return Err(P2pError::TooMany {
            command: command.to_owned(),
            count,
            max,
        });
    }
    Ok(())
}

/// The bytes of one message (header and payload) for the network `magic`.
///
/// # Panics
///
/// Only inside the bitcoin crate or for impossible sizes: a payload of 4 GiB or more (our
/// messages are at most a block), and a `getblocktxn` whose indexes are not strictly increasing
/// or include `u64::MAX` (the crate's differential encoding subtracts them; build requests from
/// [`Reconstruction::missing_indexes`](super::Reconstruction::missing_indexes), which are).
pub fn encode_message(magic: Magic, message: NetworkMessage) -> Vec<u8> {
    let mut frame = vec![0u8; HEADER_BYTES];
    #[allow(clippy::expect_used)]
    message
        .consensus_encode(&mut frame)
        .expect("writing to a Vec cannot fail");
    let payload = frame.get(HEADER_BYTES..).unwrap_or(&[]);
    #[allow(clippy::expect_used)]
    let len = u32::try_from(payload.len()).expect("a message payload is below 4 GiB");
    let [c0, c1, c2, c3, ..] = sha256d::Hash::hash(payload).to_byte_array();
    let mut command = [0u8; 12];
    for (slot, byte) in command.iter_mut().zip(message.command().as_ref().bytes()) {
        *slot = byte;
    }
    let mut header = Vec::with_capacity(HEADER_BYTES);
    header.extend_from_slice(&magic.to_bytes());
    header.extend_from_slice(&command);
    header.extend_from_slice(&len.to_le_bytes());
    header.extend_from_slice(&[c0, c1, c2, c3]);
    if let Some(slot) = frame.get_mut(..HEADER_BYTES) {
        slot.copy_from_slice(&header);
    }
    frame
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;
    use bitcoin::blockdata::constants::genesis_block;
    use bitcoin::consensus::encode::serialize;
    use bitcoin::p2p::message_blockdata::Inventory;
    use bitcoin::p2p::message_compact_blocks::SendCmpct;
    use bitcoin::{Network, Txid};

    /// Bitcoin SV regtest, the test nodes' network.
    fn sv_regtest() -> Magic {
        Magic::from_bytes([0xda, 0xb5, 0xbf, 0xfa])
    }

    fn decoder() -> P2pDecoder {
        P2pDecoder::new(sv_regtest(), PAYLOAD_BYTES_MAX_DEFAULT)
    }

    /// A frame built by hand (not with `encode_message`), with a correct checksum.
    fn raw_frame(magic: Magic, command: &[u8; 12], payload: &[u8]) -> Vec<u8> {
        let mut frame = magic.to_bytes().to_vec();
        frame.extend_from_slice(command);
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&sha256d::Hash::hash(payload).to_byte_array()[..4]);
        frame.extend_from_slice(payload);
        frame
    }

    fn command(name: &str) -> [u8; 12] {
        let mut bytes = [0u8; 12];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        bytes
    }

    /// An `inv` payload announcing `announced` entries and holding `present` of them.
    fn inv_payload(announced: u64, present: usize) -> Vec<u8> {
        let mut payload = serialize(&VarInt(announced));
        for i in 0..present {
            let inv = Inventory::Transaction(Txid::from_byte_array([(i % 251) as u8; 32]));
            payload.extend_from_slice(&serialize(&inv));
        }
        payload
    }

    fn samples() -> Vec<NetworkMessage> {
        let genesis = genesis_block(Network::Regtest);
        vec![
            NetworkMessage::Version(super::super::version_message(
                77,
                101,
                "/ironpool:0.1.0/",
                1_700_000_000,
            )),
            NetworkMessage::Verack,
            NetworkMessage::SendHeaders,
            NetworkMessage::SendCmpct(SendCmpct {
                send_compact: true,
                version: 1,
            }),
            NetworkMessage::Ping(0xfeed_beef),
            NetworkMessage::Headers(vec![genesis.header; 3]),
            NetworkMessage::Inv(vec![
                Inventory::Block(genesis.block_hash()),
                Inventory::Transaction(genesis.txdata[0].compute_txid()),
            ]),
            NetworkMessage::Block(genesis),
        ]
    }

    #[test]
    fn encode_message_matches_the_crates_framing() {
        for message in samples() {
            let expected = serialize(&RawNetworkMessage::new(sv_regtest(), message.clone()));
            assert_eq!(
                encode_message(sv_regtest(), message.clone()),
                expected,
                "{}",
                message.cmd()
            );
        }
    }

    #[test]
    fn messages_round_trip_fed_all_at_once() {
        for message in samples() {
            let bytes = encode_message(sv_regtest(), message.clone());
            let mut decoder = decoder();
            decoder.push(&bytes);
            let decoded = decoder.next_message().unwrap().unwrap();
            assert_eq!(decoded.command, message.cmd());
            assert_eq!(decoded.payload_len, bytes.len() - HEADER_BYTES);
            assert_eq!(decoded.message, message);
            assert_eq!(decoder.next_message().unwrap(), None);
            assert_eq!(decoder.pending_bytes(), 0);
        }
    }

    #[test]
    fn messages_round_trip_fed_one_byte_at_a_time() {
        for message in samples() {
            let bytes = encode_message(sv_regtest(), message.clone());
            let mut decoder = decoder();
            let (last, rest) = bytes.split_last().unwrap();
            for byte in rest {
                decoder.push(std::slice::from_ref(byte));
                assert_eq!(decoder.next_message().unwrap(), None, "{}", message.cmd());
                // Never more than received plus the announced length.
                assert!(decoder.capacity() <= bytes.len(), "{}", message.cmd());
            }
            decoder.push(std::slice::from_ref(last));
            assert_eq!(decoder.next_message().unwrap().unwrap().message, message);
            assert_eq!(decoder.next_message().unwrap(), None);
        }
    }

    #[test]
    fn two_messages_in_one_push_and_a_split_third() {
        let mut bytes = encode_message(sv_regtest(), NetworkMessage::Ping(1));
        bytes.extend(encode_message(sv_regtest(), NetworkMessage::Verack));
        let third = encode_message(sv_regtest(), NetworkMessage::Pong(3));
        bytes.extend_from_slice(&third[..10]);
        let mut decoder = decoder();
        decoder.push(&bytes);
        assert_eq!(
            decoder.next_message().unwrap().unwrap().message,
            NetworkMessage::Ping(1)
        );
        assert_eq!(
            decoder.next_message().unwrap().unwrap().message,
            NetworkMessage::Verack
        );
        assert_eq!(decoder.next_message().unwrap(), None);
        assert_eq!(decoder.pending_bytes(), 10);
        decoder.push(&third[10..]);
        assert_eq!(
            decoder.next_message().unwrap().unwrap().message,
            NetworkMessage::Pong(3)
        );
        assert_eq!(decoder.pending_bytes(), 0);
    }

    #[test]
    fn another_networks_magic_is_refused_from_the_header_alone() {
        let bytes = encode_message(Magic::BITCOIN, NetworkMessage::Verack);
        let mut decoder = decoder();
        decoder.push(&bytes[..HEADER_BYTES]);
        assert_eq!(
            decoder.next_message(),
            Err(P2pError::Magic {
                found: Magic::BITCOIN,
                expected: sv_regtest()
            })
        );
    }

    #[test]
    fn a_flipped_payload_bit_fails_the_checksum() {
        let mut bytes = encode_message(sv_regtest(), NetworkMessage::Ping(0x0102_0304));
        let expected_checksum: [u8; 4] = bytes[20..24].try_into().unwrap();
        bytes[HEADER_BYTES + 2] ^= 0x10;
        let mut decoder = decoder();
        decoder.push(&bytes);
        let error = decoder.next_message().unwrap_err();
        let P2pError::Checksum {
            command,
            found,
            expected,
        } = error
        else {
            panic!("expected a checksum error, got {error:?}");
        };
        assert_eq!(command, "ping");
        assert_eq!(found, expected_checksum);
        assert_ne!(expected, found);
    }

    #[test]
    fn an_oversize_length_is_refused_when_only_the_header_arrived() {
        let mut decoder = P2pDecoder::new(sv_regtest(), 1_000);
        let mut header = sv_regtest().to_bytes().to_vec();
        header.extend_from_slice(&command("block"));
        header.extend_from_slice(&1_001u32.to_le_bytes());
        header.extend_from_slice(&[0; 4]);
        decoder.push(&header);
        assert_eq!(
            decoder.next_message(),
            Err(P2pError::Oversize {
                command: "block".to_owned(),
                len: 1_001,
                max: 1_000
            })
        );
        assert!(decoder.capacity() < 1_000);
        // Fatal: the same error again, and later bytes are not buffered.
        decoder.push(&[0u8; 4096]);
        assert_eq!(decoder.capacity(), 0);
        assert!(matches!(
            decoder.next_message(),
            Err(P2pError::Oversize { .. })
        ));

        // At the limit exactly, the whole frame is reserved once.
        let mut decoder = P2pDecoder::new(sv_regtest(), 1_000);
        let frame = raw_frame(sv_regtest(), &command("unknownx"), &[7u8; 1_000]);
        decoder.push(&frame[..HEADER_BYTES]);
        assert_eq!(decoder.next_message().unwrap(), None);
        decoder.push(&frame[HEADER_BYTES..HEADER_BYTES + 1]);
        assert_eq!(decoder.capacity(), frame.len());
        decoder.push(&frame[HEADER_BYTES + 1..]);
        assert_eq!(decoder.next_message().unwrap().unwrap().payload_len, 1_000);
    }

    #[test]
    fn commands_must_be_printable_ascii_then_nul_padding() {
        for bad in [
            *b"ver\x01ack\0\0\0\0\0",
            *b"inv\0x\0\0\0\0\0\0\0",
            *b"\0\0\0\0\0\0\0\0\0\0\0\0",
            *b"ping pong\0\0\0",
            *b"p\xc3\xa9ng\0\0\0\0\0\0\0",
        ] {
            let mut decoder = decoder();
            decoder.push(&raw_frame(sv_regtest(), &bad, &[]));
            assert_eq!(
                decoder.next_message(),
                Err(P2pError::BadCommand { bytes: bad }),
                "{}",
                bad.escape_ascii()
            );
        }
        // Twelve characters, no padding at all, is fine.
        let mut decoder = decoder();
        decoder.push(&raw_frame(sv_regtest(), b"abcdefghijkl", &[1, 2]));
        assert_eq!(
            decoder.next_message().unwrap().unwrap().command,
            "abcdefghijkl"
        );
    }

    #[test]
    fn unknown_commands_come_out_as_unknown_with_their_payload() {
        let mut decoder = decoder();
        decoder.push(&raw_frame(
            sv_regtest(),
            &command("protoconf"),
            &[2, 0, 0, 0, 2],
        ));
        let decoded = decoder.next_message().unwrap().unwrap();
        assert_eq!(decoded.command, "protoconf");
        assert_eq!(decoded.payload_len, 5);
        let NetworkMessage::Unknown { command, payload } = decoded.message else {
            panic!("expected Unknown, got {:?}", decoded.message);
        };
        assert_eq!(command.as_ref(), "protoconf");
        assert_eq!(payload, vec![2, 0, 0, 0, 2]);
    }

    #[test]
    fn an_inv_announcing_four_billion_entries_is_refused_before_decoding() {
        // The crate's Vec decoding would reserve ~1 MB for this and fail only when the payload
        // runs out; the count check refuses it before the crate sees it.
        for name in ["inv", "getdata", "notfound"] {
            let mut decoder = decoder();
            decoder.push(&raw_frame(
                sv_regtest(),
                &command(name),
                &inv_payload(0xffff_ffff, 2),
            ));
            assert_eq!(
                decoder.next_message(),
                Err(P2pError::TooMany {
                    command: name.to_owned(),
                    count: 0xffff_ffff,
                    max: MAX_INV_ENTRIES
                })
            );
        }
    }

    #[test]
    fn inv_entries_are_limited_to_50_000() {
        let mut decoder = decoder();
        decoder.push(&raw_frame(
            sv_regtest(),
            &command("inv"),
            &inv_payload(50_000, 50_000),
        ));
        let NetworkMessage::Inv(entries) = decoder.next_message().unwrap().unwrap().message else {
            panic!("expected inv");
        };
        assert_eq!(entries.len(), 50_000);
        decoder.push(&raw_frame(
            sv_regtest(),
            &command("inv"),
            &inv_payload(50_001, 50_001),
        ));
        assert_eq!(
            decoder.next_message(),
            Err(P2pError::TooMany {
                command: "inv".to_owned(),
                count: 50_001,
                max: MAX_INV_ENTRIES
            })
        );
    }

    #[test]
    fn headers_are_limited_to_2_000() {
        let header = genesis_block(Network::Regtest).header;
        let mut decoder = decoder();
        decoder.push(&encode_message(
            sv_regtest(),
            NetworkMessage::Headers(vec![header; 2_000]),
        ));
        assert!(decoder.next_message().unwrap().is_some());
        decoder.push(&encode_message(
            sv_regtest(),
            NetworkMessage::Headers(vec![header; 2_001]),
        ));
        assert_eq!(
            decoder.next_message(),
            Err(P2pError::TooMany {
                command: "headers".to_owned(),
                count: 2_001,
                max: MAX_HEADERS_PER_MESSAGE
            })
        );
    }

    #[test]
    fn a_payload_that_does_not_decode_is_a_payload_error() {
        let mut decoder = decoder();
        decoder.push(&raw_frame(sv_regtest(), &command("ping"), &[1, 2, 3]));
        assert!(matches!(
            decoder.next_message(),
            Err(P2pError::Payload { command, .. }) if command == "ping"
        ));
        // Trailing bytes after a known message other than `version` are refused too.
        let mut decoder = P2pDecoder::new(sv_regtest(), 100);
        decoder.push(&raw_frame(sv_regtest(), &command("ping"), &[0; 9]));
        assert!(matches!(
            decoder.next_message(),
            Err(P2pError::Payload { .. })
        ));
    }

    #[test]
    fn a_version_with_a_trailing_association_id_decodes() {
        // Bitcoin SV appends its multistream association id (length-prefixed) after the relay
        // flag.
        let version = super::super::version_message(5, 0, "/Bitcoin SV:1.1.0/", 1_700_000_000);
        let mut payload = serialize(&version);
        payload.push(17);
        payload.extend_from_slice(&[0xab; 17]);
        let mut decoder = decoder();
        decoder.push(&raw_frame(sv_regtest(), &command("version"), &payload));
        let decoded = decoder.next_message().unwrap().unwrap();
        assert_eq!(decoded.message, NetworkMessage::Version(version));
        assert_eq!(decoded.payload_len, payload.len());
    }

    #[test]
    fn a_drained_decoder_releases_a_large_buffer() {
        let block = genesis_block(Network::Regtest);
        let mut big = block.clone();
        big.txdata = vec![block.txdata[0].clone(); 2_000];
        let bytes = encode_message(sv_regtest(), NetworkMessage::Block(big));
        assert!(bytes.len() > IDLE_CAPACITY_BYTES_MAX);
        let mut decoder = decoder();
        for chunk in bytes.chunks(4096) {
            decoder.push(chunk);
            let _ = decoder.next_message().unwrap();
        }
        assert_eq!(decoder.pending_bytes(), 0);
        assert_eq!(decoder.capacity(), 0);
    }
}
