//! Compact blocks waiting for an answer from the site that sent them: hash → what is known so
//! far, the link to ask on, and until when to wait.
//!
//! The state is generic so the bookkeeping (one entry per block, answers only from the link that
//! was asked, deadlines) is tested without building blocks. Bounded: a peer sending compact
//! blocks faster than they resolve cannot grow it without limit.

use crate::relay_link::LinkId;
use bitcoin::BlockHash;
use std::collections::HashMap;
use std::time::Instant;

/// Reconstructions waiting at once; more are refused (a few blocks a minute is the normal rate).
pub const PENDING_MAX: usize = 64;

/// One block waiting for an answer.
#[derive(Debug)]
pub struct Pending<S> {
    pub state: S,
    /// The link that sent the compact block; the requests go back on it and the answers must
    /// come from it.
    pub link: LinkId,
    /// When to stop waiting.
    pub deadline: Instant,
}

/// Why [`PendingTable::insert`] refused an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertRefused {
    /// The block is already waiting (from this or another link).
    AlreadyPending,
    /// [`PENDING_MAX`] blocks are waiting.
    Full,
}

/// Why [`PendingTable::take_from`] found nothing to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeRefused {
    /// Nobody asked for this block.
    NotPending,
    /// It was asked for on another link (kept waiting for that one).
    OtherLink(LinkId),
}

/// The waiting blocks.
#[derive(Debug)]
pub struct PendingTable<S> {
    entries: HashMap<BlockHash, Pending<S>>,
    max: usize,
}

impl<S> PendingTable<S> {
    /// An empty table holding at most `max` entries.
    pub fn new(max: usize) -> PendingTable<S> {
        PendingTable {
            entries: HashMap::new(),
            max,
        }
    }

    /// Starts waiting for `hash` on `link` until `deadline`.
    ///
    /// # Errors
    ///
    /// [`InsertRefused`]; the state is dropped then.
    pub fn insert(
        &mut self,
        hash: BlockHash,
        state: S,
        link: LinkId,
        deadline: Instant,
    ) -> Result<(), InsertRefused> {
        if self.entries.contains_key(&hash) {
            return Err(InsertRefused::AlreadyPending);
        }
        if self.entries.len() >= self.max {
            return Err(InsertRefused::Full);
        }
        self.entries.insert(
            hash,
            Pending {
                state,
                link,
                deadline,
            },
        );
        Ok(())
    }

    /// Whether `hash` is waiting.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.entries.contains_key(hash)
    }

    /// Stops waiting for `hash`, whoever was asked (the block came by another path).
    pub fn take(&mut self, hash: &BlockHash) -> Option<Pending<S>> {
        self.entries.remove(hash)
    }

    /// The entry for `hash` if it waits on `link`: an answer from any other link is not the one
    /// asked for.
    ///
    /// # Errors
    ///
    /// [`TakeRefused`]; the entry (if any) stays.
    pub fn take_from(&mut self, hash: &BlockHash, link: LinkId) -> Result<Pending<S>, TakeRefused> {
        match self.entries.get(hash) {
            None => Err(TakeRefused::NotPending),
            Some(entry) if entry.link != link => Err(TakeRefused::OtherLink(entry.link)),
            Some(_) => self.entries.remove(hash).ok_or(TakeRefused::NotPending),
        }
    }

    /// Removes and returns the entries whose deadline is at or before `now`.
    pub fn take_expired(&mut self, now: Instant) -> Vec<(BlockHash, Pending<S>)> {
        let expired: Vec<BlockHash> = self
            .entries
            .iter()
            .filter(|(_, entry)| entry.deadline <= now)
            .map(|(hash, _)| *hash)
            .collect();
        expired
            .into_iter()
            .filter_map(|hash| self.entries.remove(&hash).map(|entry| (hash, entry)))
            .collect()
    }

    /// How many blocks are waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use std::time::Duration;

    fn hash(n: u8) -> BlockHash {
        BlockHash::from_byte_array([n; 32])
    }

    #[test]
    fn one_entry_per_block_and_a_bound() {
        let now = Instant::now();
        let mut table = PendingTable::new(2);
        assert_eq!(table.insert(hash(1), "a", 7, now), Ok(()));
        assert_eq!(
            table.insert(hash(1), "b", 8, now),
            Err(InsertRefused::AlreadyPending)
        );
        assert_eq!(table.insert(hash(2), "c", 7, now), Ok(()));
        assert_eq!(table.insert(hash(3), "d", 7, now), Err(InsertRefused::Full));
        assert_eq!(table.len(), 2);
        assert_eq!(table.take(&hash(1)).unwrap().state, "a");
        assert_eq!(table.insert(hash(3), "d", 7, now), Ok(()));
    }

    #[test]
    fn answers_are_taken_only_from_the_link_asked() {
        let mut table = PendingTable::new(8);
        table.insert(hash(1), "state", 7, Instant::now()).unwrap();
        assert_eq!(
            table.take_from(&hash(1), 8).unwrap_err(),
            TakeRefused::OtherLink(7)
        );
        assert!(table.contains(&hash(1)));
        assert_eq!(
            table.take_from(&hash(2), 7).unwrap_err(),
            TakeRefused::NotPending
        );
        let entry = table.take_from(&hash(1), 7).unwrap();
        assert_eq!((entry.state, entry.link), ("state", 7));
        assert_eq!(table.len(), 0);
        assert_eq!(
            table.take_from(&hash(1), 7).unwrap_err(),
            TakeRefused::NotPending
        );
    }

    #[test]
    fn expired_entries_leave_and_the_others_stay() {
        let now = Instant::now();
        let mut table = PendingTable::new(8);
        table.insert(hash(1), 1, 7, now).unwrap();
        table
            .insert(hash(2), 2, 7, now + Duration::from_secs(3))
            .unwrap();
        let expired = table.take_expired(now + Duration::from_millis(1));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].0, hash(1));
        assert!(table.contains(&hash(2)));
        assert!(table.take_expired(now + Duration::from_secs(2)).is_empty());
        assert_eq!(table.take_expired(now + Duration::from_secs(3)).len(), 1);
        assert_eq!(table.len(), 0);
    }
}
