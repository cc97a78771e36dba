//! Errors of the node RPC client.
//!
//! Two types, split by consequence:
//!
//! - [`ConfigError`]: an endpoint or node list that cannot work at all; found when the client is
//!   built, before any request, so a process refuses to start instead of failing on its first job.
//! - [`RpcError`]: one call that failed. Every variant names the node and the method, so a log line
//!   or an alert needs nothing else. Display does not repeat the `source()`; a reporter that walks
//!   the chain (or [`RpcError::chain`]) prints each cause once.
//!
//! What a caller does with an [`RpcError`] depends on who failed: the path to the node
//! ([`RpcError::is_transport`], worth retrying), the node itself ([`RpcError::Node`], its verbatim
//! answer), or this node only ([`RpcError::fails_over`]: another node may do better).

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::auth::CookieError;

/// How many bytes of an unexpected HTTP body an error keeps: enough to recognise an HTML error
/// page, a proxy's message or a node's text answer, small enough for a log line.
pub const BODY_PREFIX_BYTES: usize = 200;

/// Node error codes that mean "this node cannot serve anything right now", not "your request is
/// wrong". A failover client moves on to the next node on these, because the next node may well be
/// able to answer (Bitcoin Core `src/rpc/protocol.h`):
///
/// - `-28` `RPC_IN_WARMUP`: the node is still loading its block index after a start;
/// - `-9` `RPC_CLIENT_NOT_CONNECTED`: no peers, so `getblocktemplate` refuses to answer;
/// - `-10` `RPC_CLIENT_IN_INITIAL_DOWNLOAD`: the node is still syncing and its tip is old.
pub const NODE_UNAVAILABLE_CODES: [i64; 3] = [-28, -9, -10];

/// A node endpoint or node list that cannot work; reported once, when the client is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The URL is not `http://host:port/path`.
    #[error("node {node}: invalid url {url:?}: {detail}")]
    InvalidUrl {
        /// Name of the node in the configuration.
        node: String,
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A zero timeout would fail every call.
    #[error("node {node}: timeout must be more than zero")]
    ZeroTimeout {
        /// Name of the node in the configuration.
        node: String,
    },
    /// A zero response limit would fail every call.
    #[error("node {node}: max_response_bytes must be more than zero")]
    ZeroResponseLimit {
        /// Name of the node in the configuration.
        node: String,
    },
    /// A failover client needs at least one node.
    #[error("no node configured")]
    NoNodes,
}

/// One RPC call that failed, with the node and method it was for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The TCP connection could not be opened (refused, unreachable, name not resolved).
    #[error("node {node}: {method}: cannot connect to {addr}")]
    Connect {
        /// Name of the node.
        node: String,
        /// RPC method of the call.
        method: String,
        /// `host:port` we tried.
        addr: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The connection failed after it was opened: reset, closed mid-answer, write error.
    #[error("node {node}: {method}: connection failed during the exchange")]
    Io {
        /// Name of the node.
        node: String,
        /// RPC method of the call.
        method: String,
        /// What failed; a connection closed mid-body is `UnexpectedEof` with the byte counts.
        source: io::Error,
    },
    /// No complete answer within the call's timeout (connect, send and receive together).
    #[error("node {node}: {method}: no answer within {after:?}")]
    Timeout {
        /// Name of the node.
        node: String,
        /// RPC method of the call.
        method: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// An HTTP status other than 200 without a JSON-RPC error in the body: 401 (wrong
    /// credentials), 403 (address not allowed by `-rpcallowip`), 404 (wrong path), 5xx (a proxy or
    /// a node in trouble).
    #[error("node {node}: {method}: http status {status}, body {body_prefix:?}")]
    Http {
        /// Name of the node.
        node: String,
        /// RPC method of the call.
        method: String,
        /// HTTP status code.
        status: u16,
        /// The first [`BODY_PREFIX_BYTES`] bytes of the body, lossily decoded as UTF-8.
        body_prefix: String,
    },
    /// The node's own JSON-RPC error, verbatim (`error.code`, `error.message`), whatever HTTP
    /// status carried it (Bitcoin Core answers 500, 404 for an unknown method, 400 for a bad
    /// request, and 200 in JSON-RPC 2.0 mode).
    #[error("node {node}: {method}: node error {code}: {message}")]
    Node {
        /// Name of the node.
        node: String,
        /// RPC method of the call.
        method: String,
        /// `error.code` as the node sent it (negative for Bitcoin Core's own errors).
        code: i64,
        /// `error.message` as the node sent it.
        message: String,
    },
    /// An answer that is not a JSON-RPC reply to this request: not HTTP, an HTTP 200 that is not
    /// JSON, no `result` and no `error`, a different `id`, a result of the wrong type.
    #[error("node {node}: {method}: garbage answer: {detail}")]
    Garbage {
        /// Name of the node.
        node: String,
        /// RPC method of the call.
        method: String,
        /// What was wrong, with an escaped prefix of the offending bytes where useful.
        detail: String,
    },
    /// The response body is larger than the endpoint's `max_response_bytes`; detected from the
    /// declared length before allocating, or while reading a chunked or unframed body.
    #[error("node {node}: {method}: response body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Name of the node.
        node: String,
        /// RPC method of the call.
        method: String,
        /// The configured `max_response_bytes`.
        limit: usize,
    },
    /// Cookie authentication failed before a request could be sent: the cookie file is missing,
    /// unreadable or malformed (the source names the path).
    #[error("node {node}: {method}: cannot authenticate with the cookie file {path}")]
    Cookie {
        /// Name of the node.
        node: String,
        /// RPC method of the call.
        method: String,
        /// The configured cookie path.
        path: PathBuf,
        /// Why the cookie could not be used.
        source: CookieError,
    },
    /// A failover call where every node failed; one entry per node, in configured order.
    #[error("{method}: all {} node(s) failed: {}", failures.len(), ListChains(failures))]
    AllFailed {
        /// RPC method of the call.
        method: String,
        /// Each node's failure, in configured order.
        failures: Vec<RpcError>,
    },
}

impl RpcError {
    /// True when the path to the node failed rather than the node answering: connect, I/O,
    /// timeout, garbage, or an HTTP 5xx without a JSON-RPC error. Retrying the same call later may
    /// succeed. False for the node's own answers ([`RpcError::Node`]) and for configuration
    /// problems (HTTP 401/403/404, cookie, response limit), which a retry does not fix.
    pub fn is_transport(&self) -> bool {
        match self {
            RpcError::Connect { .. }
            | RpcError::Io { .. }
            | RpcError::Timeout { .. }
            | RpcError::Garbage { .. } => true,
            RpcError::Http { status, .. } => *status >= 500,
            RpcError::AllFailed { failures, .. } => failures.iter().all(RpcError::is_transport),
            RpcError::Node { .. } | RpcError::TooLarge { .. } | RpcError::Cookie { .. } => false,
        }
    }

    /// True when a failover client should try the next node: everything except a node's
    /// legitimate answer. A wrong password, a missing cookie or a too-large answer is a problem of
    /// this node's configuration, and another node may answer; a node error is returned as is,
    /// except the codes of [`NODE_UNAVAILABLE_CODES`], which say the node cannot serve yet.
    pub fn fails_over(&self) -> bool {
        match self {
            RpcError::Node { code, .. } => NODE_UNAVAILABLE_CODES.contains(code),
            _ => true,
        }
    }

    /// The node's own error code, if this is a node error.
    pub fn node_code(&self) -> Option<i64> {
        match self {
            RpcError::Node { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Name of the node that failed (`None` for [`RpcError::AllFailed`]).
    pub fn node(&self) -> Option<&str> {
        match self {
            RpcError::Connect { node, .. }
            | RpcError::Io { node, .. }
            | RpcError::Timeout { node, .. }
            | RpcError::Http { node, .. }
            | RpcError::Node { node, .. }
            | RpcError::Garbage { node, .. }
            | RpcError::TooLarge { node, .. }
            | RpcError::Cookie { node, .. } => Some(node),
            RpcError::AllFailed { .. } => None,
        }
    }

    /// The error followed by each of its causes, `": "`-separated, for one-line logs.
    pub fn chain(&self) -> impl fmt::Display + '_ {
        Chain(self)
    }
}

/// Displays an error and its `source()` chain on one line.
struct Chain<'a>(&'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        // Bounded: a source chain is finite, but a hand-written cyclic `source()` would loop, so
        // stop after a depth no real chain reaches.
        let mut depth = 0;
        while let Some(err) = cause {
            if depth == 16 {
                break;
            }
            write!(f, ": {err}")?;
            cause = err.source();
            depth += 1;
        }
        Ok(())
    }
}

/// Displays each failure of a failover call with its cause chain, `"; "`-separated. The inner
/// errors are not `source()`s (there are several), so their causes are printed here.
struct ListChains<'a>(&'a [RpcError]);

impl fmt::Display for ListChains<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, err) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}", Chain(err))?;
        }
        Ok(())
    }
}

/// The first [`BODY_PREFIX_BYTES`] bytes of a body, lossily decoded, for error messages.
pub(crate) fn body_prefix(body: &[u8]) -> String {
    let end = body.len().min(BODY_PREFIX_BYTES);
    String::from_utf8_lossy(body.get(..end).unwrap_or(body)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_error(code: i64) -> RpcError {
        RpcError::Node {
            node: "a".into(),
            method: "m".into(),
            code,
            message: "x".into(),
        }
    }

    #[test]
    fn node_errors_do_not_fail_over_except_unavailable() {
        assert!(!node_error(-8).fails_over());
        assert!(!node_error(-5).fails_over());
        assert!(node_error(-28).fails_over());
        assert!(!node_error(-28).is_transport());
    }

    #[test]
    fn http_5xx_is_transport_4xx_is_not() {
        let http = |status| RpcError::Http {
            node: "a".into(),
            method: "m".into(),
            status,
            body_prefix: String::new(),
        };
        assert!(http(502).is_transport());
        assert!(!http(401).is_transport());
        assert!(http(401).fails_over());
    }

    #[test]
    fn chain_prints_each_cause_once() {
        let err = RpcError::Io {
            node: "a".into(),
            method: "getblockcount".into(),
            source: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed after 3 of 9 body bytes",
            ),
        };
        assert_eq!(
            err.chain().to_string(),
            "node a: getblockcount: connection failed during the exchange: closed after 3 of 9 body bytes"
        );
        let all = RpcError::AllFailed {
            method: "getblockcount".into(),
            failures: vec![err, node_error(-28)],
        };
        let text = all.to_string();
        assert!(text
            .starts_with("getblockcount: all 2 node(s) failed: node a: getblockcount: connection"));
        assert!(text.ends_with("; node a: m: node error -28: x"));
    }

    #[test]
    fn body_prefix_is_capped_and_lossy() {
        assert_eq!(body_prefix(&[b'x'; 500]).len(), BODY_PREFIX_BYTES);
        assert_eq!(body_prefix(b"ok\xff"), "ok\u{fffd}");
    }
}
