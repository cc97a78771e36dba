//! Share hashing: sha256d of an 80-byte header, and whole-share validation (250-byte coinbase,
//! 12-level merkle branch, header) per backend at batch sizes 1, 2, 8, 16 and 64.
//!
//! `cargo bench -p ironpool-bench --bench share_hash` (release profile of the workspace: thin LTO,
//! default target). A SHA-NI figure far above ~100 ns per header or ~2 µs per share means the
//! SSE/AVX transition anomaly of `reference/rust-crates.md` §3 is back.

use bitcoin::hashes::{sha256d, Hash};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ironpool_bench::fixtures::design_job_hasher;
use ironpool_shared::sha256d::{
    available_backends, dispatch, hash_headers_with, hash_shares, hash_shares_with, JobHasher,
    ShareWork,
};
use std::time::Duration;

const EXTRANONCE1: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

fn extranonces(n: usize) -> Vec<[u8; 8]> {
    (0..n as u64).map(|i| i.to_le_bytes()).collect()
}

fn works<'a>(job: &'a JobHasher, en2: &'a [[u8; 8]]) -> Vec<ShareWork<'a>> {
    en2.iter()
        .enumerate()
        .map(|(i, e)| ShareWork {
            job,
            extranonce1: &EXTRANONCE1,
            extranonce2: e,
            version: 0x2000_0000,
            ntime: 1_700_000_000,
            nonce: i as u32,
        })
        .collect()
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

fn header(c: &mut Criterion) {
    let mut group = c.benchmark_group("sha256d_header80");
    let mut header = [0u8; 80];
    for (i, b) in header.iter_mut().enumerate() {
        *b = i as u8;
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("bitcoin_hashes", |b| {
        b.iter(|| sha256d::Hash::hash(black_box(&header)))
    });
    for backend in available_backends() {
        // One header at a time on single-chain backends, a batch of `lanes` on the others.
        let n = backend.lanes();
        let headers = vec![header; n];
        let mut out = vec![[0u8; 32]; n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new(backend.name(), n), |b| {
            b.iter(|| hash_headers_with(backend, black_box(&headers), &mut out))
        });
    }
    group.finish();
}

fn shares(c: &mut Criterion) {
    let job = design_job_hasher();
    let mut group = c.benchmark_group("share_validation");
    // The one-at-a-time path the gateway would have without this module.
    group.throughput(Throughput::Elements(1));
    let coinb1: Vec<u8> = (0..80)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(1))
        .collect();
    let coinb2: Vec<u8> = (0..158)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(2))
        .collect();
    let branch: Vec<[u8; 32]> = (0..12u8)
        .map(|i| sha256d::Hash::hash(&[i]).to_byte_array())
        .collect();
    group.bench_function("bitcoin_hashes_one_at_a_time", |b| {
        b.iter(|| {
            let mut engine = sha256d::Hash::engine();
            for part in [&coinb1[..], &EXTRANONCE1, &[1u8; 8], &coinb2] {
                bitcoin::hashes::HashEngine::input(&mut engine, part);
            }
            let txid = sha256d::Hash::from_engine(engine).to_byte_array();
            let root = ironpool_shared::work::merkle_root_from_branch(txid, &branch);
            let mut header = [0u8; 80];
            header[36..68].copy_from_slice(&root);
            sha256d::Hash::hash(black_box(&header))
        })
    });
    for batch in [1usize, 2, 8, 16, 64] {
        let en2 = extranonces(batch);
        let works = works(&job, &en2);
        let mut out = vec![[0u8; 32]; batch];
        group.throughput(Throughput::Elements(batch as u64));
        for backend in available_backends() {
            group.bench_function(BenchmarkId::new(backend.name(), batch), |b| {
                b.iter(|| hash_shares_with(backend, black_box(&works), &mut out))
            });
        }
        group.bench_function(
            BenchmarkId::new(format!("auto({})", dispatch()), batch),
            |b| b.iter(|| hash_shares(black_box(&works), &mut out)),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = header, shares
}
criterion_main!(benches);
