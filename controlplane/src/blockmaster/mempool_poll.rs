//! Fills the mempool cache from the local node: every `mempool_poll_ms`, `getrawmempool` (the
//! txids), then `getrawtransaction` for each txid not cached yet.
//!
//! Fetches are sequential on the poller's own keep-alive connection (concurrent calls would each
//! open a connection, and `submitblock` must not queue behind them), and at most
//! [`FETCH_PER_ROUND`] per round: a large mempool at startup fills over several rounds instead of
//! making one round minutes long, during which nothing would be marked as gone.

use super::lock;
use super::mempool::{MempoolCache, Presence};
use crate::log_throttle::LogThrottle;
use crate::node::NodeClient;
use bitcoin::consensus::deserialize;
use bitcoin::hex::FromHex;
use bitcoin::{Transaction, Txid};
use serde_json::{json, Value};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// Transactions fetched per round at most.
pub const FETCH_PER_ROUND: usize = 500;

/// Node error code for an unknown transaction (it left the mempool between the two calls).
const RPC_INVALID_ADDRESS_OR_KEY: i64 = -5;

/// What one round did.
#[derive(Debug, Default)]
struct Round {
    listed: usize,
    fetched: usize,
    gone: usize,
    expired: usize,
}

/// Polls the node every `every`, forever.
pub async fn poll_mempool(node: NodeClient, cache: Arc<Mutex<MempoolCache>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = LogThrottle::default();
    let mut first = true;
    loop {
        tick.tick().await;
        match poll_once(&node, &cache).await {
            Ok(round) => {
                if failures.clear() {
                    info!(node = node.name(), "mempool readable again");
                }
                if first || round.fetched > 0 || round.expired > 0 {
                    debug!(
                        listed = round.listed,
                        fetched = round.fetched,
                        gone = round.gone,
                        expired = round.expired,
                        cached = lock(&cache).len(),
                        "mempool cache updated"
                    );
                }
                first = false;
            }
            Err(e) => {
                if failures.should_log(&e) {
                    warn!(node = node.name(), error = %e, "cannot read the mempool; the cache is not refreshed");
                }
            }
        }
    }
}

async fn poll_once(node: &NodeClient, cache: &Mutex<MempoolCache>) -> Result<Round, String> {
    let list = node
        .call("getrawmempool", json!([]))
        .await
        .map_err(|e| e.chain().to_string())?;
    let txids = parse_txids(&list)?;
    let mut round = Round {
        listed: txids.len(),
        ..Round::default()
    };
    let to_fetch = lock(cache).sync_mempool(&txids, Instant::now(), FETCH_PER_ROUND);
    for txid in to_fetch {
        let hex = match node
            .call("getrawtransaction", json!([txid.to_string()]))
            .await
        {
            Ok(Value::String(hex)) => hex,
            Ok(other) => {
                return Err(format!(
                    "getrawtransaction {txid}: expected hex, got {}",
                    short(&other)
                ))
            }
            Err(e) if e.node_code() == Some(RPC_INVALID_ADDRESS_OR_KEY) => {
                round.gone += 1;
                continue;
            }
            Err(e) => return Err(e.chain().to_string()),
        };
        match decode_tx(&hex) {
            Ok(tx) if tx.compute_txid() == txid => {
                lock(cache).insert(Arc::new(tx), Presence::InMempool, Instant::now());
                round.fetched += 1;
            }
            Ok(tx) => {
                warn!(%txid, got = %tx.compute_txid(), "node answered another transaction; not cached")
            }
            Err(e) => warn!(%txid, error = %e, "mempool transaction does not decode; not cached"),
        }
    }
    round.expired = lock(cache).expire(Instant::now());
    Ok(round)
}

fn parse_txids(list: &Value) -> Result<Vec<Txid>, String> {
    let items = list
        .as_array()
        .ok_or_else(|| format!("getrawmempool: expected an array, got {}", short(list)))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .and_then(|s| Txid::from_str(s).ok())
                .ok_or_else(|| format!("getrawmempool: {} is not a txid", short(item)))
        })
        .collect()
}

fn decode_tx(hex: &str) -> Result<Transaction, String> {
    let bytes = Vec::<u8>::from_hex(hex).map_err(|e| e.to_string())?;
    deserialize(&bytes).map_err(|e| e.to_string())
}

/// A JSON value cut for a log line.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 80 {
        return text;
    }
    let mut cut: String = text.chars().take(80).collect();
    cut.push_str("...");
    cut
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn txid_lists_are_parsed_or_refused() {
        let txid = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";
        assert_eq!(parse_txids(&json!([txid])).unwrap().len(), 1);
        assert!(parse_txids(&json!({"a": 1})).is_err());
        assert!(parse_txids(&json!(["zz"])).is_err());
    }
}
