//! Credentials for a node's RPC: a configured user and password, or the node's cookie file.
//!
//! A node started without `-rpcpassword` writes `<datadir>/<network>/.cookie` holding
//! `__cookie__:<random hex>` on one line, and writes a new one at every start. So the cookie is
//! read lazily (the node may start after the pool) and again whenever the node answers 401 (see
//! `client.rs`); a missing or malformed cookie is a [`CookieError`] naming the path.
//!
//! Does not guarantee: that the credentials are right. Only the node can tell (HTTP 401).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use tokio::io::AsyncReadExt as _;

/// A cookie file larger than this is not a cookie (Core writes ~75 bytes); refusing it keeps a
/// wrong path (a block file, say) from being read into memory.
pub const COOKIE_MAX_BYTES: u64 = 4096;

/// How the client authenticates to one node.
#[derive(Clone, PartialEq, Eq)]
pub enum NodeAuth {
    /// `-rpcuser` / `-rpcpassword` (or an `-rpcauth` entry) of the node.
    UserPassword {
        /// RPC user name.
        user: String,
        /// RPC password.
        password: String,
    },
    /// The node's cookie file (`<datadir>/regtest/.cookie`, say), holding `user:password`.
    CookieFile(PathBuf),
}

// Written by hand so that passwords never reach a log through `{:?}`.
impl fmt::Debug for NodeAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeAuth::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            NodeAuth::CookieFile(path) => f.debug_tuple("CookieFile").field(path).finish(),
        }
    }
}

/// Why a cookie file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CookieError {
    /// The file could not be opened or read (missing: the node is not running, or the path is
    /// wrong; permission denied: the pool runs as another user).
    #[error("cannot read cookie file {path}")]
    Read {
        /// The configured cookie path.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file does not hold one `user:password` line.
    #[error("cookie file {path} is malformed: {detail}")]
    Malformed {
        /// The configured cookie path.
        path: PathBuf,
        /// What is wrong; never includes the secret.
        detail: String,
    },
}

/// The value of an `Authorization` header, ready to send. Debug does not print it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AuthHeader(String);

impl AuthHeader {
    /// HTTP Basic credentials (RFC 7617): `Basic base64(user:password)`.
    pub(crate) fn basic(user: &str, password: &str) -> Self {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        AuthHeader(format!("Basic {encoded}"))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthHeader(<redacted>)")
    }
}

/// Reads a cookie file and returns its `Authorization` header.
///
/// # Errors
///
/// [`CookieError::Read`] when the file cannot be read, [`CookieError::Malformed`] when it is
/// larger than [`COOKIE_MAX_BYTES`] or is not one `user:password` line.
pub(crate) async fn read_cookie(path: &Path) -> Result<AuthHeader, CookieError> {
    let read_error = |source| CookieError::Read {
        path: path.to_owned(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(read_error)?;
    let mut bytes = Vec::new();
    // Read one byte past the cap to tell "exactly at the cap" from "over it" without trusting
    // the file's metadata (which can change under us).
    file.take(COOKIE_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(read_error)?;
    let (user, password) = parse_cookie(&bytes).map_err(|detail| CookieError::Malformed {
        path: path.to_owned(),
        detail: detail.to_owned(),
    })?;
    Ok(AuthHeader::basic(user, password))
}

/// Splits a cookie into user and password. The error is a fixed text: it must not quote the
/// content, which is a secret.
fn parse_cookie(bytes: &[u8]) -> Result<(&str, &str), &'static str> {
    if bytes.len() as u64 > COOKIE_MAX_BYTES {
        return Err("larger than 4096 bytes");
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "not utf-8")?;
    // Core writes no newline; an editor or `echo` adds one, so accept a single trailing one.
    let line = text.strip_suffix('\n').unwrap_or(text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err("empty");
    }
    if line.contains(['\n', '\r']) {
        return Err("more than one line");
    }
    let (user, password) = line
        .split_once(':')
        .ok_or("no ':' between user and password")?;
    if user.is_empty() {
        return Err("empty user");
    }
    if password.is_empty() {
        return Err("empty password");
    }
    Ok((user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_lines() {
        assert_eq!(parse_cookie(b"__cookie__:abc"), Ok(("__cookie__", "abc")));
        assert_eq!(parse_cookie(b"__cookie__:abc\n"), Ok(("__cookie__", "abc")));
        assert_eq!(
            parse_cookie(b"__cookie__:abc\r\n"),
            Ok(("__cookie__", "abc"))
        );
        // The password may itself contain ':'; only the first one splits.
        assert_eq!(parse_cookie(b"u:p:q"), Ok(("u", "p:q")));
        assert_eq!(parse_cookie(b""), Err("empty"));
        assert_eq!(parse_cookie(b"\n"), Err("empty"));
        assert_eq!(
            parse_cookie(b"nocolon"),
            Err("no ':' between user and password")
        );
        assert_eq!(parse_cookie(b":p"), Err("empty user"));
        assert_eq!(parse_cookie(b"u:"), Err("empty password"));
        assert_eq!(parse_cookie(b"u:p\nv:q"), Err("more than one line"));
        assert_eq!(parse_cookie(b"u:\xff"), Err("not utf-8"));
        assert_eq!(parse_cookie(&[b'a'; 5000]), Err("larger than 4096 bytes"));
    }

    #[test]
    fn basic_header_is_rfc7617() {
        // RFC 7617 §2 example.
        assert_eq!(
            AuthHeader::basic("Aladdin", "open sesame").as_str(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let auth = NodeAuth::UserPassword {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert!(!format!("{:?}", AuthHeader::basic("u", "hunter2")).contains("aHVudGVy"));
    }

    #[tokio::test]
    async fn missing_cookie_names_the_path() {
        let path = Path::new("/nonexistent/ironpool/.cookie");
        let err = read_cookie(path).await.map(|_| ()).unwrap_err();
        assert!(matches!(&err, CookieError::Read { path: p, .. } if p == path));
        assert!(err.to_string().contains("/nonexistent/ironpool/.cookie"));
    }
}
