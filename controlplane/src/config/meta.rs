//! The configuration of the metawriter and the metarelay (`conf/metawriter.toml` and
//! `conf/metarelay.toml` document every key).

use super::{ConfigError, InvalidKey};
use ironpool_shared::meta::{Aggregate, CoinNames, PresharedKey};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `[listen]`: batches from other hosts (metarelays, remote sites) over authenticated TCP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    pub address: String,
    /// File holding the pre-shared key (at least 16 bytes; a trailing newline is ignored).
    pub key_file: PathBuf,
    /// Largest batch body accepted, in bytes.
    #[serde(default = "default_max_batch_bytes")]
    pub max_batch_bytes: u32,
}

/// `[local]`: this host's share rings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalRingsConfig {
    #[serde(default = "default_ring_dir")]
    pub ring_dir: PathBuf,
    /// The ring ids of the gateway shards (`host_id`/`process_id`/shard as the gateway numbers
    /// them; `ls <ring_dir>/shares-*.ring`).
    pub shards: Vec<u16>,
    /// The coin key of these gateways.
    pub coin: String,
    /// This host's name in the `mh` monitor keys (ViaBTC used its IP address).
    pub host: String,
}

/// One `[[coins]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinConfig {
    /// The key prefix, lower case (`btc`).
    pub key: String,
    /// The name in `newblock` (`BTC`).
    pub name: String,
}

/// `[redis]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// One URL: a single server. Several: the seed nodes of a Redis Cluster.
    pub urls: Vec<String>,
    #[serde(default = "default_redis_timeout_ms")]
    pub timeout_ms: u64,
    /// Script calls in flight at once (pipelining).
    #[serde(default = "default_pipeline")]
    pub pipeline: usize,
}

/// `[retention]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Minute fields older than this are removed; 0 keeps them forever.
    #[serde(default = "default_max_age_secs")]
    pub max_age_secs: u64,
    #[serde(default = "default_sweep_interval_secs")]
    pub sweep_interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            max_age_secs: default_max_age_secs(),
            sweep_interval_secs: default_sweep_interval_secs(),
        }
    }
}

/// The metawriter's file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetawriterConfig {
    /// This writer's id in Redis (the markers of applied batches); unique per metawriter.
    pub writer_id: String,
    pub spool_dir: PathBuf,
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    pub redis: RedisConfig,
    pub coins: Vec<CoinConfig>,
    pub listen: Option<ListenConfig>,
    pub local: Option<LocalRingsConfig>,
    #[serde(default)]
    pub retention: RetentionConfig,
}

/// The metarelay's file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetarelayConfig {
    pub spool_dir: PathBuf,
    /// Where batches go: the metawriter's (or the next relay's) `listen` address.
    pub upstream: String,
    /// The upstream's pre-shared key.
    pub upstream_key_file: PathBuf,
    pub listen: Option<ListenConfig>,
    pub local: Option<LocalRingsConfig>,
    /// Records per batch sent upstream, at most.
    #[serde(default = "default_batch_records")]
    pub batch_records: usize,
}

fn default_max_batch_bytes() -> u32 {
    8 << 20
}
fn default_ring_dir() -> PathBuf {
    PathBuf::from(ironpool_shared::ring::DEFAULT_RING_DIR)
}
fn default_redis_timeout_ms() -> u64 {
    5_000
}
fn default_pipeline() -> usize {
    64
}
fn default_max_age_secs() -> u64 {
    30 * 86_400
}
fn default_sweep_interval_secs() -> u64 {
    600
}
fn default_flush_interval_ms() -> u64 {
    10_000
}
fn default_batch_records() -> usize {
    4_096
}

/// Reads a pre-shared key file.
///
/// # Errors
///
/// The file cannot be read or the key is shorter than 16 bytes; the error names `key`.
pub fn read_key(path: &Path, key: &str) -> Result<PresharedKey, InvalidKey> {
    let bytes = std::fs::read(path).map_err(|e| {
        InvalidKey::new(
            key,
            path.display().to_string(),
            format!("a readable key file ({e})"),
        )
    })?;
    let trimmed = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    PresharedKey::new(trimmed)
        .map_err(|e| InvalidKey::new(key, path.display().to_string(), e.to_string()))
}

fn check_listen(listen: &ListenConfig) -> Result<(SocketAddr, PresharedKey), InvalidKey> {
    let address = listen.address.parse::<SocketAddr>().map_err(|_| {
        InvalidKey::new(
            "listen.address",
            &listen.address,
            "an address such as 0.0.0.0:4200",
        )
    })?;
    let key = read_key(&listen.key_file, "listen.key_file")?;
    if listen.max_batch_bytes < 4_096 {
        return Err(InvalidKey::new(
            "listen.max_batch_bytes",
            listen.max_batch_bytes,
            "at least 4096",
        ));
    }
    Ok((address, key))
}

fn check_local(local: &LocalRingsConfig, coins: Option<&CoinNames>) -> Result<(), InvalidKey> {
    if local.shards.is_empty() {
        return Err(InvalidKey::new(
            "local.shards",
            &local.shards,
            "at least one ring id",
        ));
    }
    if coins.is_some_and(|c| c.name(&local.coin).is_none()) {
        return Err(InvalidKey::new(
            "local.coin",
            &local.coin,
            "one of the [[coins]] keys",
        ));
    }
    Aggregate::check_host(&local.host).map_err(|_| {
        InvalidKey::new(
            "local.host",
            &local.host,
            "a host name or address without spaces",
        )
    })
}

/// The metawriter's checked settings.
#[derive(Debug, Clone)]
pub struct MetawriterSettings {
    pub config: MetawriterConfig,
    pub coins: CoinNames,
    pub listen: Option<(SocketAddr, PresharedKey)>,
    pub flush_interval: Duration,
}

impl MetawriterConfig {
    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    ///
    /// The first problem, naming the key.
    pub fn load(path: &Path) -> Result<MetawriterSettings, ConfigError> {
        let config: MetawriterConfig = super::load(path)?;
        config
            .validate()
            .map_err(|key| ConfigError::invalid(path, key))
    }

    fn validate(self) -> Result<MetawriterSettings, InvalidKey> {
        if self.writer_id.is_empty()
            || !self
                .writer_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(InvalidKey::new(
                "writer_id",
                &self.writer_id,
                "letters, digits, - and _",
            ));
        }
        if !(100..=3_600_000).contains(&self.flush_interval_ms) {
            return Err(InvalidKey::new(
                "flush_interval_ms",
                self.flush_interval_ms,
                "100..=3600000",
            ));
        }
        if self.redis.urls.is_empty() {
            return Err(InvalidKey::new(
                "redis.urls",
                &self.redis.urls,
                "at least one redis:// URL",
            ));
        }
        for (i, url) in self.redis.urls.iter().enumerate() {
            if redis::parse_redis_url(url).is_none() {
                return Err(InvalidKey::new(
                    format!("redis.urls[{i}]"),
                    url,
                    "a redis:// URL",
                ));
            }
        }
        if self.redis.pipeline == 0 || self.redis.timeout_ms == 0 {
            return Err(InvalidKey::new(
                "redis.pipeline",
                self.redis.pipeline,
                "at least 1 (and timeout_ms at least 1)",
            ));
        }
        if self.coins.is_empty() {
            return Err(InvalidKey::new(
                "coins",
                "[]",
                "at least one [[coins]] entry",
            ));
        }
        for (i, coin) in self.coins.iter().enumerate() {
            let ok = !coin.key.is_empty()
                && coin.key.len() <= 16
                && coin
                    .key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            if !ok {
                return Err(InvalidKey::new(
                    format!("coins[{i}].key"),
                    &coin.key,
                    "1-16 lower-case letters or digits",
                ));
            }
        }
        let coins = CoinNames::new(self.coins.iter().map(|c| (c.key.clone(), c.name.clone())));
        let listen = self.listen.as_ref().map(check_listen).transpose()?;
        if let Some(local) = &self.local {
            check_local(local, Some(&coins))?;
        }
        if self.listen.is_none() && self.local.is_none() {
            return Err(InvalidKey::new(
                "listen",
                "none",
                "a [listen] or a [local] section (or both)",
            ));
        }
        if self.retention.max_age_secs != 0 && self.retention.max_age_secs < 120 {
            return Err(InvalidKey::new(
                "retention.max_age_secs",
                self.retention.max_age_secs,
                "0 (keep) or at least 120",
            ));
        }
        if self.retention.sweep_interval_secs == 0 {
            return Err(InvalidKey::new(
                "retention.sweep_interval_secs",
                0,
                "at least 1",
            ));
        }
        let flush_interval = Duration::from_millis(self.flush_interval_ms);
        Ok(MetawriterSettings {
            config: self,
            coins,
            listen,
            flush_interval,
        })
    }
}

/// The metarelay's checked settings.
#[derive(Debug, Clone)]
pub struct MetarelaySettings {
    pub config: MetarelayConfig,
    pub upstream_key: PresharedKey,
    pub listen: Option<(SocketAddr, PresharedKey)>,
}

impl MetarelayConfig {
    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    ///
    /// The first problem, naming the key.
    pub fn load(path: &Path) -> Result<MetarelaySettings, ConfigError> {
        let config: MetarelayConfig = super::load(path)?;
        config
            .validate()
            .map_err(|key| ConfigError::invalid(path, key))
    }

    fn validate(self) -> Result<MetarelaySettings, InvalidKey> {
        if self.upstream.is_empty() {
            return Err(InvalidKey::new(
                "upstream",
                &self.upstream,
                "host:port of the metawriter",
            ));
        }
        let upstream_key = read_key(&self.upstream_key_file, "upstream_key_file")?;
        let listen = self.listen.as_ref().map(check_listen).transpose()?;
        if let Some(local) = &self.local {
            check_local(local, None)?;
        }
        if self.listen.is_none() && self.local.is_none() {
            return Err(InvalidKey::new(
                "listen",
                "none",
                "a [listen] or a [local] section (or both)",
            ));
        }
        if !(1..=16_384).contains(&self.batch_records) {
            return Err(InvalidKey::new(
                "batch_records",
                self.batch_records,
                "1..=16384",
            ));
        }
        Ok(MetarelaySettings {
            config: self,
            upstream_key,
            listen,
        })
    }
}
