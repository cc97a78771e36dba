//! `[relay]` of the roles that accept relay links (bitpeer, poolbench, blockmaster).

use super::InvalidKey;
use ironpool_shared::alert::AlertConfig;
use ironpool_shared::config::read_key;
use ironpool_shared::meta::PresharedKey;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `[relay]`: where the jobmaster and blockmasters connect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayListenConfig {
    /// IP address and port to listen on.
    pub listen: String,
    /// The relay link key, the same file as the jobmaster's `early_tips.key_file`.
    pub key_file: PathBuf,
}

impl RelayListenConfig {
    /// Checks the address, reads the key, and refuses a key equal to the `[alert]` one (every
    /// host holds the alert key; the relay key lets its holder start empty-block mining).
    pub fn validate(
        &self,
        alert: Option<&AlertConfig>,
    ) -> Result<(String, PresharedKey), InvalidKey> {
        if self.listen.parse::<SocketAddr>().is_err() {
            return Err(InvalidKey::new(
                "relay.listen",
                &self.listen,
                "an IP address and port, such as 127.0.0.1:7302",
            ));
        }
        let key = read_key(&self.key_file, "relay.key_file")?;
        if alert.is_some_and(|a| a.key == key) {
            return Err(InvalidKey::new(
                "alert.key_file",
                "the same key as relay.key_file",
                "a key of its own: every host holds the alert key, and the relay key lets its \
                 holder start empty-block mining",
            ));
        }
        Ok((self.listen.clone(), key))
    }
}
