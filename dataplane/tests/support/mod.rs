//! What the gateway tests share: the in-process gateway (from `ironpool_bench::gateway_harness`),
//! a line-oriented client, and shares ground to a wanted difficulty (`ironpool_bench::stratum_client`).

#![allow(dead_code, unused_imports)]

pub use ironpool_bench::gateway_harness::{job, TestGateway};
pub use ironpool_bench::stratum_client::{error_code, find_share, submit_line, Client, DIFF};
