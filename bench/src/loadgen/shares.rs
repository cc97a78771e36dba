//! Making shares: grinding nonces against a job and a target, and the `mining.submit` line.
//!
//! A miner keeps one [`Work`] per job it submits on: the merkle root for its extranonce1 and an
//! extranonce2 of its own, and the first 64 header bytes already compressed, so each further
//! hash costs three SHA-256 compressions. Nonces are used once, in order; when they run out the
//! next extranonce2 starts a fresh work.

use super::notify::Notify;
use crate::sim_miner::target::{meets, Target256};
use crate::sim_miner::work::{build_header, coinbase_txid, merkle_root};
use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::hex::DisplayHex;
use std::rc::Rc;

/// Most nonces tried for one share: the runtime thread serves every miner of the process, so a
/// share may hold it for a few milliseconds at most.
pub const GRIND_BUDGET: u32 = 1 << 16;

/// Most hashes a share may need on average for the load generator to grind it
/// (`difficulty × 2^32`): 16 times below the budget, so a share within it is found but for a
/// chance of e^-16. Pools that set more are asked for `mining.suggest_difficulty`-style low
/// difficulties in benchmarks; against them the turn is skipped and counted (`too_hard`).
pub const HASHES_PER_SHARE_MAX: f64 = (GRIND_BUDGET / 16) as f64;

/// A job with a coinbase of this miner's: what its nonces are ground against.
pub struct Work {
    pub job: Rc<Notify>,
    pub extranonce2: Vec<u8>,
    /// The first 64 header bytes, compressed once.
    midstate: sha256::HashEngine,
    /// Header bytes 64..76: the end of the merkle root, ntime, nbits.
    tail: [u8; 12],
    next_nonce: u32,
}

/// A nonce and the hash it gives.
pub struct Found {
    pub nonce: u32,
    pub hash: [u8; 32],
}

impl Work {
    /// Work on `job` with `extranonce1` and the extranonce2 numbered `counter` (little-endian,
    /// `extranonce2_size` bytes).
    pub fn new(job: Rc<Notify>, extranonce1: &[u8], extranonce2_size: usize, counter: u64) -> Work {
        let mut extranonce2 = vec![0u8; extranonce2_size];
        for (byte, value) in extranonce2.iter_mut().zip(counter.to_le_bytes()) {
            *byte = value;
        }
        let txid = coinbase_txid(&job.job.coinb1, extranonce1, &extranonce2, &job.job.coinb2);
        let root = merkle_root(txid, &job.job.merkle_branch);
        let header = build_header(&job.job, &root, job.job.version, job.job.ntime, 0);
        let mut midstate = sha256::Hash::engine();
        midstate.input(&header[..64]);
        let mut tail = [0u8; 12];
        tail.copy_from_slice(&header[64..76]);
        Work {
            job,
            extranonce2,
            midstate,
            tail,
            next_nonce: 0,
        }
    }

    /// Whether every nonce has been used.
    pub fn exhausted(&self) -> bool {
        self.next_nonce == u32::MAX
    }

    /// The next nonce whose hash meets `target` (`hit`) or misses it (`!hit`), within
    /// [`GRIND_BUDGET`] nonces; `None` when none did.
    pub fn grind(&mut self, target: &Target256, hit: bool) -> Option<Found> {
        for _ in 0..GRIND_BUDGET {
            if self.exhausted() {
                return None;
            }
            let nonce = self.next_nonce;
            self.next_nonce += 1;
            let hash = self.hash(nonce);
            if meets(&hash, target) == hit {
                return Some(Found { nonce, hash });
            }
        }
        None
    }

    fn hash(&self, nonce: u32) -> [u8; 32] {
        let mut engine = self.midstate.clone();
        engine.input(&self.tail);
        engine.input(&nonce.to_le_bytes());
        let first = sha256::Hash::from_engine(engine);
        sha256::Hash::hash(first.as_byte_array()).to_byte_array()
    }

    /// The `params` of `mining.submit` for `nonce` (without the brackets).
    pub fn submit_params(&self, worker: &str, nonce: u32) -> String {
        format!(
            "\"{worker}\",\"{}\",\"{}\",\"{:08x}\",\"{nonce:08x}\"",
            self.job.job.job_id,
            self.extranonce2.as_hex(),
            self.job.job.ntime
        )
    }
}

/// A `mining.submit` line, newline included.
pub fn submit_line(id: u64, params: &str) -> Vec<u8> {
    format!("{{\"id\":{id},\"method\":\"mining.submit\",\"params\":[{params}]}}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_miner::target::share_target;
    use crate::sim_miner::work::header_hash;

    #[test]
    fn the_midstate_hash_is_the_header_hash_and_grinding_respects_the_target() {
        let line = r#"{"id":null,"method":"mining.notify","params":["1f","00000000000000000000000000000000000000000000000000000000000000aa","01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff0d03","ffffffff0100f2052a010000001976a914000000000000000000000000000000000000000088ac00000000",["1111111111111111111111111111111111111111111111111111111111111111"],"20000000","1d00ffff","5f5e1000",true]}"#;
        let notify = Rc::new(Notify::parse(line).expect("notify"));
        let en1 = [1, 2, 3, 4];
        let mut work = Work::new(notify.clone(), &en1, 8, 7);
        assert_eq!(work.extranonce2, [7, 0, 0, 0, 0, 0, 0, 0]);
        let txid = coinbase_txid(
            &notify.job.coinb1,
            &en1,
            &work.extranonce2,
            &notify.job.coinb2,
        );
        let root = merkle_root(txid, &notify.job.merkle_branch);
        let header = build_header(&notify.job, &root, 0x2000_0000, 0x5f5e_1000, 5);
        assert_eq!(work.hash(5), header_hash(&header));

        // Difficulty 2^-29: one hash in eight meets the target.
        let target = share_target(1.0 / f64::from(1u32 << 29)).expect("target");
        let hit = work
            .grind(&target, true)
            .expect("a share within the budget");
        assert!(meets(&hit.hash, &target));
        let miss = work.grind(&target, false).expect("a miss");
        assert!(!meets(&miss.hash, &target));
        assert!(miss.nonce > hit.nonce, "nonces are never reused");
        assert_eq!(
            work.submit_params("u.w", 0x1234),
            r#""u.w","1f","0700000000000000","5f5e1000","00001234""#
        );
    }
}
