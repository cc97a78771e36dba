//! Applying one batch to Redis: the script calls of every slot (the calls of a slot one after the
//! other, in order; the slots concurrently, up to the pipeline depth), then the set members.
//! Any failure fails the batch; it is applied again later and its markers skip what was done.

use super::redis_target::RedisTarget;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use ironpool_shared::meta::{RedisBatch, ScriptCall, APPLY_SCRIPT};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Fault injection for the crash tests: `IRONPOOL_METAWRITER_ABORT_AFTER_CALLS=N` aborts the
/// process (no unwinding, no flush) right after its N-th applied script call, so a test can stop
/// a metawriter in the middle of a batch, the one moment a SIGKILL from outside rarely hits.
fn abort_if_told(applied_so_far: u64) {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    let limit = LIMIT.get_or_init(|| {
        std::env::var("IRONPOOL_METAWRITER_ABORT_AFTER_CALLS")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if limit.is_some_and(|limit| applied_so_far >= limit) {
        tracing::warn!(
            calls = applied_so_far,
            "aborting as IRONPOOL_METAWRITER_ABORT_AFTER_CALLS says"
        );
        std::process::abort();
    }
}

static CALLS_APPLIED: AtomicU64 = AtomicU64::new(0);

/// Members per SADD.
const SET_MEMBERS_PER_CALL: usize = 1_000;

/// What applying a batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    /// Script calls that wrote.
    pub calls_applied: u64,
    /// Script calls a marker showed as done before (a replay).
    pub calls_skipped: u64,
    /// Requests sent (script calls and SADDs): the round trips, pipelined.
    pub requests: u64,
}

/// Applies `batch` as batch `batch_seq` of writer `writer_id`.
///
/// # Errors
///
/// The first Redis error.
pub async fn apply(
    target: &RedisTarget,
    script: &redis::Script,
    writer_id: &str,
    batch_seq: u64,
    batch: &RedisBatch,
    pipeline: usize,
) -> Result<Applied, String> {
    let calls = batch.script_calls(writer_id, batch_seq);
    let mut by_slot: BTreeMap<u16, Vec<ScriptCall>> = BTreeMap::new();
    for call in calls {
        by_slot.entry(call.slot).or_default().push(call);
    }
    let results: Vec<(u64, u64)> = stream::iter(by_slot.into_values().map(|calls| async move {
        let (mut applied, mut skipped) = (0u64, 0u64);
        for call in calls {
            let wrote = target
                .invoke(script, &call.keys, &call.args)
                .await
                .map_err(|e| format!("slot {} script: {e}", call.slot))?;
            if wrote == 1 {
                applied += 1;
                abort_if_told(CALLS_APPLIED.fetch_add(1, Ordering::Relaxed) + 1);
            } else {
                skipped += 1;
            }
        }
        Ok::<_, String>((applied, skipped))
    }))
    .buffer_unordered(pipeline.max(1))
    .try_collect()
    .await?;
    let mut out = Applied::default();
    for (applied, skipped) in results {
        out.calls_applied += applied;
        out.calls_skipped += skipped;
    }
    out.requests = out.calls_applied + out.calls_skipped;

    let mut sets: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (set, member) in &batch.set_members {
        sets.entry(set.as_str()).or_default().push(member.as_str());
    }
    let mut commands = Vec::new();
    for (set, members) in sets {
        for chunk in members.chunks(SET_MEMBERS_PER_CALL) {
            let mut cmd = redis::cmd("SADD");
            cmd.arg(set).arg(chunk);
            commands.push(cmd);
        }
    }
    out.requests += commands.len() as u64;
    stream::iter(commands.iter().map(|cmd| async move {
        target
            .query::<redis::Value>(cmd)
            .await
            .map(|_| ())
            .map_err(|e| format!("SADD: {e}"))
    }))
    .buffer_unordered(pipeline.max(1))
    .try_collect::<Vec<()>>()
    .await?;
    Ok(out)
}

/// The script, built once (its SHA-1 is computed once).
pub fn apply_script() -> redis::Script {
    redis::Script::new(APPLY_SCRIPT)
}
