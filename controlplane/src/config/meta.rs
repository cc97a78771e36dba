//! The configuration of the metawriter and the metarelay (`conf/metawriter.toml` and
//! `conf/metarelay.toml` document every key).

use super::{ConfigError, InvalidKey};
use ironpool_shared::alert::AlertConfig;
use ironpool_shared::config::{read_key, AlertSection};
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
    /// Error-level events to alertcenter; none when absent.
    pub alert: Option<AlertSection>,
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
    /// Error-level events to alertcenter; none when absent.
    pub alert: Option<AlertSection>,
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

/// A coin key as the Redis keys and the batch frames carry it (`btc`).
fn valid_coin_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 16
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn check_local(local: &LocalRingsConfig, coins: Option<&CoinNames>) -> Result<(), InvalidKey> {
    if local.shards.is_empty() {
        return Err(InvalidKey::new(
            "local.shards",
            &local.shards,
            "at least one ring id",
        ));
    }
    if !valid_coin_key(&local.coin) {
        return Err(InvalidKey::new(
            "local.coin",
            &local.coin,
            "1-16 lower-case letters or digits",
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

/// The alert key goes to every host of the pool: it must not also be a key that lets a host
/// write shares.
fn check_alert_key(
    alert: Option<&AlertConfig>,
    share_keys: &[Option<&PresharedKey>],
) -> Result<(), InvalidKey> {
    match alert {
        Some(alert) if share_keys.iter().flatten().any(|key| **key == alert.key) => {
            Err(InvalidKey::new(
                "alert.key_file",
                "the same key as a batch link",
                "a key of its own: every host holds the alert key, and the batch links' key lets a host write shares",
            ))
        }
        _ => Ok(()),
    }
}

/// The metawriter's checked settings.
#[derive(Debug, Clone)]
pub struct MetawriterSettings {
    pub config: MetawriterConfig,
    pub coins: CoinNames,
    pub listen: Option<(SocketAddr, PresharedKey)>,
    pub flush_interval: Duration,
    /// Where error-level events go (`[alert]`, process `metawriter`).
    pub alert: Option<AlertConfig>,
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
            let ok = valid_coin_key(&coin.key);
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
        let alert = self
            .alert
            .as_ref()
            .map(|a| a.validate("metawriter"))
            .transpose()?;
        let listen_key = listen.as_ref().map(|(_, key)| key);
        check_alert_key(alert.as_ref(), &[listen_key])?;
        Ok(MetawriterSettings {
            config: self,
            coins,
            listen,
            flush_interval,
            alert,
        })
    }
}

/// The metarelay's checked settings.
#[derive(Debug, Clone)]
pub struct MetarelaySettings {
    pub config: MetarelayConfig,
    pub upstream_key: PresharedKey,
    pub listen: Option<(SocketAddr, PresharedKey)>,
    /// Where error-level events go (`[alert]`, process `metarelay`).
    pub alert: Option<AlertConfig>,
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
        let alert = self
            .alert
            .as_ref()
            .map(|a| a.validate("metarelay"))
            .transpose()?;
        let listen_key = listen.as_ref().map(|(_, key)| key);
        check_alert_key(alert.as_ref(), &[listen_key, Some(&upstream_key)])?;
        Ok(MetarelaySettings {
            config: self,
            upstream_key,
            listen,
            alert,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Also the helpers of the other config tests of this crate: temporary key files, and the
    //! documented examples with their commented-out tables switched on.

    use super::*;

    pub(crate) use ironpool_shared::config::TempKeyFile as KeyFile;

    /// The text of `conf/<name>`.
    pub(crate) fn example(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../conf")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `text` with the commented-out table `header` (`[alert]`) switched on: its `# key = ...`
    /// lines and their `#` continuation lines, up to the first other line.
    pub(crate) fn uncomment_table(text: &str, header: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let (mut inside, mut found) = (false, false);
        for line in text.lines() {
            let bare = line.strip_prefix("# ");
            if bare == Some(header) {
                (inside, found) = (true, true);
                out.push_str(header);
            } else if let Some(bare) = bare.filter(|b| {
                inside
                    && (b.trim_start().starts_with('#')
                        || (b.starts_with(|c: char| c.is_ascii_lowercase()) && b.contains(" = ")))
            }) {
                out.push_str(bare);
            } else {
                inside = false;
                out.push_str(line);
            }
            out.push('\n');
        }
        assert!(found, "no `# {header}` in the example");
        out
    }

    /// `text` with every quoted `/etc/ironpool/...` path (the key files) pointed at `key`.
    pub(crate) fn with_key_file(text: &str, key: &Path) -> String {
        let quoted = format!("{:?}", key.display().to_string());
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("\"/etc/ironpool/") {
            let len = rest[start + 1..].find('"').expect("closing quote") + 2;
            out.push_str(&rest[..start]);
            out.push_str(&quoted);
            rest = &rest[start + len..];
        }
        out.push_str(rest);
        out
    }

    fn writer(text: &str) -> Result<MetawriterSettings, InvalidKey> {
        super::super::parse::<MetawriterConfig>(Path::new("metawriter.toml"), text)
            .expect("parses")
            .validate()
    }

    fn relay(text: &str) -> Result<MetarelaySettings, InvalidKey> {
        super::super::parse::<MetarelayConfig>(Path::new("metarelay.toml"), text)
            .expect("parses")
            .validate()
    }

    /// The keys without a default, and [listen] and [local] with only theirs.
    fn minimal_writer(key: &KeyFile) -> String {
        format!(
            "writer_id = \"w\"\nspool_dir = \"/s\"\n[redis]\nurls = [\"redis://127.0.0.1/\"]\n\
             [[coins]]\nkey = \"btc\"\nname = \"BTC\"\n\
             [listen]\naddress = \"0.0.0.0:1\"\nkey_file = {:?}\n\
             [local]\nshards = [0]\ncoin = \"btc\"\nhost = \"h\"\n",
            key.0.display().to_string()
        )
    }

    fn minimal_relay(key: &KeyFile) -> String {
        format!(
            "spool_dir = \"/s\"\nupstream = \"w:1\"\nupstream_key_file = {0:?}\n\
             [listen]\naddress = \"0.0.0.0:1\"\nkey_file = {0:?}\n\
             [local]\nshards = [0]\ncoin = \"btc\"\nhost = \"h\"\n",
            key.0.display().to_string()
        )
    }

    #[test]
    fn the_metawriter_example_loads_and_shows_the_defaults() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let text = with_key_file(&example("metawriter.toml"), &key.0);
        let settings = writer(&text).expect("valid");
        let defaults = writer(&minimal_writer(&key)).expect("valid");
        let (c, d) = (&settings.config, &defaults.config);
        assert_eq!(c.writer_id, "writer-1");
        assert_eq!(c.spool_dir, Path::new("/var/lib/ironpool/metawriter"));
        assert_eq!(settings.flush_interval, defaults.flush_interval);
        assert_eq!(
            (c.redis.timeout_ms, c.redis.pipeline),
            (d.redis.timeout_ms, d.redis.pipeline)
        );
        let (listen, local) = (c.listen.as_ref(), c.local.as_ref());
        assert_eq!(
            listen.map(|l| l.max_batch_bytes),
            d.listen.as_ref().map(|l| l.max_batch_bytes)
        );
        assert_eq!(
            local.map(|l| &l.ring_dir),
            d.local.as_ref().map(|l| &l.ring_dir)
        );
        assert_eq!(
            (c.retention.max_age_secs, c.retention.sweep_interval_secs),
            (d.retention.max_age_secs, d.retention.sweep_interval_secs)
        );
        assert_eq!(settings.coins.name("btc"), Some("BTC"));
        assert!(settings.listen.is_some());
        assert!(settings.alert.is_none(), "[alert] is commented out");
    }

    #[test]
    fn the_metarelay_example_loads_and_shows_the_defaults() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let text = with_key_file(&example("metarelay.toml"), &key.0);
        let settings = relay(&text).expect("valid");
        let defaults = relay(&minimal_relay(&key)).expect("valid");
        let (c, d) = (&settings.config, &defaults.config);
        assert_eq!(c.spool_dir, Path::new("/var/lib/ironpool/metarelay"));
        assert_eq!(c.batch_records, d.batch_records);
        assert_eq!(
            c.local.as_ref().map(|l| &l.ring_dir),
            d.local.as_ref().map(|l| &l.ring_dir)
        );
        assert!(settings.listen.is_none(), "[listen] is commented out");
        assert!(settings.alert.is_none(), "[alert] is commented out");

        // The commented-out [listen] is valid too, with its default.
        let listening = relay(&uncomment_table(&text, "[listen]")).expect("valid");
        assert_eq!(
            listening.config.listen.as_ref().map(|l| l.max_batch_bytes),
            d.listen.as_ref().map(|l| l.max_batch_bytes)
        );
        assert!(listening.listen.is_some());
    }

    #[test]
    fn the_commented_alert_tables_are_valid_and_name_the_role() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let alert_key = KeyFile::new(b"fedcba9876543210\n");
        let on = |name| {
            let text = uncomment_table(&example(name), "[alert]").replace(
                "\"/etc/ironpool/alert.key\"",
                &format!("{:?}", alert_key.0.display().to_string()),
            );
            with_key_file(&text, &key.0)
        };
        let alert = writer(&on("metawriter.toml"))
            .expect("valid")
            .alert
            .expect("[alert]");
        assert_eq!(
            (alert.address.as_str(), alert.host.as_str()),
            ("10.0.0.5:4100", "pool-eu-1")
        );
        assert_eq!(alert.process, "metawriter");
        let alert = relay(&on("metarelay.toml"))
            .expect("valid")
            .alert
            .expect("[alert]");
        assert_eq!(alert.host, "pool-asia-1");
        assert_eq!(alert.process, "metarelay");
    }

    #[test]
    fn the_alert_key_may_not_be_a_batch_link_key() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let same = |name| with_key_file(&uncomment_table(&example(name), "[alert]"), &key.0);
        for refused in [
            writer(&same("metawriter.toml")).map(|_| ()),
            relay(&same("metarelay.toml")).map(|_| ()),
        ] {
            let error = refused.expect_err("one key for alerts and shares");
            assert_eq!(error.key, "alert.key_file");
        }
    }

    #[test]
    fn a_bad_alert_table_is_refused_naming_the_key() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let short = KeyFile::new(b"12345");
        let missing = std::env::temp_dir().join("ironpool-config-no-such-key");
        let table = |key_file: &Path, host: &str| {
            format!(
                "[alert]\naddress = \"10.0.0.5:4100\"\nkey_file = {:?}\nhost = {host:?}\n",
                key_file.display().to_string()
            )
        };
        let cases = [
            (table(&missing, "h"), "alert.key_file"),
            (table(&short.0, "h"), "alert.key_file"),
            (table(&key.0, ""), "alert.host"),
        ];
        for (alert, name) in &cases {
            let e = writer(&(minimal_writer(&key) + alert)).expect_err("refused");
            assert_eq!(&e.key, name, "metawriter {alert}");
            let e = relay(&(minimal_relay(&key) + alert)).expect_err("refused");
            assert_eq!(&e.key, name, "metarelay {alert}");
        }
        // Through the file, as the process reports it.
        let path = std::env::temp_dir().join(format!(
            "ironpool-config-metawriter-{}.toml",
            std::process::id()
        ));
        std::fs::write(&path, minimal_writer(&key) + &cases[1].0).expect("write");
        let error = MetawriterConfig::load(&path)
            .expect_err("refused")
            .to_string();
        let _ = std::fs::remove_file(&path);
        assert!(error.contains("key `alert.key_file`"), "{error}");
        assert!(error.contains("5 bytes"), "{error}");
    }
}
