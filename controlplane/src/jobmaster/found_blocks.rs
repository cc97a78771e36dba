//! Found blocks on disk: written before the first `submitblock`, kept until a node holds them.
//!
//! Layout under the configured directory:
//! - `pending/<height>-<hash>.block`: raw block bytes, not yet held by any node;
//! - `accepted/…`: a node accepted it (or already had it);
//! - `rejected/…`: every node that answered refused it; kept for the operator to look at;
//! - `unbuildable/`: block candidates that could not be rebuilt (unknown job), every field kept;
//! - `submissions.jsonl`: one JSON line per node answer, in order.

use bitcoin::hex::DisplayHex;
use ironpool_shared::ring::ShareRecord;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a block file lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockState {
    Pending,
    Accepted,
    Rejected,
}

impl BlockState {
    fn dir_name(self) -> &'static str {
        match self {
            BlockState::Pending => "pending",
            BlockState::Accepted => "accepted",
            BlockState::Rejected => "rejected",
        }
    }
}

/// One node's answer to one submission, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct SubmissionRecord<'a> {
    pub unix_ms: u64,
    pub block_hash: &'a str,
    pub height: u32,
    pub node: &'a str,
    /// `accepted`, `rejected` or `unreachable`.
    pub outcome: &'a str,
    /// The node's reason or the transport error.
    pub detail: Option<&'a str>,
    pub attempts: u32,
    pub elapsed_ms: u64,
}

/// A block read back from `pending/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBlock {
    pub height: u32,
    pub hash: String,
    pub bytes: Vec<u8>,
}

/// The directory of found blocks.
#[derive(Debug, Clone)]
pub struct FoundBlocks {
    dir: PathBuf,
}

impl FoundBlocks {
    /// Opens (and creates) the directory tree.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        for state in [
            BlockState::Pending,
            BlockState::Accepted,
            BlockState::Rejected,
        ] {
            std::fs::create_dir_all(dir.join(state.dir_name()))?;
        }
        Ok(FoundBlocks {
            dir: dir.to_owned(),
        })
    }

    fn file_name(height: u32, hash: &str) -> String {
        format!("{height:010}-{hash}.block")
    }

    /// Path of a block in `state`.
    pub fn path(&self, state: BlockState, height: u32, hash: &str) -> PathBuf {
        self.dir
            .join(state.dir_name())
            .join(Self::file_name(height, hash))
    }

    /// Writes a block durably into `pending/` (temporary file, fsync, rename, fsync of the
    /// directory) so that a crash right after cannot lose it.
    pub fn save_pending(&self, height: u32, hash: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let dir = self.dir.join(BlockState::Pending.dir_name());
        let path = dir.join(Self::file_name(height, hash));
        let tmp = dir.join(format!(".{}.tmp", Self::file_name(height, hash)));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&dir)?.sync_all()
        })();
        if written.is_err() {
            // A full disk must not also leave half a block behind.
            let _ = std::fs::remove_file(&tmp);
        }
        written.map(|()| path)
    }

    /// Keeps a block candidate that could not be rebuilt (unknown job, wrong sizes) for the
    /// operator: every field of the record and the reason, as one JSON file in `unbuildable/`.
    pub fn save_unbuildable(&self, record: &ShareRecord, reason: &str) -> std::io::Result<PathBuf> {
        let dir = self.dir.join("unbuildable");
        std::fs::create_dir_all(&dir)?;
        let json = serde_json::json!({
            "reason": reason,
            "shard_id": record.shard_id,
            "session_id": record.session_id,
            "job_id": record.job_id,
            "extranonce1": record.extranonce1.to_lower_hex_string(),
            "extranonce2": record.extranonce2.to_lower_hex_string(),
            "ntime": record.ntime,
            "nonce": record.nonce,
            "version": record.version,
            "accepted_at_ms": record.accepted_at_ms,
            "user": record.user,
            "worker": record.worker,
        });
        let path = dir.join(format!(
            "{}-{:08x}-{:08x}.json",
            record.accepted_at_ms, record.job_id, record.nonce
        ));
        let mut f = std::fs::File::create(&path)?;
        f.write_all(json.to_string().as_bytes())?;
        f.sync_all()?;
        Ok(path)
    }

    /// Moves a pending block to `state`.
    pub fn settle(&self, height: u32, hash: &str, state: BlockState) -> std::io::Result<()> {
        let from = self.path(BlockState::Pending, height, hash);
        let to = self.path(state, height, hash);
        std::fs::rename(from, to)
    }

    /// Pending blocks (height, hash, bytes), oldest height first. A file whose name does not parse
    /// is skipped with its path in the error list, never deleted.
    pub fn pending(&self) -> std::io::Result<(Vec<PendingBlock>, Vec<PathBuf>)> {
        let mut blocks = Vec::new();
        let mut unreadable = Vec::new();
        for entry in std::fs::read_dir(self.dir.join(BlockState::Pending.dir_name()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue; // an interrupted write: the block was never handed to anyone
            }
            let parsed = name
                .strip_suffix(".block")
                .and_then(|stem| stem.split_once('-'))
                .and_then(|(h, hash)| Some((h.parse::<u32>().ok()?, hash.to_owned())));
            match (parsed, std::fs::read(&path)) {
                (Some((height, hash)), Ok(bytes)) => blocks.push(PendingBlock {
                    height,
                    hash,
                    bytes,
                }),
                _ => unreadable.push(path),
            }
        }
        blocks.sort_by(|a, b| a.height.cmp(&b.height).then_with(|| a.hash.cmp(&b.hash)));
        Ok((blocks, unreadable))
    }

    /// Appends one answer to `submissions.jsonl`.
    pub fn record(&self, record: &SubmissionRecord<'_>) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("submissions.jsonl"))?;
        f.write_all(&line)
    }
}
