//! Reading the share rings: one thread per gateway shard's ring, sleeping on the ring's futex.
//!
//! A thread forwards every record to the jobmaster's async side and commits the ring only once the
//! records are handed over, so a jobmaster killed in between re-reads them on restart (a block
//! candidate is then submitted twice, which the node answers with `duplicate`: harmless).

use ironpool_shared::ring::{ShareConsumer, ShareRecord};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// How long a thread sleeps between checks of the stop flag (and between attempts to open a ring
/// that does not exist yet).
const WAIT: Duration = Duration::from_millis(100);

/// Starts the thread for the ring at `path`.
pub fn spawn(path: PathBuf, records: mpsc::Sender<ShareRecord>, stop: Arc<AtomicBool>) {
    let name = format!(
        "share-intake-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
    );
    let spawned = std::thread::Builder::new()
        .name(name)
        .spawn(move || run(path, records, stop));
    if let Err(e) = spawned {
        error!(error = %e, "cannot start a share intake thread");
    }
}

fn run(path: PathBuf, records: mpsc::Sender<ShareRecord>, stop: Arc<AtomicBool>) {
    let mut reported_missing = false;
    while !stop.load(Ordering::Relaxed) {
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
        if let Err(e) = drain(&mut consumer, &records, &stop) {
            warn!(path = %path.display(), error = %e, "share ring failed; re-opening");
            std::thread::sleep(WAIT);
        }
        if records.is_closed() {
            return;
        }
    }
}

fn drain(
    consumer: &mut ShareConsumer,
    records: &mpsc::Sender<ShareRecord>,
    stop: &AtomicBool,
) -> Result<(), String> {
    while !stop.load(Ordering::Relaxed) {
        let mut popped = 0u32;
        while let Some(next) = consumer.pop() {
            match next {
                Ok(record) => {
                    if records.blocking_send(record).is_err() {
                        return Err("jobmaster stopped".to_owned());
                    }
                }
                // One undecodable record is skipped (and reported); the ring goes on.
                Err(ironpool_shared::ring::PopError::Decode { index, source }) => {
                    error!(path = %consumer.path().display(), index, error = %source, "undecodable share record skipped");
                }
                Err(e) => return Err(e.to_string()),
            }
            popped += 1;
            if popped == 1024 {
                consumer.commit();
                popped = 0;
            }
        }
        consumer.commit();
        consumer.wait(WAIT).map_err(|e| e.to_string())?;
    }
    Ok(())
}
