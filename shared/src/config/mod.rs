//! Configuration files: TOML, one per role, every key documented in `conf/` with its default.
//!
//! Loading is two steps, the same for every role. Serde checks the shape (unknown keys and wrong
//! types are refused with the key's path: [`load`]), then the role's `validate` checks meaning (an
//! address for the wrong network, a zero interval) and names the key, the value and what was
//! expected ([`InvalidKey`]).
//!
//! Shared by several roles: [`read_key`] (pre-shared key files) and [`AlertSection`] (the
//! `[alert]` table of every role but alertcenter).

mod alert;
mod temp_key_file;

pub use alert::AlertSection;
pub use temp_key_file::TempKeyFile;

use crate::meta::PresharedKey;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, or a key of the wrong type, or an unknown key.
    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A key whose value is not acceptable.
    #[error("config {path}: key `{key}` = {value}: expected {expected}")]
    Invalid {
        path: PathBuf,
        key: String,
        value: String,
        expected: String,
    },
}

/// A semantic problem found by `validate`, before the file path is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidKey {
    /// Dotted path of the key, with indexes: `node[1].url`.
    pub key: String,
    /// The value as written (quoted for strings).
    pub value: String,
    /// What would be accepted.
    pub expected: String,
}

impl InvalidKey {
    pub fn new(
        key: impl Into<String>,
        value: impl std::fmt::Debug,
        expected: impl Into<String>,
    ) -> Self {
        InvalidKey {
            key: key.into(),
            value: format!("{value:?}"),
            expected: expected.into(),
        }
    }
}

/// Parses `text` (from `path`, for messages) into `T`.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        // toml's message names the key and shows the line; keep it on one line for logs.
        message: e.to_string().trim().replace('\n', " | "),
    })
}

/// Reads and parses the file at `path`.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Reads a pre-shared key file: its whole content, without a trailing newline.
///
/// # Errors
///
/// The file cannot be read or the key is shorter than 16 bytes; the error names `key` (the
/// config key holding the path), shows the path and never the key.
pub fn read_key(path: &Path, key: &str) -> Result<PresharedKey, InvalidKey> {
    let shown = path.display().to_string();
    let size = std::fs::metadata(path)
        .map_err(|e| InvalidKey::new(key, &shown, format!("a readable key file ({e})")))?
        .len();
    if size > KEY_FILE_BYTES_MAX {
        return Err(InvalidKey::new(
            key,
            &shown,
            format!("a key file of at most {KEY_FILE_BYTES_MAX} bytes (this one has {size})"),
        ));
    }
    let mut bytes = std::fs::read(path)
        .map_err(|e| InvalidKey::new(key, &shown, format!("a readable key file ({e})")))?;
    // Editors add a newline (or CR LF); it is not part of the key.
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    PresharedKey::new(&bytes)
        .map_err(|e| InvalidKey::new(key, &shown, format!("a key of at least 16 bytes ({e})")))
}

/// Largest key file read (a key is a few dozen bytes; anything larger is the wrong file).
pub const KEY_FILE_BYTES_MAX: u64 = 4_096;

impl ConfigError {
    /// The error for `key` of the file at `path`.
    pub fn invalid(path: &Path, key: InvalidKey) -> Self {
        ConfigError::Invalid {
            path: path.to_owned(),
            key: key.key,
            value: key.value,
            expected: key.expected,
        }
    }
}
