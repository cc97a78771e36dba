//! Async JSON-RPC client of Bitcoin nodes (Bitcoin Core and its descendants).
//!
//! Layout, bottom-up:
//!
//! - [`endpoint`]: configuration of one node (URL, credentials, timeout, response cap).
//! - [`auth`]: user/password or cookie-file credentials, turned into an `Authorization` header.
//! - `http`: a minimal HTTP/1.1 POST client on a tokio `TcpStream`, bounded everywhere, with one
//!   reusable keep-alive connection per node. Ours and small on purpose: the node speaks a tiny
//!   subset of HTTP, and published async RPC clients lack `getblocktemplate`/`submitblock`.
//! - [`client`]: [`NodeClient`], JSON-RPC calls to one node, plus typed helpers.
//! - [`failover`]: [`FailoverClient`], an ordered list of nodes used as one.
//! - [`error`]: [`RpcError`] (one failed call, naming node and method) and [`ConfigError`].
//!
//! Who calls it: the jobmaster (templates, tip polling, block submission to every node). Nothing
//! here retries beyond one reconnect of a stale keep-alive connection; retry policy and polling
//! intervals are the caller's.

pub mod auth;
pub mod client;
pub mod endpoint;
pub mod error;
pub mod failover;
mod http;

pub use auth::{CookieError, NodeAuth};
pub use client::NodeClient;
pub use endpoint::{NodeEndpoint, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT};
pub use error::{ConfigError, RpcError};
pub use failover::FailoverClient;
