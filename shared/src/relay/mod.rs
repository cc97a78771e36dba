//! What travels on the relay links between the jobmaster, bitpeer, poolbench and the blockmasters
//! of several sites: early tips (a new best block someone saw before our node has it) and blocks.
//!
//! Each message is the body of one authenticated frame of kind
//! [`FrameKind::Relay`](crate::meta::FrameKind::Relay): nobody without the link's key can make the
//! pool mine on a tip of its choosing (ViaBTC took these triggers over plain UDP).

mod message;

pub use message::{
    BlockOrigin, RelayMessage, RelayMessageError, TipAnnouncement, TipSource, VIA_BYTES_MAX,
};
