//! What a simulated miner does: where it connects, how many connections, how fast it hashes, and
//! which deliberate mistakes it makes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Configuration of a [`SimMiner`](super::SimMiner).
#[derive(Debug, Clone)]
pub struct SimMinerConfig {
    /// The pool's stratum address.
    pub addr: SocketAddr,
    /// Number of TCP connections (each one a miner with its own worker name).
    pub connections: usize,
    /// Account name: workers authorize as `<user>.<worker_prefix><index>`.
    pub user: String,
    /// Prefix of each connection's worker name.
    pub worker_prefix: String,
    /// Password sent with `mining.authorize`.
    pub password: String,
    /// Hashes per second per connection; 0 means as fast as the single grinding thread allows,
    /// shared among the connections. All grinding happens on one thread, so the miner never uses
    /// more than one core for hashing whatever the figure.
    pub hashrate_per_connection: f64,
    /// Send `mining.configure` with `version-rolling` (mask `1fffe000`) and roll the granted bits.
    pub version_rolling: bool,
    /// Send `mining.suggest_difficulty` with this value after subscribing.
    pub suggest_difficulty: Option<f64>,
    /// Source addresses, used in turn by the connections (connection `i` binds
    /// `source_ips[i % len]`): 127.0.0.x addresses lift the per-address port limit. Empty: the
    /// system chooses.
    pub source_ips: Vec<IpAddr>,
    /// Stop by itself after this long.
    pub duration: Option<Duration>,
    /// Stop by itself once this many blocks were submitted (shares meeting the network target).
    /// With several connections a few more may be submitted before all of them have seen the stop.
    pub stop_after_blocks: Option<u64>,
    /// Send `mining.extranonce.subscribe` after subscribing.
    pub extranonce_subscribe: bool,
    /// Pause before connecting again after a lost connection or a failed connect.
    pub reconnect_delay: Duration,
    /// Deliberate bad behaviours.
    pub faults: Faults,
}

impl SimMinerConfig {
    /// One honest connection to `addr` as `tester.sim0`, 100 kH/s, version rolling on.
    pub fn new(addr: SocketAddr) -> Self {
        SimMinerConfig {
            addr,
            connections: 1,
            user: "tester".to_owned(),
            worker_prefix: "sim".to_owned(),
            password: "x".to_owned(),
            hashrate_per_connection: 100_000.0,
            version_rolling: true,
            suggest_difficulty: None,
            source_ips: Vec::new(),
            duration: None,
            stop_after_blocks: None,
            extranonce_subscribe: false,
            reconnect_delay: Duration::from_secs(1),
            faults: Faults::default(),
        }
    }

    /// The worker name connection `index` authorizes as.
    pub fn worker_name(&self, index: usize) -> String {
        format!("{}.{}{}", self.user, self.worker_prefix, index)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.connections == 0 {
            return Err(ConfigError::Invalid(
                "connections must be at least 1".into(),
            ));
        }
        if !(self.hashrate_per_connection.is_finite() && self.hashrate_per_connection >= 0.0) {
            return Err(ConfigError::Invalid(format!(
                "hashrate_per_connection {} must be a finite number ≥ 0",
                self.hashrate_per_connection
            )));
        }
        if let Some(d) = self.suggest_difficulty {
            if !(d.is_finite() && d > 0.0) {
                return Err(ConfigError::Invalid(format!(
                    "suggest_difficulty {d} must be above zero"
                )));
            }
        }
        if self.user.is_empty() {
            return Err(ConfigError::Invalid("user must not be empty".into()));
        }
        if let Some(ip) = self
            .source_ips
            .iter()
            .find(|ip| ip.is_ipv4() != self.addr.is_ipv4())
        {
            return Err(ConfigError::Invalid(format!(
                "source address {ip} is not of the same family as {}",
                self.addr
            )));
        }
        if self.stop_after_blocks == Some(0) {
            return Err(ConfigError::Invalid(
                "stop_after_blocks must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Deliberate bad behaviours, each making shares a pool must reject with a known code. Each one
/// is counted under its own [`ShareKind`](super::ShareKind), so a test can compare the rejects
/// the pool sent with what the miner meant to provoke.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// After each accepted share, submit it again, unchanged (expect 22, duplicate), unless a
    /// clean job arrived in between.
    pub duplicate: bool,
    /// Keep one valid share (never a block) back at a time, and submit it once a clean job has
    /// replaced its job and a share on the new job has been submitted: it is then certainly
    /// stale, and never a duplicate or a low-difficulty share (expect 21).
    pub stale: bool,
    /// After each valid share, also submit a hash from the same work that misses the share
    /// target and the network target (expect 23, low difficulty).
    pub low_difficulty: bool,
    /// After each valid share, grind a share whose version also flips a bit outside the
    /// negotiated mask (the lowest bit neither in the mask nor set in the job's version) and
    /// submit it with that bit in the version bits (expect 20).
    pub bad_version: bool,
}

/// Why a simulated miner cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A configuration value is out of range.
    #[error("invalid simulated miner configuration: {0}")]
    Invalid(String),
    /// `SimMiner::start` was called outside a tokio runtime.
    #[error("the simulated miner must be started inside a tokio runtime")]
    NoRuntime,
    /// The grinding thread could not be started.
    #[error("cannot start the grinding thread: {0}")]
    Thread(#[source] std::io::Error),
}
