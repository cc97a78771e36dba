//! The Redis key names of the user's format (`../shared/seeds`, "Redis Data Format", and ViaBTC's
//! `metawriter`, reference §9.3):
//!
//! - `<coin>:s:<user>[:<worker>][:reject]`: shares per minute (hash: field = unix minute);
//! - `<coin>:p:<user>[:<worker>]`: work per minute, in units of difficulty 1 (2^32 hashes);
//! - `<coin>:g:<user>[:<worker>]`: work divided by the network difficulty ("pow goal");
//! - `<coin>:m:<key>`, `<coin>:mh:<host>:<key>`: pool and per-gateway-host monitor counters;
//! - sets `monitor:keys` (every `<coin>:m:<key>`), `<coin>:mk:<key>` (hosts of a key) and
//!   `mining:keys` (every s/p/g key, as ViaBTC keeps it, so retention can find them).

use std::borrow::Cow;

/// The set of every s/p/g key written.
pub const MINING_KEYS: &str = "mining:keys";
/// The set of every `<coin>:m:<key>` written.
pub const MONITOR_KEYS: &str = "monitor:keys";

/// The unix minute (a multiple of 60, in seconds) of a time in unix milliseconds.
pub fn minute_of(unix_ms: u64) -> u64 {
    unix_ms / 60_000 * 60
}

/// `<coin>:<kind>:<user>[:<worker>][:reject]`.
pub(crate) fn mining_key(
    coin: &str,
    kind: char,
    user: &str,
    worker: Option<&str>,
    reject: bool,
) -> String {
    let mut key = String::with_capacity(coin.len() + user.len() + 24);
    key.push_str(coin);
    key.push(':');
    key.push(kind);
    key.push(':');
    key.push_str(user);
    if let Some(worker) = worker {
        key.push(':');
        key.push_str(worker);
    }
    if reject {
        key.push_str(":reject");
    }
    key
}

/// A monitor counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MonitorKey {
    /// Accepted shares.
    Share,
    /// Work of the accepted shares (float, difficulty units).
    Pow,
    /// Work over network difficulty (float).
    Goal,
    /// Rejected shares.
    Reject,
    /// Rejected shares with one stratum error code.
    RejectCode(u8),
    /// Block candidates found.
    Block,
    /// Sessions that authorized (connected events).
    ConnectionNew,
    /// Authorized sessions that ended.
    ConnectionClose,
    /// Authorized sessions open (one sample per gateway shard per minute, summed).
    Connections,
    /// Workers announced as new.
    NewWorker,
}

impl MonitorKey {
    pub fn name(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            MonitorKey::Share => "share",
            MonitorKey::Pow => "pow",
            MonitorKey::Goal => "goal",
            MonitorKey::Reject => "reject",
            MonitorKey::RejectCode(code) => return Cow::Owned(format!("reject_{code}")),
            MonitorKey::Block => "block",
            MonitorKey::ConnectionNew => "connection_new",
            MonitorKey::ConnectionClose => "connection_close",
            MonitorKey::Connections => "connections",
            MonitorKey::NewWorker => "new_worker",
        })
    }

    /// Float counters are written with HINCRBYFLOAT, the others with HINCRBY.
    pub fn is_float(self) -> bool {
        matches!(self, MonitorKey::Pow | MonitorKey::Goal)
    }
}

/// `<coin>:m:<key>`.
pub(crate) fn monitor_key(coin: &str, key: &str) -> String {
    format!("{coin}:m:{key}")
}

/// `<coin>:mh:<host>:<key>`.
pub(crate) fn monitor_host_key(coin: &str, host: &str, key: &str) -> String {
    format!("{coin}:mh:{host}:{key}")
}

/// `<coin>:mk:<key>`.
pub(crate) fn monitor_hosts_key(coin: &str, key: &str) -> String {
    format!("{coin}:mk:{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_seed() {
        assert_eq!(minute_of(1_482_252_599_999), 1_482_252_540);
        assert_eq!(
            mining_key("btc", 's', "haiyang", None, false),
            "btc:s:haiyang"
        );
        assert_eq!(
            mining_key("btc", 's', "haiyang", None, true),
            "btc:s:haiyang:reject"
        );
        assert_eq!(
            mining_key("btc", 's', "haiyang", Some("example"), true),
            "btc:s:haiyang:example:reject"
        );
        assert_eq!(
            mining_key("btc", 'p', "haiyang", Some("example"), false),
            "btc:p:haiyang:example"
        );
        assert_eq!(monitor_key("btc", &MonitorKey::Pow.name()), "btc:m:pow");
        assert_eq!(
            monitor_host_key("btc", "47.89.182.198", &MonitorKey::Pow.name()),
            "btc:mh:47.89.182.198:pow"
        );
        assert_eq!(monitor_hosts_key("btc", "pow"), "btc:mk:pow");
        assert_eq!(MonitorKey::RejectCode(23).name(), "reject_23");
    }
}
