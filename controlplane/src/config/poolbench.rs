//! poolbench's configuration (`conf/poolbench.toml` documents every key).
//!
//! ViaBTC's poolbench took the jobmaster list from an HTTP service and sent it UDP datagrams
//! (reference §8, §11.9, §15 item 13); here the jobmaster connects to poolbench's relay port and
//! every frame is authenticated, so the file names a listen address and a key instead.

use super::relay::RelayListenConfig;
use super::{ConfigError, InvalidKey};
use ironpool_shared::alert::AlertConfig;
use ironpool_shared::config::AlertSection;
use ironpool_shared::meta::PresharedKey;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolbenchConfig {
    /// The pools watched (`[[pool]]`), at least one.
    #[serde(default, rename = "pool")]
    pub pools: Vec<PoolConfig>,
    pub relay: RelayListenConfig,
    /// JSON status (pools, who was first at each height, SPV times), rewritten every second.
    pub status_file: Option<PathBuf>,
    /// A pool that sends nothing for this long is reconnected.
    #[serde(default = "default_silence_reconnect_secs")]
    pub silence_reconnect_secs: u64,
    /// Error-level events to alertcenter; none when absent.
    pub alert: Option<AlertSection>,
}

/// One `[[pool]]`: a stratum V1 endpoint of another pool (or of this one).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// The name in logs, in the status file and in the tips announced (`via`).
    pub name: String,
    /// Host name or IP address; a name is resolved again at every connection attempt.
    pub host: String,
    pub port: u16,
    /// The stratum user (`mining.authorize`'s first parameter).
    pub user: String,
    #[serde(default = "default_password")]
    pub password: String,
    /// Whether this pool moving first is announced to the jobmaster (off: only measured).
    #[serde(default = "default_notify")]
    pub notify: bool,
}

fn default_password() -> String {
    "x".to_owned()
}
fn default_notify() -> bool {
    true
}
fn default_silence_reconnect_secs() -> u64 {
    600
}

/// A shorter silence would reconnect healthy pools: they send a job every 30 to 60 seconds, and
/// some only when the block changes.
const SILENCE_RECONNECT_SECS_MIN: u64 = 60;
const SILENCE_RECONNECT_SECS_MAX: u64 = 86_400;
/// Longest pool name: what a tip's `via` carries; longer names would be cut in the jobmaster's
/// metrics.
const NAME_BYTES_MAX: usize = ironpool_shared::relay::VIA_BYTES_MAX;
/// Longest host name (DNS).
const HOST_BYTES_MAX: usize = 253;
/// Longest user or password: real ones are a few dozen bytes.
const CREDENTIAL_BYTES_MAX: usize = 512;

/// One watched pool, checked (the fields of its `[[pool]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedPool {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub notify: bool,
}

/// poolbench's settings once checked.
#[derive(Debug, Clone)]
pub struct Poolbench {
    /// In the file's order: a pool's index is its place here.
    pub pools: Vec<WatchedPool>,
    /// Where the jobmaster connects for the tips.
    pub relay_listen: String,
    pub relay_key: PresharedKey,
    pub status_file: Option<PathBuf>,
    /// A pool silent this long is reconnected.
    pub silence_reconnect: Duration,
    /// Where error-level events go (`[alert]`, process `poolbench`).
    pub alert: Option<AlertConfig>,
}

impl PoolbenchConfig {
    /// Loads, parses and validates the file at `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read or parsed, or the first bad key, named.
    pub fn load(path: &Path) -> Result<Poolbench, ConfigError> {
        let raw: PoolbenchConfig = super::load(path)?;
        raw.validate().map_err(|k| ConfigError::invalid(path, k))
    }

    /// Checks every key and builds the settings (reads the key files).
    ///
    /// # Errors
    ///
    /// The first bad key, with its value and what was expected.
    pub fn validate(&self) -> Result<Poolbench, InvalidKey> {
        if self.pools.is_empty() {
            return Err(InvalidKey::new("pool", "[]", "at least one [[pool]] table"));
        }
        let mut pools = Vec::with_capacity(self.pools.len());
        for (i, pool) in self.pools.iter().enumerate() {
            pools.push(pool.validate(i)?);
            if self.pools[..i].iter().any(|p| p.name == pool.name) {
                return Err(InvalidKey::new(
                    format!("pool[{i}].name"),
                    &pool.name,
                    "a name no other [[pool]] has",
                ));
            }
        }
        if let Some(path) = &self.status_file {
            if path.as_os_str().is_empty() || path.file_name().is_none() {
                return Err(InvalidKey::new(
                    "status_file",
                    path.display().to_string(),
                    "the path of a file",
                ));
            }
        }
        if !(SILENCE_RECONNECT_SECS_MIN..=SILENCE_RECONNECT_SECS_MAX)
            .contains(&self.silence_reconnect_secs)
        {
            return Err(InvalidKey::new(
                "silence_reconnect_secs",
                self.silence_reconnect_secs,
                format!(
                    "{SILENCE_RECONNECT_SECS_MIN} to {SILENCE_RECONNECT_SECS_MAX} seconds \
                     (pools send a job every 30 to 60 s)"
                ),
            ));
        }
        let alert = self
            .alert
            .as_ref()
            .map(|a| a.validate("poolbench"))
            .transpose()?;
        let (relay_listen, relay_key) = self.relay.validate(alert.as_ref())?;
        Ok(Poolbench {
            pools,
            relay_listen,
            relay_key,
            status_file: self.status_file.clone(),
            silence_reconnect: Duration::from_secs(self.silence_reconnect_secs),
            alert,
        })
    }
}

impl PoolConfig {
    fn validate(&self, i: usize) -> Result<WatchedPool, InvalidKey> {
        let key = |name: &str| format!("pool[{i}].{name}");
        // The name travels in every tip (`via`) and in log lines.
        if self.name.is_empty()
            || self.name.len() > NAME_BYTES_MAX
            || self
                .name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(InvalidKey::new(
                key("name"),
                &self.name,
                format!("1 to {NAME_BYTES_MAX} bytes without spaces or control characters"),
            ));
        }
        let host_ok = !self.host.is_empty()
            && self.host.len() <= HOST_BYTES_MAX
            && self
                .host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
        if !host_ok {
            return Err(InvalidKey::new(
                key("host"),
                &self.host,
                "a host name or an IP address (without the port)",
            ));
        }
        if self.port == 0 {
            return Err(InvalidKey::new(key("port"), self.port, "1 to 65535"));
        }
        if self.user.is_empty() || self.user.len() > CREDENTIAL_BYTES_MAX {
            return Err(InvalidKey::new(
                key("user"),
                &self.user,
                format!("1 to {CREDENTIAL_BYTES_MAX} bytes"),
            ));
        }
        if self.password.len() > CREDENTIAL_BYTES_MAX {
            return Err(InvalidKey::new(
                key("password"),
                format!("{} bytes", self.password.len()),
                format!("at most {CREDENTIAL_BYTES_MAX} bytes"),
            ));
        }
        Ok(WatchedPool {
            name: self.name.clone(),
            host: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
            password: self.password.clone(),
            notify: self.notify,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::meta::tests::{example, uncomment_table, with_key_file, KeyFile};

    fn settings(text: &str) -> Result<Poolbench, InvalidKey> {
        super::super::parse::<PoolbenchConfig>(Path::new("poolbench.toml"), text)
            .expect("parses")
            .validate()
    }

    fn minimal(key: &KeyFile) -> String {
        format!(
            "[relay]\nlisten = \"127.0.0.1:7302\"\nkey_file = {:?}\n\
             [[pool]]\nname = \"a\"\nhost = \"stratum.example.com\"\nport = 3333\nuser = \"u\"\n",
            key.0.display().to_string()
        )
    }

    #[test]
    fn the_example_loads_and_shows_the_defaults() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let text = with_key_file(&example("poolbench.toml"), &key.0);
        let settings = settings(&text).expect("valid");
        let defaults = self::settings(&minimal(&key)).expect("valid");
        assert!(settings.pools.len() >= 2);
        assert_eq!(settings.relay_listen, "127.0.0.1:7302");
        assert_eq!(settings.silence_reconnect, defaults.silence_reconnect);
        assert_eq!(defaults.silence_reconnect, Duration::from_secs(600));
        assert_eq!(defaults.pools[0].password, "x");
        assert!(defaults.pools[0].notify);
        assert!(defaults.status_file.is_none());
        assert!(settings.alert.is_none(), "[alert] is commented out");
        assert!(
            settings.pools.iter().any(|p| !p.notify),
            "a measured-only pool"
        );

        let alert_key = KeyFile::new(b"fedcba9876543210\n");
        let on = uncomment_table(&example("poolbench.toml"), "[alert]").replace(
            "\"/etc/ironpool/alert.key\"",
            &format!("{:?}", alert_key.0.display().to_string()),
        );
        let alert = self::settings(&with_key_file(&on, &key.0))
            .expect("valid")
            .alert
            .expect("[alert]");
        assert_eq!(alert.process, "poolbench");
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let base = minimal(&key);
        let cases = [
            ("name = \"a\"", "name = \"\"", "pool[0].name"),
            ("name = \"a\"", "name = \"a b\"", "pool[0].name"),
            (
                "name = \"a\"",
                &format!("name = {:?}", "n".repeat(65)),
                "pool[0].name",
            ),
            (
                "host = \"stratum.example.com\"",
                "host = \"\"",
                "pool[0].host",
            ),
            (
                "host = \"stratum.example.com\"",
                "host = \"a b\"",
                "pool[0].host",
            ),
            ("port = 3333", "port = 0", "pool[0].port"),
            ("user = \"u\"", "user = \"\"", "pool[0].user"),
            (
                "listen = \"127.0.0.1:7302\"",
                "listen = \"localhost:7302\"",
                "relay.listen",
            ),
        ];
        for (from, to, name) in cases {
            let text = base.replace(from, to);
            assert_ne!(text, base, "{from}");
            let error = settings(&text).expect_err(to);
            assert_eq!(error.key, name, "{to}");
        }
        let silent = format!("silence_reconnect_secs = 5\n{base}");
        assert_eq!(
            settings(&silent).expect_err("too short").key,
            "silence_reconnect_secs"
        );
    }

    #[test]
    fn pools_are_required_and_their_names_unique() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let base = minimal(&key);
        let none = base[..base.find("[[pool]]").expect("pool")].to_owned();
        assert_eq!(settings(&none).expect_err("no pool").key, "pool");
        let twice = format!("{base}[[pool]]\nname = \"a\"\nhost = \"h\"\nport = 1\nuser = \"u\"\n");
        assert_eq!(settings(&twice).expect_err("same name").key, "pool[1].name");
    }

    #[test]
    fn unknown_keys_and_a_missing_key_file_are_refused() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let typo = minimal(&key) + "notfy = false\n";
        let error = super::super::parse::<PoolbenchConfig>(Path::new("p.toml"), &typo)
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("notfy"), "{error}");

        let missing = std::env::temp_dir().join("ironpool-poolbench-no-such-key");
        let text = minimal(&key).replace(
            &format!("{:?}", key.0.display().to_string()),
            &format!("{:?}", missing.display().to_string()),
        );
        assert_eq!(settings(&text).expect_err("no key").key, "relay.key_file");
    }

    #[test]
    fn the_alert_key_may_not_be_the_relay_key() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let text = format!(
            "{}[alert]\naddress = \"10.0.0.5:4100\"\nkey_file = {:?}\nhost = \"h\"\n",
            minimal(&key),
            key.0.display().to_string()
        );
        assert_eq!(settings(&text).expect_err("same key").key, "alert.key_file");
    }
}
