//! Measurements.
pub mod early_site;
pub mod fixtures;
pub mod gateway_harness;
pub mod harness;
pub mod loadgen;
pub mod redis_server;
pub mod regtest;
pub mod ring_miner;
pub mod sim_miner;
pub mod stratum_client;
