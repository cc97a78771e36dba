//! What has been stored already, so that a replayed ring read or a batch delivered twice is
//! recognised before it is stored a second time.

use super::entry::Snapshot;
use std::collections::{BTreeSet, HashMap};

/// Per origin: every seq below `floor` stored, and the ones above it in `above`. Origins send
/// their seqs in order, so `above` stays small (only seqs that overtook a missing one).
#[derive(Debug, Default, Clone)]
struct Seen {
    floor: u64,
    above: BTreeSet<u64>,
}

#[derive(Debug, Default, Clone)]
pub struct Dedup {
    /// Ring id → next ring index not yet stored.
    rings: HashMap<u64, u64>,
    origins: HashMap<u64, Seen>,
}

impl Dedup {
    pub fn from_snapshot(s: &Snapshot) -> Dedup {
        Dedup {
            rings: s.rings.iter().copied().collect(),
            origins: s
                .origins
                .iter()
                .map(|(origin, floor, above)| {
                    (
                        *origin,
                        Seen {
                            floor: *floor,
                            above: above.iter().copied().collect(),
                        },
                    )
                })
                .collect(),
        }
    }

    pub fn fill_snapshot(&self, s: &mut Snapshot) {
        s.rings = self.rings.iter().map(|(k, v)| (*k, *v)).collect();
        s.rings.sort_unstable();
        s.origins = self
            .origins
            .iter()
            .map(|(o, seen)| (*o, seen.floor, seen.above.iter().copied().collect()))
            .collect();
        s.origins.sort_unstable();
    }

    /// The first ring index of `ring_id` not yet stored.
    pub fn ring_next(&self, ring_id: u64) -> u64 {
        self.rings.get(&ring_id).copied().unwrap_or(0)
    }

    pub fn note_ring(&mut self, ring_id: u64, next_index: u64) {
        let next = self.rings.entry(ring_id).or_insert(0);
        *next = (*next).max(next_index);
    }

    pub fn seen(&self, origin: u64, seq: u64) -> bool {
        self.origins
            .get(&origin)
            .is_some_and(|s| seq < s.floor || s.above.contains(&seq))
    }

    pub fn note_remote(&mut self, origin: u64, seq: u64) {
        let seen = self.origins.entry(origin).or_default();
        if seq < seen.floor {
            return;
        }
        seen.above.insert(seq);
        while seen.above.remove(&seen.floor) {
            seen.floor += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_ids_are_seen_once_in_any_order_and_survive_a_snapshot() {
        let mut d = Dedup::default();
        for seq in [0, 1, 3, 2, 5] {
            assert!(!d.seen(9, seq));
            d.note_remote(9, seq);
            assert!(d.seen(9, seq));
        }
        assert!(!d.seen(9, 4) && !d.seen(8, 0));
        let mut s = Snapshot::default();
        d.fill_snapshot(&mut s);
        assert_eq!(s.origins, vec![(9, 4, vec![5])]);
        let back = Dedup::from_snapshot(&s);
        assert!(back.seen(9, 3) && back.seen(9, 5) && !back.seen(9, 4));
    }

    #[test]
    fn ring_marks_only_grow() {
        let mut d = Dedup::default();
        d.note_ring(1, 10);
        d.note_ring(1, 5);
        assert_eq!(d.ring_next(1), 10);
        assert_eq!(d.ring_next(2), 0);
    }
}
