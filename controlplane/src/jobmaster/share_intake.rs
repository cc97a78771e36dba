//! Reading the share rings: one thread per gateway shard's ring, sleeping on the ring's futex.
//!
//! A block candidate is rebuilt and written to disk on this thread (see [`candidates::prepare`])
//! before the ring is committed past it; only then is it handed to the async submitter. A
//! jobmaster killed at any point therefore finds the candidate either still in the ring or in
//! `pending/` (a candidate read twice is submitted twice, which a node answers with `duplicate`).
//!
//! [`candidates::prepare`]: super::candidates::prepare

use super::candidates::{self, FoundBlock};
use super::found_blocks::FoundBlocks;
use super::job_store::JobStore;
use ironpool_shared::ring::{PopError, ShareConsumer, ShareKind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// How long a thread sleeps between checks of the stop flag (and between attempts to open a ring
/// that does not exist yet).
const WAIT: Duration = Duration::from_millis(100);

/// What an intake thread needs besides its ring.
#[derive(Clone)]
pub struct Intake {
    pub store: Arc<Mutex<JobStore>>,
    pub found: FoundBlocks,
    pub blocks: mpsc::UnboundedSender<FoundBlock>,
    /// Each checked block again, before it is written to disk: for the relay links.
    pub spread: mpsc::UnboundedSender<FoundBlock>,
    pub stop: Arc<AtomicBool>,
}

/// Starts the thread for the ring at `path`.
pub fn spawn(path: PathBuf, intake: Intake) {
    let name = format!(
        "share-intake-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
    );
    let spawned = std::thread::Builder::new()
        .name(name)
        .spawn(move || run(path, intake));
    if let Err(e) = spawned {
        error!(error = %e, "cannot start a share intake thread");
    }
}

fn run(path: PathBuf, intake: Intake) {
    let mut reported_missing = false;
    while !intake.stop.load(Ordering::Relaxed) {
        let mut consumer = match ShareConsumer::open(&path) {
            Ok(c) => c,
            Err(e) => {
                if !reported_missing {
                    info!(path = %path.display(), reason = %e, "share ring not readable yet; waiting for its gateway");
                    reported_missing = true;
                }
                std::thread::sleep(WAIT);
                continue;
            }
        };
        info!(path = %path.display(), "reading share ring");
        reported_missing = false;
        if let Err(e) = drain(&mut consumer, &intake) {
            warn!(path = %path.display(), error = %e, "share ring failed; re-opening");
            std::thread::sleep(WAIT);
        }
    }
}

fn drain(consumer: &mut ShareConsumer, intake: &Intake) -> Result<(), String> {
    while !intake.stop.load(Ordering::Relaxed) {
        while let Some(next) = consumer.pop() {
            match next {
                Ok(record) if record.kind == ShareKind::BlockCandidate => {
                    let spread = |height: u32, hash: &str, bytes: &[u8]| {
                        // Only fails when the jobmaster stops.
                        let _ = intake.spread.send(FoundBlock {
                            height,
                            hash: hash.to_owned(),
                            bytes: bytes.to_vec(),
                            saved: false,
                        });
                    };
                    if let Some(block) =
                        candidates::prepare(&intake.store, &intake.found, &record, spread)
                    {
                        // The receiver only goes away when the jobmaster stops; the block is on
                        // disk (or this is the last moment to see it) either way.
                        if intake.blocks.send(block).is_err() {
                            return Err("jobmaster stopping".to_owned());
                        }
                    }
                }
                // Shares are accounted by the metawriter (issue 5); the jobmaster needs blocks only.
                Ok(_) => {}
                // One undecodable record is skipped (and reported); the ring goes on.
                Err(PopError::Decode { index, source }) => {
                    error!(path = %consumer.path().display(), index, error = %source, "undecodable share record skipped");
                }
                Err(e) => return Err(e.to_string()),
            }
            // Every record before this point is handled: a candidate is on disk or with the
            // submitter. Committing per record keeps a crash from replaying more than one.
            consumer.commit();
        }
        consumer.wait(WAIT).map_err(|e| e.to_string())?;
    }
    Ok(())
}
