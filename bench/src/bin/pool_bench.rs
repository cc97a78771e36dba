//! `pool_bench`: the 100,000-miner harness (see `ironpool_bench::harness`). Prints each run's
//! `RESULT` line and then the table of medians. Run by `scripts/bench.sh`.

use clap::Parser;
use ironpool_bench::harness::{run_once, table::table, HarnessConfig};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Regtest nodes, jobmaster, K gateways and M load generators, measured together")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    miners: usize,
    /// Gateway processes sharing the port (each holds at most ~19,000 here: 20,000 open files).
    #[arg(long, default_value_t = 6)]
    gateways: usize,
    #[arg(long, default_value_t = 1)]
    gateway_shards: usize,
    #[arg(long, default_value_t = 6)]
    loadgens: usize,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Connects per second over all load generators; 0: all at once.
    #[arg(long, default_value_t = 0.0)]
    connect_rate: f64,
    #[arg(long, default_value_t = 5)]
    fanout_rounds: u32,
    /// Shares per second per miner, one share phase per rate: `1,0.3`.
    #[arg(long, default_value = "1,0.3", value_delimiter = ',')]
    share_rates: Vec<f64>,
    #[arg(long, default_value_t = 20)]
    share_secs: u64,
    /// Share difficulty the gateways set: 2^-29 by default (eight hashes per share).
    #[arg(long, default_value_t = 1.0 / (1u64 << 29) as f64)]
    difficulty: f64,
    /// Source addresses 127.0.0.x per load generator.
    #[arg(long, default_value_t = 8)]
    sources_per_loadgen: usize,
    /// `uring` or `epoll`, for the gateways and the load generators.
    #[arg(long, default_value = "uring")]
    driver: String,
    #[arg(long, default_value = "/tmp/ironpool-pool-bench")]
    work_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.gateways == 0 || args.gateways > 16 || args.loadgens == 0 {
        eprintln!("pool_bench: --gateways must be 1..=16 and --loadgens at least 1");
        return ExitCode::from(2);
    }
    if args.gateway_shards == 0 || args.gateway_shards > 16 {
        eprintln!(
            "pool_bench: --gateway-shards must be 1..=16 (share ring ids are process × 16 + shard)"
        );
        return ExitCode::from(2);
    }
    if args.miners < args.loadgens {
        eprintln!("pool_bench: --miners must be at least --loadgens");
        return ExitCode::from(2);
    }
    if !(args.difficulty.is_finite() && args.difficulty > 0.0) {
        eprintln!(
            "pool_bench: --difficulty {} must be a finite number above 0",
            args.difficulty
        );
        return ExitCode::from(2);
    }
    if args.loadgens * args.sources_per_loadgen > 250 {
        eprintln!(
            "pool_bench: --loadgens × --sources-per-loadgen must be at most 250 (127.0.0.2..)"
        );
        return ExitCode::from(2);
    }
    if let Some(rate) = args
        .share_rates
        .iter()
        .find(|r| !(r.is_finite() && **r >= 0.0))
    {
        eprintln!("pool_bench: --share-rates: {rate} is not a finite number ≥ 0");
        return ExitCode::from(2);
    }
    let cfg = HarnessConfig {
        miners: args.miners,
        gateways: args.gateways,
        gateway_shards: args.gateway_shards,
        loadgens: args.loadgens,
        connect_rate: args.connect_rate,
        fanout_rounds: args.fanout_rounds,
        share_rates: args.share_rates,
        share_secs: args.share_secs,
        difficulty: args.difficulty,
        sources_per_loadgen: args.sources_per_loadgen,
        driver: args.driver,
        work_dir: args.work_dir,
    };
    let mut runs = Vec::new();
    for run in 0..args.runs {
        match run_once(&cfg, run) {
            Ok(figures) => {
                println!("{}", figures.line());
                runs.push(figures);
            }
            Err(e) => {
                eprintln!("pool_bench: run {run}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "\n{} miners, {} gateway processes × {} shards, {} load generators, {} runs\n",
        cfg.miners,
        cfg.gateways,
        cfg.gateway_shards,
        cfg.loadgens,
        runs.len()
    );
    print!("{}", table(&runs));
    ExitCode::SUCCESS
}
