//! `[alert]`: where a process sends its error-level events ([`crate::alert`]). The same table in
//! the file of every role but alertcenter; without it, the process sends no alerts.

use super::{read_key, InvalidKey};
use crate::alert::AlertConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Longest host name an alert carries (the limit of the `Alert` body's host field).
const HOST_BYTES_MAX: usize = 64;

/// The `[alert]` table, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSection {
    /// alertcenter's `host:port`; a host name is resolved again at every connection attempt.
    pub address: String,
    /// File holding alertcenter's pre-shared key (at least 16 bytes; a trailing newline is
    /// ignored).
    pub key_file: PathBuf,
    /// This host's name, as the alerts show it.
    pub host: String,
}

impl AlertSection {
    /// Checks the table and reads the key file; `process` is the role (`gateway`, `jobmaster`,
    /// …), the process name of the alerts.
    ///
    /// # Errors
    ///
    /// The first bad key, named `alert.<key>`.
    pub fn validate(&self, process: &str) -> Result<AlertConfig, InvalidKey> {
        if !address_ok(&self.address) {
            return Err(InvalidKey::new(
                "alert.address",
                &self.address,
                "alertcenter's host:port, such as 10.0.0.5:4100 or alerts.example.com:4100",
            ));
        }
        let key = read_key(&self.key_file, "alert.key_file")?;
        if !host_ok(&self.host) {
            return Err(InvalidKey::new(
                "alert.host",
                &self.host,
                format!(
                    "this host's name: 1 to {HOST_BYTES_MAX} bytes, no spaces or control characters"
                ),
            ));
        }
        Ok(AlertConfig {
            address: self.address.clone(),
            key,
            host: self.host.clone(),
            process: process.to_owned(),
        })
    }
}

/// An IP address and port, or a DNS name and port; port 0 is refused.
fn address_ok(address: &str) -> bool {
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return addr.port() != 0;
    }
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    name_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
}

fn host_ok(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= HOST_BYTES_MAX
        && !host.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::PresharedKey;
    use std::path::Path;

    use crate::config::TempKeyFile as KeyFile;

    /// A file with an `[alert]` table and nothing else, as a role's file would carry it.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        alert: Option<AlertSection>,
    }

    fn section(address: &str, key_file: &Path, host: &str) -> AlertSection {
        let text = format!(
            "[alert]\naddress = {address:?}\nkey_file = {:?}\nhost = {host:?}\n",
            key_file.display().to_string()
        );
        let file: File = super::super::parse(Path::new("role.toml"), &text).expect("parses");
        file.alert.expect("the table")
    }

    fn refused(address: &str, key_file: &Path, host: &str) -> InvalidKey {
        section(address, key_file, host)
            .validate("gateway")
            .expect_err("refused")
    }

    #[test]
    fn a_good_table_becomes_the_layer_config_of_the_role() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let config = section("10.0.0.5:4100", &key.0, "pool-eu-1")
            .validate("metarelay")
            .expect("valid");
        assert_eq!(config.address, "10.0.0.5:4100");
        assert_eq!(config.host, "pool-eu-1");
        assert_eq!(config.process, "metarelay");
        assert_eq!(
            config.key,
            PresharedKey::new(b"0123456789abcdef").expect("key")
        );
        for address in ["[::1]:4100", "alerts.example.com:4100", "localhost:1"] {
            section(address, &key.0, "h")
                .validate("gateway")
                .unwrap_or_else(|e| panic!("{address}: {e:?}"));
        }
    }

    #[test]
    fn the_table_is_optional_and_unknown_keys_in_it_are_refused() {
        let file: File = super::super::parse(Path::new("role.toml"), "").expect("parses");
        assert!(file.alert.is_none());
        let error = super::super::parse::<File>(
            Path::new("role.toml"),
            "[alert]\naddress = \"a:1\"\nkey_file = \"/k\"\nhost = \"h\"\nhots = \"h\"\n",
        )
        .expect_err("unknown key")
        .to_string();
        assert!(error.contains("hots"), "{error}");
        let error = super::super::parse::<File>(
            Path::new("role.toml"),
            "[alert]\naddress = \"a:1\"\nhost = \"h\"\n",
        )
        .expect_err("missing key")
        .to_string();
        assert!(error.contains("key_file"), "{error}");
    }

    #[test]
    fn a_missing_or_short_key_file_is_refused_by_name_without_showing_the_key() {
        let missing = std::env::temp_dir().join("ironpool-shared-alert-no-such-key");
        let e = refused("10.0.0.5:4100", &missing, "h");
        assert_eq!(e.key, "alert.key_file");
        assert!(
            e.value.contains("ironpool-shared-alert-no-such-key"),
            "{e:?}"
        );

        let short = KeyFile::new(b"abcde\n");
        let e = refused("10.0.0.5:4100", &short.0, "h");
        assert_eq!(e.key, "alert.key_file");
        assert!(e.expected.contains("5 bytes"), "{e:?}");
        assert!(!e.value.contains("abcde") && !e.expected.contains("abcde"));
    }

    #[test]
    fn bad_hosts_are_refused_by_name() {
        let key = KeyFile::new(b"0123456789abcdef");
        let long = "h".repeat(HOST_BYTES_MAX + 1);
        for host in ["", "pool eu", "pool\teu", long.as_str()] {
            let e = refused("10.0.0.5:4100", &key.0, host);
            assert_eq!(e.key, "alert.host", "{host:?}");
        }
        let longest = "h".repeat(HOST_BYTES_MAX);
        section("10.0.0.5:4100", &key.0, &longest)
            .validate("gateway")
            .expect("64 bytes are enough");
    }

    #[test]
    fn bad_addresses_are_refused_by_name() {
        let key = KeyFile::new(b"0123456789abcdef");
        for address in [
            "",
            "10.0.0.5",
            "alertcenter",
            ":4100",
            "10.0.0.5:0",
            "10.0.0.5:65536",
            "alerts example.com:4100",
            "http://alerts:4100",
        ] {
            let e = refused(address, &key.0, "h");
            assert_eq!(e.key, "alert.address", "{address:?}");
        }
    }
}
