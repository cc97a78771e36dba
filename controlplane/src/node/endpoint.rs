//! Configuration of one node's RPC endpoint.
//!
//! Plain data: the client checks it when built ([`crate::node::NodeClient::new`]), so a bad URL or
//! a zero limit stops the process at start-up with a [`crate::node::ConfigError`] naming the node.

use std::time::Duration;

use super::auth::NodeAuth;

/// Default per-call timeout. `getblocktemplate` on a node with a full mempool takes a few hundred
/// milliseconds and `submitblock` of a large block a few seconds; a node that has not answered in
/// 30 s is better replaced by the next one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default cap on a response body. The largest answer we ask for is `getblocktemplate`: a 4 MWU
/// Bitcoin Core block is at most 4 MB of transactions, twice that in hex, plus per-transaction
/// fields, well under 32 MiB. Raise it for nodes with larger blocks (Bitcoin SV).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// One node's RPC endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEndpoint {
    /// Name in logs and errors (`"primary"`, `"node-fra-1"`).
    pub name: String,
    /// `http://host:port/` (or a path such as `/wallet/x`). HTTPS is not supported: nodes speak
    /// plain HTTP; reach a remote node through a tunnel or a TLS-terminating proxy.
    pub url: String,
    /// Credentials.
    pub auth: NodeAuth,
    /// Per-call time limit covering connect, send and receive.
    pub timeout: Duration,
    /// Largest response body accepted; checked before the body is allocated.
    pub max_response_bytes: usize,
}

impl NodeEndpoint {
    /// An endpoint with [`DEFAULT_TIMEOUT`] and [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub fn new(name: impl Into<String>, url: impl Into<String>, auth: NodeAuth) -> Self {
        NodeEndpoint {
            name: name.into(),
            url: url.into(),
            auth,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// Replaces the per-call timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Replaces the response body cap.
    #[must_use]
    pub fn with_max_response_bytes(mut self, max_response_bytes: usize) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }
}
