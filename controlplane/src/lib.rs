//! ironpool's control plane: the tokio services that are not on the per-share path.
//!
//! - [`node`]: JSON-RPC client of the Bitcoin nodes, with failover.
//! - [`config`]: the TOML configuration of each role, checked key by key.
//! - [`jobmaster`]: templates → jobs on the job ring; block candidates from the share rings →
//!   `submitblock` to every node.
//! - [`alertcenter`]: error-level events of every process → a Redis list, de-duplicated and
//!   rate-limited.
//! - [`poolbench`]: other pools' stratum jobs → an early tip to the jobmaster when another pool
//!   moves to a new block first.

pub mod alertcenter;
pub mod bitpeer;
pub mod blockmaster;
pub mod config;
pub mod jobmaster;
pub mod log_throttle;
pub mod meta_link;
pub mod meta_spool;
pub mod metarelay;
pub mod metawriter;
pub mod node;
pub mod poolbench;
pub mod relay_link;
