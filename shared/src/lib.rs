//! Pure logic of ironpool: no sockets, no async runtime.
//!
//! - [`work`]: Bitcoin work, from a node's block template to a block the node accepts.
//! - [`chain`]: the chain from headers alone: next bits, proof of work, BIP34 heights, empty blocks.
//! - [`p2p`]: the Bitcoin P2P protocol, sans-I/O: message codec, our `version`, compact blocks.
//! - `ring`: shared-memory rings between the control plane and the gateway shards.
//! - [`alert`]: the `tracing` layer that sends error-level events to alertcenter (the one module
//!   with a socket: a TCP connection on a thread of its own).

pub mod alert;
pub mod chain;
pub mod config;
pub mod meta;
pub mod p2p;
pub mod random;
pub mod relay;
pub mod ring;
pub mod sha256d;
pub mod stratum;
pub mod vardiff;
pub mod work;
