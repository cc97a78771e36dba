//! The headers bitpeer knows, and which of them is the best: enough to tell a new block from an
//! old one, give it a height, and refuse headers without the work their height needs, without
//! keeping a chain.

use bitcoin::block::Header;
use bitcoin::{BlockHash, CompactTarget};
use ironpool_shared::chain::{check_proof_of_work, plausible_bits, ChainRules};
use std::collections::{HashMap, VecDeque};

/// Headers remembered (a few days of blocks; older ones are never announced again).
const KNOWN_MAX: usize = 2_048;

/// A known header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownHeader {
    pub height: u32,
    pub bits: CompactTarget,
    pub time: u32,
}

/// What became of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderOutcome {
    /// Seen before.
    Known,
    /// New, at this height; `best` when it is the new best block.
    New { height: u32, best: bool },
    /// Its parent is unknown: nothing to check it against (ask the peer for headers).
    Orphan,
}

/// A header refused: the peer sent something invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderRefused {
    #[error("header {hash}: {reason}")]
    ProofOfWork { hash: BlockHash, reason: String },
    #[error("header {hash} at height {height}: {reason}")]
    Bits {
        hash: BlockHash,
        height: u32,
        reason: String,
    },
    #[error("header {hash} claims height {claimed}, its parent makes it {expected}")]
    Height {
        hash: BlockHash,
        claimed: u32,
        expected: u32,
    },
}

/// Known headers by hash, oldest first for eviction.
#[derive(Debug)]
pub struct ChainView {
    rules: ChainRules,
    known: HashMap<BlockHash, KnownHeader>,
    order: VecDeque<BlockHash>,
    best: Option<(BlockHash, u32)>,
}

impl ChainView {
    pub fn new(rules: ChainRules) -> Self {
        ChainView {
            rules,
            known: HashMap::new(),
            order: VecDeque::new(),
            best: None,
        }
    }

    /// The best block: hash and height.
    pub fn best(&self) -> Option<(BlockHash, u32)> {
        self.best
    }

    pub fn get(&self, hash: &BlockHash) -> Option<KnownHeader> {
        self.known.get(hash).copied()
    }

    /// Hashes for a `getheaders` locator: the best first, then older known ones.
    pub fn locator(&self) -> Vec<BlockHash> {
        let mut hashes: Vec<(u32, BlockHash)> =
            self.known.iter().map(|(h, k)| (k.height, *h)).collect();
        hashes.sort_unstable_by_key(|&(height, _)| std::cmp::Reverse(height));
        hashes.into_iter().take(16).map(|(_, h)| h).collect()
    }

    fn insert(&mut self, hash: BlockHash, header: KnownHeader) -> bool {
        if self.known.insert(hash, header).is_some() {
            return false;
        }
        self.order.push_back(hash);
        while self.order.len() > KNOWN_MAX {
            if let Some(old) = self.order.pop_front() {
                self.known.remove(&old);
            }
        }
        let best = match self.best {
            Some((_, height)) => header.height > height,
            None => true,
        };
        if best {
            self.best = Some((hash, header.height));
        }
        best
    }

    /// A header the node vouches for (its RPC): taken as is.
    pub fn seed(&mut self, hash: BlockHash, header: KnownHeader) {
        self.insert(hash, header);
    }

    /// A header from a peer. `claimed_height` comes from the block's coinbase (BIP34) when the
    /// peer sent the block or a compact block.
    ///
    /// # Errors
    ///
    /// Proof of work below its own bits or above the network's limit; bits the height cannot
    /// have; a claimed height that contradicts the parent.
    pub fn accept(
        &mut self,
        header: &Header,
        claimed_height: Option<u32>,
    ) -> Result<HeaderOutcome, HeaderRefused> {
        let hash = header.block_hash();
        if self.known.contains_key(&hash) {
            return Ok(HeaderOutcome::Known);
        }
        // Checked before anything else: a header without the work costs one hash, nothing more.
        check_proof_of_work(header, &self.rules).map_err(|e| HeaderRefused::ProofOfWork {
            hash,
            reason: e.to_string(),
        })?;
        let parent = self.known.get(&header.prev_blockhash).copied();
        let height = match (parent, claimed_height) {
            (Some(parent), claimed) => {
                let expected = parent.height.saturating_add(1);
                if let Some(claimed) = claimed {
                    if claimed != expected {
                        return Err(HeaderRefused::Height {
                            hash,
                            claimed,
                            expected,
                        });
                    }
                }
                plausible_bits(&self.rules, expected, None, parent.bits, header.bits).map_err(
                    |e| HeaderRefused::Bits {
                        hash,
                        height: expected,
                        reason: e.to_string(),
                    },
                )?;
                expected
            }
            (None, Some(claimed)) => claimed,
            (None, None) => return Ok(HeaderOutcome::Orphan),
        };
        let best = self.insert(
            hash,
            KnownHeader {
                height,
                bits: header.bits,
                time: header.time,
            },
        );
        Ok(HeaderOutcome::New { height, best })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::block::Version;
    use bitcoin::hashes::Hash;
    use bitcoin::{Network, TxMerkleNode};

    fn regtest() -> ChainRules {
        ChainRules::for_network(Network::Regtest)
    }

    /// A regtest header on `prev` with enough work (grinds the nonce; 0x207fffff takes ~2 tries).
    fn mined(prev: BlockHash, time: u32, bits: u32) -> Header {
        let mut header = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::from_byte_array([time as u8; 32]),
            time,
            bits: CompactTarget::from_consensus(bits),
            nonce: 0,
        };
        let target = header.target();
        while header.validate_pow(target).is_err() {
            header.nonce += 1;
        }
        header
    }

    fn unmined(prev: BlockHash, time: u32) -> Header {
        let mut header = mined(prev, time, 0x207f_ffff);
        let target = header.target();
        while header.validate_pow(target).is_ok() {
            header.nonce += 1;
        }
        header
    }

    #[test]
    fn a_header_on_a_known_parent_gets_the_next_height_and_becomes_best() {
        let mut view = ChainView::new(regtest());
        let tip = mined(BlockHash::all_zeros(), 1_700_000_000, 0x207f_ffff);
        view.seed(
            tip.block_hash(),
            KnownHeader {
                height: 100,
                bits: tip.bits,
                time: tip.time,
            },
        );
        let next = mined(tip.block_hash(), 1_700_000_600, 0x207f_ffff);
        assert_eq!(
            view.accept(&next, None),
            Ok(HeaderOutcome::New {
                height: 101,
                best: true
            })
        );
        assert_eq!(view.accept(&next, None), Ok(HeaderOutcome::Known));
        assert_eq!(view.best(), Some((next.block_hash(), 101)));
        // A sibling at the same height is new but not best.
        let sibling = mined(tip.block_hash(), 1_700_000_601, 0x207f_ffff);
        assert_eq!(
            view.accept(&sibling, None),
            Ok(HeaderOutcome::New {
                height: 101,
                best: false
            })
        );
    }

    #[test]
    fn headers_without_their_work_or_with_a_wrong_height_are_refused() {
        let mut view = ChainView::new(regtest());
        let tip = mined(BlockHash::all_zeros(), 1_700_000_000, 0x207f_ffff);
        view.seed(
            tip.block_hash(),
            KnownHeader {
                height: 5,
                bits: tip.bits,
                time: tip.time,
            },
        );
        let bad = unmined(tip.block_hash(), 1_700_000_600);
        assert!(matches!(
            view.accept(&bad, None),
            Err(HeaderRefused::ProofOfWork { .. })
        ));
        let good = mined(tip.block_hash(), 1_700_000_600, 0x207f_ffff);
        assert!(matches!(
            view.accept(&good, Some(9)),
            Err(HeaderRefused::Height {
                claimed: 9,
                expected: 6,
                ..
            })
        ));
        assert_eq!(view.best(), Some((tip.block_hash(), 5)));
    }

    #[test]
    fn mainnet_bits_must_match_the_parent_between_retargets() {
        let mut view = ChainView::new(ChainRules::for_network(Network::Bitcoin));
        // The real mainnet genesis header: its work is real, its bits 0x1d00ffff.
        let genesis = bitcoin::blockdata::constants::genesis_block(Network::Bitcoin).header;
        view.seed(
            genesis.prev_blockhash,
            KnownHeader {
                height: 7,
                bits: CompactTarget::from_consensus(0x1c00_ffff),
                time: genesis.time - 600,
            },
        );
        // Genesis as "height 8" on a parent whose bits were 0x1c00ffff: at a non-retarget
        // height its bits must be the parent's.
        assert!(matches!(
            view.accept(&genesis, None),
            Err(HeaderRefused::Bits { height: 8, .. })
        ));
    }

    #[test]
    fn an_orphan_is_reported_and_a_claimed_height_places_it() {
        let mut view = ChainView::new(regtest());
        let orphan = mined(
            BlockHash::from_byte_array([3; 32]),
            1_700_000_000,
            0x207f_ffff,
        );
        assert_eq!(view.accept(&orphan, None), Ok(HeaderOutcome::Orphan));
        assert_eq!(
            view.accept(&orphan, Some(42)),
            Ok(HeaderOutcome::New {
                height: 42,
                best: true
            })
        );
    }
}
