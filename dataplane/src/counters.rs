//! Per-shard counters: plain cells (one thread), summed across shards when reported.

use std::cell::Cell;

macro_rules! counters {
    ($($name:ident: $doc:literal,)*) => {
        /// What a shard counts.
        #[derive(Debug, Default)]
        pub struct Counters { $(#[doc = $doc] pub $name: Cell<u64>,)* }

        /// A copy of the counters, for reports.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct CounterSnapshot { $(#[doc = $doc] pub $name: u64,)* }

        impl Counters {
            pub fn snapshot(&self) -> CounterSnapshot {
                CounterSnapshot { $($name: self.$name.get(),)* }
            }
        }

        impl std::ops::AddAssign for CounterSnapshot {
            fn add_assign(&mut self, other: Self) { $(self.$name += other.$name;)* }
        }

        impl CounterSnapshot {
            /// `name=value` pairs, for one log line.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

counters! {
    connections_accepted: "connections accepted",
    connections_open: "connections open now",
    accept_errors: "accept() failures (EMFILE and the like)",
    sessions_authorized: "sessions that authorized",
    closed_line_too_long: "connections closed for a line over the limit",
    closed_not_json: "connections closed for bytes that are not JSON",
    closed_errors_in_row: "connections closed for too many errors in a row",
    closed_send_queue_full: "sessions dropped because they did not read their notifies",
    closed_send_timeout: "sessions dropped because a write blocked past the timeout",
    closed_authorize_timeout: "connections closed for not authorizing in time",
    closed_by_peer: "connections the miner closed",
    requests: "requests parsed",
    request_errors: "requests answered with an error",
    shares_accepted: "shares accepted",
    shares_stale: "shares for an unknown or stale job (21)",
    shares_duplicate: "duplicate shares (22)",
    shares_low_difficulty: "shares below the session difficulty (23)",
    shares_invalid: "shares with bad fields: extranonce2 size, ntime, version bits (20)",
    blocks_found: "block candidates sent to the share ring",
    jobs_received: "jobs read from the job ring",
    notifies_sent: "mining.notify lines queued to sessions",
}
