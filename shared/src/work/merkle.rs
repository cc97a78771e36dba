//! The stratum merkle branch: the hashes a miner folds its coinbase txid with to get the root.

use bitcoin::hashes::{sha256d, Hash, HashEngine};

/// Double SHA-256 of two 32-byte nodes, in internal byte order.
fn hash_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut engine = sha256d::Hash::engine();
    engine.input(left);
    engine.input(right);
    sha256d::Hash::from_engine(engine).to_byte_array()
}

/// The branch for leaf 0 (the coinbase) of a block whose other transactions have `txids`
/// (internal byte order, in block order, coinbase excluded).
///
/// At each level the sibling of the coinbase's path is the first remaining node; the rest are paired
/// (the last one doubled when their count is odd), as in Bitcoin Core's merkle tree.
pub fn merkle_branch(txids: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut branch = Vec::new();
    let mut level: Vec<[u8; 32]> = txids.to_vec();
    while let Some((first, rest)) = level.split_first() {
        branch.push(*first);
        if rest.is_empty() {
            break;
        }
        level = rest
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => hash_pair(left, right),
                [single] => hash_pair(single, single),
                _ => unreachable!("chunks(2) yields one or two nodes"),
            })
            .collect();
    }
    branch
}

/// The merkle root of a block whose coinbase has `coinbase_txid`, folded with `branch`.
pub fn merkle_root_from_branch(coinbase_txid: [u8; 32], branch: &[[u8; 32]]) -> [u8; 32] {
    branch
        .iter()
        .fold(coinbase_txid, |acc, sibling| hash_pair(&acc, sibling))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::merkle_tree::calculate_root;
    use bitcoin::Txid;

    fn fake_txid(i: u32) -> [u8; 32] {
        sha256d::Hash::hash(&i.to_le_bytes()).to_byte_array()
    }

    #[test]
    fn branch_gives_the_same_root_as_the_full_tree_for_every_size() {
        for count in 0..70u32 {
            let coinbase = fake_txid(1_000_000);
            let others: Vec<[u8; 32]> = (0..count).map(fake_txid).collect();
            let branch = merkle_branch(&others);
            let via_branch = merkle_root_from_branch(coinbase, &branch);

            let all = std::iter::once(coinbase)
                .chain(others.iter().copied())
                .map(Txid::from_byte_array);
            let full = calculate_root(all)
                .expect("at least the coinbase")
                .to_byte_array();
            assert_eq!(
                via_branch, full,
                "{count} transactions besides the coinbase"
            );
            // Depth: ceil(log2(count + 1)).
            let expected_depth = if count == 0 {
                0
            } else {
                (u32::BITS - count.leading_zeros()) as usize
            };
            assert_eq!(branch.len(), expected_depth, "{count} transactions");
        }
    }

    #[test]
    fn empty_block_has_an_empty_branch_and_the_root_is_the_coinbase_txid() {
        let coinbase = fake_txid(7);
        assert!(merkle_branch(&[]).is_empty());
        assert_eq!(merkle_root_from_branch(coinbase, &[]), coinbase);
    }
}
