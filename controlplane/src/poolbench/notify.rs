//! Another pool's `mining.notify`, read into the facts poolbench needs: the block it mines on
//! (prevhash), the height of the block it mines (BIP34, from coinb1), whether the job is empty
//! (no merkle branch) and the header fields of the next block.
//!
//! Everything here comes from a server we do not control: every field is checked and a bad one is
//! an error naming it and showing (a bounded part of) its value, never a panic. ViaBTC read the
//! height at a fixed offset of coinb1, assuming a one-byte scriptSig length (reference §15 item
//! 26); `height_from_coinb1` parses the transaction's fields instead.

use bitcoin::hex::FromHex;
use ironpool_shared::chain::{height_from_coinb1, prev_hash_from_stratum};
use serde_json::Value;

/// `mining.notify`'s parameters: job_id, prevhash, coinb1, coinb2, merkle_branch, version, nbits,
/// ntime, clean_jobs.
pub const NOTIFY_PARAMS: usize = 9;

/// How much of a bad value a log line shows, in characters: enough to recognise it, not a whole
/// 64 KiB coinbase.
const SHOWN_CHARS: usize = 80;

/// A job of another pool, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// The pool's job id, as sent (only logged).
    pub job_id: String,
    /// The hash of the block the job builds on, internal byte order (the order in the header).
    pub prev_hash: [u8; 32],
    /// The BIP34 height of the block the job mines (coinb1); at least 1.
    pub height: u32,
    /// Entries of the merkle branch: zero for a coinbase-only (empty) block.
    pub merkle_branch_len: usize,
    /// The block version of the job.
    pub version: u32,
    /// The bits of the block the job mines.
    pub nbits: u32,
    /// The job's block time.
    pub ntime: u32,
    /// Whether the pool tells miners to drop earlier jobs (a new block, or a new template).
    pub clean_jobs: bool,
}

impl Notify {
    /// The height of the block the job builds on: the pool's tip.
    pub fn tip_height(&self) -> u32 {
        // `parse_notify` refuses height 0.
        self.height.saturating_sub(1)
    }

    /// Whether the job mines a block with the coinbase alone (ViaBTC's "SPV" mining).
    pub fn is_empty_block(&self) -> bool {
        self.merkle_branch_len == 0
    }
}

/// A `mining.notify` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mining.notify `{field}` = {value}: expected {expected}")]
pub struct NotifyError {
    /// The parameter: `params`, `job_id`, `prevhash`, `coinb1`, …
    pub field: &'static str,
    /// The value as received, cut to a few dozen characters.
    pub value: String,
    /// What would have been accepted.
    pub expected: String,
}

impl NotifyError {
    fn new(field: &'static str, value: &Value, expected: impl Into<String>) -> Self {
        NotifyError {
            field,
            value: shown(value),
            expected: expected.into(),
        }
    }

    /// The error without its value: the same problem with other values is logged once in a while,
    /// not once per job.
    pub fn kind(&self) -> String {
        format!("{}: {}", self.field, self.expected)
    }
}

/// `value` for a log line: a string as it is, anything else as JSON; cut to [`SHOWN_CHARS`].
pub fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    cut(&text, SHOWN_CHARS)
}

/// `text` cut to `max` characters, saying how long it was.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
    }
}

/// Reads the `params` of a `mining.notify`.
///
/// # Errors
///
/// The first parameter of the wrong type or shape, named: fewer than [`NOTIFY_PARAMS`]
/// parameters, a field that is not a string, hex of an odd length or with other characters, a
/// prevhash that is not 32 bytes, version, nbits or ntime not 8 hex digits, a coinb1 without a
/// BIP34 height (or with height 0).
pub fn parse_notify(params: &Value) -> Result<Notify, NotifyError> {
    let list = match params.as_array() {
        // A pool adding parameters after the nine standard ones still says what it mines on:
        // watching it matters more than its strictness.
        Some(list) if list.len() >= NOTIFY_PARAMS => list,
        _ => {
            return Err(NotifyError::new(
                "params",
                params,
                format!("an array of {NOTIFY_PARAMS} parameters"),
            ))
        }
    };
    let job_id = string("job_id", &list[0])?.to_owned();
    let prev_text = string("prevhash", &list[1])?;
    let prev_hash = prev_hash_from_stratum(prev_text).map_err(|e| {
        NotifyError::new(
            "prevhash",
            &list[1],
            format!("64 hex digits, words byte-swapped ({e})"),
        )
    })?;
    let coinb1 = hex_bytes("coinb1", &list[2])?;
    let height = height_from_coinb1(&coinb1).map_err(|e| {
        NotifyError::new(
            "coinb1",
            &list[2],
            format!("a coinbase whose scriptSig starts with its BIP34 height ({e})"),
        )
    })?;
    if height == 0 {
        return Err(NotifyError::new(
            "coinb1",
            &list[2],
            "a BIP34 height of at least 1 (block 0 builds on nothing)",
        ));
    }
    check_hex("coinb2", &list[3])?;
    let merkle_branch_len = merkle_branch(&list[4])?;
    let version = hex_u32("version", &list[5])?;
    let nbits = hex_u32("nbits", &list[6])?;
    let ntime = hex_u32("ntime", &list[7])?;
    let clean_jobs = list[8]
        .as_bool()
        .ok_or_else(|| NotifyError::new("clean_jobs", &list[8], "true or false"))?;
    Ok(Notify {
        job_id,
        prev_hash,
        height,
        merkle_branch_len,
        version,
        nbits,
        ntime,
        clean_jobs,
    })
}

fn string<'a>(field: &'static str, value: &'a Value) -> Result<&'a str, NotifyError> {
    value
        .as_str()
        .ok_or_else(|| NotifyError::new(field, value, "a string"))
}

/// Hex with an even number of digits, any case.
fn check_hex(field: &'static str, value: &Value) -> Result<(), NotifyError> {
    let text = string(field, value)?;
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NotifyError::new(
            field,
            value,
            "hex digits, an even number of them",
        ));
    }
    Ok(())
}

fn hex_bytes(field: &'static str, value: &Value) -> Result<Vec<u8>, NotifyError> {
    check_hex(field, value)?;
    let text = string(field, value)?;
    Vec::<u8>::from_hex(text)
        .map_err(|e| NotifyError::new(field, value, format!("hex digits ({e})")))
}

/// A u32 written as exactly 8 hex digits, most significant first.
fn hex_u32(field: &'static str, value: &Value) -> Result<u32, NotifyError> {
    let text = string(field, value)?;
    // `from_str_radix` alone would take a sign (`+1234567`) or fewer digits.
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NotifyError::new(field, value, "8 hex digits"));
    }
    u32::from_str_radix(text, 16).map_err(|_| NotifyError::new(field, value, "8 hex digits"))
}

/// The number of entries of the branch, each 32 bytes of hex.
fn merkle_branch(value: &Value) -> Result<usize, NotifyError> {
    let entries = value
        .as_array()
        .ok_or_else(|| NotifyError::new("merkle_branch", value, "an array of hashes"))?;
    for entry in entries {
        let text = string("merkle_branch", entry)?;
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NotifyError::new(
                "merkle_branch",
                entry,
                "hashes of 64 hex digits",
            ));
        }
    }
    Ok(entries.len())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// coinb1 of a coinbase at `height`, as a pool sends it: version, one input spending nothing,
    /// the scriptSig length, the BIP34 push, a tag (the extranonces would follow, in the script).
    pub(crate) fn coinb1_hex(height_push: &str) -> String {
        let tag = "2f746573742f"; // "/test/"
        let script_len = (height_push.len() + tag.len()) / 2 + 8; // + extranonces
        format!(
            "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff\
             {script_len:02x}{height_push}{tag}"
        )
    }

    /// The internal hash 00 01 02 … 1f, and its stratum form (each 4-byte word reversed).
    pub(crate) fn prev_hash_pair() -> ([u8; 32], String) {
        let mut internal = [0u8; 32];
        for (i, b) in internal.iter_mut().enumerate() {
            *b = i as u8;
        }
        let stratum: String = internal
            .chunks(4)
            .flat_map(|w| w.iter().rev())
            .map(|b| format!("{b:02x}"))
            .collect();
        (internal, stratum)
    }

    fn params(height_push: &str) -> Value {
        let (_, prev) = prev_hash_pair();
        json!([
            "4f2a",
            prev,
            coinb1_hex(height_push),
            "ffffffff0100f2052a01000000",
            ["aa".repeat(32), "BB".repeat(32)],
            "20000000",
            "1703a30c",
            "6650f3a1",
            true
        ])
    }

    fn with(index: usize, value: Value) -> Value {
        let mut p = params("0165");
        p[index] = value;
        p
    }

    fn refused(p: &Value) -> NotifyError {
        parse_notify(p).expect_err("refused")
    }

    #[test]
    fn a_good_notify_gives_the_tip_and_the_next_bits() {
        let n = parse_notify(&params("0165")).expect("valid");
        let (internal, _) = prev_hash_pair();
        assert_eq!(n.job_id, "4f2a");
        assert_eq!(n.prev_hash, internal);
        assert_eq!((n.height, n.tip_height()), (101, 100));
        assert_eq!(n.merkle_branch_len, 2);
        assert!(!n.is_empty_block());
        assert_eq!(n.version, 0x2000_0000);
        assert_eq!(n.nbits, 0x1703_a30c);
        assert_eq!(n.ntime, 0x6650_f3a1);
        assert!(n.clean_jobs);

        // Mainnet heights take three bytes: 840000 = 0x0cd140.
        let n = parse_notify(&params("0340d10c")).expect("valid");
        assert_eq!(n.height, 840_000);
        // Extra parameters after the nine are ignored.
        let mut p = params("0165");
        p.as_array_mut().expect("array").push(json!("extra"));
        assert_eq!(parse_notify(&p).expect("valid").height, 101);
    }

    #[test]
    fn an_empty_branch_is_an_empty_block_job() {
        let n = parse_notify(&with(4, json!([]))).expect("valid");
        assert!(n.is_empty_block());
    }

    #[test]
    fn a_wrong_parameter_count_or_shape_is_refused() {
        for p in [
            json!(["a", "b", "c"]),
            json!([]),
            json!({"job_id": "a"}),
            json!("params"),
            json!(null),
        ] {
            assert_eq!(refused(&p).field, "params", "{p}");
        }
        let mut eight = params("0165");
        eight.as_array_mut().expect("array").pop();
        assert_eq!(refused(&eight).field, "params");
    }

    #[test]
    fn fields_that_are_not_strings_are_refused_by_name() {
        let cases = [
            (0, json!(17), "job_id"),
            (1, json!(null), "prevhash"),
            (2, json!(["00"]), "coinb1"),
            (3, json!(5), "coinb2"),
            (4, json!("aa"), "merkle_branch"),
            (5, json!(536870912), "version"),
            (6, json!(true), "nbits"),
            (7, json!(1.5), "ntime"),
            (8, json!("true"), "clean_jobs"),
        ];
        for (index, value, field) in cases {
            let e = refused(&with(index, value.clone()));
            assert_eq!(e.field, field, "{value}");
            assert_eq!(e.value, shown(&value));
        }
        // A bad branch entry is shown alone, not the whole branch.
        let e = refused(&with(4, json!(["aa".repeat(32), 7])));
        assert_eq!((e.field, e.value.as_str()), ("merkle_branch", "7"));
    }

    #[test]
    fn bad_hex_is_refused_by_name() {
        let (_, prev) = prev_hash_pair();
        let cases = [
            // Odd length.
            (1, json!(format!("{prev}0")), "prevhash"),
            (2, json!(format!("{}0", coinb1_hex("0165"))), "coinb1"),
            (3, json!("abc"), "coinb2"),
            // Not hex.
            (2, json!("zz"), "coinb1"),
            (1, json!(prev.replace('0', "g")), "prevhash"),
            (4, json!(["zz".repeat(32)]), "merkle_branch"),
            // A prevhash of 31 bytes, and of 33.
            (1, json!(&prev[..62]), "prevhash"),
            (1, json!(format!("{prev}00")), "prevhash"),
            // A branch entry of 31 bytes.
            (4, json!(["aa".repeat(31)]), "merkle_branch"),
        ];
        for (index, value, field) in cases {
            assert_eq!(refused(&with(index, value.clone())).field, field, "{value}");
        }
    }

    #[test]
    fn nbits_version_and_ntime_must_be_eight_hex_digits() {
        for bad in [
            "1703a30",
            "1703a30c0",
            "+703a30c",
            "1703a3 c",
            "",
            "1703a3zc",
        ] {
            for (index, field) in [(5, "version"), (6, "nbits"), (7, "ntime")] {
                let e = refused(&with(index, json!(bad)));
                assert_eq!(e.field, field, "{bad:?}");
                assert_eq!(e.expected, "8 hex digits");
            }
        }
        // Upper case is hex too.
        let n = parse_notify(&with(6, json!("1703A30C"))).expect("valid");
        assert_eq!(n.nbits, 0x1703_a30c);
    }

    #[test]
    fn a_coinb1_without_a_bip34_height_is_refused() {
        for coinb1 in [
            json!(""),
            json!("01000000"),
            // Cut inside the prevout.
            json!(&coinb1_hex("0165")[..60]),
            // The script starts with an opcode, not a push of the height.
            json!(coinb1_hex("6a")),
        ] {
            let e = refused(&with(2, coinb1.clone()));
            assert_eq!(e.field, "coinb1", "{coinb1}");
        }
    }

    #[test]
    fn a_long_value_is_cut_in_the_error() {
        let long = "zz".repeat(10_000);
        let e = refused(&with(2, json!(long)));
        assert!(e.value.len() < 200, "{}", e.value);
        assert!(e.value.contains("20002 bytes"), "{}", e.value);
        assert_eq!(e.kind(), format!("coinb1: {}", e.expected));
        assert!(e.to_string().starts_with("mining.notify `coinb1` = \"zzzz"));
    }

    #[test]
    fn cut_respects_character_boundaries() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("ééé", 2), "éé… (6 bytes)");
    }
}
