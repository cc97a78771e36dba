//! `submitblock` to every node at once, with retries on transport failures, every answer logged
//! and recorded, and the block kept on disk until a node holds it.

use super::candidates::FoundBlock;
use super::found_blocks::{BlockState, FoundBlocks, SubmissionRecord};
use crate::node::{NodeClient, RpcError};
use bitcoin::hex::DisplayHex;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{error, info, warn};

/// Answers of `submitblock` that mean the node holds the block: `duplicate` (already had it),
/// `inconclusive` (valid, not on the best chain yet), and Bitcoin Core's combination.
const HELD_ANSWERS: [&str; 3] = ["duplicate", "inconclusive", "duplicate-inconclusive"];

/// Bitcoin Core's `RPC_DESERIALIZATION_ERROR`: `submitblock` could not decode the block.
const RPC_DESERIALIZATION_ERROR: i64 = -22;

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
    /// Blocks the disk refused and no node has taken yet.
    unsaved: Arc<Mutex<Vec<FoundBlock>>>,
    attempts: u32,
    retry: Duration,
    /// `submitblock`; without it, only whether each node holds the block is checked (the block
    /// travels through the relay links).
    submit: bool,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Submitter {
    pub fn new(
        nodes: Vec<NodeClient>,
        submit: bool,
        found: FoundBlocks,
        attempts: u32,
        retry: Duration,
    ) -> Self {
        assert!(attempts > 0, "validated by the config");
        Submitter {
            submit,
            nodes,
            found,
            unsaved: Arc::new(Mutex::new(Vec::new())),
            attempts,
            retry,
        }
    }

    /// Saves `bytes` into `pending/`, then submits them as [`submit_found`](Self::submit_found).
    pub async fn submit_new(&self, height: u32, hash: &str, bytes: &[u8]) -> SubmitOutcome {
        let saved = match self.found.save_pending(height, hash, bytes) {
            Ok(_) => true,
            Err(e) => {
                error!(height, block = hash, error = %e, "cannot save found block to disk; it is held in memory until a node has it");
                false
            }
        };
        self.submit_found(FoundBlock {
            height,
            hash: hash.to_owned(),
            bytes: bytes.to_vec(),
            saved,
        })
        .await
    }

    /// The block directory.
    pub fn found_blocks(&self) -> &FoundBlocks {
        &self.found
    }

    /// Submits a block found by the intake threads (see [`FoundBlock`]). A block that could not be
    /// saved and that no node took is held in memory and retried with the pending ones.
    pub async fn submit_found(&self, block: FoundBlock) -> SubmitOutcome {
        let outcome = self
            .submit_saved(block.height, &block.hash, &block.bytes)
            .await;
        if !block.saved && outcome.state == BlockState::Pending {
            self.unsaved
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(block);
        }
        outcome
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
                let (submit, hash) = (self.submit, hash.to_owned());
                tokio::spawn(async move {
                    if submit {
                        submit_to_node(&node, &hex, attempts, retry).await
                    } else {
                        wait_until_held(&node, &hash).await
                    }
                })
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
        if state != BlockState::Pending
            && self.found.path(BlockState::Pending, height, hash).exists()
        {
            if let Err(e) = self.found.settle(height, hash, state) {
                warn!(block = hash, error = %e, "cannot move block file out of pending/");
            }
        }
        SubmitOutcome { verdicts, state }
    }

    /// Submits every block still in `pending/` (after a restart, or after nodes were unreachable),
    /// and the blocks held in memory because the disk refused them (saving them again first).
    pub async fn resubmit_pending(&self) {
        let unsaved = std::mem::take(
            &mut *self
                .unsaved
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for mut block in unsaved {
            block.saved = self
                .found
                .save_pending(block.height, &block.hash, &block.bytes)
                .is_ok();
            info!(height = block.height, block = %block.hash, saved = block.saved, "resubmitting found block held in memory");
            self.submit_found(block).await;
        }
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

/// How long a node is watched for a block sent through the relay links only.
const RELAY_ONLY_WAIT: Duration = Duration::from_secs(10);

/// With `blocks.submit = false`: whether the node got the block some other way (bitpeer,
/// blockmaster), polled for [`RELAY_ONLY_WAIT`].
async fn wait_until_held(node: &NodeClient, hash: &str) -> (NodeVerdict, u32, Duration) {
    let started = Instant::now();
    let mut polls = 0;
    loop {
        polls += 1;
        if node.get_block_header(hash).await.is_ok() {
            return (
                NodeVerdict::Accepted(Some("held via relay".to_owned())),
                polls,
                started.elapsed(),
            );
        }
        if started.elapsed() >= RELAY_ONLY_WAIT {
            return (
                NodeVerdict::Unreachable(format!(
                    "submitblock is off and the node does not hold the block after {} s",
                    RELAY_ONLY_WAIT.as_secs()
                )),
                polls,
                started.elapsed(),
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
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
            // The block did not decode: resending the same bytes cannot help.
            Err(RpcError::Node {
                code: RPC_DESERIALIZATION_ERROR,
                message,
                ..
            }) => {
                let reason = format!("node error {RPC_DESERIALIZATION_ERROR}: {message}");
                return (NodeVerdict::Rejected(reason), attempt, started.elapsed());
            }
            Err(e) => {
                last_error = e.chain().to_string();
                // Any other RPC error (warming up, no peers, still syncing, an internal error)
                // says nothing about the block: it is retried like a transport failure, and the
                // block stays pending if the node never takes it.
                if !e.is_transport() && !matches!(e, RpcError::Node { .. }) {
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
