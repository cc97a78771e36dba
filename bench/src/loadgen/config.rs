//! What a load generator process does: where it connects, how many miners, how fast they connect
//! and submit, and which kinds of shares they send.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The I/O driver of the load generator's runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// io_uring (monoio's `IoUringDriver`).
    IoUring,
    /// epoll (monoio's `LegacyDriver`), for kernels without io_uring.
    Epoll,
}

/// The share kinds a miner sends, as relative weights. A kind that cannot be made at the moment
/// (a duplicate before any accepted share, a stale share before any clean job replaced an older
/// one) is sent as a valid share instead, and counted as what was actually sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShareMix {
    pub valid: f64,
    /// The last accepted share again, unchanged (expect 22).
    pub duplicate: f64,
    /// A share ground against a job of the previous tip (expect 21).
    pub stale: f64,
    /// A hash below the session's share target (expect 23).
    pub low_difficulty: f64,
}

impl Default for ShareMix {
    fn default() -> Self {
        ShareMix {
            valid: 1.0,
            duplicate: 0.0,
            stale: 0.0,
            low_difficulty: 0.0,
        }
    }
}

impl ShareMix {
    /// Parses `valid=0.97,duplicate=0.01,stale=0.01,low=0.01` (missing kinds weigh 0).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut mix = ShareMix {
            valid: 0.0,
            duplicate: 0.0,
            stale: 0.0,
            low_difficulty: 0.0,
        };
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| {
                ConfigError(format!("share mix entry {part:?} is not name=weight"))
            })?;
            let weight: f64 = value.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "share mix weight {value:?} of {name} is not a number"
                ))
            })?;
            let slot = match name.trim() {
                "valid" => &mut mix.valid,
                "duplicate" => &mut mix.duplicate,
                "stale" => &mut mix.stale,
                "low" => &mut mix.low_difficulty,
                other => {
                    return Err(ConfigError(format!(
                        "share mix kind {other:?} is not one of valid, duplicate, stale, low"
                    )))
                }
            };
            *slot = weight;
        }
        mix.check()?;
        Ok(mix)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let weights = [self.valid, self.duplicate, self.stale, self.low_difficulty];
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(ConfigError(format!(
                "share mix weights must be finite and ≥ 0: {self:?}"
            )));
        }
        if weights.iter().sum::<f64>() <= 0.0 {
            return Err(ConfigError("share mix weights sum to zero".into()));
        }
        Ok(())
    }
}

/// Configuration of one load generator process.
#[derive(Debug, Clone)]
pub struct LoadgenConfig {
    /// The pool's stratum address.
    pub addr: SocketAddr,
    /// Miners (connections) simulated by this process.
    pub miners: usize,
    /// Miner `i` authorizes as `<user>.<worker_prefix><first_index + i>`.
    pub user: String,
    pub worker_prefix: String,
    /// Offset of this process's worker numbers, so that several processes use distinct names.
    pub first_index: usize,
    pub password: String,
    /// Source addresses, used in turn (miner `i` binds `source_ips[i % len]`, port chosen by the
    /// kernel at bind time): each address has its own range of ephemeral ports (about 28,000 by
    /// default), so N addresses hold about N × 28,000 connections. Empty: the system chooses.
    pub source_ips: Vec<IpAddr>,
    pub driver: Driver,
    /// io_uring submission queue entries.
    pub uring_entries: u32,
    /// New connections per second started by this process; 0 = all at once (a connect storm).
    pub connect_rate: f64,
    /// Shares per second per authorized miner at start (changeable while running); 0 = none.
    pub share_rate: f64,
    pub mix: ShareMix,
    /// Send `mining.configure` (version-rolling) before subscribing.
    pub configure: bool,
    /// Each connection closes itself after this long (± 25 %) and connects again: churn.
    pub session_lifetime: Option<Duration>,
    /// Pause before connecting again after a lost or refused connection.
    pub reconnect_delay: Duration,
    /// Connect and handshake deadline; a miner that misses it counts a failure and retries.
    pub handshake_timeout: Duration,
    /// Seed of the share-kind choices.
    pub seed: u64,
}

impl LoadgenConfig {
    /// `miners` honest miners of `bench.lg<i>` connecting to `addr` at once, no shares.
    pub fn new(addr: SocketAddr, miners: usize) -> Self {
        LoadgenConfig {
            addr,
            miners,
            user: "bench".to_owned(),
            worker_prefix: "lg".to_owned(),
            first_index: 0,
            password: "x".to_owned(),
            source_ips: Vec::new(),
            driver: Driver::IoUring,
            uring_entries: 4096,
            connect_rate: 0.0,
            share_rate: 0.0,
            mix: ShareMix::default(),
            configure: true,
            session_lifetime: None,
            reconnect_delay: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(30),
            seed: 1,
        }
    }

    /// The worker name of miner `index` of this process.
    pub fn worker_name(&self, index: usize) -> String {
        format!(
            "{}.{}{}",
            self.user,
            self.worker_prefix,
            self.first_index + index
        )
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.miners == 0 {
            return Err(ConfigError("miners must be at least 1".into()));
        }
        for (name, value) in [
            ("connect_rate", self.connect_rate),
            ("share_rate", self.share_rate),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ConfigError(format!(
                    "{name} {value} must be finite and ≥ 0"
                )));
            }
        }
        self.mix.check()?;
        if self.user.is_empty() {
            return Err(ConfigError("user must not be empty".into()));
        }
        if let Some(ip) = self
            .source_ips
            .iter()
            .find(|ip| ip.is_ipv4() != self.addr.is_ipv4())
        {
            return Err(ConfigError(format!(
                "source address {ip} is not of the same family as {}",
                self.addr
            )));
        }
        Ok(())
    }
}

/// A configuration value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid load generator configuration: {0}")]
pub struct ConfigError(pub String);
