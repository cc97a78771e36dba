//! The blocks already handled, so each block is handled once however many paths bring it (the
//! jobmaster, a bitpeer, several sites), and a compact block sent round the mesh stops.
//!
//! Bounded: ViaBTC's known-block set was never pruned (§15 item 33 of the reference). A block
//! older than the last [`KNOWN_BLOCKS_MAX`] will not come back on a relay link.

use bitcoin::BlockHash;
use std::collections::{HashSet, VecDeque};

/// Hashes remembered: about ten weeks of Bitcoin blocks.
pub const KNOWN_BLOCKS_MAX: usize = 10_000;

/// The last `capacity` block hashes seen, oldest forgotten first.
#[derive(Debug)]
pub struct KnownBlocks {
    hashes: HashSet<BlockHash>,
    order: VecDeque<BlockHash>,
    capacity: usize,
}

impl KnownBlocks {
    /// An empty set remembering at most `capacity` hashes (at least one).
    pub fn new(capacity: usize) -> KnownBlocks {
        let capacity = capacity.max(1);
        KnownBlocks {
            hashes: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Whether `hash` was seen.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.hashes.contains(hash)
    }

    /// Remembers `hash`; false when it was already known (the caller then does nothing).
    pub fn insert(&mut self, hash: BlockHash) -> bool {
        if !self.hashes.insert(hash) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.hashes.remove(&oldest);
            }
        }
        self.order.push_back(hash);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn hash(n: u32) -> BlockHash {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        BlockHash::from_byte_array(bytes)
    }

    #[test]
    fn a_hash_is_new_once() {
        let mut known = KnownBlocks::new(10);
        assert!(known.insert(hash(1)));
        assert!(!known.insert(hash(1)));
        assert!(known.contains(&hash(1)));
        assert!(!known.contains(&hash(2)));
        assert_eq!(known.order.len(), 1);
    }

    #[test]
    fn the_oldest_is_forgotten_at_capacity() {
        let mut known = KnownBlocks::new(3);
        for n in 1..=4 {
            assert!(known.insert(hash(n)));
        }
        assert_eq!(known.order.len(), 3);
        assert_eq!(known.hashes.len(), 3);
        assert!(!known.contains(&hash(1)));
        assert!((2..=4).all(|n| known.contains(&hash(n))));
        // A repeat does not refresh nor evict.
        assert!(!known.insert(hash(2)));
        assert!(known.contains(&hash(2)));
        assert!(known.insert(hash(1)));
        assert!(!known.contains(&hash(2)));
    }
}
