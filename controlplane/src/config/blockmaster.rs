//! The blockmaster's configuration (`conf/blockmaster.toml` documents every key).
//!
//! Peer blockmasters and bitpeers are listed here rather than fetched from a config service as
//! ViaBTC did (§7 of the reference): a site's relay mesh changes rarely, and a list that fails to
//! load at startup would leave the site unable to relay at all.

use super::jobmaster::NodeConfig;
use super::relay::RelayListenConfig;
use super::{ConfigError, InvalidKey};
use crate::node::NodeEndpoint;
use ironpool_shared::alert::AlertConfig;
use ironpool_shared::config::AlertSection;
use ironpool_shared::meta::PresharedKey;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockmasterConfig {
    /// Where the jobmaster and the other sites' blockmasters connect.
    pub relay: RelayListenConfig,
    /// Other sites' blockmasters, `host:port`: this side connects out and sends its compact
    /// blocks over these links.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Local bitpeers, `host:port`: full blocks go there.
    #[serde(default)]
    pub bitpeers: Vec<String>,
    /// The local node: `submitblock` and the mempool.
    pub node: NodeConfig,
    /// How often the node's mempool is read into the cache.
    #[serde(default = "default_mempool_poll_ms")]
    pub mempool_poll_ms: u64,
    /// A `getblocktxn` round trip longer than this falls back to asking for the whole block.
    #[serde(default = "default_missing_timeout_ms")]
    pub missing_timeout_ms: u64,
    /// JSON status (the last blocks, counters, the mempool cache), rewritten every second.
    pub status_file: Option<PathBuf>,
    /// Error-level events to alertcenter; none when absent.
    pub alert: Option<AlertSection>,
}

fn default_mempool_poll_ms() -> u64 {
    1000
}
fn default_missing_timeout_ms() -> u64 {
    3000
}

/// The blockmaster's settings once checked.
#[derive(Debug, Clone)]
pub struct Blockmaster {
    pub relay_listen: String,
    pub relay_key: PresharedKey,
    pub peers: Vec<String>,
    pub bitpeers: Vec<String>,
    pub node: NodeEndpoint,
    pub mempool_poll: Duration,
    pub missing_timeout: Duration,
    pub status_file: Option<PathBuf>,
    pub alert: Option<AlertConfig>,
}

impl BlockmasterConfig {
    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file and the first bad key.
    pub fn load(path: &Path) -> Result<Blockmaster, ConfigError> {
        let raw: BlockmasterConfig = super::load(path)?;
        raw.validate().map_err(|k| ConfigError::invalid(path, k))
    }

    /// Checks every key (and reads the relay key file).
    ///
    /// # Errors
    ///
    /// The first bad key, named with its index in a list (`peers[1]`).
    pub fn validate(&self) -> Result<Blockmaster, InvalidKey> {
        check_addresses("peers", &self.peers)?;
        check_addresses("bitpeers", &self.bitpeers)?;
        // Links are told apart by their address: one address in both lists would make a bitpeer
        // link look like a peer blockmaster's (or the reverse).
        if let Some((i, addr)) = self
            .bitpeers
            .iter()
            .enumerate()
            .find(|(_, addr)| self.peers.contains(addr))
        {
            return Err(InvalidKey::new(
                format!("bitpeers[{i}]"),
                addr,
                "an address that is not also in peers",
            ));
        }
        if !(100..=60_000).contains(&self.mempool_poll_ms) {
            return Err(InvalidKey::new(
                "mempool_poll_ms",
                self.mempool_poll_ms,
                "100 to 60000 milliseconds",
            ));
        }
        if !(50..=60_000).contains(&self.missing_timeout_ms) {
            return Err(InvalidKey::new(
                "missing_timeout_ms",
                self.missing_timeout_ms,
                "50 to 60000 milliseconds",
            ));
        }
        let node = self.node.endpoint("node")?;
        let alert = self
            .alert
            .as_ref()
            .map(|a| a.validate("blockmaster"))
            .transpose()?;
        let (relay_listen, relay_key) = self.relay.validate(alert.as_ref())?;
        Ok(Blockmaster {
            relay_listen,
            relay_key,
            peers: self.peers.clone(),
            bitpeers: self.bitpeers.clone(),
            node,
            mempool_poll: Duration::from_millis(self.mempool_poll_ms),
            missing_timeout: Duration::from_millis(self.missing_timeout_ms),
            status_file: self.status_file.clone(),
            alert,
        })
    }
}

/// Every entry `host:port`, each once.
fn check_addresses(key: &str, addresses: &[String]) -> Result<(), InvalidKey> {
    for (i, addr) in addresses.iter().enumerate() {
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(InvalidKey::new(format!("{key}[{i}]"), addr, "host:port"));
        }
        if addresses[..i].contains(addr) {
            return Err(InvalidKey::new(
                format!("{key}[{i}]"),
                addr,
                "each address once",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use ironpool_shared::config::{parse, TempKeyFile};

    fn config(extra: &str, key: &TempKeyFile) -> String {
        format!(
            r#"
{extra}
[relay]
listen = "127.0.0.1:4300"
key_file = "{}"

[node]
name = "local"
url = "http://127.0.0.1:8332/"
user = "u"
password = "p"
"#,
            key.0.display()
        )
    }

    fn validate(text: &str) -> Result<Blockmaster, InvalidKey> {
        parse::<BlockmasterConfig>(Path::new("blockmaster.toml"), text)
            .expect("parses")
            .validate()
    }

    #[test]
    fn defaults_apply() {
        let key = TempKeyFile::new(&[7; 32]);
        let settings = validate(&config("", &key)).unwrap();
        assert!(settings.peers.is_empty());
        assert!(settings.bitpeers.is_empty());
        assert_eq!(settings.mempool_poll, Duration::from_secs(1));
        assert_eq!(settings.missing_timeout, Duration::from_secs(3));
        assert_eq!(settings.relay_listen, "127.0.0.1:4300");
    }

    #[test]
    fn bad_keys_are_named() {
        let key = TempKeyFile::new(&[7; 32]);
        let cases = [
            (r#"peers = ["nohost"]"#, "peers[0]"),
            (r#"peers = ["a:1", "a:1"]"#, "peers[1]"),
            (r#"bitpeers = ["a:99999"]"#, "bitpeers[0]"),
            (
                r#"peers = ["a:1"]
bitpeers = ["b:2", "a:1"]"#,
                "bitpeers[1]",
            ),
            ("mempool_poll_ms = 0", "mempool_poll_ms"),
            ("missing_timeout_ms = 600000", "missing_timeout_ms"),
        ];
        for (extra, expected) in cases {
            let error = validate(&config(extra, &key)).unwrap_err();
            assert_eq!(error.key, expected, "{extra}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let key = TempKeyFile::new(&[7; 32]);
        let text = config("mempool_timeout = 10", &key);
        assert!(parse::<BlockmasterConfig>(Path::new("blockmaster.toml"), &text).is_err());
    }
}
