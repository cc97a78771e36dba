//! Empty-block jobs on an announced tip: a watcher (bitpeer, poolbench, a blockmaster, or our own
//! gateways' block) says a new block exists before the node has a template on it. Miners work on
//! a coinbase-only block on that tip at once instead of on a stale one; the node's full template
//! follows without `clean_jobs`, so no work is thrown away.
//!
//! What an announcement must pass before the pool mines on it (ViaBTC mined on any UDP datagram):
//! it came over an authenticated link; it is the block right after the node's tip; with a header,
//! the header builds on our tip, hashes to the announced hash, meets its own bits, and those bits
//! are the ones the block at that height needs. The next block's bits are computed (or, from a
//! competitor's job, checked for plausibility), and the subsidy comes from the height.

use crate::node::FailoverClient;
use bitcoin::block::Header;
use bitcoin::consensus::deserialize;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget};
use ironpool_shared::chain::{
    check_proof_of_work, empty_template, next_bits, plausible_bits, AnnouncedTip, ChainRules,
    TipInfo,
};
use ironpool_shared::relay::{TipAnnouncement, TipSource};
use ironpool_shared::work::BlockTemplate;
use std::time::Instant;

/// The job the gateways mine now: what an announcement is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentJob {
    /// Height of the block being mined.
    pub height: u32,
    /// The node's tip (its previous block hash).
    pub prev_hash: BlockHash,
    pub bits: CompactTarget,
    pub version: u32,
}

/// Empty mining in progress.
#[derive(Debug, Clone)]
pub struct EmptyMining {
    pub tip: AnnouncedTip,
    /// The node's tip before the announcement: while the node still answers it, it has not
    /// caught up.
    pub previous_tip: BlockHash,
    pub started: Instant,
    pub source: TipSource,
    pub via: String,
}

/// What to do with an announcement.
#[derive(Debug)]
pub enum Verdict {
    /// Publish an empty job from this template.
    Mine(Box<BlockTemplate>),
    /// Nothing to do: the node has it already, a duplicate from another watcher, or empty mining
    /// runs. Logged at debug.
    Ignore(String),
    /// Something is wrong with it: logged as a warning and counted.
    Refuse(String),
}

/// Checks `tip` against the current job and builds the empty template.
pub async fn judge(
    rules: &ChainRules,
    tip: &TipAnnouncement,
    current: &CurrentJob,
    active: Option<&EmptyMining>,
    nodes: &FailoverClient,
    now: u32,
) -> Verdict {
    let hash = BlockHash::from_byte_array(tip.hash);
    if hash == current.prev_hash {
        return Verdict::Ignore("the node has it already".to_owned());
    }
    if let Some(active) = active {
        return Verdict::Ignore(if active.tip.hash == hash {
            "empty jobs on it run already".to_owned()
        } else {
            format!(
                "empty jobs on {} at height {} run; the node must catch up first",
                active.tip.hash, active.tip.height
            )
        });
    }
    if tip.height != current.height {
        return Verdict::Ignore(format!(
            "height {} is not the block after the node's tip (that is {})",
            tip.height, current.height
        ));
    }
    let header = match &tip.header {
        Some(bytes) => match deserialize::<Header>(bytes) {
            Ok(header) => Some(header),
            Err(e) => return Verdict::Refuse(format!("header does not decode: {e}")),
        },
        None => None,
    };
    if let Some(header) = &header {
        if header.block_hash() != hash {
            return Verdict::Refuse(format!(
                "header hashes to {}, not the announced {hash}",
                header.block_hash()
            ));
        }
        if header.prev_blockhash != current.prev_hash {
            return Verdict::Ignore(format!(
                "builds on {}, not on the node's tip {}",
                header.prev_blockhash, current.prev_hash
            ));
        }
        if let Err(e) = check_proof_of_work(header, rules) {
            return Verdict::Refuse(format!("proof of work: {e}"));
        }
        let min_difficulty_block =
            rules.allow_min_difficulty_blocks && header.bits == rules.pow_limit;
        if header.bits != current.bits && !min_difficulty_block {
            return Verdict::Refuse(format!(
                "bits {:08x}, the block at height {} needs {:08x}",
                header.bits.to_consensus(),
                tip.height,
                current.bits.to_consensus()
            ));
        }
    }
    let Some(next_height) = tip.height.checked_add(1) else {
        return Verdict::Refuse("height overflows".to_owned());
    };
    let bits = match (tip.next_bits, &header) {
        (Some(announced), _) => {
            let announced = CompactTarget::from_consensus(announced);
            if let Err(e) = plausible_bits(rules, next_height, None, current.bits, announced) {
                return Verdict::Refuse(format!("next bits: {e}"));
            }
            announced
        }
        (None, Some(header)) => {
            let at_boundary =
                !rules.no_retargeting && next_height.is_multiple_of(rules.retarget_interval);
            let period_start = if at_boundary {
                match period_start_time(nodes, next_height - rules.retarget_interval).await {
                    Ok(time) => Some(time),
                    Err(e) => {
                        return Verdict::Refuse(format!(
                            "retarget at height {next_height}: cannot read the period's first block: {e}"
                        ))
                    }
                }
            } else {
                None
            };
            let info = TipInfo {
                bits: header.bits,
                time: header.time,
            };
            match next_bits(
                rules,
                next_height,
                info,
                period_start,
                now.max(header.time + 1),
            ) {
                Ok(bits) => bits,
                Err(e) => return Verdict::Refuse(format!("next bits: {e}")),
            }
        }
        (None, None) => {
            return Verdict::Refuse("neither a header nor the next block's bits".to_owned())
        }
    };
    let announced = AnnouncedTip {
        hash,
        height: tip.height,
        time: header.map_or(tip.time, |h| h.time),
    };
    match empty_template(rules, &announced, bits, current.version, now) {
        Ok(template) => Verdict::Mine(Box::new(template)),
        Err(e) => Verdict::Refuse(format!("empty template: {e}")),
    }
}

/// The timestamp of the block at `height` on the node's chain.
async fn period_start_time(nodes: &FailoverClient, height: u32) -> Result<u32, String> {
    let hash = nodes
        .call("getblockhash", serde_json::json!([height]))
        .await
        .map_err(|e| e.chain().to_string())?;
    let hash = hash
        .as_str()
        .ok_or_else(|| format!("getblockhash answered {hash}"))?
        .to_owned();
    let header = nodes
        .get_block_header(&hash)
        .await
        .map_err(|e| e.chain().to_string())?;
    header
        .get("time")
        .and_then(serde_json::Value::as_u64)
        .and_then(|t| u32::try_from(t).ok())
        .ok_or_else(|| format!("getblockheader {hash} has no usable time"))
}
