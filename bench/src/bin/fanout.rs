//! `fanout`: how fast one job reaches every session of a gateway, and what an idle session costs.
//!
//! It writes the job ring itself (no jobmaster, no node: the figure is the gateway's), opens N
//! Stratum sessions over TCP (spread over source addresses 127.0.0.x), waits until all are
//! authorized and have their first job, samples the gateway's RSS, then publishes clean jobs and
//! records when each session receives each one. One `RESULT` line per measurement.
//!
//! Run by `scripts/bench_gateway.sh`, which starts the gateway process.

use clap::Parser;
use ironpool_bench::harness::system::rss_bytes;
use ironpool_shared::ring::{job_ring_path, JobRing, JobRingConfig};
use ironpool_shared::work::JobRecord;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

#[derive(Parser)]
struct Args {
    /// The gateway's stratum address.
    #[arg(long)]
    addr: SocketAddr,
    /// The gateway's rings.dir (this program writes the job ring there).
    #[arg(long)]
    ring_dir: PathBuf,
    /// The gateway's pid, for its RSS.
    #[arg(long)]
    gateway_pid: u32,
    /// Sessions to open.
    #[arg(long)]
    sessions: usize,
    /// Clean jobs to publish and time.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Source addresses 127.0.0.2 .. 127.0.0.(1+N).
    #[arg(long, default_value_t = 4)]
    sources: u8,
}

fn job(job_id: u32) -> JobRecord {
    ironpool_bench::fixtures::job(job_id, true, job_id as u8, 0x207f_ffff)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let mut ring =
        JobRing::open(job_ring_path(&args.ring_dir), &JobRingConfig::default()).expect("job ring");
    ring.publish(&job(1).encode()).expect("publish");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(args.addr).await.is_err() {
        assert!(Instant::now() < deadline, "gateway not listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_bytes(args.gateway_pid);

    // (session, job id, arrival) for every notify received.
    let (tx, mut rx) = mpsc::unbounded_channel::<(u32, Instant)>();
    let ready = Arc::new(AtomicU32::new(0));
    let failed = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(512));
    for i in 0..args.sessions {
        let (tx, ready, failed) = (tx.clone(), ready.clone(), failed.clone());
        // At most 512 handshakes at once: a connect storm is another benchmark.
        let mut permit = semaphore.clone().acquire_owned().await.ok();
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            2 + (i % args.sources.max(1) as usize) as u8,
        ));
        let addr = args.addr;
        tokio::spawn(async move {
            let socket = match tokio::net::TcpSocket::new_v4() {
                Ok(s) => s,
                Err(_) => return failed.fetch_add(1, Ordering::Relaxed),
            };
            if socket.bind(SocketAddr::new(source, 0)).is_err() {
                return failed.fetch_add(1, Ordering::Relaxed);
            }
            let Ok(stream) = socket.connect(addr).await else {
                return failed.fetch_add(1, Ordering::Relaxed);
            };
            let (read, mut write) = stream.into_split();
            let hello = format!(
                "{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}}\n{{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"bench.s{i}\",\"x\"]}}\n"
            );
            if write.write_all(hello.as_bytes()).await.is_err() {
                return failed.fetch_add(1, Ordering::Relaxed);
            }
            let mut lines = BufReader::with_capacity(2048, read).lines();
            let mut primed = false;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) =
                    line.strip_prefix("{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"")
                {
                    let id = rest
                        .split('"')
                        .next()
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .unwrap_or(0);
                    if !primed {
                        primed = true;
                        ready.fetch_add(1, Ordering::Relaxed);
                        drop(permit.take());
                    } else {
                        let _ = tx.send((id, Instant::now()));
                    }
                }
            }
            drop(write);
            0
        });
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(120);
    while (ready.load(Ordering::Relaxed) as usize) + (failed.load(Ordering::Relaxed) as usize)
        < args.sessions
    {
        assert!(
            Instant::now() < deadline,
            "only {} of {} sessions ready",
            ready.load(Ordering::Relaxed),
            args.sessions
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_bytes(args.gateway_pid);
    let n = ready.load(Ordering::Relaxed) as u64;
    println!(
        "RESULT kind=sessions sessions={n} failed={} connect_s={connect_secs:.2} rss_before={rss_before} rss_after={rss_after} bytes_per_session={}",
        failed.load(Ordering::Relaxed),
        (rss_after.saturating_sub(rss_before)) / n.max(1)
    );

    for round in 0..args.rounds {
        let id = 100 + round;
        let t0 = Instant::now();
        ring.publish(&job(id).encode()).expect("publish");
        let mut arrivals = Vec::with_capacity(n as usize);
        let deadline = t0 + Duration::from_secs(30);
        while (arrivals.len() as u64) < n {
            match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                Ok(Some((job_id, at))) if job_id == id => {
                    arrivals.push(at.duration_since(t0).as_micros() as u64)
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        arrivals.sort_unstable();
        println!(
            "RESULT kind=fanout sessions={n} round={round} received={} p50_us={} p99_us={} max_us={}",
            arrivals.len(),
            percentile(&arrivals, 0.5),
            percentile(&arrivals, 0.99),
            arrivals.last().copied().unwrap_or(0)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    std::process::exit(0);
}
