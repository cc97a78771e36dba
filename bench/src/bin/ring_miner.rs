//! `ring-miner`: mines on the job ring and sends blocks through a share ring, printing live
//! figures. The demo's miner until the stratum gateway and simulated miners exist.

use clap::Parser;
use ironpool_bench::ring_miner::{attach_job_ring, block_candidate, grind, send, wait_jobs};
use ironpool_shared::ring::{
    job_ring_path, share_ring_path, ShareProducer, ShareRingConfig, ShareSender, ShareSenderConfig,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "ring-miner",
    about = "CPU miner on ironpool's rings (demo and tests)"
)]
struct Args {
    /// Ring directory (the jobmaster's rings.dir).
    #[arg(long)]
    ring_dir: PathBuf,
    /// Shard id of the share ring to write.
    #[arg(long, default_value_t = 0)]
    shard: u16,
    /// Directory for the share ring's overflow spool.
    #[arg(long)]
    spool_dir: PathBuf,
    /// Stop after this many blocks (0: run until killed).
    #[arg(long, default_value_t = 0)]
    blocks: u64,
    /// Pause after each block found, in milliseconds, so the demo's figures can be followed.
    #[arg(long, default_value_t = 1000)]
    pause_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ring-miner: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mut reader = attach_job_ring(&job_ring_path(&args.ring_dir), Duration::from_secs(60))
        .map_err(|e| e.to_string())?;
    let producer = ShareProducer::open(
        share_ring_path(&args.ring_dir, args.shard),
        &ShareRingConfig::default(),
    )
    .map_err(|e| e.to_string())?;
    let mut sender = ShareSender::new(producer, &ShareSenderConfig::new(&args.spool_dir))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let (mut blocks, mut jobs_seen, mut hashes) = (0u64, 0u64, 0u64);
    let mut job = None;
    let mut extranonce2 = 0u64;
    loop {
        let timeout = if job.is_some() {
            Duration::ZERO
        } else {
            Duration::from_secs(5)
        };
        for received in wait_jobs(&mut reader, timeout)? {
            jobs_seen += 1;
            if received.record.clean || received.resync || job.is_none() {
                println!(
                    "job {:>8}  height {:>5}  clean {}  txs-branch {}",
                    received.record.job_id_hex(),
                    received.record.height,
                    received.record.clean || received.resync,
                    received.record.merkle_branch.len()
                );
            }
            job = Some(received.record);
        }
        let Some(current) = job.as_ref() else {
            continue;
        };
        extranonce2 += 1;
        let en2 = extranonce2.to_le_bytes()[..current.extranonce.extranonce2.min(8)].to_vec();
        let en2 = [
            en2,
            vec![0; current.extranonce.extranonce2.saturating_sub(8)],
        ]
        .concat();
        let en1 = vec![0xab; current.extranonce.extranonce1];
        hashes += 4096;
        if let Some(solution) = grind(current, &en1, &en2, 0, 4096) {
            send(
                &mut sender,
                &block_candidate(args.shard, current, &solution, "demo", "ring-miner"),
            )?;
            blocks += 1;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "block candidate #{blocks} at height {} sent   jobs {jobs_seen}   ~{:.0} hashes/s",
                current.height,
                hashes as f64 / secs.max(0.001)
            );
            // The next block builds on this one: wait for its clean job instead of mining a
            // competing block on the same tip.
            job = None;
            if args.blocks != 0 && blocks >= args.blocks {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(args.pause_ms));
        }
    }
}
