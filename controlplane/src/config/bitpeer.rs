//! bitpeer's configuration (`conf/bitpeer.toml` documents every key).

use super::jobmaster::{network, NodeConfig};
pub use super::relay::RelayListenConfig;
use super::{ConfigError, InvalidKey};
use crate::node::NodeEndpoint;
use bitcoin::p2p::Magic;
use bitcoin::Network;
use ironpool_shared::alert::AlertConfig;
use ironpool_shared::config::AlertSection;
use ironpool_shared::meta::PresharedKey;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitpeerConfig {
    /// Chain rules for the proof-of-work checks: `bitcoin`, `testnet`, `testnet4`, `regtest`.
    pub network: String,
    /// P2P network magic, 8 hex digits (default: the network's; Bitcoin SV's regtest is
    /// `dab5bffa`).
    pub magic: Option<String>,
    /// Nodes to connect to, `host:port`.
    pub peers: Vec<String>,
    /// Peers that get our block in full at once (the rest: a compact block if they asked for
    /// them, else a header announcement).
    #[serde(default = "default_broadcast_limit")]
    pub broadcast_limit: usize,
    #[serde(default = "default_reconnect_secs")]
    pub reconnect_secs: u64,
    /// Largest P2P message taken, bytes (a block: 4 MB on Bitcoin).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u32,
    /// A node whose best block seeds the known headers (recommended: without it, heights are
    /// learned from the first block or compact block only).
    pub node: Option<NodeConfig>,
    pub relay: RelayListenConfig,
    /// JSON status (peers, blocks learned, by which message), rewritten every second.
    pub status_file: Option<PathBuf>,
    pub alert: Option<AlertSection>,
}

fn default_broadcast_limit() -> usize {
    60
}
fn default_reconnect_secs() -> u64 {
    10
}
fn default_max_message_bytes() -> u32 {
    8 * 1024 * 1024
}

/// bitpeer's settings once checked.
#[derive(Debug, Clone)]
pub struct Bitpeer {
    pub network: Network,
    pub magic: Magic,
    pub peers: Vec<String>,
    pub broadcast_limit: usize,
    pub reconnect: Duration,
    pub max_message_bytes: u32,
    pub node: Option<NodeEndpoint>,
    pub relay_listen: String,
    pub relay_key: PresharedKey,
    pub status_file: Option<PathBuf>,
    pub alert: Option<AlertConfig>,
}

impl BitpeerConfig {
    pub fn load(path: &Path) -> Result<Bitpeer, ConfigError> {
        let raw: BitpeerConfig = super::load(path)?;
        raw.validate().map_err(|k| ConfigError::invalid(path, k))
    }

    pub fn validate(&self) -> Result<Bitpeer, InvalidKey> {
        let network = network(&self.network)?;
        let magic = match &self.magic {
            None => network.magic(),
            Some(hex) => {
                let bytes = <[u8; 4] as bitcoin::hex::FromHex>::from_hex(hex)
                    .map_err(|_| InvalidKey::new("magic", hex, "8 hex digits such as f9beb4d9"))?;
                Magic::from_bytes(bytes)
            }
        };
        if self.peers.is_empty() {
            return Err(InvalidKey::new("peers", "[]", "at least one host:port"));
        }
        for (i, peer) in self.peers.iter().enumerate() {
            if peer
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(InvalidKey::new(format!("peers[{i}]"), peer, "host:port"));
            }
            if self.peers[..i].contains(peer) {
                return Err(InvalidKey::new(
                    format!("peers[{i}]"),
                    peer,
                    "each peer once",
                ));
            }
        }
        if !(1..=10_000).contains(&self.broadcast_limit) {
            return Err(InvalidKey::new(
                "broadcast_limit",
                self.broadcast_limit,
                "1 to 10000 peers",
            ));
        }
        if !(1..=3600).contains(&self.reconnect_secs) {
            return Err(InvalidKey::new(
                "reconnect_secs",
                self.reconnect_secs,
                "1 to 3600 seconds",
            ));
        }
        if !(1_000_000..=256 * 1024 * 1024).contains(&self.max_message_bytes) {
            return Err(InvalidKey::new(
                "max_message_bytes",
                self.max_message_bytes,
                "1000000 to 268435456 bytes",
            ));
        }
        let node = self.node.as_ref().map(|n| n.endpoint("node")).transpose()?;
        let alert = self
            .alert
            .as_ref()
            .map(|a| a.validate("bitpeer"))
            .transpose()?;
        let (relay_listen, relay_key) = self.relay.validate(alert.as_ref())?;
        Ok(Bitpeer {
            network,
            magic,
            peers: self.peers.clone(),
            broadcast_limit: self.broadcast_limit,
            reconnect: Duration::from_secs(self.reconnect_secs),
            max_message_bytes: self.max_message_bytes,
            node,
            relay_listen,
            relay_key,
            status_file: self.status_file.clone(),
            alert,
        })
    }
}
