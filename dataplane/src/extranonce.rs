//! `extranonce1`: unique per session across shards, gateway processes and hosts.
//!
//! Layout of the 4 default bytes, big-endian: `host (8 bits) | process (4 bits) | shard (4 bits) |
//! session counter (16 bits)`. A counter is never handed out while a session holding it is still
//! connected (a shard holds far fewer than 65,536 sessions: one process is limited to ~20,000
//! sockets here), so two live sessions never do the same work. With `extranonce1_size` > 4 the
//! counter takes the extra bytes.

/// Hands out `extranonce1` values for one shard.
#[derive(Debug, Clone)]
pub struct ExtranonceAllocator {
    prefix: u16,
    size: usize,
    next: u64,
    /// One bit per counter of a connected session: 8 KiB per shard, nothing per session.
    live: Box<[u64; COUNTERS / 64]>,
}

/// Counters per shard: 16 bits, far more than the sessions one shard holds (a process is limited
/// to ~20,000 sockets here); wider extranonce1 values only zero-extend the counter.
const COUNTERS: usize = 1 << 16;

/// Bits of each id in the prefix.
pub const HOST_ID_MAX: u16 = 255;
pub const PROCESS_ID_MAX: u16 = 15;
pub const SHARD_ID_MAX: u16 = 15;

impl ExtranonceAllocator {
    /// A shard's allocator; ids are validated by the config (`host_id` ≤ 255, `process_id` ≤ 15,
    /// shard ≤ 15) and `size` is 2..=8 bytes (`extranonce1_size` of the jobs).
    pub fn new(host_id: u16, process_id: u16, shard_id: u16, size: usize) -> Self {
        assert!(
            host_id <= HOST_ID_MAX && process_id <= PROCESS_ID_MAX && shard_id <= SHARD_ID_MAX,
            "checked by the config"
        );
        assert!((2..=8).contains(&size), "checked by the config");
        let prefix = (host_id << 8) | (process_id << 4) | shard_id;
        ExtranonceAllocator {
            prefix,
            size,
            next: 0,
            live: Box::new([0; COUNTERS / 64]),
        }
    }

    /// Values counted from here on have `size` bytes; counters keep going (no restart at 0).
    pub fn set_size(&mut self, size: usize) {
        assert!((2..=8).contains(&size), "checked by the job decoder");
        self.size = size;
    }

    /// Frees the counter of a session that has gone.
    pub fn release(&mut self, value: &[u8]) {
        let mut counter = [0u8; 8];
        let tail = value.get(2..).unwrap_or_default();
        if tail.len() <= 8 {
            counter[8 - tail.len()..].copy_from_slice(tail);
            let c = (u64::from_be_bytes(counter) as usize) % COUNTERS;
            self.live[c / 64] &= !(1u64 << (c % 64));
        }
    }

    fn is_live(&self, c: u64) -> bool {
        let c = c as usize % COUNTERS;
        self.live[c / 64] & (1u64 << (c % 64)) != 0
    }

    /// The next value, `size` bytes.
    pub fn allocate(&mut self) -> Vec<u8> {
        let bits = 8 * (self.size - 2) as u32;
        let space = if bits >= 16 {
            COUNTERS as u64
        } else {
            1u64 << bits
        };
        // Skip counters still held; bounded by the space.
        let mut counter = self.next % space;
        for _ in 0..space {
            if !self.is_live(counter) {
                break;
            }
            counter = (counter + 1) % space;
        }
        let c = counter as usize;
        self.live[c / 64] |= 1u64 << (c % 64);
        self.next = counter + 1;
        let mut value = Vec::with_capacity(self.size);
        value.extend_from_slice(&self.prefix.to_be_bytes());
        let counter_bytes = counter.to_be_bytes();
        value.extend_from_slice(&counter_bytes[8 - (self.size - 2)..]);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn distinct_across_shards_processes_and_hosts() {
        let mut seen = HashSet::new();
        for host in [0u16, 1, 255] {
            for process in [0u16, 15] {
                for shard in 0..=15u16 {
                    let mut a = ExtranonceAllocator::new(host, process, shard, 4);
                    for _ in 0..100 {
                        assert!(seen.insert(a.allocate()), "duplicate extranonce1");
                    }
                }
            }
        }
    }

    #[test]
    fn layout_and_sizes() {
        let mut a = ExtranonceAllocator::new(0xab, 0x3, 0x7, 4);
        assert_eq!(a.allocate(), [0xab, 0x37, 0x00, 0x00]);
        assert_eq!(a.allocate(), [0xab, 0x37, 0x00, 0x01]);
        let mut b = ExtranonceAllocator::new(1, 2, 3, 8);
        assert_eq!(b.allocate().len(), 8);
    }

    #[test]
    fn a_counter_is_not_reused_while_its_session_lives() {
        // 3 bytes: 256 counters, so wrapping around is quick to reach.
        let mut a = ExtranonceAllocator::new(0, 0, 0, 3);
        let first = a.allocate();
        for _ in 0..600 {
            let v = a.allocate();
            assert_ne!(v, first, "the first session is still connected");
            a.release(&v);
        }
        a.release(&first);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..256 {
            assert!(
                seen.insert(a.allocate()),
                "all 256 free values are handed out once"
            );
        }
    }
}
