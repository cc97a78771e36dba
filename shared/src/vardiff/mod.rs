//! Per-session variable difficulty, pure: no clock, no socket. Time comes in as
//! `std::time::Instant` with every event, so tests simulate hours of mining in microseconds.
//!
//! - [`VardiffConfig`] (`config`): one per port, checked by [`VardiffConfig::validate`].
//! - [`Vardiff`] (`controller`): one per session. Events: [`Vardiff::on_share`],
//!   [`Vardiff::on_timer`], [`Vardiff::suggest`], [`Vardiff::set_minimum`],
//!   [`Vardiff::set_fixed`]; each returns the new difficulty when it changed (send
//!   `mining.set_difficulty` before the next `mining.notify`). Share checks:
//!   [`Vardiff::credit`] / [`Vardiff::accepts`] with the previous difficulty's grace.
//! - [`round_significant`] (`rounding`): new difficulties have a few significant digits, so the
//!   `mining.set_difficulty` decimal stays short.
//!
//! Invariants: the difficulty is always within [floor, `max`] once it has changed (the floor is
//! `min` or the miner's BIP310 minimum), never NaN or infinite, and moves by at most `step_max`
//! per evaluation (suggestions and fixed values excepted). What it does not do: decide per job
//! which difficulty applied to work sent before a change (the grace period stands in for that),
//! or check shares (the gateway compares hashes with targets).
//!
//! Against ViaBTC (reference §4.5, §15 bug 39): re-evaluated on a timer too, so a difficulty too
//! high for the miner comes down; fractional difficulties down to a configurable floor; the
//! estimate is the rate of work, not the mean share interval, so it is unbiased across changes.

mod config;
mod controller;
mod rounding;

pub use config::{VardiffConfig, DIFFICULTY_CEILING_MAX, DIFFICULTY_FLOOR_MIN};
pub use controller::Vardiff;
pub use rounding::round_significant;
