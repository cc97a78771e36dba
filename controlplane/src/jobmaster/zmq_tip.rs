//! ZMQ `hashblock` subscriptions: a node publishes the hash of every new best block the moment it
//! connects it, which beats any polling interval.
//!
//! Each message only wakes the jobmaster: the tip itself is always read back with
//! `getbestblockhash`, so a forged or garbled message can cost one RPC call, never a wrong job.

use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use zeromq::{Socket, SocketRecv};

/// Subscribes to `endpoint` and sends `()` on `wake` for every `hashblock` message, reconnecting
/// after failures. Returns when `wake` is closed.
pub async fn watch_hashblock(node: String, endpoint: String, wake: mpsc::Sender<()>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let mut socket = zeromq::SubSocket::new();
        match socket.connect(&endpoint).await {
            Ok(()) => {}
            Err(e) => {
                warn!(node, endpoint, error = %e, retry_in = ?backoff, "cannot connect to zmq hashblock publisher");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                if wake.is_closed() {
                    return;
                }
                continue;
            }
        }
        if let Err(e) = socket.subscribe("hashblock").await {
            warn!(node, endpoint, error = %e, "cannot subscribe to hashblock");
            tokio::time::sleep(backoff).await;
            continue;
        }
        info!(node, endpoint, "subscribed to zmq hashblock");
        backoff = Duration::from_millis(200);
        loop {
            match socket.recv().await {
                Ok(message) => {
                    // Expected parts: topic "hashblock", 32-byte hash, 4-byte sequence.
                    let well_formed = message.get(0).is_some_and(|t| t.as_ref() == b"hashblock")
                        && message.get(1).is_some_and(|h| h.len() == 32);
                    if !well_formed {
                        debug!(
                            node,
                            parts = message.len(),
                            "ignoring malformed zmq message"
                        );
                        continue;
                    }
                    if wake.send(()).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!(node, endpoint, error = %e, "zmq hashblock subscription failed; reconnecting");
                    break;
                }
            }
        }
    }
}
