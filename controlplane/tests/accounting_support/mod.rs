//! What the accounting tests share: simulated miners that drive a real gateway and note, from
//! their side of the wire, every share and what the pool answered; the Redis content those notes
//! imply, computed here without the metawriter's code; the metawriter and metarelay as child
//! processes; and the comparison of a Redis dump with the expectation.

#![allow(dead_code)]

pub mod expect;
pub mod miners;
pub mod process;
