//! A found block: the job, the template's transactions and a miner's solution, put together and
//! checked before anything is sent to a node.

use super::coinbase::{CoinbaseError, CoinbaseParts};
use super::job::JobRecord;
use super::merkle::merkle_root_from_branch;
use super::template::TemplateTransaction;
use bitcoin::block::{Header, Version};
use bitcoin::consensus::Encodable;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget, Target, TxMerkleNode, VarInt};

/// What a miner submitted for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solution {
    /// The session's extranonce1.
    pub extranonce1: Vec<u8>,
    /// The miner's extranonce2.
    pub extranonce2: Vec<u8>,
    /// Header time.
    pub ntime: u32,
    /// Header nonce.
    pub nonce: u32,
    /// Full header version, after version rolling.
    pub version: u32,
}

/// A block ready for `submitblock`.
#[derive(Debug, Clone)]
pub struct AssembledBlock {
    /// The header.
    pub header: Header,
    /// The block hash.
    pub hash: BlockHash,
    /// Full serialization (header, count, coinbase with witness, transactions).
    pub bytes: Vec<u8>,
    /// Whether the hash meets the network target of the job's bits.
    pub meets_target: bool,
}

/// Why a solution cannot make a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The version changes bits outside the job's rolling mask.
    #[error("version {version:#010x} changes bits outside mask {mask:#010x} of job version {job_version:#010x}")]
    VersionOutsideMask {
        version: u32,
        job_version: u32,
        mask: u32,
    },
    /// ntime outside the job's window.
    #[error("ntime {ntime} outside the job's window {min}..={max}")]
    NtimeOutOfRange { ntime: u32, min: u32, max: u32 },
    /// Extranonce sizes do not match the job.
    #[error(transparent)]
    Coinbase(#[from] CoinbaseError),
}

/// The header a miner hashes for `solution` on `job`: what gateways and simulated miners check.
pub fn header_for_solution(job: &JobRecord, solution: &Solution) -> Result<Header, CoinbaseError> {
    let expected = job.extranonce;
    if solution.extranonce1.len() != expected.extranonce1
        || solution.extranonce2.len() != expected.extranonce2
    {
        return Err(CoinbaseError::ExtranonceMismatch {
            extranonce1: solution.extranonce1.len(),
            extranonce2: solution.extranonce2.len(),
            expected1: expected.extranonce1,
            expected2: expected.extranonce2,
        });
    }
    let mut engine = bitcoin::hashes::sha256d::Hash::engine();
    for part in [
        &job.coinb1[..],
        &solution.extranonce1,
        &solution.extranonce2,
        &job.coinb2,
    ] {
        bitcoin::hashes::HashEngine::input(&mut engine, part);
    }
    let coinbase_txid = bitcoin::hashes::sha256d::Hash::from_engine(engine).to_byte_array();
    Ok(Header {
        version: Version::from_consensus(solution.version as i32),
        prev_blockhash: BlockHash::from_byte_array(job.prev_hash),
        merkle_root: TxMerkleNode::from_byte_array(merkle_root_from_branch(
            coinbase_txid,
            &job.merkle_branch,
        )),
        time: solution.ntime,
        bits: CompactTarget::from_consensus(job.bits),
        nonce: solution.nonce,
    })
}

/// The pool's rules for a solution: version bits only within the job's rolling mask, ntime within
/// the job's window. Gateways reject shares that break them; a *block* that breaks them is still
/// submitted (the node judges consensus), so [`assemble_block`] does not apply them.
pub fn check_solution_policy(job: &JobRecord, solution: &Solution) -> Result<(), BlockError> {
    if (solution.version ^ job.version) & !job.version_mask != 0 {
        return Err(BlockError::VersionOutsideMask {
            version: solution.version,
            job_version: job.version,
            mask: job.version_mask,
        });
    }
    if solution.ntime < job.ntime_min || solution.ntime > job.ntime_max {
        return Err(BlockError::NtimeOutOfRange {
            ntime: solution.ntime,
            min: job.ntime_min,
            max: job.ntime_max,
        });
    }
    Ok(())
}

/// Assembles the block for `solution` on `job`, whose coinbase was cut as `coinbase` and whose
/// template carried `transactions`. Only the extranonce sizes are checked: see
/// [`check_solution_policy`] for the pool's rules.
pub fn assemble_block(
    job: &JobRecord,
    coinbase: &CoinbaseParts,
    transactions: &[TemplateTransaction],
    solution: &Solution,
) -> Result<AssembledBlock, BlockError> {
    let coinbase_txid = coinbase.txid(&solution.extranonce1, &solution.extranonce2)?;
    let coinbase_bytes = coinbase.block_bytes(&solution.extranonce1, &solution.extranonce2)?;
    let merkle_root = merkle_root_from_branch(coinbase_txid, &job.merkle_branch);
    let header = Header {
        // Header versions are signed in the consensus encoding; the bits are what matter.
        version: Version::from_consensus(solution.version as i32),
        prev_blockhash: BlockHash::from_byte_array(job.prev_hash),
        merkle_root: TxMerkleNode::from_byte_array(merkle_root),
        time: solution.ntime,
        bits: CompactTarget::from_consensus(job.bits),
        nonce: solution.nonce,
    };
    let hash = header.block_hash();
    let meets_target = Target::from_compact(header.bits).is_met_by(hash);

    let tx_bytes: usize = transactions.iter().map(|t| t.data.len()).sum();
    let mut bytes = Vec::with_capacity(80 + 9 + coinbase_bytes.len() + tx_bytes);
    header
        .consensus_encode(&mut bytes)
        .expect("writing to a Vec cannot fail");
    VarInt(1 + transactions.len() as u64)
        .consensus_encode(&mut bytes)
        .expect("writing to a Vec cannot fail");
    bytes.extend_from_slice(&coinbase_bytes);
    for tx in transactions {
        bytes.extend_from_slice(&tx.data);
    }
    Ok(AssembledBlock {
        header,
        hash,
        bytes,
        meets_target,
    })
}
