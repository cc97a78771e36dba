//! `submitblock` to every node at once, with retries on transport failures, every answer logged
//! and recorded, and the block kept on disk until a node holds it.

use super::found_blocks::{BlockState, FoundBlocks, SubmissionRecord};
use crate::node::{NodeClient, RpcError};
use bitcoin::hex::DisplayHex;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{error, info, warn};

/// Answers of `submitblock` that mean the node holds the block: `duplicate` (already had it),
/// `inconclusive` (valid, not on the best chain yet), and Bitcoin Core's combination.
const HELD_ANSWERS: [&str; 3] = ["duplicate", "inconclusive", "duplicate-inconclusive"];

/// What one node made of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeVerdict {
    /// The node holds it; `Some` carries `duplicate`/`inconclusive`.
    Accepted(Option<String>),
    /// The node refused it, with its reason.
    Rejected(String),
    /// The node could not be reached after every attempt (or its credentials are wrong).
    Unreachable(String),
}

/// The outcome of one submission round.
#[derive(Debug, Clone)]
pub struct SubmitOutcome {
    /// Per node, in configured order: name and verdict.
    pub verdicts: Vec<(String, NodeVerdict)>,
    /// Where the block file ended up.
    pub state: BlockState,
}

/// Sends blocks to every node.
#[derive(Clone)]
pub struct Submitter {
    nodes: Vec<NodeClient>,
    found: FoundBlocks,
    attempts: u32,
    retry: Duration,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Submitter {
    pub fn new(nodes: Vec<NodeClient>, found: FoundBlocks, attempts: u32, retry: Duration) -> Self {
        assert!(attempts > 0, "validated by the config");
        Submitter {
            nodes,
            found,
            attempts,
            retry,
        }
    }

    /// The block directory.
    pub fn found_blocks(&self) -> &FoundBlocks {
        &self.found
    }

    /// Saves the block, submits it to every node in parallel and settles the file.
    ///
    /// If the block cannot be saved, it is still submitted: losing the disk copy is better than
    /// losing the block.
    pub async fn submit_new(&self, height: u32, hash: &str, bytes: &[u8]) -> SubmitOutcome {
        if let Err(e) = self.found.save_pending(height, hash, bytes) {
            error!(height, block = hash, error = %e, "cannot save found block to disk; submitting anyway");
        }
        self.submit_saved(height, hash, bytes).await
    }

    /// Submits a block already in `pending/` and moves it to where its answers say.
    pub async fn submit_saved(&self, height: u32, hash: &str, bytes: &[u8]) -> SubmitOutcome {
        let hex: Arc<str> = Arc::from(bytes.to_lower_hex_string());
        let tasks: Vec<_> = self
            .nodes
            .iter()
            .map(|node| {
                let (node, hex, attempts, retry) =
                    (node.clone(), hex.clone(), self.attempts, self.retry);
                tokio::spawn(async move { submit_to_node(&node, &hex, attempts, retry).await })
            })
            .collect();
        let mut verdicts = Vec::with_capacity(tasks.len());
        for (node, task) in self.nodes.iter().zip(tasks) {
            let (verdict, attempts, elapsed) = match task.await {
                Ok(v) => v,
                Err(e) => (
                    NodeVerdict::Unreachable(format!("submission task failed: {e}")),
                    0,
                    Duration::ZERO,
                ),
            };
            let (outcome, detail) = match &verdict {
                NodeVerdict::Accepted(note) => {
                    info!(
                        height,
                        block = hash,
                        node = node.name(),
                        note = note.as_deref().unwrap_or(""),
                        attempts,
                        "block accepted by node"
                    );
                    ("accepted", note.as_deref())
                }
                NodeVerdict::Rejected(reason) => {
                    error!(
                        height,
                        block = hash,
                        node = node.name(),
                        reason,
                        "block rejected by node"
                    );
                    ("rejected", Some(reason.as_str()))
                }
                NodeVerdict::Unreachable(why) => {
                    error!(
                        height,
                        block = hash,
                        node = node.name(),
                        error = why,
                        attempts,
                        "block not delivered to node"
                    );
                    ("unreachable", Some(why.as_str()))
                }
            };
            let record = SubmissionRecord {
                unix_ms: unix_ms(),
                block_hash: hash,
                height,
                node: node.name(),
                outcome,
                detail,
                attempts,
                elapsed_ms: elapsed.as_millis() as u64,
            };
            if let Err(e) = self.found.record(&record) {
                warn!(block = hash, error = %e, "cannot record submission answer");
            }
            verdicts.push((node.name().to_owned(), verdict));
        }

        let state = if verdicts
            .iter()
            .any(|(_, v)| matches!(v, NodeVerdict::Accepted(_)))
        {
            BlockState::Accepted
        } else if verdicts
            .iter()
            .all(|(_, v)| matches!(v, NodeVerdict::Rejected(_)))
        {
            BlockState::Rejected
        } else {
            BlockState::Pending
        };
        if state != BlockState::Pending {
            if let Err(e) = self.found.settle(height, hash, state) {
                warn!(block = hash, error = %e, "cannot move block file out of pending/");
            }
        }
        SubmitOutcome { verdicts, state }
    }

    /// Submits every block still in `pending/` (after a restart, or after nodes were unreachable).
    pub async fn resubmit_pending(&self) {
        let (blocks, unreadable) = match self.found.pending() {
            Ok(p) => p,
            Err(e) => {
                error!(error = %e, "cannot list pending found blocks");
                return;
            }
        };
        for path in unreadable {
            error!(path = %path.display(), "unreadable file in pending found blocks; left in place");
        }
        for block in blocks {
            info!(height = block.height, block = %block.hash, "resubmitting pending found block");
            self.submit_saved(block.height, &block.hash, &block.bytes)
                .await;
        }
    }
}

async fn submit_to_node(
    node: &NodeClient,
    hex: &str,
    attempts: u32,
    retry: Duration,
) -> (NodeVerdict, u32, Duration) {
    let started = Instant::now();
    let mut last_error = String::new();
    let mut tried = 0;
    for attempt in 1..=attempts {
        tried = attempt;
        match node.submit_block(hex).await {
            Ok(None) => return (NodeVerdict::Accepted(None), attempt, started.elapsed()),
            Ok(Some(reason)) if HELD_ANSWERS.contains(&reason.as_str()) => {
                return (
                    NodeVerdict::Accepted(Some(reason)),
                    attempt,
                    started.elapsed(),
                )
            }
            Ok(Some(reason)) => return (NodeVerdict::Rejected(reason), attempt, started.elapsed()),
            Err(RpcError::Node { code, message, .. }) => {
                return (
                    NodeVerdict::Rejected(format!("node error {code}: {message}")),
                    attempt,
                    started.elapsed(),
                )
            }
            Err(e) => {
                last_error = e.chain().to_string();
                if !e.is_transport() {
                    // Credentials, cookie or limits: retrying now cannot help; the block stays
                    // pending for the next round.
                    break;
                }
                warn!(node = node.name(), attempt, error = %last_error, "submitblock failed; retrying");
                if attempt < attempts {
                    tokio::time::sleep(retry).await;
                }
            }
        }
    }
    (
        NodeVerdict::Unreachable(last_error),
        tried,
        started.elapsed(),
    )
}
