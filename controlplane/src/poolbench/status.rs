//! `status_file`: every pool's state, who showed each of the last heights first, and the pools'
//! SPV times, as JSON rewritten every second for dashboards and people.
//!
//! Written to a temporary file and renamed over the old one, so a reader never sees half a file.
//! Hashes are in display order (as block explorers show them); heights are tip heights (the
//! block the pool builds on, one below the height it mines).

use super::bench::Bench;
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn display_hash(internal: &[u8; 32]) -> String {
    BlockHash::from_byte_array(*internal).to_string()
}

/// The status document.
pub fn status_json(bench: &Bench, relay_links: usize, now_unix_ms: u64) -> Value {
    let pools: Vec<Value> = bench
        .pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let tip = bench.board.pool(i).copied().unwrap_or_default();
            json!({
                "name": p.name,
                "host": p.host,
                "port": p.port,
                "notify": p.notify,
                "connected": p.connected,
                "authorized": p.authorized,
                "height": tip.tip.map(|(h, _)| h),
                "prev_hash": tip.tip.map(|(_, hash)| display_hash(&hash)),
                "height_since_unix_ms": tip.tip.map(|_| tip.since_unix_ms),
                "first_count": tip.first_count,
                "jobs": p.jobs,
                "last_notify_unix_ms": p.last_notify_unix_ms,
                "bad_messages": p.bad_messages,
                "disconnects": p.disconnects,
            })
        })
        .collect();
    let heights: Vec<Value> = bench
        .board
        .heights()
        .rev()
        .map(|h| {
            let followers: Vec<Value> = h
                .followers
                .iter()
                .map(|f| {
                    json!({
                        "pool": bench.name(f.pool),
                        "after_ms": f.after_ms,
                        "same_hash": f.same_hash,
                    })
                })
                .collect();
            json!({
                "height": h.height,
                "hash": display_hash(&h.hash),
                "first": bench.name(h.first),
                "first_unix_ms": h.first_unix_ms,
                "followers": followers,
            })
        })
        .collect();
    let spv: serde_json::Map<String, Value> = bench
        .pools
        .iter()
        .map(|p| {
            let samples: Vec<Value> = p
                .spv
                .samples()
                .rev()
                .map(|s| json!({"height": s.height, "ms": s.ms}))
                .collect();
            (p.name.clone(), Value::Array(samples))
        })
        .collect();
    json!({
        "updated_unix_ms": now_unix_ms,
        "relay_links": relay_links,
        "tips_announced": bench.tips_announced,
        "tips_unheard": bench.tips_unheard,
        "best": bench.board.best().map(|(height, hash, first)| json!({
            "height": height,
            "hash": display_hash(&hash),
            "first": bench.name(first),
        })),
        "pools": pools,
        "heights": heights,
        "spv_ms": spv,
    })
}

/// `path` with `.tmp` appended: the same directory, so the rename does not cross filesystems.
fn temporary(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Writes `status` to `path` through a temporary file and a rename.
///
/// # Errors
///
/// The temporary file cannot be written or renamed.
pub async fn write_status(path: &Path, status: &Value) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(status)?;
    text.push(b'\n');
    let temp = temporary(path);
    tokio::fs::write(&temp, &text).await?;
    tokio::fs::rename(&temp, path).await
}

#[cfg(test)]
mod tests {
    use super::super::bench::Bench;
    use super::super::notify::Notify;
    use super::*;
    use crate::config::poolbench::WatchedPool;

    fn bench() -> Bench {
        let pools: Vec<_> = ["fast", "slow"]
            .iter()
            .map(|name| WatchedPool {
                name: (*name).to_owned(),
                host: "h".to_owned(),
                port: 3333,
                user: "u".to_owned(),
                password: "secret".to_owned(),
                notify: true,
            })
            .collect();
        Bench::new(&pools)
    }

    fn job(height: u32, branch: usize, clean: bool) -> Notify {
        let mut prev_hash = [0u8; 32];
        prev_hash[0] = 0x11; // internal order: shown last
        Notify {
            job_id: "1".to_owned(),
            prev_hash,
            height,
            merkle_branch_len: branch,
            version: 0x2000_0000,
            nbits: 0x1703_a30c,
            ntime: 0,
            clean_jobs: clean,
        }
    }

    #[test]
    fn the_document_has_the_pools_the_heights_and_the_spv_times() {
        let mut b = bench();
        b.on_job(0, &job(101, 0, true), 1_000);
        b.on_job(0, &job(101, 4, false), 1_700);
        b.on_job(1, &job(101, 4, true), 1_300);
        b.pools[1].bad_messages = 3;
        let s = status_json(&b, 1, 2_000);
        assert_eq!(s["relay_links"], 1);
        assert_eq!(s["pools"][0]["name"], "fast");
        assert_eq!(s["pools"][0]["height"], 100);
        assert_eq!(s["pools"][0]["first_count"], 1);
        assert_eq!(s["pools"][0]["last_notify_unix_ms"], 1_700);
        assert_eq!(s["pools"][1]["bad_messages"], 3);
        assert_eq!(s["pools"][1]["first_count"], 0);
        let hash = s["pools"][0]["prev_hash"].as_str().expect("hash");
        assert!(hash.ends_with("11") && hash.len() == 64, "{hash}");
        assert_eq!(s["heights"][0]["first"], "fast");
        assert_eq!(s["heights"][0]["followers"][0]["pool"], "slow");
        assert_eq!(s["heights"][0]["followers"][0]["after_ms"], 300);
        assert_eq!(s["best"]["height"], 100);
        assert_eq!(s["spv_ms"]["fast"][0]["ms"], 700);
        assert_eq!(s["spv_ms"]["slow"], json!([]));
        assert!(!s.to_string().contains("secret"));
    }

    #[tokio::test]
    async fn the_file_is_replaced_whole() {
        let dir =
            std::env::temp_dir().join(format!("ironpool-poolbench-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("status.json");
        write_status(&path, &json!({"a": 1})).await.expect("write");
        write_status(&path, &json!({"a": 2})).await.expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let value: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["a"], 2);
        assert!(!temporary(&path).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
