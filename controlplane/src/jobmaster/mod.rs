//! The jobmaster: templates from the nodes become jobs on the job ring; block candidates from the
//! gateways' share rings become `submitblock` calls to every node.
//!
//! - [`producer`]: template → job, `clean_jobs` exactly when the previous block hash changes.
//! - [`job_store`]: the last jobs per tip, to rebuild blocks; [`job_archive`] keeps them across a
//!   restart.
//! - [`zmq_tip`]: ZMQ `hashblock` wake-ups; polling `getbestblockhash` runs in any case.
//! - [`share_intake`]: threads that read the share rings.
//! - [`candidates`]: block candidate → assembled, checked block.
//! - [`submitter`] and [`found_blocks`]: `submitblock` to all nodes; the block on disk until held.

pub mod candidates;
pub mod found_blocks;
pub mod job_archive;
pub mod job_store;
pub mod producer;
pub mod share_intake;
pub mod submitter;
pub mod zmq_tip;

use crate::config::jobmaster::Jobmaster;
use crate::node::FailoverClient;
use bitcoin::BlockHash;
use found_blocks::FoundBlocks;
use ironpool_shared::ring::{
    block_ring_path, job_ring_path, JobRing, JobRingConfig, JobRingOpened,
};
use job_archive::JobArchive;
use job_store::JobStore;
use producer::{JobProducer, Trigger};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use submitter::Submitter;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// Why the jobmaster could not start.
#[derive(Debug, thiserror::Error)]
pub enum JobmasterError {
    #[error("node clients: {0}")]
    Nodes(#[from] crate::node::ConfigError),
    #[error("found-block directory {path}: {source}")]
    BlockDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("job ring {path}: {source}")]
    JobRing {
        path: std::path::PathBuf,
        source: ironpool_shared::ring::RingError,
    },
    #[error("ring directory {path}: {source}")]
    RingDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// How often blocks left in `pending/` (nodes unreachable) are submitted again.
const PENDING_RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// Loads the archived jobs of the previous run into `store`, removes the ones it does not keep,
/// and returns the archive with the job id to continue from.
fn restore_jobs(
    dir: &std::path::Path,
    store: &Mutex<JobStore>,
) -> std::io::Result<(JobArchive, Option<u32>)> {
    let archive = JobArchive::open(dir)?;
    let (jobs, bad) = archive.load()?;
    for job in bad {
        warn!(path = %job.path.display(), reason = %job.reason, "unusable archived job set aside");
    }
    let next = jobs.last().map(|j| j.record.job_id.wrapping_add(1).max(1));
    let all: Vec<u32> = jobs.iter().map(|j| j.record.job_id).collect();
    let mut store = store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for job in jobs {
        store.insert(Arc::new(job));
    }
    let kept = store.ids();
    for id in all.into_iter().filter(|id| !kept.contains(id)) {
        archive.remove(id)?;
    }
    if !kept.is_empty() {
        info!(
            jobs = kept.len(),
            "jobs of the previous run restored from the archive"
        );
    }
    Ok((archive, next))
}

/// Runs the jobmaster until SIGINT or SIGTERM.
pub async fn run(settings: Jobmaster) -> Result<(), JobmasterError> {
    let nodes = FailoverClient::from_endpoints(settings.nodes.clone())?;
    let store = Arc::new(Mutex::new(JobStore::new(settings.keep_per_tip)));
    let found =
        FoundBlocks::open(&settings.blocks.dir).map_err(|source| JobmasterError::BlockDir {
            path: settings.blocks.dir.clone(),
            source,
        })?;
    let submitter = Submitter::new(
        nodes.nodes().to_vec(),
        found,
        settings.blocks.submit_attempts,
        Duration::from_millis(settings.blocks.submit_retry_ms),
    );

    std::fs::create_dir_all(&settings.rings.dir).map_err(|source| JobmasterError::RingDir {
        path: settings.rings.dir.clone(),
        source,
    })?;
    let ring_path = job_ring_path(&settings.rings.dir);
    let ring_config = JobRingConfig {
        slot_count: settings.rings.job_ring_slots,
        slot_capacity: settings.rings.job_ring_slot_bytes,
    };
    let mut job_ring =
        JobRing::open(&ring_path, &ring_config).map_err(|source| JobmasterError::JobRing {
            path: ring_path.clone(),
            source,
        })?;
    match job_ring.opened() {
        JobRingOpened::Created => info!(path = %ring_path.display(), "job ring created"),
        JobRingOpened::Attached => {
            info!(path = %ring_path.display(), head = job_ring.head(), "job ring re-attached")
        }
        JobRingOpened::Replaced { reason } => {
            warn!(path = %ring_path.display(), %reason, "incompatible job ring replaced")
        }
    }

    // The previous run's jobs first: candidates still in the share rings may need them.
    let archive_dir = settings.rings.dir.join("job-archive");
    let (archive, first_job_id) = match restore_jobs(&archive_dir, &store) {
        Ok((archive, next)) => (Some(archive), next),
        Err(e) => {
            warn!(dir = %archive_dir.display(), error = %e, "job archive unusable; jobs will not survive a restart");
            (None, None)
        }
    };

    // Block candidates from every share ring: rebuilt and saved on the intake threads, submitted
    // here. The channel is unbounded on purpose: what it holds is already on disk, and a block
    // must never wait for room.
    let (blocks_tx, mut blocks_rx) = mpsc::unbounded_channel();
    let intake = share_intake::Intake {
        store: store.clone(),
        found: submitter.found_blocks().clone(),
        blocks: blocks_tx,
        stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
    };
    for shard in &settings.rings.shards {
        share_intake::spawn(block_ring_path(&settings.rings.dir, *shard), intake.clone());
    }
    {
        let submitter = submitter.clone();
        tokio::spawn(async move {
            while let Some(block) = blocks_rx.recv().await {
                let submitter = submitter.clone();
                tokio::spawn(async move { submitter.submit_found(block).await });
            }
        });
    }
    {
        let submitter = submitter.clone();
        tokio::spawn(async move {
            loop {
                submitter.resubmit_pending().await;
                tokio::time::sleep(PENDING_RETRY_INTERVAL).await;
            }
        });
    }

    let (wake_tx, mut wake_rx) = mpsc::channel(16);
    for (node, endpoint) in &settings.zmq_hashblock {
        tokio::spawn(zmq_tip::watch_hashblock(
            node.clone(),
            endpoint.clone(),
            wake_tx.clone(),
        ));
    }

    let mut producer = JobProducer::new(
        nodes.clone(),
        settings.job_params.clone(),
        store.clone(),
        archive,
        first_job_id,
    );
    let mut poll = tokio::time::interval(settings.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refresh = tokio::time::interval_at(
        tokio::time::Instant::now() + settings.refresh_interval,
        settings.refresh_interval,
    );
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sigterm =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    // None: the first poll always publishes a fresh job, clean or not by the restored tip.
    let mut best: Option<BlockHash> = None;
    let mut tip_failures = crate::log_throttle::LogThrottle::default();

    loop {
        let trigger = tokio::select! {
            _ = poll.tick() => Trigger::NewTip,
            Some(()) = wake_rx.recv() => Trigger::NewTip,
            _ = refresh.tick() => Trigger::Refresh,
            _ = tokio::signal::ctrl_c() => break,
            Some(()) = async { match sigterm.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => break,
        };
        let record = match trigger {
            Trigger::NewTip => {
                let hash = match nodes.get_best_block_hash().await {
                    Ok(h) => h,
                    Err(e) => {
                        let message = e.chain().to_string();
                        if tip_failures.should_log(&message) {
                            warn!(error = %message, "getbestblockhash failed");
                        }
                        continue;
                    }
                };
                let Ok(hash) = BlockHash::from_str(&hash) else {
                    if tip_failures.should_log(&hash) {
                        error!(answer = %hash, "getbestblockhash answered something that is not a block hash");
                    }
                    continue;
                };
                if tip_failures.clear() {
                    info!("getbestblockhash answers again");
                }
                if best == Some(hash) && producer.current_tip() == Some(hash) {
                    continue;
                }
                let record = producer.produce(Trigger::NewTip, Some(hash)).await;
                // The producer may have taken an even newer tip than `hash`.
                best = producer.current_tip();
                if record.is_some() {
                    refresh.reset();
                }
                record
            }
            Trigger::Refresh => producer.produce(Trigger::Refresh, None).await,
        };
        if let Some(record) = record {
            if let Err(e) = job_ring.publish(&record.encode()) {
                error!(job = %record.job_id_hex(), error = %e, "cannot publish job on the ring; the next job goes out clean");
                // The gateways never saw this tip: the next job must carry clean_jobs.
                producer.forget_tip();
                best = None;
            }
        }
    }
    info!("jobmaster stopping; found blocks not yet held by a node stay in pending/ for the next start");
    intake
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}
