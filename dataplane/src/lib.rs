//! ironpool's data plane: the stratum gateway.
//!
//! - [`config`]: the gateway's TOML configuration, checked key by key.
//! - [`shard`]: one thread per core, each a monoio (io_uring) runtime with its own listeners
//!   (`SO_REUSEPORT`), sessions, jobs, duplicate set, vardiff state and share ring.
//! - [`session`]: one miner connection: Stratum V1 requests, replies, notifies.
//! - [`extranonce`]: `extranonce1` values unique across shards, processes and hosts.
//! - [`counters`]: what each shard counts.

pub mod config;
pub mod counters;
pub mod extranonce;
pub mod session;
pub mod shard;
