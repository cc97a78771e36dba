//! Measurements.
pub mod regtest;
pub mod ring_miner;
