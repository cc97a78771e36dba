//! The 100,000-miner harness: regtest nodes, the jobmaster, K gateway processes sharing one port
//! and M load generator processes, measured together on this machine.
//!
//! One run:
//! 1. two regtest nodes (ZMQ), the jobmaster, K gateways (`SO_REUSEPORT` on one port, fixed share
//!    difficulty), then M load generators connect their miners (all at once or at a rate);
//! 2. held idle: gateway RSS and kernel memory are read against the readings before the miners;
//! 3. fan-out: `generatetoaddress` on node 0, timestamped; every miner's clean notify is timed
//!    from it (block found at the node → miner has the notify, through ZMQ, the jobmaster, the job
//!    ring, the gateways and loopback TCP);
//! 4. shares: the jobmaster is stopped and the harness publishes a job with difficulty-1 bits
//!    itself (regtest's own bits would make every other share a block), drains the share rings
//!    as the metawriter will, and every miner submits at the set rate.
//!
//! - `child`: the processes; `system`: /proc readings; `table`: medians over runs.

pub mod child;
pub mod system;
pub mod table;

use crate::fixtures;
use crate::loadgen::record::{fields, histogram_from_hex, new_histogram};
use crate::loadgen::trigger::{display_hex, Trigger};
use crate::regtest::{RegtestNodes, RegtestOptions};
use crate::sim_miner::{RejectCode, ShareKind};
use child::{sibling_binary, LoadgenProcess, Process};
use hdrhistogram::Histogram;
use ironpool_shared::ring::{
    job_ring_path, share_ring_path, JobRing, JobRingConfig, ShareConsumer,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use system::{cpu_seconds, rss_bytes, KernelMemory};

/// Regtest P2PKH address that triggered blocks pay.
const PAYOUT: &str = "n1ESb9aqqxPZMG33uCvA9avKqHAtP5DBau";
/// Job id of the harness's own job in the share phase: far above the jobmaster's.
const SHARE_JOB_ID: u32 = 0xf000_0000;

/// What the harness runs.
#[derive(Debug, Clone)]
pub struct HarnessConfig {
    pub miners: usize,
    pub gateways: usize,
    pub gateway_shards: usize,
    pub loadgens: usize,
    /// Connects per second over all load generators; 0: all at once.
    pub connect_rate: f64,
    pub fanout_rounds: u32,
    /// Shares per second per miner, one share phase per rate.
    pub share_rates: Vec<f64>,
    pub share_secs: u64,
    /// The gateways' fixed share difficulty.
    pub difficulty: f64,
    pub sources_per_loadgen: usize,
    pub driver: String,
    pub work_dir: PathBuf,
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct RunFigures {
    pub miners_held: u64,
    pub connect_failures: u64,
    pub connects_per_s: f64,
    pub connect_p99_us: u64,
    pub gateway_bytes_per_miner: f64,
    pub kernel_slab_per_socket: f64,
    pub kernel_tcp_buffers_per_socket: f64,
    pub fanout_p50_us: u64,
    pub fanout_p99_us: u64,
    pub fanout_max_us: u64,
    pub fanout_missing: u64,
    pub ring_fanout_p99_us: u64,
    pub ring_fanout_max_us: u64,
    pub shares: Vec<SharePhase>,
    /// Accepted shares of all share phases minus the records drained from the share rings
    /// meanwhile: 0 when nothing accepted was lost.
    pub accepted_not_drained: i64,
}

/// The figures of one share phase.
#[derive(Debug, Clone, Default)]
pub struct SharePhase {
    /// Shares per second per miner asked of the load generators.
    pub rate: f64,
    /// Shares answered "accepted" within the window, per second of the window.
    pub accepted_per_s: f64,
    pub rejected: u64,
    /// Submits given up (the connection ended first).
    pub unanswered: u64,
    /// Shares accepted, the late answers after the window included.
    pub accepted: u64,
    /// Records consumed from the share rings from the window's opening on (equals `accepted`
    /// but for records consumed in the instant between the two counts' start).
    pub drained: u64,
    /// `accepted` and the warm-up's accepted shares.
    pub accepted_with_warm_up: u64,
    pub submit_p50_us: u64,
    pub submit_p99_us: u64,
    pub gateway_cpu_s_per_m_shares: f64,
    pub loadgen_cpu_s_per_m_shares: f64,
}

impl RunFigures {
    pub fn line(&self) -> String {
        format!(
            "RESULT miners_held={} connect_failures={} connects_per_s={:.0} connect_p99_us={} gateway_bytes_per_miner={:.0} kernel_slab_per_socket={:.0} kernel_tcp_buffers_per_socket={:.0} fanout_p50_us={} fanout_p99_us={} fanout_max_us={} fanout_missing={} ring_fanout_p99_us={} ring_fanout_max_us={} accepted_not_drained={}{}",
            self.miners_held,
            self.connect_failures,
            self.connects_per_s,
            self.connect_p99_us,
            self.gateway_bytes_per_miner,
            self.kernel_slab_per_socket,
            self.kernel_tcp_buffers_per_socket,
            self.fanout_p50_us,
            self.fanout_p99_us,
            self.fanout_max_us,
            self.fanout_missing,
            self.ring_fanout_p99_us,
            self.ring_fanout_max_us,
            self.accepted_not_drained,
            self.shares
                .iter()
                .map(|p| format!(
                    " rate{r}_accepted_per_s={:.0} rate{r}_rejected={} rate{r}_unanswered={} rate{r}_accepted={} rate{r}_drained={} rate{r}_submit_p50_us={} rate{r}_submit_p99_us={} rate{r}_gateway_cpu_s_per_m={:.1} rate{r}_loadgen_cpu_s_per_m={:.1}",
                    p.accepted_per_s,
                    p.rejected,
                    p.unanswered,
                    p.accepted,
                    p.drained,
                    p.submit_p50_us,
                    p.submit_p99_us,
                    p.gateway_cpu_s_per_m_shares,
                    p.loadgen_cpu_s_per_m_shares,
                    r = p.rate
                ))
                .collect::<String>()
        )
    }
}

/// Everything started for one run; dropped in reverse order of start.
struct Pool {
    loadgens: Vec<LoadgenProcess>,
    gateways: Vec<Process>,
    jobmaster: Option<Process>,
    _nodes: RegtestNodes,
    rings: PathBuf,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.loadgens.clear();
        self.gateways.clear();
        self.jobmaster.take();
        let _ = std::fs::remove_dir_all(&self.rings);
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("free port: {e}"))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn log(message: &str) {
    eprintln!(
        "[pool_bench {:>8.1}s] {message}",
        START.elapsed().as_secs_f64()
    );
}

static START: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// Sends `command` to every load generator, then collects one answer from each.
fn ask_all(
    loadgens: &mut [LoadgenProcess],
    command: &str,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    for lg in loadgens.iter_mut() {
        lg.send(command)?;
    }
    loadgens.iter_mut().map(|lg| lg.answer(timeout)).collect()
}

fn merge(answers: &[String], key: &str) -> Result<Histogram<u64>, String> {
    let mut merged = new_histogram();
    for answer in answers {
        let hex = fields(answer)
            .get(key)
            .copied()
            .ok_or_else(|| format!("no {key} in {answer:.200}"))?;
        merged
            .add(histogram_from_hex(hex)?)
            .map_err(|e| format!("merging {key}: {e:?}"))?;
    }
    Ok(merged)
}

/// The numeric `key` of each answer that has it.
fn values<'a>(answers: &'a [String], key: &'a str) -> impl Iterator<Item = u64> + 'a {
    answers
        .iter()
        .filter_map(move |a| fields(a).get(key).and_then(|v| v.parse::<u64>().ok()))
}

fn sum(answers: &[String], key: &str) -> u64 {
    values(answers, key).sum()
}

/// One complete run.
pub fn run_once(cfg: &HarnessConfig, run: usize) -> Result<RunFigures, String> {
    let dir = cfg.work_dir.join(format!("run{run}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let rings = PathBuf::from(format!(
        "/dev/shm/ironpool-bench-{}-{run}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&rings);
    std::fs::create_dir_all(&rings).map_err(|e| format!("{}: {e}", rings.display()))?;
    let mut figures = RunFigures::default();

    log("starting two regtest nodes");
    let nodes = RegtestNodes::start(RegtestOptions {
        nodes: 2,
        cookie_auth: false,
        zmq: true,
    })
    .map_err(|e| e.to_string())?;
    let node0 = nodes.nodes()[0].clone();
    let node1 = nodes.nodes()[1].clone();
    node0.generate(1).map_err(|e| e.to_string())?;

    let ring_ids: Vec<usize> = (0..cfg.gateways)
        .flat_map(|g| (0..cfg.gateway_shards).map(move |s| g * 16 + s))
        .collect();
    let jobmaster_conf = dir.join("jobmaster.toml");
    write(
        &jobmaster_conf,
        &format!(
            "network = \"regtest\"\n\
             [[node]]\nname = \"node0\"\nurl = \"{}\"\nuser = \"{}\"\npassword = \"{}\"\ntimeout_ms = 5000\nzmq_hashblock = \"{}\"\n\
             [[node]]\nname = \"node1\"\nurl = \"{}\"\nuser = \"{}\"\npassword = \"{}\"\ntimeout_ms = 5000\n\
             [coinbase]\ntag = \"/ironpool-bench/\"\n[[payout]]\naddress = \"{PAYOUT}\"\nweight = 1\n\
             [rings]\ndir = \"{}\"\nshards = {:?}\n[blocks]\ndir = \"{}\"\n",
            node0.rpc_url(),
            node0.rpc_user.clone().unwrap_or_default(),
            node0.rpc_password.clone().unwrap_or_default(),
            node0.zmq_endpoint.clone().unwrap_or_default(),
            node1.rpc_url(),
            node1.rpc_user.clone().unwrap_or_default(),
            node1.rpc_password.clone().unwrap_or_default(),
            rings.display(),
            ring_ids,
            dir.join("blocks").display()
        ),
    )?;
    let control = sibling_binary("ironpool-control")?;
    let jobmaster = Process::spawn(
        "jobmaster",
        &control,
        &[
            "jobmaster".into(),
            "--config".into(),
            jobmaster_conf.display().to_string(),
        ],
        &dir.join("jobmaster.log"),
    )?;
    let job_ring = job_ring_path(&rings);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !job_ring.exists() {
        if Instant::now() > deadline {
            return Err(format!(
                "the jobmaster wrote no job ring; see {}",
                dir.join("jobmaster.log").display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut pool = Pool {
        loadgens: Vec::new(),
        gateways: Vec::new(),
        jobmaster: Some(jobmaster),
        _nodes: nodes,
        rings: rings.clone(),
    };

    let port = free_port()?;
    let gateway_bin = sibling_binary("ironpool-gateway")?;
    log(&format!(
        "starting {} gateway processes on 127.0.0.1:{port}",
        cfg.gateways
    ));
    for g in 0..cfg.gateways {
        let conf = dir.join(format!("gateway{g}.toml"));
        write(
            &conf,
            &format!(
                "[gateway]\nshards = {}\npin_cores = false\nprocess_id = {g}\ndriver = \"{}\"\n\
                 [rings]\ndir = \"{}\"\nspool_dir = \"{}\"\nshare_ring_records = 65536\n\
                 [[port]]\nlisten = [\"127.0.0.1:{port}\"]\ndifficulty = {d:e}\nmin_difficulty = {d:e}\nmax_difficulty = {d:e}\n",
                cfg.gateway_shards,
                if cfg.driver == "epoll" { "epoll" } else { "io_uring" },
                rings.display(),
                dir.join(format!("spool{g}")).display(),
                d = cfg.difficulty
            ),
        )?;
        pool.gateways.push(Process::spawn(
            &format!("gateway{g}"),
            &gateway_bin,
            &["--config".into(), conf.display().to_string()],
            &dir.join(format!("gateway{g}.log")),
        )?);
    }
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            return Err("no gateway listens".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every gateway binds the port; give the last ones time to attach to the rings.
    std::thread::sleep(Duration::from_secs(2));
    for gw in &mut pool.gateways {
        if gw.exited() {
            return Err(format!(
                "{} exited; see its log in {}",
                gw.name,
                dir.display()
            ));
        }
    }
    let gateway_pids: Vec<u32> = pool.gateways.iter().map(Process::pid).collect();
    let rss_before: u64 = gateway_pids.iter().map(|p| rss_bytes(*p)).sum();
    let kernel_before = KernelMemory::read();

    let loadgen_bin = sibling_binary("loadgen")?;
    let per_loadgen = cfg.miners.div_ceil(cfg.loadgens);
    log(&format!(
        "{} load generators connect {} miners",
        cfg.loadgens, cfg.miners
    ));
    let mut remaining = cfg.miners;
    for l in 0..cfg.loadgens {
        let miners = per_loadgen.min(remaining);
        remaining -= miners;
        let first_source = 2 + l * cfg.sources_per_loadgen;
        let args: Vec<String> = vec![
            "--addr".into(),
            addr.to_string(),
            "--miners".into(),
            miners.to_string(),
            "--first-index".into(),
            (l * per_loadgen).to_string(),
            "--sources".into(),
            format!("127.0.0.{first_source}+{}", cfg.sources_per_loadgen),
            "--driver".into(),
            cfg.driver.clone(),
            "--connect-rate".into(),
            (cfg.connect_rate / cfg.loadgens as f64).to_string(),
            "--connect-timeout-s".into(),
            "600".into(),
            "--seed".into(),
            (run * 100 + l + 1).to_string(),
        ];
        pool.loadgens.push(LoadgenProcess::spawn(
            &loadgen_bin,
            &args,
            &dir.join(format!("loadgen{l}.log")),
        )?);
    }
    let connected: Vec<String> = pool
        .loadgens
        .iter_mut()
        .map(|lg| lg.answer(Duration::from_secs(620)))
        .collect::<Result<_, _>>()?;
    let first_ns = values(&connected, "first_connect_ns").min().unwrap_or(0);
    let last_ns = values(&connected, "last_authorized_ns").max().unwrap_or(0);
    figures.miners_held = sum(&connected, "authorized");
    figures.connect_failures = sum(&connected, "connect_failures");
    figures.connects_per_s =
        figures.miners_held as f64 / ((last_ns.saturating_sub(first_ns)) as f64 / 1e9).max(1e-9);
    figures.connect_p99_us = merge(&connected, "h_connect")?.value_at_quantile(0.99);
    log(&format!(
        "{} miners authorized at {:.0}/s, {} failed connects",
        figures.miners_held, figures.connects_per_s, figures.connect_failures
    ));

    std::thread::sleep(Duration::from_secs(3));
    let rss_after: u64 = gateway_pids.iter().map(|p| rss_bytes(*p)).sum();
    let kernel_after = KernelMemory::read();
    let held = figures.miners_held.max(1) as f64;
    figures.gateway_bytes_per_miner = rss_after.saturating_sub(rss_before) as f64 / held;
    // Both ends of every connection are sockets of this host.
    figures.kernel_slab_per_socket =
        kernel_after.slab.saturating_sub(kernel_before.slab) as f64 / (2.0 * held);
    figures.kernel_tcp_buffers_per_socket = kernel_after
        .tcp_buffers
        .saturating_sub(kernel_before.tcp_buffers)
        as f64
        / (2.0 * held);

    let trigger = Trigger::Rpc {
        addr: format!("127.0.0.1:{}", node0.rpc_port)
            .parse()
            .map_err(|e| format!("{e}"))?,
        user: node0.rpc_user.clone().unwrap_or_default(),
        password: node0.rpc_password.clone().unwrap_or_default(),
        address: PAYOUT.into(),
    };
    let mut fanout = new_histogram();
    for round in 0..cfg.fanout_rounds {
        let fired = trigger.fire()?;
        let block = fired.block.map_or("none".to_owned(), |b| display_hex(&b));
        let answers = ask_all(
            &mut pool.loadgens,
            &format!("fanout {} {block} 30000", fired.at_ns),
            Duration::from_secs(40),
        )?;
        let round_hist = merge(&answers, "h_fanout")?;
        let received = sum(&answers, "received");
        figures.fanout_missing += figures.miners_held.saturating_sub(received);
        log(&format!(
            "fan-out round {round}: {received} miners, p50 {} µs, p99 {} µs, last {} µs",
            round_hist.value_at_quantile(0.5),
            round_hist.value_at_quantile(0.99),
            round_hist.max()
        ));
        fanout.add(&round_hist).map_err(|e| format!("{e:?}"))?;
        std::thread::sleep(Duration::from_secs(1));
    }
    figures.fanout_p50_us = fanout.value_at_quantile(0.5);
    figures.fanout_p99_us = fanout.value_at_quantile(0.99);
    figures.fanout_max_us = fanout.max();

    // Shares: the harness becomes the job source (see the module comment).
    if let Some(mut jobmaster) = pool.jobmaster.take() {
        jobmaster.terminate(Duration::from_secs(10));
    }
    let mut ring = JobRing::open(&job_ring, &JobRingConfig::default())
        .map_err(|e| format!("job ring: {e}"))?;
    let record = fixtures::job(SHARE_JOB_ID + run as u32, true, 0xee, 0x1d00_ffff);
    let at_ns = crate::loadgen::clock::monotonic_ns();
    ring.publish(&record.encode())
        .map_err(|e| format!("publish: {e}"))?;
    let prev_hex = display_hex(&record.prev_hash);
    let answers = ask_all(
        &mut pool.loadgens,
        &format!("fanout {at_ns} {prev_hex} 30000"),
        Duration::from_secs(40),
    )?;
    let ring_fanout = merge(&answers, "h_fanout")?;
    figures.ring_fanout_p99_us = ring_fanout.value_at_quantile(0.99);
    figures.ring_fanout_max_us = ring_fanout.max();

    let stop_drain = Arc::new(AtomicBool::new(false));
    let drained = Arc::new(AtomicU64::new(0));
    let mut drains = Vec::new();
    for id in &ring_ids {
        let path = share_ring_path(&rings, *id as u16);
        let (stop, drained) = (stop_drain.clone(), drained.clone());
        drains.push(std::thread::spawn(move || -> Result<(), String> {
            let mut consumer =
                ShareConsumer::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            while !stop.load(Ordering::Relaxed) {
                let mut n = 0;
                while let Some(record) = consumer.pop_encoded() {
                    record.map_err(|e| format!("{}: {e:?}", path.display()))?;
                    n += 1;
                    if n == 4096 {
                        break;
                    }
                }
                if n == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                } else {
                    consumer.commit();
                    drained.fetch_add(n, Ordering::Relaxed);
                }
            }
            Ok(())
        }));
    }
    let loadgen_pids: Vec<u32> = pool.loadgens.iter().map(|l| l.process.pid()).collect();
    // Nothing accepted may be missing from the share rings: count every accepted share of the
    // share phases (warm-ups and late answers included) against every record drained.
    ask_all(&mut pool.loadgens, "report-reset", Duration::from_secs(30))?;
    let drained_at_start = drained.load(Ordering::Relaxed);
    let mut accepted_total = 0;
    for rate in &cfg.share_rates {
        let phase = share_phase(
            cfg,
            &mut pool.loadgens,
            *rate,
            &gateway_pids,
            &loadgen_pids,
            &drained,
        )?;
        accepted_total += phase.accepted_with_warm_up;
        figures.shares.push(phase);
    }
    // Answers later than the last phase's tail; their records are on the rings already (the
    // gateway stores before it answers), so a short pause lets the drain take them.
    let late = ask_all(&mut pool.loadgens, "report-reset", Duration::from_secs(30))?;
    accepted_total += count_shares(&late, "accepted");
    std::thread::sleep(Duration::from_millis(200));
    figures.accepted_not_drained =
        accepted_total as i64 - (drained.load(Ordering::Relaxed) - drained_at_start) as i64;
    stop_drain.store(true, Ordering::Relaxed);
    for drain in drains {
        drain
            .join()
            .map_err(|_| "a drain thread panicked".to_owned())??;
    }
    drop(pool);
    Ok(figures)
}

/// One share phase at `rate` shares per second per miner.
fn share_phase(
    cfg: &HarnessConfig,
    loadgens: &mut [LoadgenProcess],
    rate: f64,
    gateway_pids: &[u32],
    loadgen_pids: &[u32],
    drained: &AtomicU64,
) -> Result<SharePhase, String> {
    log(&format!(
        "shares at {rate} per miner per second for {} s",
        cfg.share_secs
    ));
    ask_all(loadgens, &format!("rate {rate}"), Duration::from_secs(30))?;
    // Each miner starts at a random point of its first interval: measure once all are going.
    let warm_up = Duration::from_secs_f64((1.0 / rate.max(0.01)).min(100.0) + 1.0);
    std::thread::sleep(warm_up);
    let warm = ask_all(loadgens, "report-reset", Duration::from_secs(30))?;
    let drained_before = drained.load(Ordering::Relaxed);
    let gateway_cpu_before: f64 = gateway_pids.iter().map(|p| cpu_seconds(*p)).sum();
    let loadgen_cpu_before: f64 = loadgen_pids.iter().map(|p| cpu_seconds(*p)).sum();
    std::thread::sleep(Duration::from_secs(cfg.share_secs));
    // The rate and the CPU cost count what was answered within the window; the backlog answered
    // after it would inflate both.
    let gateway_cpu =
        gateway_pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - gateway_cpu_before;
    let loadgen_cpu =
        loadgen_pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - loadgen_cpu_before;
    let at_window_end = ask_all(loadgens, "status", Duration::from_secs(30))?;
    let accepted_in_window = count_shares(&at_window_end, "accepted");
    ask_all(loadgens, "rate 0", Duration::from_secs(30))?;
    // Then the answers to the last submits, for the latencies and the rejects.
    std::thread::sleep(Duration::from_secs(3));
    let shares = ask_all(loadgens, "report-reset", Duration::from_secs(30))?;
    let accepted = count_shares(&shares, "accepted");
    let rejected: u64 = RejectCode::ALL
        .iter()
        .map(|code| count_shares(&shares, code.name()))
        .sum();
    let submit = merge(&shares, "h_submit")?;
    let millions = (accepted_in_window as f64 / 1e6).max(1e-9);
    let phase = SharePhase {
        rate,
        accepted_per_s: accepted_in_window as f64 / cfg.share_secs.max(1) as f64,
        rejected,
        unanswered: count_shares(&shares, "unanswered"),
        drained: drained.load(Ordering::Relaxed) - drained_before,
        accepted,
        accepted_with_warm_up: accepted + count_shares(&warm, "accepted"),
        submit_p50_us: submit.value_at_quantile(0.5),
        submit_p99_us: submit.value_at_quantile(0.99),
        gateway_cpu_s_per_m_shares: gateway_cpu / millions,
        loadgen_cpu_s_per_m_shares: loadgen_cpu / millions,
    };
    log(&format!(
        "{accepted} shares accepted ({:.0}/s within the window), {} drained from the share rings, submit p50 {} µs p99 {} µs",
        phase.accepted_per_s, phase.drained, phase.submit_p50_us, phase.submit_p99_us
    ));
    Ok(phase)
}

/// `<kind>_<what>` summed over every share kind and every answer.
fn count_shares(answers: &[String], what: &str) -> u64 {
    ShareKind::ALL
        .iter()
        .map(|kind| sum(answers, &format!("{}_{what}", kind.name())))
        .sum()
}
