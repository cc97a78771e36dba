//! Redis Cluster key slots: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384. The
//! metawriter groups its writes by slot, because a script or a transaction may only touch keys
//! of one slot; and it needs, per slot, a key of its own in that slot (`slot_tag`).

use std::sync::OnceLock;

/// Slots in a Redis Cluster.
pub const SLOT_COUNT: u16 = 16_384;

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of `key` that is hashed: the text between the first `{` and the next `}` when it is
/// not empty, else the whole key (Redis' hash tag rule).
fn hashed_part(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The cluster slot of `key`.
pub fn key_slot(key: &str) -> u16 {
    crc16(hashed_part(key.as_bytes())) % SLOT_COUNT
}

/// A short text whose slot is `slot`: `{tag}` in a key puts that key in `slot`.
pub fn slot_tag(slot: u16) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        let mut tags = vec![String::new(); usize::from(SLOT_COUNT)];
        let mut missing = usize::from(SLOT_COUNT);
        let mut n = 0u64;
        // About 16384 × ln 16384 ≈ 160,000 tries fill every slot.
        while missing > 0 {
            let candidate = n.to_string();
            let slot = usize::from(crc16(candidate.as_bytes()) % SLOT_COUNT);
            if tags[slot].is_empty() {
                tags[slot] = candidate;
                missing -= 1;
            }
            n += 1;
        }
        tags
    });
    tags.get(usize::from(slot % SLOT_COUNT))
        .map(String::as_str)
        .unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_the_redis_cluster_specification() {
        // The reference value of the specification: CRC16("123456789") = 0x31C3.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        // Values CLUSTER KEYSLOT gives on a real server (Redis 7.0).
        assert_eq!(key_slot("foo"), 12_182);
        assert_eq!(key_slot("bar"), 5_061);
        assert_eq!(key_slot("btc:s:alice"), key_slot("{btc:s:alice}:x"));
        // Empty tags and unclosed braces hash the whole key.
        assert_eq!(key_slot("a{}b"), crc16(b"a{}b") % SLOT_COUNT);
        assert_eq!(key_slot("a{b"), crc16(b"a{b") % SLOT_COUNT);
        assert_eq!(key_slot("x{user1000}.following"), key_slot("user1000"));
    }

    #[test]
    fn every_slot_has_a_tag_that_lands_in_it() {
        for slot in 0..SLOT_COUNT {
            let key = format!("ironpool:applied:{{{}}}:w1", slot_tag(slot));
            assert_eq!(key_slot(&key), slot, "tag {:?}", slot_tag(slot));
        }
    }
}
