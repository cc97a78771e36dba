//! `extranonce1`: unique per session across shards, gateway processes and hosts.
//!
//! Layout of the 4 default bytes, big-endian: `host (8 bits) | process (4 bits) | shard (4 bits) |
//! session counter (16 bits)`. Two sessions can only get the same value when the same shard of the
//! same process on the same host has handed out 65,536 sessions since: by then the first one has
//! long had new jobs (a new `clean_jobs` makes old work worthless), and the gateway checks
//! duplicates per session anyway. With `extranonce1_size` > 4 the counter takes the extra bytes.

/// Hands out `extranonce1` values for one shard.
#[derive(Debug, Clone)]
pub struct ExtranonceAllocator {
    prefix: u16,
    size: usize,
    next: u64,
}

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
        }
    }

    /// The next value, `size` bytes.
    pub fn allocate(&mut self) -> Vec<u8> {
        let counter = self.next;
        self.next = self.next.wrapping_add(1);
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
        let mut c = ExtranonceAllocator::new(1, 2, 3, 2);
        assert_eq!(c.allocate(), [0x01, 0x23]);
        assert_eq!(
            c.allocate(),
            [0x01, 0x23],
            "a 2-byte extranonce1 only tells processes and shards apart"
        );
    }
}
