//! A flush's Redis writes, and how they are applied exactly once.
//!
//! Counters and list pushes are not idempotent. They are grouped by cluster slot (a script may
//! only touch keys of one slot), cut into calls of at most [`OPS_PER_CALL_MAX`] operations, and
//! each call runs [`APPLY_SCRIPT`], which applies its operations and records the call's sequence
//! in a marker key of the same slot, atomically; a call whose sequence the marker already holds
//! does nothing. Sequences grow with the batch (`batch_seq × 2^20 + part`), batches are applied
//! one after the other, and a batch is rebuilt identically from the spool after a crash: so a
//! replay skips every call that had been applied and applies the others.
//!
//! Set members (`mining:keys`, `monitor:keys`, `<coin>:mk:<key>`) are idempotent: plain SADDs.

use super::slot::{key_slot, slot_tag};
use std::collections::BTreeMap;

/// Operations per script call: large enough to amortise the round trip, small enough that one
/// call does not hold Redis for long (about a millisecond).
pub const OPS_PER_CALL_MAX: usize = 1_000;
/// Parts one slot may have in one batch (the sequence reserves 20 bits for them).
const PARTS_PER_SLOT_MAX: u64 = 1 << 20;

/// One non-idempotent write.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    HIncrBy { key: String, field: u64, by: i64 },
    HIncrByFloat { key: String, field: u64, by: f64 },
    RPush { key: String, value: String },
}

impl Op {
    fn key(&self) -> &str {
        match self {
            Op::HIncrBy { key, .. } | Op::HIncrByFloat { key, .. } | Op::RPush { key, .. } => key,
        }
    }
}

/// Everything one flush writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedisBatch {
    /// Applied exactly once, through [`ScriptCall`]s, in this order within each slot.
    pub ops: Vec<Op>,
    /// `(set, member)`, idempotent.
    pub set_members: Vec<(String, String)>,
}

/// One `EVAL` of [`APPLY_SCRIPT`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptCall {
    pub slot: u16,
    /// The marker first, then the data keys.
    pub keys: Vec<String>,
    /// The sequence first, then four arguments per operation.
    pub args: Vec<String>,
    pub ops: usize,
}

/// Applies a call's operations once. KEYS[1] is the marker of the slot and writer, KEYS[2..] the
/// data keys; ARGV[1] the call's sequence, then per operation: code (`i` HINCRBY, `f`
/// HINCRBYFLOAT, `r` RPUSH), key index, field, value. Key types, and that every counter holds a
/// number the write keeps finite (integers below 2^53), are checked before anything is written,
/// so a script that fails has written nothing (Redis does not roll scripts back). A key that
/// appears twice in one call is checked against its value before the call, which is enough: the
/// values written are bounded (difficulties at most 1e18 each).
pub const APPLY_SCRIPT: &str = r"
local applied = tonumber(redis.call('GET', KEYS[1]) or '-1')
local seq = tonumber(ARGV[1])
if applied ~= nil and applied >= seq then return 0 end
for i = 2, #ARGV, 4 do
  local code, key = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  local wanted = (code == 'r') and 'list' or 'hash'
  local found = redis.call('TYPE', key)['ok']
  if found ~= 'none' and found ~= wanted then
    return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. found .. ', expected a ' .. wanted)
  end
  if code ~= 'r' then
    local now = tonumber(redis.call('HGET', key, ARGV[i + 2]) or '0')
    local after = now and (now + tonumber(ARGV[i + 3]))
    if after == nil or after ~= after or math.abs(after) > 1e300 or (code == 'i' and math.abs(after) >= 2^53) then
      return redis.error_reply('VALUE ' .. key .. ' ' .. ARGV[i + 2] .. ' holds a value this write cannot add to')
    end
  end
end
for i = 2, #ARGV, 4 do
  local code, key = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if code == 'i' then redis.call('HINCRBY', key, ARGV[i + 2], ARGV[i + 3])
  elseif code == 'f' then redis.call('HINCRBYFLOAT', key, ARGV[i + 2], ARGV[i + 3])
  else redis.call('RPUSH', key, ARGV[i + 3]) end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
";

/// The marker key of `slot` for writer `writer_id`.
pub fn marker_key(slot: u16, writer_id: &str) -> String {
    format!("ironpool:applied:{{{}}}:{writer_id}", slot_tag(slot))
}

impl RedisBatch {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.set_members.is_empty()
    }

    /// The script calls of this batch, slot by slot. `batch_seq` must grow from one batch to the
    /// next of the same writer and stay below 2^33.
    pub fn script_calls(&self, writer_id: &str, batch_seq: u64) -> Vec<ScriptCall> {
        let mut by_slot: BTreeMap<u16, Vec<&Op>> = BTreeMap::new();
        for op in &self.ops {
            by_slot.entry(key_slot(op.key())).or_default().push(op);
        }
        let mut calls = Vec::new();
        for (slot, ops) in by_slot {
            // More parts than the sequence holds: make the parts larger instead.
            let per_call = OPS_PER_CALL_MAX.max(ops.len().div_ceil(PARTS_PER_SLOT_MAX as usize));
            for (part, chunk) in ops.chunks(per_call).enumerate() {
                let seq = batch_seq * PARTS_PER_SLOT_MAX + part as u64;
                calls.push(Self::call(slot, writer_id, seq, chunk));
            }
        }
        calls
    }

    fn call(slot: u16, writer_id: &str, seq: u64, ops: &[&Op]) -> ScriptCall {
        let mut keys = vec![marker_key(slot, writer_id)];
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        let mut args = Vec::with_capacity(1 + ops.len() * 4);
        args.push(seq.to_string());
        for op in ops {
            let key_index = *index.entry(op.key()).or_insert_with(|| {
                keys.push(op.key().to_owned());
                keys.len()
            });
            match op {
                Op::HIncrBy { field, by, .. } => {
                    args.extend([
                        "i".to_owned(),
                        key_index.to_string(),
                        field.to_string(),
                        by.to_string(),
                    ]);
                }
                Op::HIncrByFloat { field, by, .. } => {
                    // Rust prints the shortest text that reads back as the same double.
                    args.extend([
                        "f".to_owned(),
                        key_index.to_string(),
                        field.to_string(),
                        by.to_string(),
                    ]);
                }
                Op::RPush { value, .. } => {
                    args.extend([
                        "r".to_owned(),
                        key_index.to_string(),
                        String::new(),
                        value.clone(),
                    ]);
                }
            }
        }
        ScriptCall {
            slot,
            keys,
            args,
            ops: ops.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::slot::key_slot;

    fn batch(n: usize) -> RedisBatch {
        RedisBatch {
            ops: (0..n)
                .map(|i| Op::HIncrBy {
                    key: format!("btc:s:user{}", i % 50),
                    field: 60 * (i as u64 % 3),
                    by: 1,
                })
                .chain([Op::RPush {
                    key: "newevent".into(),
                    value: "{}".into(),
                }])
                .collect(),
            set_members: vec![],
        }
    }

    #[test]
    fn calls_hold_one_slot_each_with_the_marker_in_it() {
        let calls = batch(500).script_calls("w1", 7);
        let ops: usize = calls.iter().map(|c| c.ops).sum();
        assert_eq!(ops, 501, "every operation in exactly one call");
        for call in &calls {
            for key in &call.keys {
                assert_eq!(key_slot(key), call.slot, "{key} outside slot {}", call.slot);
            }
            assert_eq!(call.args.len(), 1 + 4 * call.ops);
            assert_eq!(
                call.args[0],
                (7u64 << 20).to_string(),
                "first part of batch 7"
            );
        }
    }

    #[test]
    fn the_same_batch_gives_the_same_calls_and_later_batches_higher_sequences() {
        assert_eq!(
            batch(300).script_calls("w1", 3),
            batch(300).script_calls("w1", 3)
        );
        let earlier = batch(10).script_calls("w1", 3);
        let later = batch(10).script_calls("w1", 4);
        for (a, b) in earlier.iter().zip(&later) {
            let (a, b): (u64, u64) = (
                a.args[0].parse().expect("number"),
                b.args[0].parse().expect("number"),
            );
            assert!(b > a);
        }
    }

    #[test]
    fn a_large_slot_is_cut_into_parts_in_order() {
        let ops: Vec<Op> = (0..2_500)
            .map(|i| Op::RPush {
                key: "newevent".into(),
                value: i.to_string(),
            })
            .collect();
        let calls = RedisBatch {
            ops,
            set_members: vec![],
        }
        .script_calls("w", 1);
        assert_eq!(calls.len(), 3);
        let seqs: Vec<u64> = calls
            .iter()
            .map(|c| c.args[0].parse().expect("number"))
            .collect();
        assert_eq!(seqs, vec![1 << 20, (1 << 20) + 1, (1 << 20) + 2]);
        let values: Vec<&str> = calls
            .iter()
            .flat_map(|c| c.args[1..].chunks(4).map(|op| op[3].as_str()))
            .collect();
        let expected: Vec<String> = (0..2_500).map(|i: i32| i.to_string()).collect();
        assert_eq!(
            values,
            expected.iter().map(String::as_str).collect::<Vec<_>>()
        );
    }
}
