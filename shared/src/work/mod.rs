//! Bitcoin work: everything between a node's block template and a block the node accepts.
//!
//! - [`template`]: a `getblocktemplate` answer, parsed and checked field by field.
//! - [`subsidy`]: the block subsidy from the height.
//! - [`script_num`]: BIP34 height pushes.
//! - [`payout`]: coinbase outputs split among recipients with exact integer satoshi math.
//! - [`coinbase`]: the coinbase transaction cut into `coinb1` / extranonce / `coinb2`, with an exact
//!   scriptSig budget.
//! - [`merkle`]: the stratum merkle branch of the coinbase and the root it yields.
//! - [`job`]: the job record that travels from the jobmaster to the gateways through the job ring.
//! - [`block`]: assembling and checking a found block from a job and a miner's solution.

pub mod block;
pub mod coinbase;
pub mod difficulty;
pub mod job;
pub mod job_builder;
pub mod job_context;
pub mod merkle;
pub mod payout;
pub mod script_num;
pub mod subsidy;
pub mod template;

pub use block::{
    assemble_block, check_solution_policy, header_for_solution, AssembledBlock, BlockError,
    Solution,
};
pub use coinbase::{CoinbaseError, CoinbaseParts, CoinbaseSpec, ExtranonceSizes};
pub use difficulty::hash_difficulty;
pub use job::{JobDecodeError, JobRecord};
pub use job_builder::{build_job, BuiltJob, JobBuildError, JobParams};
pub use job_context::JobContext;
pub use merkle::{merkle_branch, merkle_root_from_branch};
pub use payout::{split_payouts, Payout, PayoutError, PayoutRecipient};
pub use subsidy::block_subsidy;
pub use template::{BlockTemplate, TemplateError, TemplateTransaction};
