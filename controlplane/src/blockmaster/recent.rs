//! The last blocks handled, kept whole to answer another site's `GetBlockTxn` and `GetBlock`.
//!
//! A request names a block that was just sent as a compact block, so a few suffice; a request
//! for an older one gets no answer (logged), and the requester falls back or times out.

use bitcoin::{Block, BlockHash};
use std::collections::VecDeque;
use std::sync::Arc;

/// Blocks kept.
pub const RECENT_BLOCKS: usize = 16;

/// One kept block.
#[derive(Debug, Clone)]
pub struct RecentBlock {
    pub block: Arc<Block>,
    /// Its consensus bytes, for a `GetBlock` answer without serializing again.
    pub bytes: Arc<Vec<u8>>,
}

/// The last [`RECENT_BLOCKS`] blocks, newest last.
#[derive(Debug, Default)]
pub struct RecentBlocks {
    blocks: VecDeque<(BlockHash, RecentBlock)>,
}

impl RecentBlocks {
    /// Keeps `block` under `hash`, forgetting the oldest beyond [`RECENT_BLOCKS`].
    pub fn push(&mut self, hash: BlockHash, block: RecentBlock) {
        if self.blocks.iter().any(|(known, _)| *known == hash) {
            return;
        }
        if self.blocks.len() == RECENT_BLOCKS {
            self.blocks.pop_front();
        }
        self.blocks.push_back((hash, block));
    }

    /// The block with this hash, if kept.
    pub fn get(&self, hash: &BlockHash) -> Option<&RecentBlock> {
        self.blocks
            .iter()
            .find(|(known, _)| known == hash)
            .map(|(_, block)| block)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bitcoin::blockdata::constants::genesis_block;
    use bitcoin::hashes::Hash;
    use bitcoin::Network;

    #[test]
    fn the_last_sixteen_are_kept() {
        let block = Arc::new(genesis_block(Network::Regtest));
        let kept = RecentBlock {
            block,
            bytes: Arc::new(Vec::new()),
        };
        let mut recent = RecentBlocks::default();
        for n in 0..=RECENT_BLOCKS as u8 {
            recent.push(BlockHash::from_byte_array([n; 32]), kept.clone());
        }
        assert!(recent.get(&BlockHash::from_byte_array([0; 32])).is_none());
        assert!(recent.get(&BlockHash::from_byte_array([1; 32])).is_some());
        assert!(recent
            .get(&BlockHash::from_byte_array([RECENT_BLOCKS as u8; 32]))
            .is_some());
    }
}
