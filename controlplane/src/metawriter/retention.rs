//! Retention: minute fields older than the configured age are removed from every hash the
//! writer knows of (the members of `mining:keys`, and for each `<coin>:m:<key>` in
//! `monitor:keys` also the `<coin>:mh:<host>:<key>` of every host in `<coin>:mk:<key>`).
//! ViaBTC never removed anything; its hashes grew by one field per minute forever.

use super::redis_target::RedisTarget;
use ironpool_shared::meta::{MINING_KEYS, MONITOR_KEYS};

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub keys: u64,
    pub fields_removed: u64,
}

async fn members(target: &RedisTarget, set: &str) -> Result<Vec<String>, String> {
    target
        .query(redis::cmd("SMEMBERS").arg(set))
        .await
        .map_err(|e| format!("SMEMBERS {set}: {e}"))
}

/// The hashes to sweep.
async fn hashes(target: &RedisTarget) -> Result<Vec<String>, String> {
    let mut keys = members(target, MINING_KEYS).await?;
    for pool_key in members(target, MONITOR_KEYS).await? {
        // `<coin>:m:<key>` → hosts in `<coin>:mk:<key>` → `<coin>:mh:<host>:<key>`.
        if let Some((coin, key)) = pool_key.split_once(":m:") {
            for host in members(target, &format!("{coin}:mk:{key}")).await? {
                keys.push(format!("{coin}:mh:{host}:{key}"));
            }
        }
        keys.push(pool_key);
    }
    Ok(keys)
}

/// Removes the fields below `cutoff` (a unix minute).
///
/// # Errors
///
/// The first Redis error (the next sweep starts over).
pub async fn sweep(target: &RedisTarget, cutoff: u64) -> Result<Swept, String> {
    let mut swept = Swept::default();
    for key in hashes(target).await? {
        swept.keys += 1;
        let fields: Vec<String> = target
            .query(redis::cmd("HKEYS").arg(&key))
            .await
            .map_err(|e| format!("HKEYS {key}: {e}"))?;
        let old: Vec<&String> = fields
            .iter()
            .filter(|f| f.parse::<u64>().is_ok_and(|minute| minute < cutoff))
            .collect();
        if old.is_empty() {
            continue;
        }
        let removed: u64 = target
            .query(redis::cmd("HDEL").arg(&key).arg(&old))
            .await
            .map_err(|e| format!("HDEL {key}: {e}"))?;
        swept.fields_removed += removed;
    }
    Ok(swept)
}
