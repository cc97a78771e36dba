//! Reading this host's share rings into a store: one thread per ring, sleeping on its futex.
//! Records are stored (spool, fsync) before the ring is committed past them; a record that does
//! not decode ends the batch and is skipped (logged, counted), so ring indexes and stored records
//! stay in step (see `meta_spool::Source::Ring`).

use super::counters::LinkCounters;
use crate::meta_spool::Source;
use ironpool_shared::meta::{Aggregate, Batch};
use ironpool_shared::ring::{PopError, ShareConsumer};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

const WAIT: Duration = Duration::from_millis(100);

/// Stores one ring read; `Err` leaves the ring uncommitted (it is read again).
pub type RingStore = Arc<dyn Fn(Source, Batch) -> Result<(), String> + Send + Sync>;

/// What a ring thread needs.
#[derive(Clone)]
pub struct RingIntake {
    pub coin: String,
    pub host: String,
    pub batch_records: usize,
    pub store: RingStore,
    pub counters: Arc<LinkCounters>,
    pub stop: Arc<AtomicBool>,
}

/// Starts the thread of the ring at `path`.
///
/// # Errors
///
/// The thread cannot be spawned.
pub fn spawn(path: PathBuf, intake: RingIntake) -> Result<std::thread::JoinHandle<()>, String> {
    let name = format!(
        "ring-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
    );
    std::thread::Builder::new()
        .name(name)
        .spawn(move || run(&path, &intake))
        .map_err(|e| format!("cannot start a ring thread: {e}"))
}

fn run(path: &PathBuf, intake: &RingIntake) {
    let mut reported = false;
    while !intake.stop.load(Ordering::Relaxed) {
        let mut consumer = match ShareConsumer::open(path) {
            Ok(c) => c,
            Err(e) => {
                if !reported {
                    info!(path = %path.display(), reason = %e, "share ring not readable yet; waiting for its gateway");
                    reported = true;
                }
                std::thread::sleep(WAIT);
                continue;
            }
        };
        reported = false;
        info!(path = %path.display(), ring_id = consumer.ring_id(), from = consumer.committed_total(), "reading share ring");
        if let Err(e) = drain(&mut consumer, intake) {
            warn!(path = %path.display(), error = %e, "share ring failed; re-opening");
            std::thread::sleep(WAIT);
        }
    }
}

fn drain(consumer: &mut ShareConsumer, intake: &RingIntake) -> Result<(), String> {
    // Files made before ring ids existed read 0: the path stands in for the id.
    let ring_id = match consumer.ring_id() {
        0 => consumer
            .path()
            .to_string_lossy()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            }),
        id => id,
    };
    while !intake.stop.load(Ordering::Relaxed) {
        let first_index = consumer.read_index();
        let mut records = Vec::new();
        // A record that cannot be stored ends the batch: the batch then covers the ring up to and
        // including it, so ring indexes and stored records stay in step.
        while records.len() < intake.batch_records {
            let index = consumer.read_index();
            match consumer.pop_encoded() {
                None => break,
                Some(Ok(record)) => match Aggregate::check_encoded(&record) {
                    Ok(()) => records.push(record),
                    Err(refused) => {
                        LinkCounters::add(&intake.counters.ring_records_skipped, 1);
                        error!(path = %consumer.path().display(), index, error = %refused, "share record that cannot be written to Redis skipped");
                        break;
                    }
                },
                Some(Err(PopError::Decode { index, source })) => {
                    LinkCounters::add(&intake.counters.ring_records_skipped, 1);
                    error!(path = %consumer.path().display(), index, error = %source, "undecodable share record skipped");
                    break;
                }
                Some(Err(e)) => return Err(e.to_string()),
            }
        }
        let end_index = consumer.read_index();
        if end_index == first_index {
            consumer.wait(WAIT).map_err(|e| e.to_string())?;
            continue;
        }
        let count = records.len() as u64;
        let batch = Batch {
            origin: ring_id,
            seq: first_index,
            coin: intake.coin.clone(),
            host: intake.host.clone(),
            records,
        };
        let source = Source::Ring {
            ring_id,
            first_index,
            end_index,
            // Numbered by the spool when it stores the input.
            own_seq: 0,
        };
        match (intake.store)(source, batch) {
            Ok(()) => {
                consumer.commit();
                LinkCounters::add(&intake.counters.ring_records_read, count);
            }
            Err(e) => {
                // Not stored: read them again later; the gateway keeps (and spools) meanwhile.
                error!(path = %consumer.path().display(), error = %e, "ring records could not be stored; retrying");
                consumer.rewind();
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    Ok(())
}
