//! Our `version` message: the first message on every connection, saying what we are.
//!
//! bitpeer and blockmaster are not nodes: they keep no chain and no mempool, and only want blocks
//! (and headers) as early as possible, and to hand over blocks of the pool. The message says
//! exactly that:
//!
//! - protocol [`PROTOCOL_VERSION`] 70016, what current Bitcoin Core and Bitcoin SV nodes speak
//!   (compact blocks need 70014 or more);
//! - services `NONE`: we serve no blocks and no transactions. Advertising `NODE_NETWORK` would
//!   make the node (and, through address gossip, others) ask us for chain history we do not have;
//! - receiver and sender addresses unspecified (`0.0.0.0:0`): nodes ignore them, and we do not
//!   accept connections, so there is no address of ours to tell;
//! - relay `false`: no loose transactions. We would only drop them, and they would cost the node
//!   and us bandwidth. Compact blocks are then rebuilt from the transactions the caller already
//!   knows (the pool's own templates), and the rest is asked for with `getblocktxn`.

use std::net::SocketAddr;

use bitcoin::p2p::address::Address;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::ServiceFlags;

/// The protocol version we announce.
pub const PROTOCOL_VERSION: u32 = 70016;

/// The longest user agent sent, in bytes (Bitcoin Core's `MAX_SUBVERSION_LENGTH`: a longer one
/// fails the node's decoding and it drops the connection).
pub const USER_AGENT_BYTES_MAX: usize = 256;

/// Our `version` message.
///
/// `nonce` should be random per connection (a node that receives its own nonce back knows it
/// connected to itself); `start_height` is the height of the best block we know (0 if none);
/// `user_agent` follows BIP14 (`/ironpool:0.1.0/`) and is cut, on a character boundary, to
/// [`USER_AGENT_BYTES_MAX`] bytes; `now_unix` is the current time in seconds since 1970.
pub fn version_message(
    nonce: u64,
    start_height: i32,
    user_agent: &str,
    now_unix: i64,
) -> VersionMessage {
    let unspecified = Address::new(&SocketAddr::from(([0, 0, 0, 0], 0)), ServiceFlags::NONE);
    VersionMessage {
        version: PROTOCOL_VERSION,
        services: ServiceFlags::NONE,
        timestamp: now_unix,
        receiver: unspecified.clone(),
        sender: unspecified,
        nonce,
        user_agent: truncate_on_char_boundary(user_agent, USER_AGENT_BYTES_MAX).to_owned(),
        start_height,
        relay: false,
    }
}

/// The longest prefix of `text` of at most `bytes_max` bytes that ends on a character boundary.
fn truncate_on_char_boundary(text: &str, bytes_max: usize) -> &str {
    let mut end = text.len().min(bytes_max);
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    text.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_say_we_serve_nothing_and_want_no_transactions() {
        let message = version_message(
            0x1122_3344_5566_7788,
            812_345,
            "/ironpool:0.1.0/",
            1_700_000_000,
        );
        assert_eq!(message.version, 70016);
        assert_eq!(message.services, ServiceFlags::NONE);
        assert_eq!(message.timestamp, 1_700_000_000);
        assert_eq!(message.nonce, 0x1122_3344_5566_7788);
        assert_eq!(message.user_agent, "/ironpool:0.1.0/");
        assert_eq!(message.start_height, 812_345);
        assert!(!message.relay);
        for address in [&message.receiver, &message.sender] {
            assert_eq!(address.services, ServiceFlags::NONE);
            assert_eq!(
                address.socket_addr().ok(),
                Some(SocketAddr::from(([0, 0, 0, 0], 0)))
            );
        }
    }

    #[test]
    fn long_user_agents_are_cut_on_a_character_boundary() {
        let long = "é".repeat(200); // 400 bytes
        let message = version_message(1, 0, &long, 0);
        assert_eq!(message.user_agent.len(), USER_AGENT_BYTES_MAX);
        assert!(long.starts_with(&message.user_agent));
        assert_eq!(truncate_on_char_boundary("aé", 2), "a");
        assert_eq!(truncate_on_char_boundary("", 2), "");
    }
}
