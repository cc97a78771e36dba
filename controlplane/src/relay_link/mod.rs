//! Relay links: authenticated, bidirectional TCP connections that carry
//! [`RelayMessage`]s between the jobmaster, bitpeer, poolbench and blockmasters.
//!
//! A role owns one [`RelayHub`]: it may listen, connect out (reconnecting forever), send to one
//! link or to all, and reads what every link receives from one channel. Which side listens is
//! configuration; the messages do not depend on it.
//!
//! Every frame carries an HMAC-SHA256 tag with the link's pre-shared key
//! ([`ironpool_shared::meta`]'s frame). A frame with a wrong tag, a wrong kind or a broken header
//! closes the connection; a peer must authenticate within [`FIRST_FRAME_TIMEOUT`] of connecting
//! (bitpeer's links are otherwise silent for minutes, so clients say hello at once); a peer too
//! slow to take its frames is cut off rather than allowed to hold memory.

mod connection;
mod hub;

pub use hub::{Inbound, LinkCounters, LinkId, RelayHub};

use std::time::Duration;

/// A new connection must deliver an authenticated frame within this time.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// Once a frame has begun, the rest of it must arrive within this time.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames queued for one link; a link that falls this far behind is closed.
pub const OUTBOUND_QUEUE_FRAMES: usize = 256;
/// Most connections a hub accepts at once.
pub const CONNECTIONS_MAX: usize = 256;
/// Largest frame body: a 4 MB block plus room (the Bitcoin P2P limit is 4,000,000 bytes of
/// block; Bitcoin SV's are larger, raise it there).
pub const DEFAULT_MAX_BODY: u32 = 8 * 1024 * 1024;
