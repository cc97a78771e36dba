//! `loadgen`: simulated Stratum V1 miners against any pool, with latency histograms.
//!
//! Alone, it connects its miners, optionally triggers blocks and times their clean notifies,
//! optionally submits shares for a while, and prints one line per measurement:
//!
//! ```sh
//! loadgen --addr 127.0.0.1:3333 --miners 10000 --sources 127.0.0.2+8 \
//!     --trigger-rpc 127.0.0.1:18443 --rpc-user u --rpc-password p --fanout-rounds 5 \
//!     --share-rate 1 --share-secs 30 --mix valid=0.97,duplicate=0.01,stale=0.01,low=0.01
//! ```
//!
//! With `--control`, it connects its miners and then answers commands on stdin, one line each
//! (used by the `pool_bench` harness to drive several processes at once):
//! `status`, `report-reset`, `rate <shares/s per miner>`, `trigger`,
//! `fanout <trigger_ns> <block hash|none> <timeout_ms>`, `stop`.

use clap::Parser;
use ironpool_bench::loadgen::trigger::{display_hex, internal_order, Trigger};
use ironpool_bench::loadgen::{Driver, Loadgen, LoadgenConfig, ShareMix};
use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Simulated Stratum V1 miners for measuring a pool")]
struct Args {
    /// The pool's stratum address.
    #[arg(long)]
    addr: SocketAddr,
    /// Miners (connections) in this process.
    #[arg(long, default_value_t = 1000)]
    miners: usize,
    /// Number of this process's first worker (several processes: distinct ranges).
    #[arg(long, default_value_t = 0)]
    first_index: usize,
    #[arg(long, default_value = "bench")]
    user: String,
    #[arg(long, default_value = "lg")]
    worker_prefix: String,
    #[arg(long, default_value = "x")]
    password: String,
    /// Source addresses: `127.0.0.2,127.0.0.3` or `127.0.0.2+8` (eight from 127.0.0.2).
    #[arg(long)]
    sources: Option<String>,
    /// `uring` or `epoll`.
    #[arg(long, default_value = "uring")]
    driver: String,
    /// Connects per second; 0: all at once.
    #[arg(long, default_value_t = 0.0)]
    connect_rate: f64,
    /// Seconds to wait for every miner to be authorized.
    #[arg(long, default_value_t = 300)]
    connect_timeout_s: u64,
    /// Each connection reconnects after this long (± 25 %): churn.
    #[arg(long)]
    session_lifetime_ms: Option<u64>,
    /// Do not send `mining.configure`.
    #[arg(long)]
    no_configure: bool,
    /// Shares per second per miner in the share phase.
    #[arg(long, default_value_t = 0.0)]
    share_rate: f64,
    /// Length of the share phase (0: none).
    #[arg(long, default_value_t = 0)]
    share_secs: u64,
    /// Share kinds: `valid=0.97,duplicate=0.01,stale=0.01,low=0.01`.
    #[arg(long, default_value = "valid=1")]
    mix: String,
    /// Blocks to trigger and time (needs a trigger).
    #[arg(long, default_value_t = 0)]
    fanout_rounds: u32,
    /// Trigger blocks with `generatetoaddress` at this node RPC address.
    #[arg(long)]
    trigger_rpc: Option<SocketAddr>,
    #[arg(long, default_value = "")]
    rpc_user: String,
    #[arg(long, default_value = "")]
    rpc_password: String,
    /// Address paid by triggered blocks (regtest P2PKH by default).
    #[arg(long, default_value = "n1ESb9aqqxPZMG33uCvA9avKqHAtP5DBau")]
    trigger_address: String,
    /// Trigger blocks with this shell command instead.
    #[arg(long)]
    trigger_cmd: Option<String>,
    /// How long to wait for every miner's clean notify after a trigger.
    #[arg(long, default_value_t = 30_000)]
    fanout_timeout_ms: u64,
    /// Answer commands on stdin after connecting.
    #[arg(long)]
    control: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_sources(text: &str) -> Result<Vec<IpAddr>, String> {
    if let Some((first, count)) = text.split_once('+') {
        let first: std::net::Ipv4Addr = first
            .parse()
            .map_err(|e| format!("--sources {text:?}: {e}"))?;
        let count: u32 = count
            .parse()
            .map_err(|e| format!("--sources {text:?}: count: {e}"))?;
        let base = u32::from(first);
        return (0..count)
            .map(|i| {
                base.checked_add(i)
                    .map(|ip| IpAddr::V4(ip.into()))
                    .ok_or_else(|| format!("--sources {text:?} runs past 255.255.255.255"))
            })
            .collect();
    }
    text.split(',')
        .map(|ip| {
            ip.trim()
                .parse()
                .map_err(|e| format!("--sources {ip:?}: {e}"))
        })
        .collect()
}

fn config(args: &Args) -> Result<LoadgenConfig, String> {
    let mut cfg = LoadgenConfig::new(args.addr, args.miners);
    cfg.first_index = args.first_index;
    cfg.user = args.user.clone();
    cfg.worker_prefix = args.worker_prefix.clone();
    cfg.password = args.password.clone();
    if let Some(sources) = &args.sources {
        cfg.source_ips = parse_sources(sources)?;
    }
    cfg.driver = match args.driver.as_str() {
        "uring" => Driver::IoUring,
        "epoll" => Driver::Epoll,
        other => return Err(format!("--driver {other:?}: expected uring or epoll")),
    };
    cfg.connect_rate = args.connect_rate;
    cfg.session_lifetime = args.session_lifetime_ms.map(Duration::from_millis);
    cfg.configure = !args.no_configure;
    cfg.mix = ShareMix::parse(&args.mix).map_err(|e| format!("--mix: {e}"))?;
    cfg.seed = args.seed;
    Ok(cfg)
}

fn trigger(args: &Args) -> Option<Trigger> {
    if let Some(addr) = args.trigger_rpc {
        return Some(Trigger::Rpc {
            addr,
            user: args.rpc_user.clone(),
            password: args.rpc_password.clone(),
            address: args.trigger_address.clone(),
        });
    }
    args.trigger_cmd.clone().map(Trigger::Command)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let cfg = config(args)?;
    let trigger = trigger(args);
    if args.fanout_rounds > 0 && trigger.is_none() {
        return Err("--fanout-rounds needs --trigger-rpc or --trigger-cmd".into());
    }
    let lg = Loadgen::start(cfg).map_err(|e| e.to_string())?;
    let connected = lg
        .wait_authorized(
            args.miners as u64,
            Duration::from_secs(args.connect_timeout_s),
        )
        .map_err(|e| e.to_string())?;
    println!("CONNECTED {}", connected.line());
    if args.control {
        control(&lg, trigger.as_ref())?;
        let report = lg.stop().map_err(|e| e.to_string())?;
        println!("FINAL {}", report.line());
        return Ok(());
    }
    let fanout_timeout = Duration::from_millis(args.fanout_timeout_ms);
    for _ in 0..args.fanout_rounds {
        let Some(trigger) = &trigger else { break };
        let fired = trigger.fire()?;
        let report = lg
            .fanout(fired.at_ns, fired.block, fanout_timeout)
            .map_err(|e| e.to_string())?;
        println!("{}", report.line());
        std::thread::sleep(Duration::from_secs(1));
    }
    if args.share_secs > 0 && args.share_rate > 0.0 {
        lg.report(true).map_err(|e| e.to_string())?;
        lg.set_share_rate(args.share_rate)
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_secs(args.share_secs));
        lg.set_share_rate(0.0).map_err(|e| e.to_string())?;
        // The last submits' replies.
        std::thread::sleep(Duration::from_secs(2));
        let report = lg.report(true).map_err(|e| e.to_string())?;
        let totals = report.totals();
        println!(
            "SHARES secs={} accepted_per_s={:.0} {}",
            args.share_secs,
            totals.accepted as f64 / args.share_secs as f64,
            report.line()
        );
    }
    let report = lg.stop().map_err(|e| e.to_string())?;
    println!("FINAL {}", report.line());
    Ok(())
}

/// Answers stdin commands until `stop` or end of input.
fn control(lg: &Loadgen, trigger: Option<&Trigger>) -> Result<(), String> {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["status"] => lg
                .report(false)
                .map(|r| r.line())
                .map_err(|e| e.to_string()),
            ["report-reset"] => lg.report(true).map(|r| r.line()).map_err(|e| e.to_string()),
            ["rate", rate] => rate
                .parse::<f64>()
                .map_err(|e| format!("rate {rate:?}: {e}"))
                .and_then(|r| lg.set_share_rate(r).map_err(|e| e.to_string()))
                .map(|()| "OK".to_owned()),
            ["trigger"] => match trigger {
                Some(t) => t.fire().map(|f| {
                    let block = f.block.map_or("none".to_owned(), |b| display_hex(&b));
                    format!("TRIGGERED at_ns={} block={block}", f.at_ns)
                }),
                None => Err("no trigger configured".into()),
            },
            ["fanout", at_ns, block, timeout_ms] => (|| {
                let at_ns: u64 = at_ns.parse().map_err(|e| format!("trigger_ns: {e}"))?;
                let block = match *block {
                    "none" => None,
                    hex => Some(internal_order(hex)?),
                };
                let timeout: u64 = timeout_ms.parse().map_err(|e| format!("timeout_ms: {e}"))?;
                lg.fanout(at_ns, block, Duration::from_millis(timeout))
                    .map(|r| r.line())
                    .map_err(|e| e.to_string())
            })(),
            ["stop"] => return Ok(()),
            _ => Err(format!("unknown command {line:?}")),
        };
        match answer {
            Ok(text) => println!("{text}"),
            Err(e) => println!("ERROR {e}"),
        }
    }
    Ok(())
}
