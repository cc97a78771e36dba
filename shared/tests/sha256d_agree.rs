//! Every sha256d backend available on this CPU agrees with the scalar one and with the oracles
//! (`bitcoin::hashes::sha256d`, `bitcoin::block::Header::block_hash` and
//! `ironpool_shared::work::header_for_solution`) on the fixtures' jobs and on thousands of random
//! shares whose coinbase lengths cross every padding boundary, mixed in ragged batches.

mod support;
use support::{params, template, Rng};

use bitcoin::block::{Header, Version};
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use ironpool_shared::sha256d::{
    available_backends, best_backend, compress_blocks_with, dispatch, hash_headers_with,
    hash_shares, hash_shares_with, sha256d_header, Backend, JobHasher, ShareWork,
};
use ironpool_shared::work::{build_job, header_for_solution, ExtranonceSizes, JobRecord, Solution};

/// A job's raw parts.
#[derive(Clone)]
struct Job {
    coinb1: Vec<u8>,
    coinb2: Vec<u8>,
    branch: Vec<[u8; 32]>,
    prev_hash: [u8; 32],
    bits: u32,
}

impl Job {
    fn random(rng: &mut Rng, coinb_max: usize, depth_max: usize) -> Job {
        let coinb1_len = rng.range(0, coinb_max);
        let coinb2_len = rng.range(0, coinb_max);
        let depth = rng.range(0, depth_max + 1);
        Job {
            coinb1: rng.bytes(coinb1_len),
            coinb2: rng.bytes(coinb2_len),
            branch: (0..depth).map(|_| rng.array32()).collect(),
            prev_hash: rng.array32(),
            bits: rng.u32(),
        }
    }

    fn hasher(&self) -> JobHasher {
        JobHasher::new(
            &self.coinb1,
            &self.coinb2,
            &self.branch,
            self.prev_hash,
            self.bits,
        )
    }
}

/// A miner's values.
#[derive(Clone)]
struct Submit {
    job: usize,
    extranonce1: Vec<u8>,
    extranonce2: Vec<u8>,
    version: u32,
    ntime: u32,
    nonce: u32,
}

impl Submit {
    fn random(rng: &mut Rng, job: usize) -> Submit {
        let (n1, n2) = (rng.range(2, 17), rng.range(2, 17));
        Submit {
            job,
            extranonce1: rng.bytes(n1),
            extranonce2: rng.bytes(n2),
            version: rng.u32(),
            ntime: rng.u32(),
            nonce: rng.u32(),
        }
    }
}

/// The block hash from first principles with the `bitcoin` crate.
fn oracle(job: &Job, s: &Submit) -> [u8; 32] {
    let mut engine = sha256d::Hash::engine();
    for part in [&job.coinb1, &s.extranonce1, &s.extranonce2, &job.coinb2] {
        engine.input(part);
    }
    let mut acc = sha256d::Hash::from_engine(engine).to_byte_array();
    for node in &job.branch {
        let mut engine = sha256d::Hash::engine();
        engine.input(&acc);
        engine.input(node);
        acc = sha256d::Hash::from_engine(engine).to_byte_array();
    }
    let header = Header {
        version: Version::from_consensus(s.version as i32),
        prev_blockhash: BlockHash::from_byte_array(job.prev_hash),
        merkle_root: TxMerkleNode::from_byte_array(acc),
        time: s.ntime,
        bits: CompactTarget::from_consensus(job.bits),
        nonce: s.nonce,
    };
    header.block_hash().to_byte_array()
}

/// Hashes `submits` as one batch on every available backend and on `hash_shares`; checks each
/// against `want`.
fn check_batch(hashers: &[JobHasher], submits: &[Submit], want: &[[u8; 32]], what: &str) {
    let works: Vec<ShareWork<'_>> = submits
        .iter()
        .map(|s| ShareWork {
            job: &hashers[s.job],
            extranonce1: &s.extranonce1,
            extranonce2: &s.extranonce2,
            version: s.version,
            ntime: s.ntime,
            nonce: s.nonce,
        })
        .collect();
    for backend in available_backends() {
        let mut out = vec![[0xAA; 32]; works.len()];
        hash_shares_with(backend, &works, &mut out);
        for (i, (got, want)) in out.iter().zip(want).enumerate() {
            assert_eq!(
                got,
                want,
                "{what}: backend {backend}, share {i} of a batch of {}",
                works.len()
            );
        }
    }
    let mut out = vec![[0xAA; 32]; works.len()];
    hash_shares(&works, &mut out);
    assert_eq!(out, want, "{what}: hash_shares");
}

#[test]
fn this_cpu_reports_its_backends() {
    let available = available_backends();
    eprintln!(
        "sha256d backends available: {:?}; best {}; hash_shares uses {}",
        available.iter().map(|b| b.name()).collect::<Vec<_>>(),
        best_backend(),
        dispatch()
    );
    assert_eq!(available[0], Backend::Scalar);
    // The x86-64 machines of this project have SHA-NI, AVX2 and AVX-512: make sure the SIMD
    // paths are really exercised here rather than silently skipped.
    if std::env::var_os("IRONPOOL_SHA256D_ALL_BACKENDS").is_some() {
        assert_eq!(available, Backend::ALL.to_vec());
    }
}

#[test]
fn random_shares_in_ragged_mixed_batches() {
    let mut rng = Rng(0x5eed_0001);
    // Coinbase parts 0..300 bytes and branches of 0..14 levels, so every padding boundary of the
    // coinbase tail (55/56/64 bytes and their multiples) is crossed many times.
    let jobs: Vec<Job> = (0..64).map(|_| Job::random(&mut rng, 300, 14)).collect();
    let hashers: Vec<JobHasher> = jobs.iter().map(Job::hasher).collect();
    let mut shares = 0;
    while shares < 3_000 {
        let batch = rng.range(1, 41);
        let submits: Vec<Submit> = (0..batch)
            .map(|_| {
                let job = rng.range(0, jobs.len());
                Submit::random(&mut rng, job)
            })
            .collect();
        let want: Vec<[u8; 32]> = submits.iter().map(|s| oracle(&jobs[s.job], s)).collect();
        check_batch(&hashers, &submits, &want, "random");
        shares += batch;
    }
}

#[test]
fn every_coinbase_length_around_the_block_boundaries() {
    // Exhaustive over coinb1 and coinb2 lengths 0..=140 against a few fixed other lengths: the
    // midstate boundary (coinb1 of 63/64/65/128 bytes) and the padding boundary of the tail.
    let mut rng = Rng(0x5eed_0002);
    let mut jobs = Vec::new();
    for a in 0..=140 {
        for b in [0, 1, 7, 43, 44, 52, 64] {
            jobs.push((a, b));
            jobs.push((b, a));
        }
    }
    let jobs: Vec<Job> = jobs
        .into_iter()
        .map(|(a, b)| Job {
            coinb1: rng.bytes(a),
            coinb2: rng.bytes(b),
            branch: (0..rng.range(0, 3)).map(|_| rng.array32()).collect(),
            prev_hash: rng.array32(),
            bits: rng.u32(),
        })
        .collect();
    let hashers: Vec<JobHasher> = jobs.iter().map(Job::hasher).collect();
    let submits: Vec<Submit> = (0..jobs.len())
        .map(|j| Submit::random(&mut rng, j))
        .collect();
    let want: Vec<[u8; 32]> = submits.iter().map(|s| oracle(&jobs[s.job], s)).collect();
    for chunk in 0..submits.len().div_ceil(37) {
        let range = chunk * 37..((chunk + 1) * 37).min(submits.len());
        check_batch(
            &hashers,
            &submits[range.clone()],
            &want[range],
            "boundaries",
        );
    }
}

#[test]
fn batches_of_every_size_up_to_40_and_empty() {
    let mut rng = Rng(0x5eed_0003);
    let jobs: Vec<Job> = (0..5).map(|_| Job::random(&mut rng, 200, 12)).collect();
    let hashers: Vec<JobHasher> = jobs.iter().map(Job::hasher).collect();
    for batch in 0..=40 {
        let submits: Vec<Submit> = (0..batch)
            .map(|_| {
                let job = rng.range(0, jobs.len());
                Submit::random(&mut rng, job)
            })
            .collect();
        let want: Vec<[u8; 32]> = submits.iter().map(|s| oracle(&jobs[s.job], s)).collect();
        check_batch(&hashers, &submits, &want, "sizes");
    }
}

#[test]
fn lockstep_groups_of_one_job_and_their_leftovers() {
    // The multi-buffer backends run full groups of shares of one job and extranonce layout in
    // lockstep and the rest per lane: batches of one key (every size around 8 and 16) and
    // shuffled batches of several keys (runs of 16+ and remainders).
    let mut rng = Rng(0x5eed_0006);
    for round in 0..12 {
        let job = Job::random(&mut rng, 300, 14);
        let hasher = job.hasher();
        let (n1, n2) = (rng.range(2, 17), rng.range(2, 17));
        for batch in [1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 50] {
            let submits: Vec<Submit> = (0..batch)
                .map(|_| Submit {
                    extranonce1: rng.bytes(n1),
                    extranonce2: rng.bytes(n2),
                    ..Submit::random(&mut rng, 0)
                })
                .collect();
            let want: Vec<[u8; 32]> = submits.iter().map(|s| oracle(&job, s)).collect();
            check_batch(
                std::slice::from_ref(&hasher),
                &submits,
                &want,
                &format!("one key {round}"),
            );
        }
    }
    for round in 0..6 {
        let jobs: Vec<Job> = (0..3).map(|_| Job::random(&mut rng, 200, 12)).collect();
        let hashers: Vec<JobHasher> = jobs.iter().map(Job::hasher).collect();
        let layouts = [(4, 8), (4, 4), (8, 16)];
        let mut submits: Vec<Submit> = (0..40 + round * 13)
            .map(|i| {
                let (n1, n2) = layouts[(i / 3) % layouts.len()];
                Submit {
                    extranonce1: rng.bytes(n1),
                    extranonce2: rng.bytes(n2),
                    ..Submit::random(&mut rng, i % jobs.len())
                }
            })
            .collect();
        // Put the first 20 on one key so that at least one full group of 16 forms.
        for s in submits.iter_mut().take(20) {
            s.job = 0;
            s.extranonce1.truncate(4);
            s.extranonce1.resize(4, 1);
            s.extranonce2.resize(8, 2);
            s.extranonce2.truncate(8);
        }
        // Shuffle.
        for i in (1..submits.len()).rev() {
            submits.swap(i, rng.range(0, i + 1));
        }
        let want: Vec<[u8; 32]> = submits.iter().map(|s| oracle(&jobs[s.job], s)).collect();
        check_batch(&hashers, &submits, &want, &format!("mixed keys {round}"));
    }
}

#[test]
fn fixture_jobs_agree_with_header_for_solution() {
    let mut rng = Rng(0x5eed_0004);
    let mut records: Vec<JobRecord> = Vec::new();
    for name in [
        "bitcoin-core-regtest-gbt-10tx.json",
        "bitcoin-core-regtest-gbt-300tx.json",
    ] {
        let t = template(name);
        for tag in ["", "/ironpool/", &"x".repeat(200)] {
            for (en1, en2) in [(4, 8), (4, 2), (8, 16), (5, 3)] {
                let sizes = ExtranonceSizes {
                    extranonce1: en1,
                    extranonce2: en2,
                };
                let job =
                    build_job(&t, &params(tag, sizes), records.len() as u32, true, 0).expect("job");
                records.push(job.record);
            }
        }
    }
    // Two ways to the same hasher.
    let hashers: Vec<JobHasher> = records.iter().map(JobHasher::from_record).collect();
    for (r, h) in records.iter().zip(&hashers) {
        let direct = JobHasher::new(&r.coinb1, &r.coinb2, &r.merkle_branch, r.prev_hash, r.bits);
        assert_eq!(&direct, h);
    }
    // Batches that mix every fixture job, with rolled versions and ntimes inside the job's rules.
    for round in 0..8 {
        let submits: Vec<Submit> = (0..records.len() + round)
            .map(|i| {
                let job = (i * 7 + round) % records.len();
                let r = &records[job];
                Submit {
                    job,
                    extranonce1: rng.bytes(r.extranonce.extranonce1),
                    extranonce2: rng.bytes(r.extranonce.extranonce2),
                    version: r.version | (rng.u32() & r.version_mask),
                    ntime: r.ntime_min + rng.u32() % (r.ntime_max - r.ntime_min + 1),
                    nonce: rng.u32(),
                }
            })
            .collect();
        let want: Vec<[u8; 32]> = submits
            .iter()
            .map(|s| {
                let solution = Solution {
                    extranonce1: s.extranonce1.clone(),
                    extranonce2: s.extranonce2.clone(),
                    ntime: s.ntime,
                    nonce: s.nonce,
                    version: s.version,
                };
                let r = &records[s.job];
                let from_work = header_for_solution(r, &solution)
                    .expect("sizes match")
                    .block_hash()
                    .to_byte_array();
                let job = Job {
                    coinb1: r.coinb1.clone(),
                    coinb2: r.coinb2.clone(),
                    branch: r.merkle_branch.clone(),
                    prev_hash: r.prev_hash,
                    bits: r.bits,
                };
                assert_eq!(from_work, oracle(&job, s), "the two oracles agree");
                from_work
            })
            .collect();
        check_batch(&hashers, &submits, &want, "fixtures");
    }
    // And a batch of 37 shares of each fixture job alone (full lockstep groups and leftovers).
    for (job, r) in records.iter().enumerate() {
        let submits: Vec<Submit> = (0..37)
            .map(|_| Submit {
                job: 0,
                extranonce1: rng.bytes(r.extranonce.extranonce1),
                extranonce2: rng.bytes(r.extranonce.extranonce2),
                version: r.version | (rng.u32() & r.version_mask),
                ntime: r.ntime_min + rng.u32() % (r.ntime_max - r.ntime_min + 1),
                nonce: rng.u32(),
            })
            .collect();
        let want: Vec<[u8; 32]> = submits
            .iter()
            .map(|s| {
                let solution = Solution {
                    extranonce1: s.extranonce1.clone(),
                    extranonce2: s.extranonce2.clone(),
                    ntime: s.ntime,
                    nonce: s.nonce,
                    version: s.version,
                };
                header_for_solution(r, &solution)
                    .expect("sizes match")
                    .block_hash()
                    .to_byte_array()
            })
            .collect();
        check_batch(
            std::slice::from_ref(&hashers[job]),
            &submits,
            &want,
            "one fixture job",
        );
    }
}

#[test]
fn headers_and_raw_compressions_agree() {
    let mut rng = Rng(0x5eed_0005);
    for n in 0..=40 {
        let headers: Vec<[u8; 80]> = (0..n).map(|_| rng.bytes(80).try_into().unwrap()).collect();
        let want: Vec<[u8; 32]> = headers
            .iter()
            .map(|h| sha256d::Hash::hash(h).to_byte_array())
            .collect();
        for backend in available_backends() {
            let mut out = vec![[0u8; 32]; n];
            hash_headers_with(backend, &headers, &mut out);
            assert_eq!(out, want, "headers on {backend}, {n} of them");
        }
        for (h, w) in headers.iter().zip(&want) {
            assert_eq!(&sha256d_header(h), w);
        }

        let states: Vec<[u32; 8]> = (0..n).map(|_| std::array::from_fn(|_| rng.u32())).collect();
        let blocks: Vec<[u8; 64]> = (0..n).map(|_| rng.bytes(64).try_into().unwrap()).collect();
        let mut want = states.clone();
        compress_blocks_with(Backend::Scalar, &mut want, &blocks);
        for (state, block) in states.iter().zip(&blocks) {
            let mut s = *state;
            ironpool_shared::sha256d::compress(&mut s, block);
            let mut portable = *state;
            ironpool_shared::sha256d::scalar::compress(&mut portable, block);
            assert_eq!(s, portable);
        }
        for backend in available_backends() {
            let mut got = states.clone();
            compress_blocks_with(backend, &mut got, &blocks);
            assert_eq!(got, want, "raw compressions on {backend}, {n} of them");
        }
    }
}
