//! The early-tip tests' site: `ironpool_bench::early_site`, with the jobmaster and bitpeer run
//! as real processes.

#![allow(dead_code)]

#[path = "../accounting_support/process.rs"]
pub mod process;

pub use ironpool_bench::early_site::*;
use ironpool_bench::regtest::RegtestNode;
use process::RoleProcess;
use std::path::Path;

/// Starts a jobmaster on `node`, connected to the relay addresses `early`.
pub fn jobmaster(
    dir: &Path,
    rings: &Path,
    node: &RegtestNode,
    key: &Path,
    early: &[String],
    extra_blocks: &str,
) -> RoleProcess {
    RoleProcess::start(
        "jobmaster",
        jobmaster_config(dir, rings, node, key, early, extra_blocks, 120),
    )
}

/// Starts bitpeer on `peers`, with `seed` as its node; returns it and its relay address.
pub fn bitpeer(
    dir: &Path,
    peers: &[&RegtestNode],
    seed: &RegtestNode,
    key: &Path,
) -> (RoleProcess, String) {
    let (config, relay) = bitpeer_config(dir, peers, seed, key);
    (RoleProcess::start("bitpeer", config), relay)
}
