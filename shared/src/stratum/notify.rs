//! Server-initiated lines (`"id":null`): `mining.notify`, `mining.set_difficulty`,
//! `mining.set_version_mask`, `mining.set_extranonce`, `client.reconnect`.
//!
//! [`NotifyLine`] is built once per job and clean flag, and the same bytes go to every session
//! (DESIGN.md): every session shares `coinb1`, and its own extranonce1 sits between `coinb1` and
//! the miner's extranonce2.
//!
//! Byte orders in `mining.notify`, as cgminer/bfgminer and every ASIC firmware read them (and as
//! the example of the original stratum specification, checked in this crate's tests, confirms):
//! - `prevhash`: the 32 bytes of the previous block hash in internal order (the order in the
//!   header), with each 4-byte word byte-swapped, in hex ([`prev_hash_to_stratum`]). The miner
//!   hex-decodes the whole header template and swaps every 4-byte word, which restores it.
//! - merkle branch entries: internal order, hex (hashed as they are, never swapped).
//! - `version`, `nbits`, `ntime`: the u32 as 8 hex digits, most significant first (the header
//!   holds them little-endian). Submitted `ntime`, `nonce` and version bits come back the same way.

use crate::work::JobRecord;

use super::hex::{push_hex, push_u32_hex};
use super::json::{push_decimal, push_string};

/// Smallest difficulty [`set_difficulty_line`] writes: below it the decimal gets long and tiny
/// miners gain nothing (a NerdMiner's 0.0001 is far above it).
pub const DIFFICULTY_LINE_MIN: f64 = 1e-9;
/// Largest difficulty [`set_difficulty_line`] writes (every integer below 2^53 is exact in f64;
/// this is 10^15, far above any share difficulty).
pub const DIFFICULTY_LINE_MAX: f64 = 1e15;

/// A difficulty [`set_difficulty_line`] refuses to write.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error(
    "difficulty {value} is not a finite number from {DIFFICULTY_LINE_MIN} to {DIFFICULTY_LINE_MAX}"
)]
pub struct DifficultyOutOfRange {
    pub value: f64,
}

/// The previous block hash as `mining.notify` sends it: `internal` (header byte order) with each
/// 4-byte word byte-swapped. Its own inverse.
pub fn prev_hash_to_stratum(internal: &[u8; 32]) -> [u8; 32] {
    let mut out = *internal;
    for word in out.chunks_exact_mut(4) {
        word.reverse();
    }
    out
}

/// A `mining.notify` line for one job, built once and sent as is to every session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyLine {
    line: Vec<u8>,
}

impl NotifyLine {
    /// `{"id":null,"method":"mining.notify","params":["<job_id>","<prevhash>","<coinb1>",
    /// "<coinb2>",[<branch>...],"<version>","<nbits>","<ntime>",<clean>]}` and `\n`, with `clean`
    /// given (a session that just authorized gets the current job with `clean` true, whatever the
    /// job said).
    pub fn new(job: &JobRecord, clean: bool) -> Self {
        let hex_bytes = job
            .coinb1
            .len()
            .saturating_add(job.coinb2.len())
            .saturating_add(job.merkle_branch.len().saturating_mul(32))
            .saturating_mul(2);
        let mut line = Vec::with_capacity(hex_bytes.saturating_add(256));
        line.extend_from_slice(b"{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"");
        {
            use std::io::Write as _;
            // Writing into a Vec cannot fail.
            let _ = write!(line, "{:x}", job.job_id);
        }
        line.extend_from_slice(b"\",\"");
        push_hex(&mut line, &prev_hash_to_stratum(&job.prev_hash));
        line.extend_from_slice(b"\",\"");
        push_hex(&mut line, &job.coinb1);
        line.extend_from_slice(b"\",\"");
        push_hex(&mut line, &job.coinb2);
        line.extend_from_slice(b"\",[");
        for (i, node) in job.merkle_branch.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            line.push(b'"');
            push_hex(&mut line, node);
            line.push(b'"');
        }
        line.extend_from_slice(b"],\"");
        push_u32_hex(&mut line, job.version);
        line.extend_from_slice(b"\",\"");
        push_u32_hex(&mut line, job.bits);
        line.extend_from_slice(b"\",\"");
        push_u32_hex(&mut line, job.ntime);
        line.extend_from_slice(if clean {
            b"\",true]}\n"
        } else {
            b"\",false]}\n"
        });
        NotifyLine { line }
    }

    /// The line, `\n` included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.line
    }

    /// The line, `\n` included, to share between sessions (e.g. in an `Rc<[u8]>`).
    pub fn into_bytes(self) -> Vec<u8> {
        self.line
    }
}

/// Appends `{"id":null,"method":"mining.set_difficulty","params":[<difficulty>]}` and `\n`.
///
/// The number is the shortest decimal that reads back as the same f64, always in positional
/// notation, never with an exponent (some miners misparse `1e-05`): `0.001` → `0.001`, `1.0` →
/// `1`, `65536.0` → `65536`, `1e-7` → `0.0000001`. Round the difficulty to a few significant digits
/// first (vardiff does) to keep the line short.
///
/// # Errors
///
/// [`DifficultyOutOfRange`] when `difficulty` is not finite or outside
/// [`DIFFICULTY_LINE_MIN`]..=[`DIFFICULTY_LINE_MAX`]; nothing is appended.
pub fn set_difficulty_line(out: &mut Vec<u8>, difficulty: f64) -> Result<(), DifficultyOutOfRange> {
    if !(DIFFICULTY_LINE_MIN..=DIFFICULTY_LINE_MAX).contains(&difficulty) {
        return Err(DifficultyOutOfRange { value: difficulty });
    }
    use std::io::Write as _;
    out.extend_from_slice(b"{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[");
    // Display for f64 is positional and shortest-round-trip; writing into a Vec cannot fail.
    let _ = write!(out, "{difficulty}");
    out.extend_from_slice(b"]}\n");
    Ok(())
}

/// Appends `{"id":null,"method":"mining.set_version_mask","params":["<mask 8 hex>"]}` and `\n`.
pub fn set_version_mask_line(out: &mut Vec<u8>, mask: u32) {
    out.extend_from_slice(b"{\"id\":null,\"method\":\"mining.set_version_mask\",\"params\":[\"");
    push_u32_hex(out, mask);
    out.extend_from_slice(b"\"]}\n");
}

/// Appends `{"id":null,"method":"mining.set_extranonce","params":["<extranonce1 hex>",<size>]}`
/// and `\n`.
pub fn set_extranonce_line(out: &mut Vec<u8>, extranonce1: &[u8], extranonce2_size: usize) {
    out.extend_from_slice(b"{\"id\":null,\"method\":\"mining.set_extranonce\",\"params\":[\"");
    push_hex(out, extranonce1);
    out.extend_from_slice(b"\",");
    push_decimal(out, u64::try_from(extranonce2_size).unwrap_or(u64::MAX));
    out.extend_from_slice(b"]}\n");
}

/// Appends `{"id":null,"method":"client.reconnect","params":["<host>",<port>,<wait_secs>]}` and
/// `\n` (host JSON-escaped).
pub fn reconnect_line(out: &mut Vec<u8>, host: &str, port: u16, wait_secs: u32) {
    out.extend_from_slice(b"{\"id\":null,\"method\":\"client.reconnect\",\"params\":[");
    push_string(out, host);
    out.push(b',');
    push_decimal(out, u64::from(port));
    out.push(b',');
    push_decimal(out, u64::from(wait_secs));
    out.extend_from_slice(b"]}\n");
}
