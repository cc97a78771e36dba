//! Shares (and 80-byte headers) hashed per second on each sha256d backend of this CPU, one
//! machine-readable line per backend and batch size:
//!
//! ```text
//! share_hash_rate kind=share backend=sha-ni-x2 batch=64 shares_per_sec=1234567 ns_per_share=810.0
//! share_hash_rate kind=share backend=auto picked=avx512-x16+sha-ni-x2 batch=64 shares_per_sec=1234567 ns_per_share=810.0
//! ```
//!
//! The workload is DESIGN.md's: a 250-byte coinbase (coinb1 80, extranonce 4 + 8, coinb2 158) and
//! a 12-level merkle branch. `backend=auto` is `hash_shares`, which picks the backend itself.
//! Rates are per CPU-second of the measuring thread (time the scheduler gives to other processes is
//! not counted). Run it several times (pinned, e.g. `taskset -c 1`) and take medians.

use bitcoin::hashes::{sha256d, Hash};
use clap::Parser;
use ironpool_bench::fixtures::{design_job_hasher, design_share_parts};
use ironpool_shared::sha256d::{
    available_backends, compress_blocks_with, dispatch, hash_headers_with, hash_shares,
    hash_shares_with, Backend, ShareWork,
};
use std::hint::black_box;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "sha256d share-validation rate per backend")]
struct Args {
    /// Batch sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,8,16,64")]
    batch: Vec<usize>,
    /// Seconds of measurement per backend and batch size.
    #[arg(long, default_value_t = 1.0)]
    secs: f64,
    /// Only these backends (names as printed), comma-separated; default: every available one.
    #[arg(long, value_delimiter = ',')]
    backend: Vec<Backend>,
    /// Skip the raw-compression and 80-byte header lines.
    #[arg(long)]
    no_headers: bool,
}

/// One share with the `bitcoin` crate: coinbase txid, merkle fold, header hash.
fn baseline_share(
    coinb1: &[u8],
    en1: &[u8],
    en2: &[u8],
    coinb2: &[u8],
    branch: &[[u8; 32]],
) -> [u8; 32] {
    let mut engine = sha256d::Hash::engine();
    for part in [coinb1, en1, en2, coinb2] {
        bitcoin::hashes::HashEngine::input(&mut engine, part);
    }
    let txid = sha256d::Hash::from_engine(engine).to_byte_array();
    let root = ironpool_shared::work::merkle_root_from_branch(txid, branch);
    let mut header = [0u8; 80];
    header[..4].copy_from_slice(&0x2000_0000u32.to_le_bytes());
    header[36..68].copy_from_slice(&root);
    sha256d::Hash::hash(&header).to_byte_array()
}

/// CPU time of this thread: other processes on the 2 shared cores (builds, tests) preempt the
/// benchmark; their time is not ours, so rates are per CPU-second of this thread, i.e. per core.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` (which handles `per_call` items) for about `secs` of this thread's CPU time; items per
/// CPU-second.
fn rate(secs: f64, per_call: usize, mut f: impl FnMut()) -> f64 {
    // Warm-up, and a call count per clock reading.
    let start = thread_cpu_time();
    let mut calls = 0u64;
    while thread_cpu_time() - start < Duration::from_millis(100) {
        f();
        calls += 1;
    }
    let chunk = (calls / 20).max(1);
    let budget = Duration::from_secs_f64(secs);
    let start = thread_cpu_time();
    let mut calls = 0u64;
    loop {
        for _ in 0..chunk {
            f();
        }
        calls += chunk;
        let elapsed = thread_cpu_time() - start;
        if elapsed >= budget {
            return (calls * per_call as u64) as f64 / elapsed.as_secs_f64();
        }
    }
}

fn main() {
    let args = Args::parse();
    let backends = if args.backend.is_empty() {
        available_backends()
    } else {
        args.backend.clone()
    };
    let job = design_job_hasher();
    let en1 = [0xde, 0xad, 0xbe, 0xef];
    if !args.no_headers {
        // Baseline: the `bitcoin` crate (runtime SHA-NI), what ironpool hashed with before.
        let header = [5u8; 80];
        let r = rate(args.secs, 1, || {
            black_box(sha256d::Hash::hash(black_box(&header)));
        });
        println!(
            "share_hash_rate kind=header80 backend=bitcoin_hashes batch=1 headers_per_sec={r:.0} ns_per_header={:.1}",
            1e9 / r
        );
        for &backend in &backends {
            // Raw compressions: the kernel alone, 64 independent (state, block) pairs per call.
            let n = 64;
            let blocks: Vec<[u8; 64]> = (0..n).map(|i| [i as u8; 64]).collect();
            let mut states = vec![[0x0123_4567u32; 8]; n];
            let r = rate(args.secs, n, || {
                compress_blocks_with(backend, black_box(&mut states), black_box(&blocks));
            });
            println!(
                "share_hash_rate kind=compress backend={backend} batch={n} blocks_per_sec={r:.0} ns_per_block={:.1}",
                1e9 / r
            );
        }
        for &backend in &backends {
            let n = backend.lanes().max(1) * 4;
            let headers: Vec<[u8; 80]> = (0..n).map(|i| [i as u8; 80]).collect();
            let mut out = vec![[0u8; 32]; n];
            let r = rate(args.secs, n, || {
                hash_headers_with(backend, black_box(&headers), &mut out);
                black_box(&out);
            });
            println!(
                "share_hash_rate kind=header80 backend={backend} batch={n} headers_per_sec={r:.0} ns_per_header={:.1}",
                1e9 / r
            );
        }
    }
    for &batch in &args.batch {
        let en2: Vec<[u8; 8]> = (0..batch as u64).map(|i| i.to_le_bytes()).collect();
        let works: Vec<ShareWork<'_>> = en2
            .iter()
            .enumerate()
            .map(|(i, e)| ShareWork {
                job: &job,
                extranonce1: &en1,
                extranonce2: e,
                version: 0x2000_0000,
                ntime: 1_700_000_000,
                nonce: i as u32,
            })
            .collect();
        let mut out = vec![[0u8; 32]; batch];
        let line = |name: String, r: f64| {
            println!(
                "share_hash_rate kind=share backend={name} batch={batch} shares_per_sec={r:.0} ns_per_share={:.1}",
                1e9 / r
            );
        };
        if args.backend.is_empty() && batch == 1 {
            // Baseline: one share at a time with the `bitcoin` crate, as `header_for_solution`.
            let (coinb1, coinb2, branch) = design_share_parts();
            let r = rate(args.secs, 1, || {
                black_box(baseline_share(&coinb1, &en1, &en2[0], &coinb2, &branch));
            });
            line("bitcoin_hashes".to_owned(), r);
        }
        for &backend in &backends {
            let r = rate(args.secs, batch, || {
                hash_shares_with(backend, black_box(&works), &mut out);
                black_box(&out);
            });
            line(backend.name().to_owned(), r);
        }
        if args.backend.is_empty() {
            let r = rate(args.secs, batch, || {
                hash_shares(black_box(&works), &mut out);
                black_box(&out);
            });
            line(format!("auto picked={}", dispatch()), r);
        }
    }
}
