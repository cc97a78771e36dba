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
pub mod early_tip;
pub mod found_blocks;
pub mod job_archive;
pub mod job_store;
pub mod producer;
pub mod share_intake;
pub mod submitter;
pub mod tip_metrics;
pub mod zmq_tip;

use crate::config::jobmaster::Jobmaster;
use crate::node::FailoverClient;
use crate::relay_link::{self, RelayHub};
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use candidates::FoundBlock;
use early_tip::{EmptyMining, Verdict};
use found_blocks::FoundBlocks;
use ironpool_shared::chain::{AnnouncedTip, ChainRules};
use ironpool_shared::relay::{BlockOrigin, RelayMessage, TipAnnouncement, TipSource};
use ironpool_shared::ring::{
    block_ring_path, job_ring_path, JobRing, JobRingConfig, JobRingOpened,
};
use job_archive::JobArchive;
use job_store::JobStore;
use producer::{JobProducer, Trigger};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;
use submitter::Submitter;
use tip_metrics::TipMetrics;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

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

/// What woke the main loop.
enum Event {
    Trigger(Trigger),
    Tip(TipAnnouncement),
    Status,
}

fn unix_secs() -> u32 {
    u32::try_from(tip_metrics::unix_us() / 1_000_000).unwrap_or(u32::MAX)
}

/// Our own found block as an announced tip.
fn own_block_tip(block: &FoundBlock) -> Option<TipAnnouncement> {
    let header_bytes: [u8; 80] = block.bytes.get(..80)?.try_into().ok()?;
    let header: bitcoin::block::Header = bitcoin::consensus::deserialize(&header_bytes).ok()?;
    Some(TipAnnouncement {
        source: TipSource::OwnPool,
        via: "gateway".to_owned(),
        height: block.height,
        hash: header.block_hash().to_byte_array(),
        time: header.time,
        header: Some(header_bytes),
        next_bits: None,
        seen_at_us: tip_metrics::unix_us(),
    })
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
        settings.blocks.submit,
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
    let (spread_tx, mut spread_rx) = mpsc::unbounded_channel::<FoundBlock>();
    let intake = share_intake::Intake {
        store: store.clone(),
        found: submitter.found_blocks().clone(),
        blocks: blocks_tx,
        spread: spread_tx,
        stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
    };
    for shard in &settings.rings.shards {
        share_intake::spawn(block_ring_path(&settings.rings.dir, *shard), intake.clone());
    }
    let rules = ChainRules::for_network(settings.network);
    let (relay, mut relay_rx) = match &settings.early_tips {
        Some(early) => {
            let (hub, rx) = RelayHub::new(early.key.clone(), relay_link::DEFAULT_MAX_BODY);
            for addr in &early.connect {
                hub.connect(addr.clone());
            }
            (Some(hub), Some(rx))
        }
        None => (None, None),
    };
    // Our own blocks become announced tips too: the gateways mine on them before the node has
    // validated them.
    let (own_tip_tx, mut own_tip_rx) = mpsc::unbounded_channel::<TipAnnouncement>();
    {
        // Before the block is on disk: bitpeer floods it to every peer and blockmasters to every
        // site while the intake thread fsyncs it and submitblock follows.
        let relay = relay.clone();
        tokio::spawn(async move {
            while let Some(block) = spread_rx.recv().await {
                // The gateways mine on it at once too (an empty job on our own block).
                if let Some(tip) = own_block_tip(&block) {
                    let _ = own_tip_tx.send(tip);
                }
                if let Some(relay) = &relay {
                    let links = relay.broadcast(&RelayMessage::Block {
                        origin: BlockOrigin::OwnPool,
                        bytes: block.bytes,
                    });
                    info!(height = block.height, block = %block.hash, links, "found block sent on the relay links");
                }
            }
        });
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
    let (empty_timeout, catch_up_every, status_file) = match &settings.early_tips {
        Some(e) => (e.empty_job_timeout, e.catch_up_poll, e.status_file.clone()),
        None => (Duration::from_secs(30), Duration::from_millis(20), None),
    };
    let mut catch_up = tokio::time::interval(catch_up_every);
    catch_up.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut status_tick = tokio::time::interval(Duration::from_secs(1));
    let mut sigterm =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    // None: the first poll always publishes a fresh job, clean or not by the restored tip.
    let mut best: Option<BlockHash> = None;
    let mut tip_failures = crate::log_throttle::LogThrottle::default();
    let mut empty: Option<EmptyMining> = None;
    let mut metrics = TipMetrics::default();

    loop {
        let event = tokio::select! {
            biased;
            Some(tip) = own_tip_rx.recv() => Event::Tip(tip),
            Some(inbound) = async { match relay_rx.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                match inbound.message {
                    RelayMessage::Tip(tip) => Event::Tip(tip),
                    other => {
                        debug!(peer = %inbound.peer, message = other.name(), "relay message not for the jobmaster; ignored");
                        continue;
                    }
                }
            }
            _ = poll.tick() => Event::Trigger(Trigger::NewTip),
            _ = catch_up.tick(), if empty.is_some() => Event::Trigger(Trigger::NewTip),
            Some(()) = wake_rx.recv() => Event::Trigger(Trigger::NewTip),
            _ = refresh.tick() => Event::Trigger(Trigger::Refresh),
            _ = status_tick.tick() => Event::Status,
            _ = tokio::signal::ctrl_c() => break,
            Some(()) = async { match sigterm.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => break,
        };
        let record = match event {
            Event::Status => {
                if let Some(path) = &status_file {
                    if let Err(e) = metrics.write(path) {
                        if tip_failures.should_log(&e.to_string()) {
                            warn!(path = %path.display(), error = %e, "cannot write the early-tip status file");
                        }
                    }
                }
                continue;
            }
            Event::Tip(tip) => {
                let hash = BlockHash::from_byte_array(tip.hash);
                metrics.announced(
                    &hash.to_string(),
                    tip.height,
                    tip.source.name(),
                    &tip.via,
                    tip.seen_at_us,
                );
                let Some(current) = producer.current_job() else {
                    metrics.ignored += 1;
                    debug!(%hash, source = %tip.source, "announced tip before the first job; ignored");
                    continue;
                };
                match early_tip::judge(&rules, &tip, &current, empty.as_ref(), &nodes, unix_secs())
                    .await
                {
                    Verdict::Mine(template) => {
                        let record = producer.publish_template(*template, Trigger::EarlyTip);
                        if let Some(record) = &record {
                            metrics.empty_published(&hash.to_string(), tip.height);
                            info!(
                                job = %record.job_id_hex(),
                                height = record.height,
                                prev = %hash,
                                source = %tip.source,
                                via = %tip.via,
                                bits = format_args!("{:08x}", record.bits),
                                "announced tip: empty job"
                            );
                            empty = Some(EmptyMining {
                                tip: AnnouncedTip {
                                    hash,
                                    height: tip.height,
                                    time: tip.time,
                                },
                                previous_tip: current.prev_hash,
                                started: Instant::now(),
                                source: tip.source,
                                via: tip.via.clone(),
                            });
                            catch_up.reset();
                        }
                        record
                    }
                    Verdict::Ignore(reason) => {
                        metrics.ignored += 1;
                        debug!(%hash, height = tip.height, source = %tip.source, via = %tip.via, reason, "announced tip ignored");
                        continue;
                    }
                    Verdict::Refuse(reason) => {
                        metrics.refused += 1;
                        warn!(%hash, height = tip.height, source = %tip.source, via = %tip.via, reason, "announced tip refused");
                        continue;
                    }
                }
            }
            Event::Trigger(Trigger::NewTip | Trigger::EarlyTip) => {
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
                // Empty jobs run: the node's old tip means it has not caught up yet.
                let mut caught_up = None;
                if let Some(active) = &empty {
                    if hash == active.previous_tip {
                        if active.started.elapsed() < empty_timeout {
                            continue;
                        }
                        metrics.empty_timeouts += 1;
                        error!(
                            tip = %active.tip.hash,
                            height = active.tip.height,
                            source = %active.source,
                            via = %active.via,
                            timeout_s = empty_timeout.as_secs(),
                            "announced tip never became the node's best block; back to the node's template"
                        );
                        producer.forget_tip();
                        empty = None;
                    } else {
                        caught_up = Some((active.tip, hash == active.tip.hash));
                    }
                }
                if caught_up.is_none() && best == Some(hash) && producer.current_tip() == Some(hash)
                {
                    continue;
                }
                let record = producer.produce(Trigger::NewTip, Some(hash)).await;
                // The producer may have taken an even newer tip than `hash`.
                best = producer.current_tip();
                if let Some(record) = &record {
                    refresh.reset();
                    let tip_height = record.height.saturating_sub(1);
                    metrics.node_has(&hash.to_string(), tip_height);
                    if caught_up.is_some() {
                        empty = None;
                    }
                    match caught_up {
                        Some((tip, true)) => {
                            let ms = metrics.full_published(&tip.hash.to_string(), tip.height);
                            info!(job = %record.job_id_hex(), height = record.height, empty_job_ms = ms, "node caught up: full template replaces the empty jobs (not clean)");
                        }
                        Some((tip, false)) => {
                            warn!(announced = %tip.hash, node = %hash, "node moved to another block than the announced one; clean job");
                        }
                        None => {}
                    }
                }
                // Without a template the empty jobs stay, and the next poll tries again.
                record
            }
            Event::Trigger(Trigger::Refresh) => {
                if empty.is_some() {
                    // The node's template is on the old tip: it would undo the empty job.
                    continue;
                }
                producer.produce(Trigger::Refresh, None).await
            }
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
