//! Templates in, jobs out: fetches a template, decides `clean_jobs`, builds the job, keeps it in
//! the store and hands its record to the job ring.

use super::early_tip::CurrentJob;
use super::job_archive::JobArchive;
use super::job_store::{JobContext, JobStore};
use crate::log_throttle::LogThrottle;
use crate::node::FailoverClient;
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use ironpool_shared::work::{build_job, BlockTemplate, JobParams, JobRecord};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{debug, error, info, warn};

/// Why a new job was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The best block changed (from polling or ZMQ).
    NewTip,
    /// The periodic refresh, for new transactions.
    Refresh,
    /// An announced tip the node does not have yet: an empty job.
    EarlyTip,
}

/// Builds jobs from the nodes' templates.
pub struct JobProducer {
    nodes: FailoverClient,
    params: JobParams,
    store: Arc<Mutex<JobStore>>,
    archive: Option<JobArchive>,
    next_job_id: u32,
    /// The previous block hash of the last published job.
    current_tip: Option<BlockHash>,
    /// The last published job, for checking announced tips.
    current_job: Option<CurrentJob>,
    /// Tag truncation is reported once per different length kept, not on every job.
    reported_tag_len: Option<usize>,
    /// The same failure on every poll is logged once in a while.
    failures: LogThrottle,
}

/// The published job, for the caller to put on the ring.
pub type Published = JobRecord;

fn current_job_of(record: &JobRecord) -> CurrentJob {
    CurrentJob {
        height: record.height,
        prev_hash: BlockHash::from_byte_array(record.prev_hash),
        bits: bitcoin::CompactTarget::from_consensus(record.bits),
        version: record.version,
    }
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl JobProducer {
    /// `first_job_id`: the id after the newest archived job, so a restarted jobmaster never reuses
    /// an id the gateways may still hold; without an archive, ids start from the clock.
    pub fn new(
        nodes: FailoverClient,
        params: JobParams,
        store: Arc<Mutex<JobStore>>,
        archive: Option<JobArchive>,
        first_job_id: Option<u32>,
    ) -> Self {
        let seed =
            first_job_id.unwrap_or_else(|| (unix_micros() / 1_000_000).wrapping_mul(16) as u32);
        // Restored jobs of the previous run are on this tip: a job on the same tip is not clean.
        let latest = store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .latest()
            .cloned();
        let current_tip = latest
            .as_ref()
            .map(|j| BlockHash::from_byte_array(j.record.prev_hash));
        let current_job = latest.as_ref().map(|j| current_job_of(&j.record));
        JobProducer {
            nodes,
            params,
            store,
            archive,
            next_job_id: seed.max(1),
            current_tip,
            current_job,
            reported_tag_len: None,
            failures: LogThrottle::default(),
        }
    }

    /// Forgets the tip, so that the next job is clean (its predecessor never reached the ring).
    pub fn forget_tip(&mut self) {
        self.current_tip = None;
    }

    /// The tip of the last published job.
    pub fn current_tip(&self) -> Option<BlockHash> {
        self.current_tip
    }

    /// The last published job.
    pub fn current_job(&self) -> Option<CurrentJob> {
        self.current_job
    }

    /// Fetches a template and builds a job. With `expected_tip` (a new best block was seen), a
    /// template still on the tip of the last job is retried a few times: right after a new block
    /// the node may answer from before it. A template on any other tip is taken, even one newer
    /// than `expected_tip` (a block that arrived in between).
    pub async fn produce(
        &mut self,
        trigger: Trigger,
        expected_tip: Option<BlockHash>,
    ) -> Option<Published> {
        let mut template = None;
        for attempt in 0..20 {
            let raw = match self.nodes.get_block_template(&["segwit"]).await {
                Ok(raw) => raw,
                Err(e) => {
                    let message = e.chain().to_string();
                    if self.failures.should_log(&message) {
                        error!(error = %message, ?trigger, "getblocktemplate failed; gateways keep the current job");
                    }
                    return None;
                }
            };
            let parsed = match BlockTemplate::from_json(&raw) {
                Ok(t) => t,
                Err(e) => {
                    if self.failures.should_log(&e.to_string()) {
                        error!(error = %e, node = self.nodes.active().name(), "node sent an unusable block template; gateways keep the current job");
                    }
                    return None;
                }
            };
            match expected_tip {
                Some(tip)
                    if tip != parsed.previous_block_hash
                        && self.current_tip == Some(parsed.previous_block_hash) =>
                {
                    debug!(attempt, template_prev = %parsed.previous_block_hash, best = %tip, "template not yet on the new tip");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                _ => {
                    template = Some(parsed);
                    break;
                }
            }
        }
        let Some(template) = template else {
            warn!(
                ?expected_tip,
                "node kept answering templates on an older tip"
            );
            return None;
        };
        self.publish_template(template, trigger)
    }

    /// Builds a job from `template` (the node's, or an empty one on an announced tip), keeps and
    /// archives it, and returns its record for the ring.
    pub fn publish_template(
        &mut self,
        template: BlockTemplate,
        trigger: Trigger,
    ) -> Option<Published> {
        // clean_jobs exactly when the previous block hash changes.
        let clean = self.current_tip != Some(template.previous_block_hash);
        let job_id = self.next_job_id;
        let built = match build_job(&template, &self.params, job_id, clean, unix_micros()) {
            Ok(b) => b,
            Err(e) => {
                if self.failures.should_log(&e.to_string()) {
                    error!(error = %e, height = template.height, "cannot build a job from the template");
                }
                return None;
            }
        };
        self.next_job_id = self.next_job_id.wrapping_add(1).max(1);
        if built.coinbase.tag_len_used < self.params.tag.len()
            && self.reported_tag_len != Some(built.coinbase.tag_len_used)
        {
            warn!(
                key = "coinbase.tag",
                configured_bytes = self.params.tag.len(),
                kept_bytes = built.coinbase.tag_len_used,
                height = template.height,
                "pool tag cut to fit the 100-byte coinbase scriptSig"
            );
            self.reported_tag_len = Some(built.coinbase.tag_len_used);
        }
        self.current_tip = Some(template.previous_block_hash);
        self.current_job = Some(current_job_of(&built.record));
        if self.failures.clear() {
            info!("templates usable again");
        }
        let tx_count = template.transactions.len();
        let record = built.record.clone();
        let context = JobContext {
            record: built.record,
            coinbase: built.coinbase,
            transactions: Arc::new(template.transactions),
        };
        // Archived before it is published: a block on it can be rebuilt even after a restart.
        if let Some(archive) = &self.archive {
            if let Err(e) = archive.save(&context) {
                warn!(job = %record.job_id_hex(), error = %e, "cannot archive job; a restart would lose it");
            }
        }
        let dropped = match self.store.lock() {
            Ok(mut store) => store.insert(Arc::new(context)),
            Err(poisoned) => poisoned.into_inner().insert(Arc::new(context)),
        };
        if let Some(archive) = &self.archive {
            for id in dropped {
                if let Err(e) = archive.remove(id) {
                    warn!(job = id, error = %e, "cannot remove archived job");
                }
            }
        }
        if clean {
            info!(job = %record.job_id_hex(), height = record.height, prev = %template.previous_block_hash, txs = tx_count, "new tip: clean job");
        } else {
            debug!(job = %record.job_id_hex(), height = record.height, ?trigger, "refreshed job");
        }
        Some(record)
    }
}
