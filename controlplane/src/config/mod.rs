//! Configuration files of the control-plane roles; the loading and error types are shared with
//! every role ([`ironpool_shared::config`]).

pub mod bitpeer;
pub mod blockmaster;
pub mod jobmaster;
pub mod meta;
pub mod poolbench;
pub mod relay;

pub use ironpool_shared::config::{load, parse, ConfigError, InvalidKey};
