//! Relay messages and their binary encoding: a type byte, then fixed little-endian fields.
//! Blocks and compact-block parts are carried as Bitcoin consensus bytes, decoded by the role
//! that uses them.

use std::fmt;

/// Who saw a tip first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TipSource {
    /// A P2P peer announced it (`headers`, `cmpctblock`, `inv` or `block`).
    Bitpeer = 1,
    /// Another pool's stratum job moved to it.
    Poolbench = 2,
    /// A blockmaster received it from another site.
    Blockmaster = 3,
    /// The pool found it (never sent on a link: the jobmaster's own gateways).
    OwnPool = 4,
}

impl TipSource {
    fn from_byte(byte: u8) -> Option<TipSource> {
        match byte {
            1 => Some(TipSource::Bitpeer),
            2 => Some(TipSource::Poolbench),
            3 => Some(TipSource::Blockmaster),
            4 => Some(TipSource::OwnPool),
            _ => None,
        }
    }

    /// Lower-case name, for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            TipSource::Bitpeer => "bitpeer",
            TipSource::Poolbench => "poolbench",
            TipSource::Blockmaster => "blockmaster",
            TipSource::OwnPool => "own_pool",
        }
    }
}

impl fmt::Display for TipSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A new best block seen by a watcher, before the node may know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipAnnouncement {
    pub source: TipSource,
    /// The peer or pool it came from (at most [`VIA_BYTES_MAX`] bytes), for metrics.
    pub via: String,
    /// Height of the announced block.
    pub height: u32,
    /// Its hash, internal byte order.
    pub hash: [u8; 32],
    /// Its timestamp (a competitor's job: that job's ntime).
    pub time: u32,
    /// The header itself when the source has it: the jobmaster checks its proof of work.
    pub header: Option<[u8; 80]>,
    /// The bits of the block after it, when the source knows them (a competitor's job carries
    /// them); the jobmaster computes them otherwise.
    pub next_bits: Option<u32>,
    /// When the source saw it, unix microseconds (its clock).
    pub seen_at_us: u64,
}

/// Where a block comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BlockOrigin {
    /// Found by this pool: spread it everywhere at once.
    OwnPool = 1,
    /// Received from the P2P network.
    Network = 2,
    /// Received from another site's blockmaster.
    OtherSite = 3,
}

impl BlockOrigin {
    fn from_byte(byte: u8) -> Option<BlockOrigin> {
        match byte {
            1 => Some(BlockOrigin::OwnPool),
            2 => Some(BlockOrigin::Network),
            3 => Some(BlockOrigin::OtherSite),
            _ => None,
        }
    }
}

/// One message on a relay link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayMessage {
    /// A new tip (bitpeer, poolbench or a blockmaster → jobmaster).
    Tip(TipAnnouncement),
    /// A whole block, consensus bytes (jobmaster → bitpeer and blockmaster; blockmaster →
    /// bitpeer; the full-block fallback between blockmasters).
    Block { origin: BlockOrigin, bytes: Vec<u8> },
    /// BIP152 `HeaderAndShortIds`, consensus bytes (blockmaster → blockmaster).
    CompactBlock { origin: BlockOrigin, bytes: Vec<u8> },
    /// BIP152 `BlockTransactionsRequest`, consensus bytes: the transactions a compact block's
    /// receiver is missing.
    GetBlockTxn(Vec<u8>),
    /// BIP152 `BlockTransactions`, consensus bytes: the answer.
    GetBlockTxnReply(Vec<u8>),
    /// Please send this whole block (hash, internal byte order): reconstruction failed.
    GetBlock([u8; 32]),
}

/// Longest `via` name carried.
pub const VIA_BYTES_MAX: usize = 64;

const TYPE_TIP: u8 = 1;
const TYPE_BLOCK: u8 = 2;
const TYPE_COMPACT: u8 = 3;
const TYPE_GET_BLOCK_TXN: u8 = 4;
const TYPE_BLOCK_TXN: u8 = 5;
const TYPE_GET_BLOCK: u8 = 6;

/// A relay message that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayMessageError {
    #[error("relay message is empty")]
    Empty,
    #[error("relay message type {0} is unknown")]
    UnknownType(u8),
    #[error("relay message ends inside field `{field}`")]
    Truncated { field: &'static str },
    #[error("relay message field `{field}` = {value} is invalid")]
    Invalid { field: &'static str, value: String },
    #[error("relay message has {0} bytes after its last field")]
    TrailingBytes(usize),
}

impl RelayMessage {
    /// The message's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            RelayMessage::Tip(_) => "tip",
            RelayMessage::Block { .. } => "block",
            RelayMessage::CompactBlock { .. } => "compact block",
            RelayMessage::GetBlockTxn(_) => "getblocktxn",
            RelayMessage::GetBlockTxnReply(_) => "blocktxn",
            RelayMessage::GetBlock(_) => "getblock",
        }
    }

    /// The frame body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            RelayMessage::Tip(tip) => {
                out.push(TYPE_TIP);
                out.push(tip.source as u8);
                let via = truncate_utf8(&tip.via, VIA_BYTES_MAX);
                out.push(via.len() as u8);
                out.extend_from_slice(via.as_bytes());
                out.extend_from_slice(&tip.height.to_le_bytes());
                out.extend_from_slice(&tip.hash);
                out.extend_from_slice(&tip.time.to_le_bytes());
                match &tip.header {
                    Some(header) => {
                        out.push(1);
                        out.extend_from_slice(header);
                    }
                    None => out.push(0),
                }
                match tip.next_bits {
                    Some(bits) => {
                        out.push(1);
                        out.extend_from_slice(&bits.to_le_bytes());
                    }
                    None => out.push(0),
                }
                out.extend_from_slice(&tip.seen_at_us.to_le_bytes());
            }
            RelayMessage::Block { origin, bytes } => {
                out.reserve(2 + bytes.len());
                out.push(TYPE_BLOCK);
                out.push(*origin as u8);
                out.extend_from_slice(bytes);
            }
            RelayMessage::CompactBlock { origin, bytes } => {
                out.push(TYPE_COMPACT);
                out.push(*origin as u8);
                out.extend_from_slice(bytes);
            }
            RelayMessage::GetBlockTxn(bytes) => {
                out.push(TYPE_GET_BLOCK_TXN);
                out.extend_from_slice(bytes);
            }
            RelayMessage::GetBlockTxnReply(bytes) => {
                out.push(TYPE_BLOCK_TXN);
                out.extend_from_slice(bytes);
            }
            RelayMessage::GetBlock(hash) => {
                out.push(TYPE_GET_BLOCK);
                out.extend_from_slice(hash);
            }
        }
        out
    }

    /// Decodes a frame body.
    ///
    /// # Errors
    ///
    /// Unknown type, a field cut short, an invalid enum value or flag, or trailing bytes.
    pub fn decode(body: &[u8]) -> Result<RelayMessage, RelayMessageError> {
        let (&kind, rest) = body.split_first().ok_or(RelayMessageError::Empty)?;
        let mut r = Reader { rest };
        let message = match kind {
            TYPE_TIP => {
                let source_byte = r.u8("source")?;
                let source =
                    TipSource::from_byte(source_byte).ok_or(RelayMessageError::Invalid {
                        field: "source",
                        value: source_byte.to_string(),
                    })?;
                let via_len = usize::from(r.u8("via length")?);
                if via_len > VIA_BYTES_MAX {
                    return Err(RelayMessageError::Invalid {
                        field: "via length",
                        value: via_len.to_string(),
                    });
                }
                let via = String::from_utf8(r.take(via_len, "via")?.to_vec()).map_err(|_| {
                    RelayMessageError::Invalid {
                        field: "via",
                        value: "not UTF-8".to_owned(),
                    }
                })?;
                let height = r.u32("height")?;
                let hash = r.array::<32>("hash")?;
                let time = r.u32("time")?;
                let header = match r.flag("header flag")? {
                    true => Some(r.array::<80>("header")?),
                    false => None,
                };
                let next_bits = match r.flag("next_bits flag")? {
                    true => Some(r.u32("next_bits")?),
                    false => None,
                };
                let seen_at_us = u64::from_le_bytes(r.array::<8>("seen_at_us")?);
                RelayMessage::Tip(TipAnnouncement {
                    source,
                    via,
                    height,
                    hash,
                    time,
                    header,
                    next_bits,
                    seen_at_us,
                })
            }
            TYPE_BLOCK | TYPE_COMPACT => {
                let origin_byte = r.u8("origin")?;
                let origin =
                    BlockOrigin::from_byte(origin_byte).ok_or(RelayMessageError::Invalid {
                        field: "origin",
                        value: origin_byte.to_string(),
                    })?;
                let bytes = std::mem::take(&mut r.rest).to_vec();
                if bytes.is_empty() {
                    return Err(RelayMessageError::Truncated { field: "block" });
                }
                if kind == TYPE_BLOCK {
                    RelayMessage::Block { origin, bytes }
                } else {
                    RelayMessage::CompactBlock { origin, bytes }
                }
            }
            TYPE_GET_BLOCK_TXN => RelayMessage::GetBlockTxn(std::mem::take(&mut r.rest).to_vec()),
            TYPE_BLOCK_TXN => RelayMessage::GetBlockTxnReply(std::mem::take(&mut r.rest).to_vec()),
            TYPE_GET_BLOCK => RelayMessage::GetBlock(r.array::<32>("hash")?),
            other => return Err(RelayMessageError::UnknownType(other)),
        };
        if !r.rest.is_empty() {
            return Err(RelayMessageError::TrailingBytes(r.rest.len()));
        }
        Ok(message)
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RelayMessageError> {
        if self.rest.len() < n {
            return Err(RelayMessageError::Truncated { field });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RelayMessageError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, RelayMessageError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, RelayMessageError> {
        Ok(u32::from_le_bytes(self.array::<4>(field)?))
    }

    fn flag(&mut self, field: &'static str) -> Result<bool, RelayMessageError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(RelayMessageError::Invalid {
                field,
                value: other.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tip() -> TipAnnouncement {
        TipAnnouncement {
            source: TipSource::Bitpeer,
            via: "127.0.0.1:18444".to_owned(),
            height: 840_000,
            hash: [7; 32],
            time: 1_713_571_767,
            header: Some([9; 80]),
            next_bits: None,
            seen_at_us: 1_713_571_767_123_456,
        }
    }

    #[test]
    fn every_message_round_trips() {
        let mut competitor = tip();
        competitor.source = TipSource::Poolbench;
        competitor.header = None;
        competitor.next_bits = Some(0x1703_4219);
        let messages = [
            RelayMessage::Tip(tip()),
            RelayMessage::Tip(competitor),
            RelayMessage::Block {
                origin: BlockOrigin::OwnPool,
                bytes: vec![1, 2, 3],
            },
            RelayMessage::CompactBlock {
                origin: BlockOrigin::OtherSite,
                bytes: vec![4; 100],
            },
            RelayMessage::GetBlockTxn(vec![5; 40]),
            RelayMessage::GetBlockTxnReply(vec![6; 40]),
            RelayMessage::GetBlock([8; 32]),
        ];
        for message in messages {
            let body = message.encode();
            assert_eq!(RelayMessage::decode(&body), Ok(message));
        }
    }

    #[test]
    fn a_long_via_is_cut_on_a_character_boundary() {
        let mut t = tip();
        t.via = "é".repeat(40); // 80 bytes
        let RelayMessage::Tip(back) =
            RelayMessage::decode(&RelayMessage::Tip(t).encode()).expect("decodes")
        else {
            panic!("not a tip");
        };
        assert_eq!(back.via, "é".repeat(32));
    }

    #[test]
    fn every_truncation_of_a_tip_is_an_error() {
        let body = RelayMessage::Tip(tip()).encode();
        for len in 0..body.len() {
            assert!(
                RelayMessage::decode(&body[..len]).is_err(),
                "decoded {len} bytes"
            );
        }
    }

    #[test]
    fn garbage_is_refused_with_the_field() {
        assert_eq!(
            RelayMessage::decode(&[99]),
            Err(RelayMessageError::UnknownType(99))
        );
        let mut body = RelayMessage::Tip(tip()).encode();
        body[1] = 9;
        assert_eq!(
            RelayMessage::decode(&body),
            Err(RelayMessageError::Invalid {
                field: "source",
                value: "9".to_owned()
            })
        );
        let mut body = RelayMessage::Tip(tip()).encode();
        body.push(0);
        assert_eq!(
            RelayMessage::decode(&body),
            Err(RelayMessageError::TrailingBytes(1))
        );
        assert_eq!(
            RelayMessage::decode(&[TYPE_BLOCK, 1]),
            Err(RelayMessageError::Truncated { field: "block" })
        );
        assert!(matches!(
            RelayMessage::decode(&[TYPE_BLOCK, 7, 0]),
            Err(RelayMessageError::Invalid {
                field: "origin",
                ..
            })
        ));
    }
}
