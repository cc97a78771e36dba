//! An ordered list of nodes used as one: the first node that answers wins.
//!
//! Every call starts again from the first node in configured order, so the list is a preference,
//! never reordered: when the primary comes back, the next call uses it. A node is skipped when
//! [`RpcError::fails_over`] says so (transport failures, its own configuration problems such as a
//! 401, and a node that cannot serve yet); any other node error is the answer and is returned as
//! is, because another node would say the same about the same request.
//!
//! Cost of a dead primary: each call waits for the primary's failure first (a refused connection
//! is immediate; a silent host costs that node's timeout). The worst case for one call is the sum
//! of the nodes' timeouts.
//!
//! Not for `submitblock`: a found block goes to every node in parallel, through [`FailoverClient::nodes`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::log_throttle::LogThrottle;

use serde_json::{json, Value};

use super::client::{block_template_params, to_block_hash, to_object, to_u64, NodeClient};
use super::endpoint::NodeEndpoint;
use super::error::{ConfigError, RpcError};

/// Ordered nodes with failover; cheap to clone (clones share the record of the active node).
#[derive(Debug, Clone)]
pub struct FailoverClient {
    nodes: Arc<[NodeClient]>,
    /// Index of the node that answered last; for logs and status only, never to pick a node.
    active: Arc<AtomicUsize>,
    /// Per node: a node that stays down is reported when it fails, then once in a while, and
    /// when it answers again (not on every 100 ms poll).
    down_logs: Arc<[Mutex<LogThrottle>]>,
}

impl FailoverClient {
    /// Uses `nodes` in the given order of preference.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoNodes`] for an empty list.
    pub fn new(nodes: Vec<NodeClient>) -> Result<Self, ConfigError> {
        if nodes.is_empty() {
            return Err(ConfigError::NoNodes);
        }
        let down_logs = nodes
            .iter()
            .map(|_| Mutex::new(LogThrottle::default()))
            .collect();
        Ok(FailoverClient {
            nodes: nodes.into(),
            active: Arc::new(AtomicUsize::new(0)),
            down_logs,
        })
    }

    /// Builds a client per endpoint, in order.
    ///
    /// # Errors
    ///
    /// The first endpoint's [`ConfigError`], or [`ConfigError::NoNodes`].
    pub fn from_endpoints(
        endpoints: impl IntoIterator<Item = NodeEndpoint>,
    ) -> Result<Self, ConfigError> {
        let nodes = endpoints
            .into_iter()
            .map(NodeClient::new)
            .collect::<Result<Vec<_>, _>>()?;
        FailoverClient::new(nodes)
    }

    /// The nodes in configured order (for calls that must reach every node, like `submitblock`).
    pub fn nodes(&self) -> &[NodeClient] {
        &self.nodes
    }

    /// The node that answered the last call (the first node before any call).
    pub fn active(&self) -> &NodeClient {
        let index = self.active.load(Ordering::Relaxed);
        // The index is always one stored from `self.nodes`, which never changes after `new`.
        self.nodes
            .get(index)
            .or_else(|| self.nodes.first())
            .expect("FailoverClient::new refuses an empty node list")
    }

    /// Runs `f` on node `index`'s log throttle; a poisoned lock still holds a usable throttle.
    fn down_log(&self, index: usize, f: impl FnOnce(&mut LogThrottle) -> bool) -> bool {
        match self.down_logs.get(index) {
            Some(lock) => match lock.lock() {
                Ok(mut t) => f(&mut t),
                Err(poisoned) => f(&mut poisoned.into_inner()),
            },
            None => true,
        }
    }

    /// Calls `method` on the first node, then the next ones in order while they fail over.
    ///
    /// # Errors
    ///
    /// The first node error that does not fail over, as the node sent it; or
    /// [`RpcError::AllFailed`] with every node's failure in configured order.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.call_internal(method, params)
            .await
            .map(|(_, value)| value)
    }

    /// Like [`FailoverClient::call`], also returning the node that answered.
    async fn call_internal(
        &self,
        method: &str,
        params: Value,
    ) -> Result<(&NodeClient, Value), RpcError> {
        let mut failures = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            match node.call(method, params.clone()).await {
                Ok(value) => {
                    self.note_answer(index);
                    if self.down_log(index, |t| t.clear()) {
                        tracing::info!(node = %node.name(), method, "node answers again");
                    }
                    return Ok((node, value));
                }
                Err(err) if err.fails_over() => {
                    if self.down_log(index, |t| t.should_log(node.name())) {
                        tracing::warn!(node = %node.name(), method, error = %err.chain(), "node failed, trying the next one (repeats are logged every 10 s)");
                    }
                    failures.push(err);
                }
                Err(err) => {
                    self.note_answer(index);
                    return Err(err);
                }
            }
        }
        Err(RpcError::AllFailed {
            method: method.to_owned(),
            failures,
        })
    }

    fn note_answer(&self, index: usize) {
        let previous = self.active.swap(index, Ordering::Relaxed);
        if previous != index {
            let name = |i: usize| self.nodes.get(i).map_or("?", NodeClient::name);
            tracing::info!(from = %name(previous), to = %name(index), "active node changed");
        }
    }

    /// `getbestblockhash` on the first node that answers.
    ///
    /// # Errors
    ///
    /// As [`FailoverClient::call`], or [`RpcError::Garbage`] naming the node that answered.
    pub async fn get_best_block_hash(&self) -> Result<String, RpcError> {
        let method = "getbestblockhash";
        let (node, value) = self.call_internal(method, json!([])).await?;
        to_block_hash(node.name(), method, value)
    }

    /// `getblockcount` on the first node that answers.
    ///
    /// # Errors
    ///
    /// As [`FailoverClient::call`], or [`RpcError::Garbage`] naming the node that answered.
    pub async fn get_block_count(&self) -> Result<u64, RpcError> {
        let method = "getblockcount";
        let (node, value) = self.call_internal(method, json!([])).await?;
        to_u64(node.name(), method, value)
    }

    /// `getblocktemplate` on the first node that answers, raw.
    ///
    /// # Errors
    ///
    /// As [`FailoverClient::call`], or [`RpcError::Garbage`] naming the node that answered.
    pub async fn get_block_template(&self, rules: &[&str]) -> Result<Value, RpcError> {
        let method = "getblocktemplate";
        let (node, value) = self
            .call_internal(method, block_template_params(rules))
            .await?;
        to_object(node.name(), method, value)
    }

    /// `getblockheader <hash>` on the first node that answers, raw.
    ///
    /// # Errors
    ///
    /// As [`FailoverClient::call`], or [`RpcError::Garbage`] naming the node that answered.
    pub async fn get_block_header(&self, block_hash: &str) -> Result<Value, RpcError> {
        let method = "getblockheader";
        let (node, value) = self.call_internal(method, json!([block_hash])).await?;
        to_object(node.name(), method, value)
    }

    /// `getnetworkinfo` on the first node that answers, raw.
    ///
    /// # Errors
    ///
    /// As [`FailoverClient::call`], or [`RpcError::Garbage`] naming the node that answered.
    pub async fn get_network_info(&self) -> Result<Value, RpcError> {
        let method = "getnetworkinfo";
        let (node, value) = self.call_internal(method, json!([])).await?;
        to_object(node.name(), method, value)
    }

    /// `getblockchaininfo` on the first node that answers, raw.
    ///
    /// # Errors
    ///
    /// As [`FailoverClient::call`], or [`RpcError::Garbage`] naming the node that answered.
    pub async fn get_blockchain_info(&self) -> Result<Value, RpcError> {
        let method = "getblockchaininfo";
        let (node, value) = self.call_internal(method, json!([])).await?;
        to_object(node.name(), method, value)
    }
}
