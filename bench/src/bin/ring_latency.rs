//! `ring_latency`: publish-to-read latency of the job ring and throughput of a share ring, each
//! between two processes.
//!
//! Latency mode (default): this process is the job ring writer; it spawns itself with `--reader`
//! as the reader process, which blocks in `JobRingReader::wait` (a shared futex). Every
//! `--interval-us` the writer publishes a record carrying its CLOCK_MONOTONIC timestamp; the
//! reader records `now - timestamp` in an HDR histogram and prints p50/p90/p99/p99.9/max in µs,
//! plus one machine-readable `RESULT` line.
//!
//! Throughput mode (`--mode throughput`): this process is the share ring consumer (pop with full
//! decode, commit every 256 records, futex wait when empty); it spawns itself with `--producer`,
//! which pushes `--records` share records as fast as the ring takes them. Both sides report
//! records per second.
//!
//! Example: `cargo run --release -p ironpool-bench --bin ring_latency -- --count 10000`

use ironpool_bench::loadgen::clock::monotonic_ns;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use ironpool_shared::ring::{
    job_ring_path, share_ring_path, JobRing, JobRingConfig, JobRingReader, PushError,
    ShareConsumer, ShareKind, ShareProducer, ShareRecord, ShareRingConfig,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Job ring publish → read latency.
    Latency,
    /// Share ring push/pop throughput.
    Throughput,
}

#[derive(Debug, Parser)]
#[command(
    name = "ring_latency",
    about = "ironpool ring latency and throughput between two processes"
)]
struct Args {
    #[arg(long, value_enum, default_value_t = Mode::Latency)]
    mode: Mode,
    /// Latency: records to publish.
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// Latency: microseconds between publishes.
    #[arg(long, default_value_t = 1_000)]
    interval_us: u64,
    /// Latency: payload bytes per record (a mining.notify job with a 12-level branch is ~1,500).
    #[arg(long, default_value_t = 1_500)]
    payload_bytes: usize,
    /// Latency: records published before measuring (not recorded).
    #[arg(long, default_value_t = 100)]
    warmup: u64,
    /// Throughput: share records to push.
    #[arg(long, default_value_t = 2_000_000)]
    records: u64,
    /// Throughput: the consumer validates records (`pop_encoded`) instead of decoding them into
    /// `ShareRecord`s (`pop`, which allocates the strings).
    #[arg(long)]
    no_decode: bool,
    /// Throughput: share ring capacity (power of two).
    #[arg(long, default_value_t = 4096)]
    capacity: u32,
    /// Directory for the ring files (a fresh subdirectory is made in it and removed at the end).
    #[arg(long, default_value = "/dev/shm")]
    dir: PathBuf,
    /// Pin the parent to this CPU and the child to the next one.
    #[arg(long)]
    pin: Option<usize>,
    /// Internal: act as the job ring reader on this directory.
    #[arg(long, hide = true)]
    reader: bool,
    /// Internal: act as the share ring producer on this directory.
    #[arg(long, hide = true)]
    producer: bool,
    /// Internal: the ring directory of a child.
    #[arg(long, hide = true)]
    ring_dir: Option<PathBuf>,
}

/// Payload kinds in the first byte after the timestamp.
const DATA: u8 = 0;
const END: u8 = 1;

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.reader {
        run_reader(&args)
    } else if args.producer {
        run_producer(&args)
    } else {
        match args.mode {
            Mode::Latency => run_latency(&args),
            Mode::Throughput => run_throughput(&args),
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ring_latency: {error}");
            ExitCode::FAILURE
        }
    }
}

fn pin_to(cpu: Option<usize>) -> Result<(), String> {
    let Some(cpu) = cpu else { return Ok(()) };
    // SAFETY: cpu_set_t is a plain bit array for which all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // Cast: CPU_SETSIZE is a small positive constant.
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(format!("cpu {cpu} out of range"));
    }
    // SAFETY: CPU_SET writes one bit inside `set`; `cpu` is below CPU_SETSIZE (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is this thread; `set` is initialised and its size is passed.
    let result =
        unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set) };
    if result != 0 {
        return Err(format!(
            "sched_setaffinity({cpu}): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// A fresh ring directory, removed on drop.
struct RingDir(PathBuf);

impl RingDir {
    fn new(parent: &Path) -> Result<Self, String> {
        let dir = parent.join(format!("ironpool-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        Ok(RingDir(dir))
    }
}

impl Drop for RingDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Spawns this binary as the child role; its stdout is piped so the parent can wait for `ready`.
fn spawn_child(
    args: &Args,
    role: &str,
    dir: &Path,
) -> Result<(Child, BufReader<std::process::ChildStdout>), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut command = Command::new(exe);
    command
        .arg(role)
        .arg("--ring-dir")
        .arg(dir)
        .args([
            "--mode",
            if args.mode == Mode::Latency {
                "latency"
            } else {
                "throughput"
            },
        ])
        .args([
            "--count",
            &args.count.to_string(),
            "--warmup",
            &args.warmup.to_string(),
        ])
        .args(["--records", &args.records.to_string()])
        .args(["--capacity", &args.capacity.to_string()])
        .stdout(Stdio::piped());
    if let Some(cpu) = args.pin {
        command.args(["--pin", &(cpu + 1).to_string()]);
    }
    let mut child = command.spawn().map_err(|e| format!("spawn {role}: {e}"))?;
    let stdout = child.stdout.take().ok_or("child stdout")?;
    let mut lines = BufReader::new(stdout);
    let mut line = String::new();
    lines
        .read_line(&mut line)
        .map_err(|e| format!("read child: {e}"))?;
    if line.trim() != "ready" {
        let _ = child.kill();
        return Err(format!("child said {line:?} instead of ready"));
    }
    Ok((child, lines))
}

fn run_latency(args: &Args) -> Result<(), String> {
    pin_to(args.pin)?;
    let dir = RingDir::new(&args.dir)?;
    let path = job_ring_path(&dir.0);
    let config = JobRingConfig::default();
    let mut writer = JobRing::open(&path, &config).map_err(|e| e.to_string())?;
    if args.payload_bytes < 9 || args.payload_bytes > writer.slot_capacity() {
        return Err(format!(
            "--payload-bytes must be 9..={}",
            writer.slot_capacity()
        ));
    }
    let (mut child, lines) = spawn_child(args, "--reader", &dir.0)?;
    let mut payload = vec![0x5au8; args.payload_bytes];
    let interval = Duration::from_micros(args.interval_us);
    let total = args.warmup + args.count;
    let start = Instant::now();
    for index in 0..total {
        // Pace against absolute deadlines, so a late wake-up does not shift the schedule.
        let due = start + interval * u32::try_from(index + 1).map_err(|_| "too many records")?;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        payload[8] = DATA;
        payload[..8].copy_from_slice(&monotonic_ns().to_le_bytes());
        writer.publish(&payload).map_err(|e| e.to_string())?;
    }
    payload[8] = END;
    writer.publish(&payload).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    for line in lines.lines() {
        let line = line.map_err(|e| format!("read child: {e}"))?;
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    let status = child.wait().map_err(|e| format!("wait reader: {e}"))?;
    if !status.success() {
        return Err(format!("reader failed: {status}"));
    }
    Ok(())
}

fn run_reader(args: &Args) -> Result<(), String> {
    pin_to(args.pin)?;
    let dir = args.ring_dir.as_ref().ok_or("--ring-dir")?;
    let mut reader = JobRingReader::attach(job_ring_path(dir)).map_err(|e| e.to_string())?;
    // 1 ns .. 10 s, 3 significant digits.
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).map_err(|e| e.to_string())?;
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let (mut seen, mut resyncs, mut last_sequence) = (0u64, 0u64, 0u64);
    'outer: loop {
        while let Some(read) = reader.try_read().map_err(|e| e.to_string())? {
            let now = monotonic_ns();
            let mut stamp = [0u8; 8];
            stamp.copy_from_slice(read.payload.get(..8).ok_or("short payload")?);
            if read.payload.get(8) == Some(&END) {
                break 'outer;
            }
            if read.resync && last_sequence != 0 {
                resyncs += 1;
            }
            last_sequence = read.sequence;
            seen += 1;
            if seen > args.warmup {
                histogram.saturating_record(now.saturating_sub(u64::from_le_bytes(stamp)));
            }
        }
        reader
            .wait(Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
    }
    let us = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1000.0;
    println!("job ring publish → read latency, reader blocked in futex wait, other process");
    println!(
        "records {} (after {} warm-up), resyncs {resyncs}, missed {}",
        histogram.len(),
        args.warmup,
        (args.warmup + args.count).saturating_sub(seen)
    );
    println!(
        "p50 {:.1} µs  p90 {:.1} µs  p99 {:.1} µs  p99.9 {:.1} µs  max {:.1} µs",
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        histogram.max() as f64 / 1000.0
    );
    println!(
        "RESULT mode=latency records={} p50_us={:.1} p90_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} resyncs={resyncs}",
        histogram.len(),
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        histogram.max() as f64 / 1000.0
    );
    Ok(())
}

fn bench_share(i: u64) -> ShareRecord {
    // Casts: the low bits of the index vary the record; exact values do not matter.
    ShareRecord {
        kind: ShareKind::Share,
        shard_id: 0,
        session_id: i >> 4,
        job_id: (i >> 10) as u32,
        extranonce1: vec![0, 0, 1, 2],
        extranonce2: (i as u32).to_le_bytes().to_vec(),
        ntime: 0x6800_0000,
        nonce: i as u32,
        version: 0x2000_0000,
        share_difficulty: 65536.0,
        accepted_at_ms: 1_800_000_000_000 + i,
        user: "bc1qbenchmarkuser0000000000000000000000".to_owned(),
        worker: format!("rig{}", i % 100),
        network_difficulty: 0.0,
        detail: ironpool_shared::ring::RecordDetail::zero_for(ShareKind::Share),
    }
}

fn run_throughput(args: &Args) -> Result<(), String> {
    pin_to(args.pin)?;
    let dir = RingDir::new(&args.dir)?;
    let path = share_ring_path(&dir.0, 0);
    let config = ShareRingConfig {
        capacity: args.capacity,
        reserved_for_blocks: 8,
    };
    // Create the file, then hand the producer role to the child.
    drop(ShareProducer::open(&path, &config).map_err(|e| e.to_string())?);
    let mut consumer = ShareConsumer::open(&path).map_err(|e| e.to_string())?;
    let (mut child, lines) = spawn_child(args, "--producer", &dir.0)?;
    let mut popped = 0u64;
    let mut first: Option<Instant> = None;
    while popped < args.records {
        loop {
            let nonce = if args.no_decode {
                match consumer.pop_encoded() {
                    None => break,
                    Some(record) => {
                        let bytes = *record.map_err(|e| e.to_string())?.as_bytes();
                        u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]])
                    }
                }
            } else {
                match consumer.pop() {
                    None => break,
                    Some(record) => record.map_err(|e| e.to_string())?.nonce,
                }
            };
            if u64::from(nonce) != popped & 0xffff_ffff {
                return Err(format!("record {popped} out of order (nonce {nonce})"));
            }
            first.get_or_insert_with(Instant::now);
            popped += 1;
            if popped.is_multiple_of(256) {
                consumer.commit();
            }
        }
        consumer.commit();
        if popped < args.records {
            consumer
                .wait(Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
        }
    }
    let elapsed = first.map(|start| start.elapsed()).unwrap_or_default();
    let mut producer_line = String::new();
    for line in lines.lines() {
        let line = line.map_err(|e| format!("read child: {e}"))?;
        if line.starts_with("PUSHED") {
            producer_line = line;
        }
    }
    let status = child.wait().map_err(|e| format!("wait producer: {e}"))?;
    if !status.success() {
        return Err(format!("producer failed: {status}"));
    }
    let pushed_per_s: f64 = producer_line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("per_s="))
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| format!("producer reported {producer_line:?}"))?;
    let popped_per_s = popped as f64 / elapsed.as_secs_f64().max(1e-9);
    println!(
        "share ring {} records × 256 B, capacity {}, other process; producer encodes every record, consumer {} it",
        args.records,
        args.capacity,
        if args.no_decode { "validates" } else { "decodes" }
    );
    println!(
        "pushed {:.2} M records/s, popped {:.2} M records/s",
        pushed_per_s / 1e6,
        popped_per_s / 1e6
    );
    println!(
        "RESULT mode=throughput records={} decode={} push_per_s={:.0} pop_per_s={:.0}",
        args.records, !args.no_decode, pushed_per_s, popped_per_s
    );
    Ok(())
}

fn run_producer(args: &Args) -> Result<(), String> {
    pin_to(args.pin)?;
    let dir = args.ring_dir.as_ref().ok_or("--ring-dir")?;
    let path = share_ring_path(dir, 0);
    let config = ShareRingConfig {
        capacity: args.capacity,
        reserved_for_blocks: 8,
    };
    let mut producer = ShareProducer::open(&path, &config).map_err(|e| e.to_string())?;
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    // Every record is encoded on push, as a shard does; the consumer decodes every record.
    let mut record = bench_share(0);
    let start = Instant::now();
    for i in 0..args.records {
        // Cast: the nonce carries the low 32 bits of the index, which the consumer checks.
        record.nonce = i as u32;
        loop {
            match producer.try_push(&record) {
                Ok(()) => break,
                Err(PushError::Full { .. }) => std::thread::yield_now(),
                Err(error) => return Err(error.to_string()),
            }
        }
    }
    producer.wake_consumer();
    let elapsed = start.elapsed();
    println!(
        "PUSHED records={} per_s={:.0}",
        args.records,
        args.records as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    Ok(())
}
