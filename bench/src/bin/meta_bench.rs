//! The accounting's throughput for a pool of 100,000 active workers:
//!
//! 1. aggregation: share records → per-minute aggregate (ns per record, records per second), and
//!    the metawriter's whole intake: batches of 4,096 encoded records decoded, checked, written
//!    and fsynced to the spool, and aggregated (records per second);
//! 2. one flush to a real redis-server: the aggregate of one minute in which every worker
//!    submitted, turned into slot-grouped script calls and applied with pipelining (wall time,
//!    requests = round trips on the wire, and what that makes per minute at a flush interval).
//!
//! `meta_bench --workers 100000 --shares-per-worker 20 --runs 3 [--flush-secs 10]`

use clap::Parser;
use ironpool_bench::redis_server::RedisServer;
use ironpool_controlplane::meta_spool::{Source, Spool, COMPACT_BYTES_DEFAULT};
use ironpool_controlplane::metawriter::apply::{apply, apply_script};
use ironpool_controlplane::metawriter::redis_target::RedisTarget;
use ironpool_controlplane::metawriter::store::{check_batch, Store};
use ironpool_shared::meta::Aggregate;
use ironpool_shared::meta::{Batch, CoinNames};
use ironpool_shared::ring::{RecordDetail, ShareKind, ShareRecord};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Active workers (users of 10 workers each).
    #[arg(long, default_value_t = 100_000)]
    workers: u32,
    /// Shares per worker in the minute aggregated.
    #[arg(long, default_value_t = 20)]
    shares_per_worker: u32,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Flush interval the per-minute figures assume.
    #[arg(long, default_value_t = 10)]
    flush_secs: u64,
    /// Script calls in flight.
    #[arg(long, default_value_t = 64)]
    pipeline: usize,
}

fn records(workers: u32, per_worker: u32, minute_ms: u64) -> Vec<ShareRecord> {
    let mut out = Vec::with_capacity((workers * per_worker) as usize);
    for round in 0..per_worker {
        for w in 0..workers {
            out.push(ShareRecord {
                kind: if round % 50 == 49 {
                    ShareKind::Reject
                } else {
                    ShareKind::Share
                },
                shard_id: (w % 16) as u16,
                session_id: u64::from(w),
                job_id: round,
                extranonce1: vec![0; 4],
                extranonce2: vec![0; 8],
                ntime: 0,
                nonce: round,
                version: 0x2000_0000,
                share_difficulty: if round % 50 == 49 { 0.0 } else { 65_536.0 },
                accepted_at_ms: minute_ms + u64::from(round) * 100,
                user: format!("user{}", w / 10),
                worker: format!("rig{}", w % 10),
                network_difficulty: if round % 50 == 49 { 0.0 } else { 1.1e14 },
                detail: if round % 50 == 49 {
                    RecordDetail::RejectCode(23)
                } else {
                    RecordDetail::None
                },
            });
        }
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let minute_ms = 1_790_000_040_000u64;
    let input = records(args.workers, args.shares_per_worker, minute_ms);
    println!(
        "meta_bench: {} workers, {} records in one minute, {} runs",
        args.workers,
        input.len(),
        args.runs
    );
    let redis = RedisServer::start()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let target = runtime
        .block_on(RedisTarget::connect(
            &[redis.url()],
            Duration::from_secs(30),
        ))
        .map_err(|e| e.to_string())?;
    let script = apply_script();
    let (mut ns_per_record, mut flush_secs, mut requests, mut ops) =
        (vec![], vec![], vec![], vec![]);
    let mut intake_rates = vec![];
    let mut baselines = vec![];
    let encoded: Vec<_> = input
        .iter()
        .map(|r| r.encode().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let coins = CoinNames::new([("btc".to_owned(), "BTC".to_owned())]);
    for run in 0..args.runs {
        let started = Instant::now();
        let mut aggregate = Aggregate::default();
        for record in &input {
            aggregate.add("btc", "BTC", "10.0.0.1", record);
        }
        let batch = aggregate.into_batch();
        let aggregated = started.elapsed();
        let per_record = aggregated.as_nanos() as f64 / input.len() as f64;
        let flushing = Instant::now();
        let applied = runtime.block_on(apply(
            &target,
            &script,
            "bench",
            run as u64 + 1,
            &batch,
            args.pipeline,
        ))?;
        let flushed = flushing.elapsed();
        // Baseline in the same run: the same writes as plain commands in pipelines of 1,000,
        // with no slot grouping and no markers (what a writer without exactly-once would send).
        let baseline = runtime.block_on(plain_writes(&redis, &batch))?;
        println!(
            "run {run}: baseline plain pipelined writes {:.2} s ({:.2}x of it for exactly-once)",
            baseline.as_secs_f64(),
            flushed.as_secs_f64() / baseline.as_secs_f64()
        );
        baselines.push(baseline.as_secs_f64());
        println!(
            "run {run}: aggregate {:.0} ns/record ({:.2} M records/s), {} ops + {} set members; \
             flush {:.2} s: {} requests ({} script calls)",
            per_record,
            1e3 / per_record,
            batch.ops.len(),
            batch.set_members.len(),
            flushed.as_secs_f64(),
            applied.requests,
            applied.calls_applied
        );
        // The whole intake, durable: what the ring readers and the links do per batch.
        let spool_dir = redis.dir().join(format!("spool-{run}"));
        let (spool, pending) = Spool::open(&spool_dir, COMPACT_BYTES_DEFAULT)?;
        let mut store = Store::new(spool, pending, coins.clone());
        let intake = Instant::now();
        for (seq, chunk) in encoded.chunks(4_096).enumerate() {
            let batch = Batch {
                origin: 1,
                seq: seq as u64,
                coin: "btc".into(),
                host: "10.0.0.1".into(),
                records: chunk.to_vec(),
            };
            check_batch(&coins, &batch).map_err(|(_, e)| e)?;
            store.store(Source::Remote, batch)?;
        }
        let intake_rate = input.len() as f64 / intake.elapsed().as_secs_f64();
        println!(
            "run {run}: intake (decode, check, spool + fsync, aggregate) {:.2} M records/s",
            intake_rate / 1e6
        );
        intake_rates.push(intake_rate);
        let _ = std::fs::remove_dir_all(&spool_dir);
        ns_per_record.push(per_record);
        flush_secs.push(flushed.as_secs_f64());
        requests.push(applied.requests as f64);
        ops.push(batch.ops.len() as f64);
    }
    let per_minute = 60 / args.flush_secs.max(1);
    let (agg, flush, reqs) = (median(ns_per_record), median(flush_secs), median(requests));
    println!(
        "RESULT workers={} aggregate_ns_per_record={agg:.0} records_per_sec={:.0} intake_records_per_sec={:.0} flush_secs={flush:.2} \
         requests_per_flush={reqs:.0} ops_per_flush={:.0} requests_per_minute_at_{}s={:.0} redis_busy_share={:.1}% \
         baseline_plain_secs={:.2} exactly_once_ratio={:.2}",
        args.workers,
        1e9 / agg,
        median(intake_rates),
        median(ops),
        args.flush_secs,
        reqs * per_minute as f64,
        100.0 * flush / args.flush_secs as f64,
        median(baselines.clone()),
        flush / median(baselines)
    );
    Ok(())
}

/// The batch's writes as plain commands, pipelined 1,000 at a time on one connection.
async fn plain_writes(
    redis: &RedisServer,
    batch: &ironpool_shared::meta::RedisBatch,
) -> Result<Duration, String> {
    use ironpool_shared::meta::Op;
    let client = redis::Client::open(redis.url()).map_err(|e| e.to_string())?;
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut con)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    for chunk in batch.ops.chunks(1_000) {
        let mut pipe = redis::pipe();
        for op in chunk {
            match op {
                Op::HIncrBy { key, field, by } => {
                    pipe.cmd("HINCRBY").arg(key).arg(field).arg(by).ignore()
                }
                Op::HIncrByFloat { key, field, by } => pipe
                    .cmd("HINCRBYFLOAT")
                    .arg(key)
                    .arg(field)
                    .arg(by.to_string())
                    .ignore(),
                Op::RPush { key, value } => pipe.cmd("RPUSH").arg(key).arg(value).ignore(),
            };
        }
        let _: () = pipe
            .query_async(&mut con)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(started.elapsed())
}
