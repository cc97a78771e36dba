//! JSON-RPC client of one node.
//!
//! A call sends `{"jsonrpc":"1.0","id":N,"method":..,"params":..}` (the dialect Bitcoin Core and
//! its descendants all speak) and decodes the reply:
//!
//! - a reply object whose `error` is not null is the node's own error ([`RpcError::Node`]),
//!   whatever the HTTP status: Core sends RPC errors with status 500, an unknown method with 404,
//!   an invalid request with 400, and everything with 200 in its JSON-RPC 2.0 mode;
//! - otherwise a status other than 200 is an HTTP error ([`RpcError::Http`], e.g. 401 wrong
//!   credentials, whose body is empty);
//! - otherwise the reply must carry our `id` and a `result` (possibly `null`), or it is
//!   [`RpcError::Garbage`].
//!
//! The per-call timeout covers reading the cookie, connecting, sending and receiving.
//! [`NodeClient`] is a cheap handle (`Clone` shares one connection slot and one credential cache),
//! so a task can own a copy.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::auth::{read_cookie, AuthHeader, CookieError, NodeAuth};
use super::endpoint::NodeEndpoint;
use super::error::{body_prefix, ConfigError, RpcError};
use super::http::{quote, HttpClient, HttpError, HttpResponse, HttpTarget};

/// JSON-RPC client of one node.
#[derive(Clone)]
pub struct NodeClient {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: NodeEndpoint,
    http: HttpClient,
    /// Credentials in use: fixed for a user/password; for a cookie, `None` until the first call
    /// reads the file, replaced when a 401 makes us read it again.
    auth: Mutex<Option<AuthHeader>>,
    /// JSON-RPC ids, unique per client, so a reply to another request is recognised.
    next_id: AtomicU64,
}

impl fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeClient")
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

impl NodeClient {
    /// Checks the endpoint and builds a client; nothing is connected or read yet (the node may
    /// start after us, and a cookie exists only while its node runs).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an invalid URL, a zero timeout or a zero response limit.
    pub fn new(endpoint: NodeEndpoint) -> Result<Self, ConfigError> {
        let target =
            HttpTarget::parse(&endpoint.url).map_err(|detail| ConfigError::InvalidUrl {
                node: endpoint.name.clone(),
                url: endpoint.url.clone(),
                detail,
            })?;
        if endpoint.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout {
                node: endpoint.name.clone(),
            });
        }
        if endpoint.max_response_bytes == 0 {
            return Err(ConfigError::ZeroResponseLimit {
                node: endpoint.name.clone(),
            });
        }
        let auth = match &endpoint.auth {
            NodeAuth::UserPassword { user, password } => Some(AuthHeader::basic(user, password)),
            NodeAuth::CookieFile(_) => None,
        };
        Ok(NodeClient {
            inner: Arc::new(Inner {
                http: HttpClient::new(target),
                endpoint,
                auth: Mutex::new(auth),
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// The node's configured name.
    pub fn name(&self) -> &str {
        &self.inner.endpoint.name
    }

    /// The endpoint this client was built from.
    pub fn endpoint(&self) -> &NodeEndpoint {
        &self.inner.endpoint
    }

    /// Calls `method` with the endpoint's timeout.
    ///
    /// # Errors
    ///
    /// [`RpcError`], naming this node and `method`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.call_with_timeout(method, params, self.inner.endpoint.timeout)
            .await
    }

    /// Calls `method`, giving up after `timeout` (connect, send and receive together). A call
    /// given up leaves no state behind: its connection is dropped, not reused.
    ///
    /// # Errors
    ///
    /// [`RpcError`], naming this node and `method`; [`RpcError::Timeout`] after `timeout`.
    pub async fn call_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        match tokio::time::timeout(timeout, self.call_internal(method, &params)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(RpcError::Timeout {
                node: self.name().to_owned(),
                method: method.to_owned(),
                after: timeout,
            }),
        }
    }

    async fn call_internal(&self, method: &str, params: &Value) -> Result<Value, RpcError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        // Written by hand rather than through a Serialize struct: Value's Display is infallible
        // JSON, so there is no error path for a body we build ourselves.
        let body = format!(
            r#"{{"jsonrpc":"1.0","id":{id},"method":{},"params":{params}}}"#,
            Value::from(method)
        );
        let auth = self.credentials(method).await?;
        let mut response = self.post(method, &auth, body.as_bytes()).await?;
        if response.status == 401 {
            if let NodeAuth::CookieFile(path) = &self.inner.endpoint.auth {
                // A restarted node writes a new cookie: read it again and retry once if it changed.
                // If it did not change, the 401 stands.
                let fresh = read_cookie(path)
                    .await
                    .map_err(|source| self.cookie_error(method, path, source))?;
                if fresh != auth {
                    tracing::info!(node = %self.name(), path = %path.display(), "cookie changed (node restarted?), retrying with the new one");
                    self.store_credentials(fresh.clone());
                    response = self.post(method, &fresh, body.as_bytes()).await?;
                }
            }
        }
        self.decode_reply(method, id, response)
    }

    /// The credentials to send, reading the cookie file if none is cached yet.
    async fn credentials(&self, method: &str) -> Result<AuthHeader, RpcError> {
        let cached = self
            .inner
            .auth
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(auth) = cached {
            return Ok(auth);
        }
        match &self.inner.endpoint.auth {
            NodeAuth::CookieFile(path) => {
                let auth = read_cookie(path)
                    .await
                    .map_err(|source| self.cookie_error(method, path, source))?;
                self.store_credentials(auth.clone());
                Ok(auth)
            }
            // Set in `new` and never cleared; rebuilt here rather than asserted, it costs nothing.
            NodeAuth::UserPassword { user, password } => Ok(AuthHeader::basic(user, password)),
        }
    }

    fn store_credentials(&self, auth: AuthHeader) {
        *self
            .inner
            .auth
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(auth);
    }

    fn cookie_error(&self, method: &str, path: &Path, source: CookieError) -> RpcError {
        RpcError::Cookie {
            node: self.name().to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            source,
        }
    }

    async fn post(
        &self,
        method: &str,
        auth: &AuthHeader,
        body: &[u8],
    ) -> Result<HttpResponse, RpcError> {
        let limit = self.inner.endpoint.max_response_bytes;
        self.inner
            .http
            .post(auth, body, limit)
            .await
            .map_err(|err| {
                let (node, method) = (self.name().to_owned(), method.to_owned());
                match err {
                    HttpError::Connect { addr, source } => RpcError::Connect {
                        node,
                        method,
                        addr,
                        source,
                    },
                    HttpError::Io(source) => RpcError::Io {
                        node,
                        method,
                        source,
                    },
                    HttpError::Garbage(detail) => RpcError::Garbage {
                        node,
                        method,
                        detail,
                    },
                    HttpError::TooLarge { limit } => RpcError::TooLarge {
                        node,
                        method,
                        limit,
                    },
                }
            })
    }

    fn decode_reply(
        &self,
        method: &str,
        id: u64,
        response: HttpResponse,
    ) -> Result<Value, RpcError> {
        let HttpResponse { status, body } = response;
        let reply = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(reply)) => reply,
            Ok(_) | Err(_) if status != 200 => return Err(self.http_error(method, status, &body)),
            Ok(other) => {
                return Err(self.garbage(
                    method,
                    format!("reply is not a json object: {}", quote_json(&other)),
                ))
            }
            Err(err) => {
                return Err(self.garbage(
                    method,
                    format!("http 200 body is not json ({err}): \"{}\"", quote(&body)),
                ))
            }
        };
        let error = reply.get("error").filter(|error| !error.is_null());
        let reply_id = reply.get("id").unwrap_or(&Value::Null);
        // A node that could not parse our request cannot know its id and answers `null`.
        let id_matches = reply_id.as_u64() == Some(id) || (reply_id.is_null() && error.is_some());
        if let Some(error) = error {
            let code = error.get("code").and_then(Value::as_i64);
            let message = error.get("message").and_then(Value::as_str);
            return Err(match (code, message) {
                (Some(code), Some(message)) if id_matches => RpcError::Node {
                    node: self.name().to_owned(),
                    method: method.to_owned(),
                    code,
                    message: message.to_owned(),
                },
                (Some(_), Some(_)) => self.garbage(
                    method,
                    format!("error reply has id {reply_id}, request had {id}"),
                ),
                _ => self.garbage(
                    method,
                    format!("error is not {{code, message}}: {}", quote_json(error)),
                ),
            });
        }
        if status != 200 {
            return Err(self.http_error(method, status, &body));
        }
        if !id_matches {
            return Err(self.garbage(
                method,
                format!("reply has id {}, request had {id}", quote_json(reply_id)),
            ));
        }
        take_result(reply)
            .ok_or_else(|| self.garbage(method, "reply has neither result nor error".into()))
    }

    fn http_error(&self, method: &str, status: u16, body: &[u8]) -> RpcError {
        RpcError::Http {
            node: self.name().to_owned(),
            method: method.to_owned(),
            status,
            body_prefix: body_prefix(body),
        }
    }

    fn garbage(&self, method: &str, detail: String) -> RpcError {
        garbage(self.name(), method, detail)
    }

    /// `getbestblockhash`: the tip's hash in display (big-endian hex) order.
    ///
    /// # Errors
    ///
    /// [`RpcError`]; [`RpcError::Garbage`] if the answer is not 64 hex digits.
    pub async fn get_best_block_hash(&self) -> Result<String, RpcError> {
        let method = "getbestblockhash";
        to_block_hash(self.name(), method, self.call(method, json!([])).await?)
    }

    /// `getblockcount`: the tip's height.
    ///
    /// # Errors
    ///
    /// [`RpcError`]; [`RpcError::Garbage`] if the answer is not a non-negative integer.
    pub async fn get_block_count(&self) -> Result<u64, RpcError> {
        let method = "getblockcount";
        to_u64(self.name(), method, self.call(method, json!([])).await?)
    }

    /// `getblocktemplate` with `{"rules": rules}` (Core requires `["segwit"]`); the answer is
    /// returned raw, for the template parser in `ironpool_shared::work::template`.
    ///
    /// # Errors
    ///
    /// [`RpcError`]; [`RpcError::Garbage`] if the answer is not a JSON object.
    pub async fn get_block_template(&self, rules: &[&str]) -> Result<Value, RpcError> {
        let method = "getblocktemplate";
        to_object(
            self.name(),
            method,
            self.call(method, block_template_params(rules)).await?,
        )
    }

    /// `submitblock`: `Ok(None)` when the node accepted the block, `Ok(Some(reason))` when it
    /// rejected it with a reason (`"duplicate"`, `"high-hash"`, `"inconclusive"`...). A block the
    /// node cannot even decode is an [`RpcError::Node`] (Core: code -22, "Block decode failed").
    ///
    /// # Errors
    ///
    /// [`RpcError`]; [`RpcError::Garbage`] if the answer is neither null nor a string.
    pub async fn submit_block(&self, block_hex: &str) -> Result<Option<String>, RpcError> {
        let method = "submitblock";
        to_submit_result(
            self.name(),
            method,
            self.call(method, json!([block_hex])).await?,
        )
    }

    /// `getblockheader <hash>` (verbose), raw.
    ///
    /// # Errors
    ///
    /// [`RpcError`]; an unknown hash is [`RpcError::Node`] (Core: code -5).
    pub async fn get_block_header(&self, block_hash: &str) -> Result<Value, RpcError> {
        let method = "getblockheader";
        to_object(
            self.name(),
            method,
            self.call(method, json!([block_hash])).await?,
        )
    }

    /// `getnetworkinfo`, raw.
    ///
    /// # Errors
    ///
    /// [`RpcError`]; [`RpcError::Garbage`] if the answer is not a JSON object.
    pub async fn get_network_info(&self) -> Result<Value, RpcError> {
        let method = "getnetworkinfo";
        to_object(self.name(), method, self.call(method, json!([])).await?)
    }

    /// `getblockchaininfo`, raw.
    ///
    /// # Errors
    ///
    /// [`RpcError`]; [`RpcError::Garbage`] if the answer is not a JSON object.
    pub async fn get_blockchain_info(&self) -> Result<Value, RpcError> {
        let method = "getblockchaininfo";
        to_object(self.name(), method, self.call(method, json!([])).await?)
    }
}

fn take_result(mut reply: Map<String, Value>) -> Option<Value> {
    reply.remove("result")
}

/// A peer-supplied JSON value, shortened and escaped for an error message.
fn quote_json(value: &Value) -> String {
    quote(value.to_string().as_bytes())
}

pub(crate) fn garbage(node: &str, method: &str, detail: String) -> RpcError {
    RpcError::Garbage {
        node: node.to_owned(),
        method: method.to_owned(),
        detail,
    }
}

pub(crate) fn block_template_params(rules: &[&str]) -> Value {
    json!([{ "rules": rules }])
}

pub(crate) fn to_block_hash(node: &str, method: &str, value: Value) -> Result<String, RpcError> {
    match value {
        Value::String(hash) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(hash)
        }
        other => Err(garbage(
            node,
            method,
            format!(
                "expected a 64-hex-digit block hash, got {}",
                quote_json(&other)
            ),
        )),
    }
}

pub(crate) fn to_u64(node: &str, method: &str, value: Value) -> Result<u64, RpcError> {
    value.as_u64().ok_or_else(|| {
        garbage(
            node,
            method,
            format!(
                "expected a non-negative integer, got {}",
                quote_json(&value)
            ),
        )
    })
}

pub(crate) fn to_object(node: &str, method: &str, value: Value) -> Result<Value, RpcError> {
    if value.is_object() {
        Ok(value)
    } else {
        Err(garbage(
            node,
            method,
            format!("expected a json object, got {}", quote_json(&value)),
        ))
    }
}

pub(crate) fn to_submit_result(
    node: &str,
    method: &str,
    value: Value,
) -> Result<Option<String>, RpcError> {
    match value {
        Value::Null => Ok(None),
        Value::String(reason) => Ok(Some(reason)),
        other => Err(garbage(
            node,
            method,
            format!(
                "expected null or a rejection reason, got {}",
                quote_json(&other)
            ),
        )),
    }
}
