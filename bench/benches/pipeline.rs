//! The per-share and per-job steps of the gateway, each alone: parsing a `mining.submit`, building
//! a `mining.notify`, validating one share end to end (parse, hash, targets) one at a time and in
//! a batch of 16, and the rings' publish-to-read and push-to-pop in one thread (the cross-process
//! latency is `ring_latency`'s).
//!
//! `cargo bench -p ironpool-bench --bench pipeline`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ironpool_bench::fixtures;
use ironpool_shared::ring::{
    job_ring_path, share_ring_path, JobRing, JobRingConfig, JobRingReader, ShareConsumer,
    ShareKind, ShareProducer, ShareRecord, ShareRingConfig,
};
use ironpool_shared::sha256d::{hash_shares, JobHasher, ShareWork};
use ironpool_shared::stratum::{parse_request, NotifyLine, Request};
use ironpool_shared::work::{hash_difficulty, JobRecord};
use std::time::Duration;

const SUBMIT: &[u8] = br#"{"id":4711,"method":"mining.submit","params":["bc1qexampleaccount.rig042","1f","0011223344556677","6553f100","9e3779b9","00002000"]}"#;

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

fn job() -> JobRecord {
    // The Core fixture with 300 transactions: a 9-level branch, a segwit coinbase.
    fixtures::job(0x1f, true, 7, 0x1d00_ffff)
}

fn stratum(c: &mut Criterion) {
    let mut group = c.benchmark_group("stratum");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_submit", |b| {
        b.iter(|| match parse_request(black_box(SUBMIT)) {
            Ok(Request::Submit { submit, .. }) => submit.nonce,
            _ => unreachable!("the benchmark's submit line parses"),
        })
    });
    let record = job();
    group.bench_function("build_notify", |b| {
        b.iter(|| NotifyLine::new(black_box(&record), true).into_bytes())
    });
    group.finish();
}

/// Parse, hash and judge `lines` against `hasher`, as the gateway does per batch.
fn validate(
    hasher: &JobHasher,
    lines: &[Vec<u8>],
    share_difficulty: f64,
    hashes: &mut [[u8; 32]],
) -> usize {
    let extranonce1 = [0xde, 0xad, 0xbe, 0xef];
    let submits: Vec<_> = lines
        .iter()
        .map(|line| match parse_request(line) {
            Ok(Request::Submit { submit, .. }) => submit,
            _ => unreachable!("the benchmark's submit lines parse"),
        })
        .collect();
    let works: Vec<ShareWork<'_>> = submits
        .iter()
        .map(|s| ShareWork {
            job: hasher,
            extranonce1: &extranonce1,
            extranonce2: s.extranonce2.as_slice(),
            version: 0x2000_0000 | s.version_bits.unwrap_or(0),
            ntime: s.ntime,
            nonce: s.nonce,
        })
        .collect();
    hash_shares(&works, hashes);
    hashes
        .iter()
        .filter(|h| hash_difficulty(h) >= share_difficulty)
        .count()
}

fn validation(c: &mut Criterion) {
    let record = job();
    let hasher = JobHasher::from_record(&record);
    let mut group = c.benchmark_group("validate_share_end_to_end");
    for batch in [1usize, 16] {
        let lines: Vec<Vec<u8>> = (0..batch)
            .map(|i| {
                format!(
                    r#"{{"id":{i},"method":"mining.submit","params":["acct.rig{i}","1f","{:016x}","6553f100","{:08x}","00002000"]}}"#,
                    i, i * 7
                )
                .into_bytes()
            })
            .collect();
        let mut hashes = vec![[0u8; 32]; batch];
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter(|| validate(&hasher, black_box(&lines), 1e-9, &mut hashes))
        });
    }
    group.finish();
}

fn share_record(i: u64) -> ShareRecord {
    ShareRecord {
        kind: ShareKind::Share,
        shard_id: 0,
        session_id: i,
        job_id: 0x1f,
        extranonce1: vec![0xde, 0xad, 0xbe, 0xef],
        extranonce2: i.to_le_bytes().to_vec(),
        ntime: 0x6553_f100,
        nonce: i as u32,
        version: 0x2000_0000,
        share_difficulty: 65536.0,
        accepted_at_ms: 1_800_000_000_000,
        user: "bc1qexampleaccount".to_owned(),
        worker: "rig042".to_owned(),
        network_difficulty: 0.0,
        detail: ironpool_shared::ring::RecordDetail::zero_for(ShareKind::Share),
    }
}

fn rings(c: &mut Criterion) {
    let dir = tempfile::Builder::new()
        .prefix("ironpool-bench-rings-")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a directory for the rings");
    let mut group = c.benchmark_group("rings");
    group.throughput(Throughput::Elements(1));

    let encoded = job().encode();
    let mut writer =
        JobRing::open(job_ring_path(dir.path()), &JobRingConfig::default()).expect("job ring");
    writer.publish(&encoded).expect("publish");
    let mut reader = JobRingReader::attach(job_ring_path(dir.path())).expect("reader");
    group.bench_function("job_publish_to_read", |b| {
        b.iter(|| {
            writer.publish(black_box(&encoded)).expect("publish");
            reader.try_read().expect("read").map(|r| r.payload.len())
        })
    });

    let ring_config = ShareRingConfig {
        capacity: 4096,
        reserved_for_blocks: 8,
    };
    let mut producer =
        ShareProducer::open(share_ring_path(dir.path(), 0), &ring_config).expect("share ring");
    let mut consumer = ShareConsumer::open(share_ring_path(dir.path(), 0)).expect("consumer");
    let record = share_record(1);
    group.bench_function("share_push_to_pop", |b| {
        b.iter(|| {
            producer.try_push(black_box(&record)).expect("room");
            let popped = consumer.pop().expect("a record").expect("valid");
            consumer.commit();
            popped.nonce
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = stratum, validation, rings
}
criterion_main!(benches);
