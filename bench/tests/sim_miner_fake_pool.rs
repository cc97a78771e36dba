//! The simulated miner against a small fake pool written here: std threads, blocking sockets, and
//! its own share validation through `ironpool_shared::work::header_for_solution` and the `bitcoin`
//! crate's hashes and targets. The fake pool counts everything it sends and answers; each test
//! compares those counts with the miner's own, exactly.
//!
//! Fake-pool rules worth knowing when reading the expectations:
//! - difficulties are powers of two (2^-k), so the share target `0xFFFF << (208 + k)` is exact;
//! - a job's extranonce1, difficulty and version mask are those in force when the job was sent to
//!   that connection (a new difficulty or mask applies from the next notify on);
//! - a share is stale when its job is older (in clean-job epochs) than a job the connection has
//!   already submitted on: staleness is judged from what the miner showed it saw, so shares that
//!   were in flight when a clean job was sent are not counted as stale by a race;
//! - checks in order: authorized (24), job known (21), stale (21), duplicate (22), version bits
//!   within the mask (20), sizes and ntime (20), share target (23).

use bitcoin::hashes::{sha256d, Hash};
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::{CompactTarget, Target};
use ironpool_bench::fixtures::notify_params;
use ironpool_bench::sim_miner::{
    Faults, RejectCode, ShareKind, SimMiner, SimMinerConfig, SimMinerReport, SimMinerStats,
};
use ironpool_shared::work::{
    check_solution_policy, header_for_solution, ExtranonceSizes, JobRecord, Solution,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The fake pool
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct PoolSettings {
    /// Share difficulty 2^-k.
    difficulty_log2: u32,
    /// Version bits the pool lets miners roll (0: refuse version rolling).
    version_mask: u32,
    extranonce2_size: usize,
    nbits: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            // One hash in 2^8 is a share.
            difficulty_log2: 24,
            version_mask: 0x1fff_e000,
            extranonce2_size: 8,
            // 0x0fffff << 224: about one hash in 2^12 is a block.
            nbits: 0x1f0f_ffff,
        }
    }
}

/// What the pool sent and saw.
#[derive(Debug, Clone, Default)]
struct Tally {
    connections: u64,
    peers: BTreeSet<IpAddr>,
    configures: u64,
    subscribes: u64,
    authorizes: u64,
    workers: BTreeSet<String>,
    suggested: Vec<f64>,
    extranonce_subscribes: u64,
    notifies_clean: u64,
    notifies_not_clean: u64,
    set_difficulty: u64,
    set_version_mask: u64,
    set_extranonce: u64,
    reconnects_sent: u64,
    submits: u64,
    submits_with_version_bits: u64,
    accepted: u64,
    rejected: BTreeMap<i64, u64>,
    blocks: u64,
    /// Accepted shares per job id: their version bits.
    accepted_version_bits: BTreeMap<String, Vec<u32>>,
    /// Accepted shares per extranonce1.
    accepted_by_extranonce1: BTreeMap<String, u64>,
    /// Accepted shares per share difficulty exponent.
    accepted_by_difficulty: BTreeMap<u32, u64>,
}

impl Tally {
    fn rejected(&self, code: i64) -> u64 {
        self.rejected.get(&code).copied().unwrap_or(0)
    }
    fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// What makes a share a duplicate: job id, extranonce1, extranonce2, ntime, nonce, version bits.
type ShareKey = (String, Vec<u8>, Vec<u8>, u32, u32, u32);

/// The terms a job was sent to one connection with.
#[derive(Clone)]
struct JobTerms {
    extranonce1: Vec<u8>,
    difficulty_log2: u32,
    version_mask: u32,
}

struct PoolConn {
    writer: TcpStream,
    extranonce1: Vec<u8>,
    authorized: bool,
    version_mask: u32,
    difficulty_log2: u32,
    jobs: HashMap<String, JobTerms>,
    highest_epoch: u64,
    open: bool,
}

struct State {
    settings: PoolSettings,
    jobs: HashMap<String, (JobRecord, u64)>,
    current_job: String,
    next_job_id: u32,
    epoch: u64,
    conns: Vec<PoolConn>,
    seen: HashSet<ShareKey>,
    tally: Tally,
}

#[derive(Clone)]
struct FakePool {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakePool {
    fn start(settings: PoolSettings) -> FakePool {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake pool");
        let addr = listener.local_addr().expect("local address");
        let mut state = State {
            settings,
            jobs: HashMap::new(),
            current_job: String::new(),
            next_job_id: 1,
            epoch: 1,
            conns: Vec::new(),
            seen: HashSet::new(),
            tally: Tally::default(),
        };
        state.make_job(true);
        let pool = FakePool {
            addr,
            state: Arc::new(Mutex::new(state)),
        };
        let acceptor = pool.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let pool = acceptor.clone();
                std::thread::spawn(move || pool.serve(stream));
            }
        });
        pool
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake pool lock")
    }

    fn tally(&self) -> Tally {
        self.lock().tally.clone()
    }

    fn serve(&self, stream: TcpStream) {
        let reader = BufReader::new(stream.try_clone().expect("clone socket"));
        let conn_id = {
            let mut state = self.lock();
            let id = state.conns.len();
            state.tally.connections += 1;
            if let Ok(peer) = stream.peer_addr() {
                state.tally.peers.insert(peer.ip());
            }
            let difficulty_log2 = state.settings.difficulty_log2;
            state.conns.push(PoolConn {
                writer: stream,
                extranonce1: vec![0xe1, 0x00, (id >> 8) as u8, id as u8],
                authorized: false,
                version_mask: 0,
                difficulty_log2,
                jobs: HashMap::new(),
                highest_epoch: 0,
                open: true,
            });
            id
        };
        for line in reader.lines() {
            let Ok(line) = line else { break };
            let Ok(request) = serde_json::from_str::<Value>(&line) else {
                panic!("miner sent a line that is not JSON: {line:?}");
            };
            let mut state = self.lock();
            state.on_request(conn_id, &request);
        }
        self.lock().conns[conn_id].open = false;
    }

    /// Sends a new job to every authorized connection.
    fn new_job(&self, clean: bool) {
        let mut state = self.lock();
        state.make_job(clean);
        for id in 0..state.conns.len() {
            if state.conns[id].authorized && state.conns[id].open {
                state.send_job(id, clean);
            }
        }
    }

    /// Sends a new difficulty 2^-k to every authorized connection (for jobs sent from now on).
    fn set_difficulty(&self, k: u32) {
        let mut state = self.lock();
        for id in 0..state.conns.len() {
            if state.conns[id].authorized && state.conns[id].open {
                state.conns[id].difficulty_log2 = k;
                state.send_difficulty(id);
            }
        }
    }

    fn set_version_mask(&self, mask: u32) {
        let mut state = self.lock();
        for id in 0..state.conns.len() {
            if state.conns[id].authorized && state.conns[id].open {
                state.conns[id].version_mask = mask;
                state.tally.set_version_mask += 1;
                state.send(id, &json!({"id": null, "method": "mining.set_version_mask", "params": [format!("{mask:08x}")]}));
            }
        }
    }

    fn set_extranonce(&self, conn: usize, extranonce1: Vec<u8>) {
        let mut state = self.lock();
        let size = state.settings.extranonce2_size;
        state.tally.set_extranonce += 1;
        let params = json!([extranonce1.to_lower_hex_string(), size]);
        state.conns[conn].extranonce1 = extranonce1;
        state.send(
            conn,
            &json!({"id": null, "method": "mining.set_extranonce", "params": params}),
        );
    }

    fn send_reconnect(&self, conn: usize) {
        let mut state = self.lock();
        state.tally.reconnects_sent += 1;
        state.send(
            conn,
            &json!({"id": null, "method": "client.reconnect", "params": []}),
        );
    }

    fn close(&self, conn: usize) {
        let state = self.lock();
        let _ = state.conns[conn].writer.shutdown(Shutdown::Both);
    }

    fn current_job_id(&self) -> String {
        self.lock().current_job.clone()
    }

    /// Waits (yielding to the miner's tasks) until `condition` holds; panics after `limit`.
    async fn wait_for(&self, what: &str, limit: Duration, condition: impl Fn(&Tally) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let tally = self.tally();
            if condition(&tally) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {tally:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl State {
    fn make_job(&mut self, clean: bool) {
        if clean {
            self.epoch += 1;
        }
        let id = self.next_job_id;
        self.next_job_id += 1;
        let seed =
            |tag: &str, n: u64| sha256d::Hash::hash(format!("{tag}{n}").as_bytes()).to_byte_array();
        let record = JobRecord {
            job_id: id,
            clean,
            height: 200 + self.epoch as u32,
            prev_hash: seed("prev", self.epoch),
            version: 0x2000_0000,
            version_mask: self.settings.version_mask,
            bits: self.settings.nbits,
            ntime: 1_700_000_000 + id,
            ntime_min: 1_699_990_000,
            ntime_max: 1_700_010_000,
            extranonce: ExtranonceSizes {
                extranonce1: 4,
                extranonce2: self.settings.extranonce2_size,
            },
            coinb1: seed("coinb1", u64::from(id)).repeat(2)[..58].to_vec(),
            coinb2: seed("coinb2", u64::from(id)).repeat(3)[..75].to_vec(),
            merkle_branch: vec![seed("a", u64::from(id)), seed("b", u64::from(id))],
            created_at_us: 0,
        };
        self.current_job = record.job_id_hex();
        self.jobs.insert(record.job_id_hex(), (record, self.epoch));
    }

    fn send(&mut self, conn: usize, message: &Value) {
        let mut line = message.to_string();
        line.push('\n');
        // A closed connection is noticed by its reader thread.
        let _ = self.conns[conn].writer.write_all(line.as_bytes());
    }

    fn send_difficulty(&mut self, conn: usize) {
        self.tally.set_difficulty += 1;
        let difficulty = 2f64.powi(-(self.conns[conn].difficulty_log2 as i32));
        self.send(
            conn,
            &json!({"id": null, "method": "mining.set_difficulty", "params": [difficulty]}),
        );
    }

    fn send_job(&mut self, conn: usize, clean: bool) {
        let job_id = self.current_job.clone();
        let (record, _) = &self.jobs[&job_id];
        let notify = notify_params(record, clean);
        let terms = JobTerms {
            extranonce1: self.conns[conn].extranonce1.clone(),
            difficulty_log2: self.conns[conn].difficulty_log2,
            version_mask: self.conns[conn].version_mask,
        };
        self.conns[conn].jobs.insert(job_id, terms);
        if clean {
            self.tally.notifies_clean += 1;
        } else {
            self.tally.notifies_not_clean += 1;
        }
        self.send(
            conn,
            &json!({"id": null, "method": "mining.notify", "params": notify}),
        );
    }

    fn reply(&mut self, conn: usize, id: &Value, result: Value, error: Value) {
        self.send(conn, &json!({"id": id, "result": result, "error": error}));
    }

    fn on_request(&mut self, conn: usize, request: &Value) {
        let id = request["id"].clone();
        let params = request["params"].as_array().cloned().unwrap_or_default();
        match request["method"].as_str().unwrap_or_default() {
            "mining.configure" => {
                self.tally.configures += 1;
                let requested = params
                    .get(1)
                    .and_then(|p| p["version-rolling.mask"].as_str())
                    .and_then(|m| u32::from_str_radix(m, 16).ok())
                    .unwrap_or(0);
                let granted = requested & self.settings.version_mask;
                self.conns[conn].version_mask = granted;
                let result = if granted != 0 {
                    json!({"version-rolling": true, "version-rolling.mask": format!("{granted:08x}")})
                } else {
                    json!({"version-rolling": false})
                };
                self.reply(conn, &id, result, Value::Null);
            }
            "mining.subscribe" => {
                self.tally.subscribes += 1;
                let result = json!([
                    [["mining.set_difficulty", "1"], ["mining.notify", "1"]],
                    self.conns[conn].extranonce1.to_lower_hex_string(),
                    self.settings.extranonce2_size
                ]);
                self.reply(conn, &id, result, Value::Null);
            }
            "mining.suggest_difficulty" => {
                if let Some(d) = params.first().and_then(Value::as_f64) {
                    self.tally.suggested.push(d);
                }
                self.reply(conn, &id, json!(true), Value::Null);
            }
            "mining.extranonce.subscribe" => {
                self.tally.extranonce_subscribes += 1;
                self.reply(conn, &id, json!(true), Value::Null);
            }
            "mining.authorize" => {
                self.tally.authorizes += 1;
                let worker = params
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let ok = worker.starts_with("tester.");
                self.tally.workers.insert(worker);
                self.reply(conn, &id, json!(ok), Value::Null);
                if ok {
                    self.conns[conn].authorized = true;
                    self.send_difficulty(conn);
                    self.send_job(conn, true);
                }
            }
            "mining.submit" => {
                self.tally.submits += 1;
                let verdict = self.judge(conn, &params);
                match verdict {
                    Ok(()) => {
                        self.tally.accepted += 1;
                        self.reply(conn, &id, json!(true), Value::Null);
                    }
                    Err((code, message)) => {
                        *self.tally.rejected.entry(code).or_default() += 1;
                        self.reply(conn, &id, Value::Null, json!([code, message, null]));
                    }
                }
            }
            other => panic!("the miner sent an unexpected method {other:?}"),
        }
    }

    /// Validates a submit; Err((code, message)) when rejected.
    fn judge(&mut self, conn: usize, params: &[Value]) -> Result<(), (i64, String)> {
        if !self.conns[conn].authorized {
            return Err((24, "unauthorized".into()));
        }
        let text = |i: usize| params.get(i).and_then(Value::as_str);
        let (Some(job_id), Some(en2), Some(ntime), Some(nonce)) =
            (text(1), text(2), text(3), text(4))
        else {
            return Err((20, "bad parameters".into()));
        };
        let version_bits = text(5);
        if version_bits.is_some() {
            self.tally.submits_with_version_bits += 1;
        }
        let Some(terms) = self.conns[conn].jobs.get(job_id).cloned() else {
            return Err((21, "job not found".into()));
        };
        let (record, epoch) = self.jobs[job_id].clone();
        if epoch < self.conns[conn].highest_epoch {
            return Err((21, "stale".into()));
        }
        self.conns[conn].highest_epoch = epoch;
        let parsed = (
            Vec::<u8>::from_hex(en2),
            u32::from_str_radix(ntime, 16),
            u32::from_str_radix(nonce, 16),
            version_bits.map(|v| u32::from_str_radix(v, 16)).transpose(),
        );
        let (Ok(extranonce2), Ok(ntime), Ok(nonce), Ok(bits)) = parsed else {
            return Err((20, "invalid hex".into()));
        };
        let bits = bits.unwrap_or(0);
        let key = (
            job_id.to_owned(),
            terms.extranonce1.clone(),
            extranonce2.clone(),
            ntime,
            nonce,
            bits,
        );
        if self.seen.contains(&key) {
            return Err((22, "duplicate".into()));
        }
        if bits & !terms.version_mask != 0 {
            return Err((
                20,
                format!(
                    "version bits {bits:08x} outside mask {:08x}",
                    terms.version_mask
                ),
            ));
        }
        let solution = Solution {
            extranonce1: terms.extranonce1.clone(),
            extranonce2,
            ntime,
            nonce,
            version: (record.version & !terms.version_mask) | (bits & terms.version_mask),
        };
        let header = header_for_solution(&record, &solution).map_err(|e| (20, e.to_string()))?;
        let mut policy_job = record.clone();
        policy_job.version_mask = terms.version_mask;
        check_solution_policy(&policy_job, &solution).map_err(|e| (20, e.to_string()))?;
        let hash = header.block_hash();
        let share_target =
            Target::from_le_bytes(shift_left(Target::MAX.to_le_bytes(), terms.difficulty_log2));
        if !share_target.is_met_by(hash) {
            return Err((23, "low difficulty share".into()));
        }
        if Target::from_compact(CompactTarget::from_consensus(record.bits)).is_met_by(hash) {
            self.tally.blocks += 1;
        }
        self.seen.insert(key);
        self.tally
            .accepted_version_bits
            .entry(job_id.to_owned())
            .or_default()
            .push(bits);
        *self
            .tally
            .accepted_by_extranonce1
            .entry(terms.extranonce1.to_lower_hex_string())
            .or_default() += 1;
        *self
            .tally
            .accepted_by_difficulty
            .entry(terms.difficulty_log2)
            .or_default() += 1;
        Ok(())
    }
}

/// `value << bits` on little-endian 256-bit numbers (bits shifted out are lost).
fn shift_left(value: [u8; 32], bits: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    for bit in 0..256u32 {
        let to = bit + bits;
        if to < 256 && value[(bit / 8) as usize] >> (bit % 8) & 1 == 1 {
            out[(to / 8) as usize] |= 1 << (to % 8);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const WAIT: Duration = Duration::from_secs(60);

fn config(pool: &FakePool, connections: usize, hashrate: f64) -> SimMinerConfig {
    let mut cfg = SimMinerConfig::new(pool.addr);
    cfg.connections = connections;
    cfg.hashrate_per_connection = hashrate;
    cfg.reconnect_delay = Duration::from_millis(100);
    cfg
}

/// The miner's counters must equal what the pool saw, code by code.
fn assert_matches_pool(stats: &SimMinerStats, tally: &Tally) {
    assert_eq!(stats.shares.submitted, tally.submits, "submitted");
    assert_eq!(stats.shares.accepted, tally.accepted, "accepted");
    assert_eq!(stats.shares.unanswered, 0, "unanswered");
    for (code, reject) in [
        (20, RejectCode::Other),
        (21, RejectCode::JobNotFound),
        (22, RejectCode::Duplicate),
        (23, RejectCode::LowDifficulty),
        (24, RejectCode::Unauthorized),
        (25, RejectCode::NotSubscribed),
    ] {
        assert_eq!(
            stats.shares.rejected.get(reject),
            tally.rejected(code),
            "rejects with code {code}"
        );
    }
    assert_eq!(
        stats.shares.rejected.total(),
        tally.rejected_total(),
        "all rejects"
    );
    assert_eq!(stats.blocks_accepted, tally.blocks, "blocks");
    assert_eq!(stats.notifies_clean, tally.notifies_clean, "clean notifies");
    assert_eq!(
        stats.notifies_not_clean, tally.notifies_not_clean,
        "other notifies"
    );
    assert_eq!(
        stats.difficulty_changes, tally.set_difficulty,
        "difficulty changes"
    );
    assert_eq!(
        stats.version_mask_changes, tally.set_version_mask,
        "version masks"
    );
    assert_eq!(
        stats.extranonce_changes, tally.set_extranonce,
        "extranonce changes"
    );
    assert_eq!(stats.connects, tally.connections, "connects");
    assert_eq!(stats.subscribed, tally.subscribes, "subscribes");
    assert_eq!(stats.authorized, tally.authorizes, "authorizes");
    for kind in ShareKind::ALL {
        let k = stats.kind(kind);
        assert_eq!(
            k.submitted,
            k.accepted + k.rejected.total() + k.unanswered,
            "{kind:?}: every submit has one fate"
        );
    }
}

fn print(report: &SimMinerReport, tally: &Tally) {
    println!("{}", report.result_line());
    println!("pool: {tally:?}");
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Honest miners: every share is valid for the pool, every count matches.
/// 1. Two connections from 127.0.0.2 and 127.0.0.3, version rolling, a suggested difficulty.
/// 2. After some shares: a job that is not clean, then a clean one, each mined on.
/// 3. Stop; the miner's counters equal the pool's, and no share was rejected.
#[tokio::test]
async fn honest_shares_are_valid_and_counts_match_the_pool() {
    let pool = FakePool::start(PoolSettings::default());
    let mut cfg = config(&pool, 2, 20_000.0);
    cfg.version_rolling = true;
    cfg.suggest_difficulty = Some(0.001);
    cfg.extranonce_subscribe = true;
    cfg.source_ips = vec![
        "127.0.0.2".parse().expect("ip"),
        "127.0.0.3".parse().expect("ip"),
    ];
    let miner = SimMiner::start(cfg).expect("start");
    pool.wait_for("40 accepted shares", WAIT, |t| t.accepted >= 40)
        .await;
    let live = miner.stats();
    assert_eq!(live.open_connections, 2);
    assert!(live.hashes > 0 && live.shares.accepted > 0);

    pool.new_job(false);
    let job = pool.current_job_id();
    pool.wait_for("shares on the second job", WAIT, |t| {
        t.accepted_version_bits
            .get(&job)
            .is_some_and(|v| v.len() >= 10)
    })
    .await;
    pool.new_job(true);
    let job = pool.current_job_id();
    pool.wait_for("shares on the clean job", WAIT, |t| {
        t.accepted_version_bits
            .get(&job)
            .is_some_and(|v| v.len() >= 10)
    })
    .await;

    let report = miner.stop().await;
    let tally = pool.tally();
    print(&report, &tally);
    let stats = &report.stats;
    assert_matches_pool(stats, &tally);
    assert_eq!(
        tally.rejected_total(),
        0,
        "an honest miner's shares are all valid"
    );
    assert_eq!(
        stats.kind(ShareKind::Valid).submitted,
        stats.shares.submitted
    );
    assert_eq!(
        (stats.connects, stats.authorized, stats.disconnects),
        (2, 2, 0)
    );
    assert_eq!((tally.configures, tally.extranonce_subscribes), (2, 2));
    assert_eq!(tally.suggested, vec![0.001, 0.001]);
    let workers: Vec<&str> = tally.workers.iter().map(String::as_str).collect();
    assert_eq!(workers, ["tester.sim0", "tester.sim1"]);
    let peers: Vec<String> = tally.peers.iter().map(ToString::to_string).collect();
    assert_eq!(peers, ["127.0.0.2", "127.0.0.3"]);
    // Version rolling: every share carries rolled bits, all within the mask.
    assert_eq!(tally.submits_with_version_bits, tally.submits);
    assert!(tally
        .accepted_version_bits
        .values()
        .flatten()
        .all(|b| *b != 0 && b & !0x1fff_e000 == 0));
    assert!(stats.blocks_found > 0, "about one share in 16 is a block");
    assert_eq!(stats.blocks_found, stats.blocks_accepted);
    assert!(
        stats.last_errors.iter().all(Option::is_none),
        "{:?}",
        stats.last_errors
    );
}

/// Each deliberate fault gets exactly its code, and honest shares are never rejected.
/// 1. One connection with all four faults on.
/// 2. Clean jobs every time a few shares were accepted, so held-back shares become stale.
/// 3. Per kind: duplicates → 22, stale → 21, low difficulty → 23, bad version → 20, all of them.
#[tokio::test]
async fn faults_are_rejected_with_the_expected_codes() {
    let pool = FakePool::start(PoolSettings::default());
    let mut cfg = config(&pool, 1, 30_000.0);
    cfg.version_rolling = true;
    cfg.faults = Faults {
        duplicate: true,
        stale: true,
        low_difficulty: true,
        bad_version: true,
    };
    let miner = SimMiner::start(cfg).expect("start");
    for round in 1..=4u64 {
        pool.wait_for("accepted shares", WAIT, |t| t.accepted >= 10 * round)
            .await;
        pool.new_job(true);
    }
    pool.wait_for("a stale reject", WAIT, |t| t.rejected(21) >= 2)
        .await;
    let report = miner.stop().await;
    let tally = pool.tally();
    print(&report, &tally);
    let stats = &report.stats;
    assert_matches_pool(stats, &tally);

    let valid = stats.kind(ShareKind::Valid);
    assert_eq!(valid.rejected.total(), 0, "honest shares: {valid:?}");
    for (kind, code) in [
        (ShareKind::Duplicate, RejectCode::Duplicate),
        (ShareKind::Stale, RejectCode::JobNotFound),
        (ShareKind::LowDifficulty, RejectCode::LowDifficulty),
        (ShareKind::BadVersion, RejectCode::Other),
    ] {
        let k = stats.kind(kind);
        assert!(k.submitted > 0, "{kind:?} was exercised");
        assert_eq!(k.accepted, 0, "{kind:?}");
        assert_eq!(k.rejected.get(code), k.submitted, "{kind:?}: {k:?}");
        assert_eq!(
            tally.rejected(code as i64),
            k.submitted,
            "{kind:?} at the pool"
        );
    }
    // Every accepted valid share (whose job was still current) was resubmitted once.
    assert!(stats.kind(ShareKind::Duplicate).submitted <= valid.accepted);
}

/// Without version rolling: no `mining.configure`, five-parameter submits, no rolled bits.
#[tokio::test]
async fn without_version_rolling_submits_have_five_parameters() {
    let pool = FakePool::start(PoolSettings::default());
    let mut cfg = config(&pool, 1, 20_000.0);
    cfg.version_rolling = false;
    let miner = SimMiner::start(cfg).expect("start");
    pool.wait_for("20 accepted shares", WAIT, |t| t.accepted >= 20)
        .await;
    let report = miner.stop().await;
    let tally = pool.tally();
    print(&report, &tally);
    assert_matches_pool(&report.stats, &tally);
    assert_eq!(tally.configures, 0);
    assert_eq!(tally.submits_with_version_bits, 0);
    assert_eq!(tally.rejected_total(), 0);
}

/// A pool that refuses version rolling: the miner mines without it.
#[tokio::test]
async fn refused_version_rolling_is_not_used() {
    let pool = FakePool::start(PoolSettings {
        version_mask: 0,
        ..PoolSettings::default()
    });
    let mut cfg = config(&pool, 1, 20_000.0);
    cfg.version_rolling = true;
    let miner = SimMiner::start(cfg).expect("start");
    pool.wait_for("20 accepted shares", WAIT, |t| t.accepted >= 20)
        .await;
    let report = miner.stop().await;
    let tally = pool.tally();
    assert_matches_pool(&report.stats, &tally);
    assert_eq!(tally.configures, 1);
    assert_eq!(tally.submits_with_version_bits, 0);
    assert_eq!(tally.rejected_total(), 0);
}

/// Difficulty, version mask and extranonce changes are followed.
/// 1. Raise the difficulty (2^-24 → 2^-23) and send a job: shares on it meet the new target.
/// 2. Narrow the mask to 1fff0000 and send a job: rolled bits on it stay within the new mask.
/// 3. A new extranonce1 and a job: shares on it use the new extranonce1.
/// 4. Lower the difficulty to a fraction that is not a power of ten (2^-25) and send a job.
#[tokio::test]
async fn difficulty_mask_and_extranonce_changes_are_followed() {
    let pool = FakePool::start(PoolSettings::default());
    let mut cfg = config(&pool, 1, 30_000.0);
    cfg.version_rolling = true;
    let miner = SimMiner::start(cfg).expect("start");
    pool.wait_for("shares at 2^-24", WAIT, |t| t.accepted >= 10)
        .await;

    pool.set_difficulty(23);
    pool.new_job(false);
    pool.wait_for("shares at 2^-23", WAIT, |t| {
        t.accepted_by_difficulty.get(&23).is_some_and(|n| *n >= 10)
    })
    .await;

    pool.set_version_mask(0x1fff_0000);
    pool.new_job(false);
    let job = pool.current_job_id();
    pool.wait_for("shares with the narrower mask", WAIT, |t| {
        t.accepted_version_bits
            .get(&job)
            .is_some_and(|v| v.len() >= 5)
    })
    .await;

    let new_extranonce1 = vec![0xe2, 0x0e, 0x01, 0x02];
    pool.set_extranonce(0, new_extranonce1.clone());
    pool.new_job(true);
    pool.wait_for("shares with the new extranonce1", WAIT, |t| {
        t.accepted_by_extranonce1
            .get("e20e0102")
            .is_some_and(|n| *n >= 5)
    })
    .await;

    pool.set_difficulty(25);
    pool.new_job(false);
    pool.wait_for("shares at 2^-25", WAIT, |t| {
        t.accepted_by_difficulty.get(&25).is_some_and(|n| *n >= 10)
    })
    .await;

    let report = miner.stop().await;
    let tally = pool.tally();
    print(&report, &tally);
    assert_matches_pool(&report.stats, &tally);
    assert_eq!(tally.rejected_total(), 0);
    let narrowed = &tally.accepted_version_bits[&job];
    assert!(
        narrowed.iter().all(|b| *b != 0 && b & !0x1fff_0000 == 0),
        "{narrowed:x?}"
    );
}

/// `client.reconnect` and a connection closed by the pool: the miner comes back each time.
#[tokio::test]
async fn reconnect_request_and_lost_connection() {
    let pool = FakePool::start(PoolSettings::default());
    let miner = SimMiner::start(config(&pool, 1, 20_000.0)).expect("start");
    pool.wait_for("shares", WAIT, |t| t.accepted >= 5).await;

    pool.send_reconnect(0);
    pool.wait_for("the second connection's shares", WAIT, |t| {
        t.connections == 2
            && t.accepted_by_extranonce1
                .get("e1000001")
                .is_some_and(|n| *n >= 5)
    })
    .await;

    pool.close(1);
    pool.wait_for("the third connection's shares", WAIT, |t| {
        t.connections == 3
            && t.accepted_by_extranonce1
                .get("e1000002")
                .is_some_and(|n| *n >= 5)
    })
    .await;

    let report = miner.stop().await;
    let tally = pool.tally();
    print(&report, &tally);
    let stats = &report.stats;
    assert_eq!(stats.connects, 3);
    assert_eq!(stats.reconnects, 2);
    assert_eq!(stats.reconnect_requests, 1);
    assert_eq!(stats.disconnects, 1);
    assert_eq!(stats.authorized, 3);
    assert!(
        stats.last_errors[0]
            .as_deref()
            .is_some_and(|e| e.contains("closed")),
        "{:?}",
        stats.last_errors
    );
    // Shares in flight when the pool closed the socket may be unanswered; everything answered
    // matches.
    assert_eq!(stats.shares.accepted, tally.accepted);
    assert_eq!(stats.shares.rejected.total(), 0);
    assert_eq!(
        stats.shares.submitted,
        tally.submits + stats.shares.unanswered
    );
}

/// The miner stops by itself after its blocks, and after its duration.
#[tokio::test]
async fn stops_after_blocks_and_after_duration() {
    let pool = FakePool::start(PoolSettings::default());
    let mut cfg = config(&pool, 1, 30_000.0);
    cfg.stop_after_blocks = Some(3);
    let miner = SimMiner::start(cfg).expect("start");
    tokio::time::timeout(WAIT, miner.stopping())
        .await
        .expect("stops after 3 blocks");
    assert!(miner.is_stopping());
    let report = miner.stop().await;
    let tally = pool.tally();
    print(&report, &tally);
    assert_eq!(
        report.stats.blocks_found, 3,
        "one connection: exactly the blocks asked for"
    );
    assert_matches_pool(&report.stats, &tally);

    let mut cfg = config(&pool, 2, 10_000.0);
    cfg.duration = Some(Duration::from_millis(1500));
    let started = Instant::now();
    let miner = SimMiner::start(cfg).expect("start");
    tokio::time::timeout(WAIT, miner.stopping())
        .await
        .expect("stops after its duration");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
    let report = miner.stop().await;
    assert_eq!(report.stats.open_connections, 0);
    assert!(report.stats.shares.accepted > 0);
}

/// The hash rate is bounded by the configured rate.
#[tokio::test]
async fn hashrate_is_throttled() {
    // Few shares: the pool is not the subject here.
    let pool = FakePool::start(PoolSettings {
        difficulty_log2: 16,
        ..PoolSettings::default()
    });
    let miner = SimMiner::start(config(&pool, 2, 5_000.0)).expect("start");
    pool.wait_for("both authorized", WAIT, |t| t.authorizes == 2)
        .await;
    let before = miner.stats();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = miner.stats();
    let report = miner.stop().await;
    let secs = (after.elapsed - before.elapsed).as_secs_f64();
    let rate = (after.hashes - before.hashes) as f64 / secs;
    println!("{} ({rate:.0} H/s measured)", report.result_line());
    // 2 × 5,000 H/s, plus at most one banked burst (0.2 s) per connection.
    assert!(rate <= 10_000.0 * 1.25 + 2_000.0 / secs, "{rate} H/s");
    assert!(rate >= 10_000.0 * 0.5, "{rate} H/s");
}

/// Many connections on the one grinding thread, and the unlimited rate.
/// 1. 200 connections at 300 H/s each: all authorized, shares from all of them, counts exact.
/// 2. One connection at rate 0 (as fast as the thread goes): it mines.
#[tokio::test]
async fn many_connections_and_unlimited_rate() {
    let pool = FakePool::start(PoolSettings::default());
    let miner = SimMiner::start(config(&pool, 200, 300.0)).expect("start");
    pool.wait_for("200 connections with shares", WAIT, |t| {
        t.authorizes == 200 && t.accepted_by_extranonce1.len() == 200
    })
    .await;
    let report = miner.stop().await;
    let tally = pool.tally();
    print(&report, &tally);
    assert_matches_pool(&report.stats, &tally);
    assert_eq!(tally.rejected_total(), 0);
    assert_eq!(tally.workers.len(), 200);

    let pool = FakePool::start(PoolSettings::default());
    let miner = SimMiner::start(config(&pool, 1, 0.0)).expect("start");
    pool.wait_for("shares at full speed", WAIT, |t| t.accepted >= 50)
        .await;
    let report = miner.stop().await;
    let tally = pool.tally();
    print(&report, &tally);
    assert_matches_pool(&report.stats, &tally);
    assert_eq!(tally.rejected_total(), 0);
}

/// Bad configurations are refused before anything starts.
#[tokio::test]
async fn invalid_configurations_are_refused() {
    let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    let mut cfg = SimMinerConfig::new(addr);
    cfg.connections = 0;
    assert!(SimMiner::start(cfg).is_err());
    let mut cfg = SimMinerConfig::new(addr);
    cfg.hashrate_per_connection = f64::NAN;
    assert!(SimMiner::start(cfg).is_err());
    let mut cfg = SimMinerConfig::new(addr);
    cfg.source_ips = vec!["::1".parse().expect("ip")];
    assert!(SimMiner::start(cfg).is_err());
    let mut cfg = SimMinerConfig::new(addr);
    cfg.suggest_difficulty = Some(0.0);
    assert!(SimMiner::start(cfg).is_err());
}

/// Nothing listening: connect failures are counted and the last error says why.
#[tokio::test]
async fn connect_failures_are_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let mut cfg = SimMinerConfig::new(addr);
    cfg.reconnect_delay = Duration::from_millis(50);
    let miner = SimMiner::start(cfg).expect("start");
    let deadline = Instant::now() + WAIT;
    while miner.stats().connect_failures < 2 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = miner.stop().await;
    assert_eq!(report.stats.connects, 0);
    assert!(report.stats.last_errors[0]
        .as_deref()
        .is_some_and(|e| e.contains("connect")));
}

/// The `sim-miner` binary against the fake pool: live lines, then a `RESULT` line whose figures
/// match the pool's.
#[test]
fn binary_prints_live_figures_and_a_result_line() {
    let pool = FakePool::start(PoolSettings::default());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sim-miner"))
        .args([
            "--addr",
            &pool.addr.to_string(),
            "--connections",
            "2",
            "--hashrate",
            "10000",
            "--loopback-sources",
            "2",
            "--duration-s",
            "4.5",
        ])
        .output()
        .expect("run sim-miner");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.lines().filter(|l| l.starts_with("t=")).count() >= 2,
        "live figures"
    );
    let result = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("a RESULT line");
    let fields: HashMap<&str, u64> = result
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k, v)))
        .collect();
    let tally = pool.tally();
    assert_eq!(fields["connects"], 2);
    assert_eq!(fields["authorized"], 2);
    assert_eq!(fields["submitted"], tally.submits);
    assert_eq!(fields["accepted"], tally.accepted);
    assert_eq!(fields["rejected"], 0);
    assert!(fields["accepted"] > 0);
    // Version rolling is on by default.
    assert_eq!(tally.submits_with_version_bits, tally.submits);
    let peers: Vec<String> = tally.peers.iter().map(ToString::to_string).collect();
    assert_eq!(peers, ["127.0.0.1", "127.0.0.2"]);
}
