//! Measurements.
pub mod fixtures;
pub mod regtest;
pub mod ring_miner;
pub mod sim_miner;
