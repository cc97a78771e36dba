//! Pure logic of ironpool: no sockets, no async runtime.
//!
//! - [`work`]: Bitcoin work, from a node's block template to a block the node accepts.
//! - `ring`: shared-memory rings between the control plane and the gateway shards.
//! - [`alert`]: the `tracing` layer that sends error-level events to alertcenter (the one module
//!   with a socket: a TCP connection on a thread of its own).

pub mod alert;
pub mod config;
pub mod meta;
pub mod ring;
pub mod sha256d;
pub mod stratum;
pub mod vardiff;
pub mod work;
