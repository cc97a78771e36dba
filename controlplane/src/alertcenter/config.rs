//! alertcenter's configuration (`conf/alertcenter.toml` documents every key).

use crate::config::{ConfigError, InvalidKey};
use ironpool_shared::meta::PresharedKey;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertcenterConfig {
    /// TCP address the senders connect to.
    pub listen: String,
    /// File holding the pre-shared key (its whole content, trailing newline trimmed).
    pub key_file: PathBuf,
    /// One URL: a single Redis server; several: the seed nodes of a Redis Cluster.
    pub redis: Vec<String>,
    #[serde(default = "default_list")]
    pub list: String,
    #[serde(default = "default_dedup_window_secs")]
    pub dedup_window_secs: u64,
    #[serde(default = "default_rate_per_minute")]
    pub rate_per_minute: u32,
    #[serde(default = "default_queue_max")]
    pub queue_max: usize,
}

fn default_list() -> String {
    "alert:message".to_owned()
}
fn default_dedup_window_secs() -> u64 {
    300
}
fn default_rate_per_minute() -> u32 {
    60
}
fn default_queue_max() -> usize {
    10_000
}

/// alertcenter's settings once checked.
#[derive(Debug, Clone)]
pub struct Alertcenter {
    pub listen: SocketAddr,
    pub key: PresharedKey,
    /// Checked URLs: one for a single server, several for a cluster.
    pub redis: Vec<String>,
    /// The Redis list alerts are RPUSHed to.
    pub list: String,
    /// The same host + process + message within it is pushed once (zero: no de-duplication).
    pub dedup_window: Duration,
    /// Token bucket over all alerts: this many per minute, bursts up to as many.
    pub rate_per_minute: u32,
    /// Alerts waiting for Redis while it is down; the oldest is dropped beyond it.
    pub queue_max: usize,
}

/// Longest accepted window: a day. Longer would hide a recurring failure for days.
const DEDUP_WINDOW_SECS_MAX: u64 = 86_400;
const RATE_PER_MINUTE_MAX: u32 = 100_000;
const QUEUE_MAX_MAX: usize = 10_000_000;

impl AlertcenterConfig {
    /// Loads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Alertcenter, ConfigError> {
        let raw: AlertcenterConfig = crate::config::load(path)?;
        raw.validate().map_err(|k| ConfigError::invalid(path, k))
    }

    /// Checks every key and builds the settings (reads the key file).
    pub fn validate(&self) -> Result<Alertcenter, InvalidKey> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            InvalidKey::new(
                "listen",
                &self.listen,
                "an IP address and port, such as 127.0.0.1:4100",
            )
        })?;
        let key = ironpool_shared::config::read_key(&self.key_file, "key_file")?;

        if self.redis.is_empty() {
            return Err(InvalidKey::new(
                "redis",
                "[]",
                "one redis:// URL (a single server) or several (a Redis Cluster)",
            ));
        }
        for (i, url) in self.redis.iter().enumerate() {
            if !url.starts_with("redis://") {
                return Err(InvalidKey::new(
                    format!("redis[{i}]"),
                    url,
                    "a redis://host:port/ URL",
                ));
            }
            if let Err(e) = redis::Client::open(url.as_str()) {
                return Err(InvalidKey::new(
                    format!("redis[{i}]"),
                    url,
                    format!("a valid redis:// URL ({e})"),
                ));
            }
            if self.redis[..i].contains(url) {
                return Err(InvalidKey::new(
                    format!("redis[{i}]"),
                    url,
                    "URLs without repeats",
                ));
            }
        }
        if self.redis.len() > 1 {
            // The cluster client checks what a single URL does not (same credentials, db 0).
            if let Err(e) =
                redis::cluster::ClusterClient::new(self.redis.iter().map(String::as_str))
            {
                return Err(InvalidKey::new(
                    "redis",
                    format!("{} URLs", self.redis.len()),
                    format!("seed nodes of one Redis Cluster ({e})"),
                ));
            }
        }

        if self.list.is_empty() || self.list.len() > 512 {
            return Err(InvalidKey::new(
                "list",
                &self.list,
                "a Redis key of 1 to 512 bytes",
            ));
        }
        if self.dedup_window_secs > DEDUP_WINDOW_SECS_MAX {
            return Err(InvalidKey::new(
                "dedup_window_secs",
                self.dedup_window_secs,
                format!("0 (off) to {DEDUP_WINDOW_SECS_MAX} seconds"),
            ));
        }
        if !(1..=RATE_PER_MINUTE_MAX).contains(&self.rate_per_minute) {
            return Err(InvalidKey::new(
                "rate_per_minute",
                self.rate_per_minute,
                format!("1 to {RATE_PER_MINUTE_MAX} alerts per minute"),
            ));
        }
        if !(1..=QUEUE_MAX_MAX).contains(&self.queue_max) {
            return Err(InvalidKey::new(
                "queue_max",
                self.queue_max,
                format!("1 to {QUEUE_MAX_MAX} alerts"),
            ));
        }

        Ok(Alertcenter {
            listen,
            key,
            redis: self.redis.clone(),
            list: self.list.clone(),
            dedup_window: Duration::from_secs(self.dedup_window_secs),
            rate_per_minute: self.rate_per_minute,
            queue_max: self.queue_max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use ironpool_shared::config::TempKeyFile as KeyFile;

    fn parse(text: &str) -> Result<AlertcenterConfig, ConfigError> {
        crate::config::parse(Path::new("alertcenter.toml"), text)
    }

    fn config(key_file: &KeyFile, rest: &str) -> String {
        format!(
            "listen = \"127.0.0.1:4100\"\nkey_file = {:?}\nredis = [\"redis://127.0.0.1:6379/\"]\n{rest}",
            key_file.0.display().to_string()
        )
    }

    fn invalid_key(key_file: &KeyFile, rest: &str) -> InvalidKey {
        parse(&config(key_file, rest))
            .expect("parses")
            .validate()
            .expect_err("refused")
    }

    #[test]
    fn defaults_and_the_key_file_newline() {
        let key = KeyFile::new(b"0123456789abcdef0123\n");
        let settings = parse(&config(&key, ""))
            .expect("parses")
            .validate()
            .expect("valid");
        assert_eq!(settings.list, "alert:message");
        assert_eq!(settings.dedup_window, Duration::from_secs(300));
        assert_eq!(settings.rate_per_minute, 60);
        assert_eq!(settings.queue_max, 10_000);
        assert_eq!(
            settings.key,
            PresharedKey::new(b"0123456789abcdef0123").expect("key")
        );
    }

    #[test]
    fn the_documented_example_is_valid_and_shows_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/alertcenter.toml");
        let text = std::fs::read_to_string(&path).expect("conf/alertcenter.toml");
        // The example's key file is a production path; point it at a real one.
        let key = KeyFile::new(b"0123456789abcdef\n");
        let example_key = "\"/etc/ironpool/alert.key\"";
        assert!(text.contains(example_key));
        let text = text.replace(example_key, &format!("{:?}", key.0.display().to_string()));
        let settings = parse(&text).expect("parses").validate().expect("valid");
        let defaults = parse(&config(&key, ""))
            .expect("parses")
            .validate()
            .expect("valid");
        assert_eq!(
            settings.listen,
            "127.0.0.1:4100".parse::<SocketAddr>().expect("address")
        );
        assert_eq!(settings.redis, ["redis://127.0.0.1:6379/"]);
        assert_eq!(
            (
                settings.list,
                settings.dedup_window,
                settings.rate_per_minute,
                settings.queue_max
            ),
            (
                defaults.list,
                defaults.dedup_window,
                defaults.rate_per_minute,
                defaults.queue_max
            )
        );
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let key = KeyFile::new(b"0123456789abcdef");
        let error = parse(&config(&key, "rate_per_minit = 5\n"))
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("rate_per_minit"), "{error}");
    }

    #[test]
    fn every_key_is_checked_by_name() {
        let key = KeyFile::new(b"0123456789abcdef");
        assert_eq!(invalid_key(&key, "queue_max = 0\n").key, "queue_max");
        assert_eq!(
            invalid_key(&key, "rate_per_minute = 0\n").key,
            "rate_per_minute"
        );
        assert_eq!(
            invalid_key(&key, "dedup_window_secs = 86401\n").key,
            "dedup_window_secs"
        );
        assert_eq!(invalid_key(&key, "list = \"\"\n").key, "list");

        let bad_listen = format!(
            "listen = \"localhost\"\nkey_file = {:?}\nredis = [\"redis://127.0.0.1/\"]\n",
            key.0.display().to_string()
        );
        let e = parse(&bad_listen)
            .expect("parses")
            .validate()
            .expect_err("refused");
        assert_eq!(e.key, "listen");

        let no_redis = format!(
            "listen = \"127.0.0.1:1\"\nkey_file = {:?}\nredis = []\n",
            key.0.display().to_string()
        );
        let e = parse(&no_redis)
            .expect("parses")
            .validate()
            .expect_err("refused");
        assert_eq!(e.key, "redis");

        let bad_url = format!(
            "listen = \"127.0.0.1:1\"\nkey_file = {:?}\nredis = [\"redis://a:1/\", \"http://b:2/\"]\n",
            key.0.display().to_string()
        );
        let e = parse(&bad_url)
            .expect("parses")
            .validate()
            .expect_err("refused");
        assert_eq!(e.key, "redis[1]");
    }

    #[test]
    fn short_or_missing_keys_are_refused_without_showing_the_key() {
        let short = KeyFile::new(&b"secret-but-short\n"[..12]);
        let e = invalid_key(&short, "");
        assert_eq!(e.key, "key_file");
        assert!(
            !e.value.contains("secret") && !e.expected.contains("secret"),
            "{e:?}"
        );

        let missing = KeyFile(std::env::temp_dir().join("ironpool-alertcenter-no-such-key"));
        let e = invalid_key(&missing, "");
        assert_eq!(e.key, "key_file");
    }
}
