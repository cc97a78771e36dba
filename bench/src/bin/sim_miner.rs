//! `sim-miner`: simulated Stratum V1 miners against any pool. Prints live figures every 2 s and a
//! final machine-readable `RESULT key=value ...` line on stdout.
//!
//! ```text
//! sim-miner --addr 127.0.0.1:3333 --connections 100 --hashrate 20000 \
//!           --loopback-sources 4 --duration-s 60
//! ```

use clap::Parser;
use ironpool_bench::sim_miner::{Faults, RejectCode, SimMiner, SimMinerConfig, SimMinerStats};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "sim-miner",
    about = "Simulated Stratum V1 miners (real TCP, real sha256d)"
)]
struct Args {
    /// Pool address, host:port (resolved once at start).
    #[arg(long)]
    addr: String,
    /// Number of connections.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Account name: worker i authorizes as USER.WORKER_PREFIX followed by i (tester.sim0, ...).
    #[arg(long, default_value = "tester")]
    user: String,
    /// Worker name prefix.
    #[arg(long, default_value = "sim")]
    worker_prefix: String,
    /// Password for mining.authorize.
    #[arg(long, default_value = "x")]
    password: String,
    /// Hashes per second per connection (0: as fast as one thread allows, shared).
    #[arg(long, default_value_t = 100_000.0)]
    hashrate: f64,
    /// Do not negotiate version rolling (by default: mining.configure with mask 1fffe000, and
    /// the granted bits are rolled).
    #[arg(long)]
    no_version_rolling: bool,
    /// Send mining.suggest_difficulty with this value.
    #[arg(long)]
    suggest_difficulty: Option<f64>,
    /// Send mining.extranonce.subscribe.
    #[arg(long)]
    extranonce_subscribe: bool,
    /// Source addresses for the connections, used in turn (comma-separated).
    #[arg(long, value_delimiter = ',')]
    source_ips: Vec<IpAddr>,
    /// Use N loopback source addresses 127.0.0.1, 127.0.0.2, ... (added to --source-ips).
    #[arg(long, default_value_t = 0)]
    loopback_sources: u32,
    /// Stop after this many seconds.
    #[arg(long)]
    duration_s: Option<f64>,
    /// Stop once this many blocks were submitted.
    #[arg(long)]
    blocks: Option<u64>,
    /// Seconds to wait before reconnecting after a lost connection.
    #[arg(long, default_value_t = 1.0)]
    reconnect_delay_s: f64,
    /// Resubmit each accepted share (expect rejects with code 22).
    #[arg(long)]
    fault_duplicate: bool,
    /// Submit one held-back share per clean job after it (expect 21).
    #[arg(long)]
    fault_stale: bool,
    /// Submit a share below the target after each valid one (expect 23).
    #[arg(long)]
    fault_low_difficulty: bool,
    /// Submit a share with version bits outside the mask after each valid one (expect 20).
    #[arg(long)]
    fault_bad_version: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sim-miner: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sim-miner: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let cfg = config(&args).await?;
    let connections = cfg.connections;
    let miner = SimMiner::start(cfg).map_err(|e| e.to_string())?;
    let mut ticker = tokio::time::interval(Duration::from_secs(2));
    ticker.tick().await;
    let mut previous = miner.stats();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let now = miner.stats();
                println!("{}", live_line(&previous, &now, connections));
                previous = now;
            }
            () = miner.stopping() => break,
            r = tokio::signal::ctrl_c() => {
                if let Err(e) = r {
                    eprintln!("sim-miner: cannot wait for ctrl-c: {e}");
                }
                break;
            }
        }
    }
    let report = miner.stop().await;
    for (index, error) in report.stats.last_errors.iter().enumerate() {
        if let Some(error) = error {
            eprintln!("connection {index}: last error: {error}");
        }
    }
    println!("{}", report.result_line());
    Ok(if report.stats.authorized == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn config(args: &Args) -> Result<SimMinerConfig, String> {
    let addr: SocketAddr = tokio::net::lookup_host(args.addr.as_str())
        .await
        .map_err(|e| format!("--addr {}: {e}", args.addr))?
        .next()
        .ok_or_else(|| format!("--addr {}: no address", args.addr))?;
    let mut source_ips = args.source_ips.clone();
    source_ips.extend((0..args.loopback_sources).map(loopback));
    let seconds = |s: f64, name: &str| {
        Duration::try_from_secs_f64(s).map_err(|e| format!("--{name} {s}: {e}"))
    };
    let mut cfg = SimMinerConfig::new(addr);
    cfg.connections = args.connections;
    cfg.user = args.user.clone();
    cfg.worker_prefix = args.worker_prefix.clone();
    cfg.password = args.password.clone();
    cfg.hashrate_per_connection = args.hashrate;
    cfg.version_rolling = !args.no_version_rolling;
    cfg.suggest_difficulty = args.suggest_difficulty;
    cfg.extranonce_subscribe = args.extranonce_subscribe;
    cfg.source_ips = source_ips;
    cfg.duration = args
        .duration_s
        .map(|s| seconds(s, "duration-s"))
        .transpose()?;
    cfg.stop_after_blocks = args.blocks;
    cfg.reconnect_delay = seconds(args.reconnect_delay_s, "reconnect-delay-s")?;
    cfg.faults = Faults {
        duplicate: args.fault_duplicate,
        stale: args.fault_stale,
        low_difficulty: args.fault_low_difficulty,
        bad_version: args.fault_bad_version,
    };
    Ok(cfg)
}

/// The `n`-th loopback address, skipping .0 and .255 of each /24: 127.0.0.1, 127.0.0.2, ...
fn loopback(n: u32) -> IpAddr {
    let host = n % 254 + 1;
    let subnet = n / 254;
    // 127.0.0.0/8 holds 65,536 such /24s; beyond that the addresses repeat.
    let [_, _, b, c] = (subnet % 65_536).to_be_bytes();
    // host is in 1..=254.
    IpAddr::V4(Ipv4Addr::new(127, b, c, host as u8))
}

fn live_line(previous: &SimMinerStats, now: &SimMinerStats, connections: usize) -> String {
    let secs = (now.elapsed - previous.elapsed).as_secs_f64().max(1e-9);
    let hashrate = (now.hashes - previous.hashes) as f64 / secs;
    let rejected = &now.shares.rejected;
    let named = [
        RejectCode::Other,
        RejectCode::JobNotFound,
        RejectCode::Duplicate,
        RejectCode::LowDifficulty,
    ]
    .map(|code| rejected.get(code));
    format!(
        "t={:.0}s conns={}/{} authorized={} hashrate={} accepted={} rejected={} \
         (r20={} r21={} r22={} r23={} other={}) blocks={} disconnects={}",
        now.elapsed.as_secs_f64(),
        now.open_connections,
        connections,
        now.authorized,
        human_rate(hashrate),
        now.shares.accepted,
        rejected.total(),
        named[0],
        named[1],
        named[2],
        named[3],
        rejected.total() - named.iter().sum::<u64>(),
        now.blocks_found,
        now.disconnects,
    )
}

fn human_rate(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2}MH/s", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1}kH/s", rate / 1e3)
    } else {
        format!("{rate:.0}H/s")
    }
}
