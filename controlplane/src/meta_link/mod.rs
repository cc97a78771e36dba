//! The links of the accounting between hosts and from the local rings: a TCP server that takes
//! authenticated batches ([`server`]), the client that sends them ([`client`]), and the threads
//! that read this host's share rings into a store ([`ring_intake`]). Used by the metawriter and
//! the metarelay alike.

pub mod client;
pub mod counters;
pub mod ring_intake;
pub mod server;

pub use client::{BatchClient, Reply};
pub use counters::LinkCounters;
pub use server::{listen, serve, StoreRequest};
