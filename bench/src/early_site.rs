//! A pool site for the early-tip tests and benchmark: configurations of the jobmaster and
//! bitpeer on regtest nodes, a one-shard gateway in this process, and a stratum client that reads
//! what the gateway puts on the wire. Test support: it panics when the machine refuses.

use crate::regtest::RegtestNode;
use crate::ring_miner::{attach_job_ring, wait_jobs};
use crate::stratum_client::Client;
use bitcoin::hashes::Hash;
use ironpool_dataplane::config::GatewayConfig;
use ironpool_dataplane::shard::{self, GatewayControl};
use ironpool_shared::ring::{job_ring_path, JobRingReader};
use ironpool_shared::work::JobRecord;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A regtest P2PKH address (testnet prefix), paid by every block.
pub const PAYOUT: &str = "n1ESb9aqqxPZMG33uCvA9avKqHAtP5DBau";
/// Session difficulty: every share is a regtest block (bits 207fffff), found in a few tries.
pub const DIFFICULTY: f64 = 0.000_001;

pub struct Dir {
    pub path: PathBuf,
    pub rings: PathBuf,
}

impl Dir {
    pub fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("ironpool-{name}-{}", std::process::id()));
        let rings = PathBuf::from(format!("/dev/shm/ironpool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let _ = std::fs::remove_dir_all(&rings);
        std::fs::create_dir_all(&path).expect("temp dir");
        Dir { path, rings }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.rings);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub fn node_auth(node: &RegtestNode) -> String {
    format!(
        "url = \"{}\"\nuser = \"{}\"\npassword = \"{}\"\ntimeout_ms = 5000\n",
        node.rpc_url(),
        node.rpc_user.clone().expect("user"),
        node.rpc_password.clone().expect("password")
    )
}

/// A free TCP address on 127.0.0.1.
pub fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

/// Writes the configuration of a jobmaster on `node`, connected to the relay addresses `early`.
pub fn jobmaster_config(
    dir: &Path,
    rings: &Path,
    node: &RegtestNode,
    key: &Path,
    early: &[String],
    extra_blocks: &str,
    empty_job_timeout_secs: u64,
) -> PathBuf {
    let early_table = if early.is_empty() {
        String::new()
    } else {
        format!(
            "[early_tips]\nkey_file = \"{}\"\nconnect = {early:?}\nempty_job_timeout_secs = {empty_job_timeout_secs}\ncatch_up_poll_ms = 20\nstatus_file = \"{}\"\n",
            key.display(),
            dir.join("jobmaster-status.json").display()
        )
    };
    let text = format!(
        "network = \"regtest\"\n[[node]]\nname = \"node\"\n{}\
         [tip]\npoll_interval_ms = 100\n[coinbase]\ntag = \"/ironpool-early/\"\n\
         [[payout]]\naddress = \"{PAYOUT}\"\n[rings]\ndir = \"{}\"\nshards = [0]\n\
         [blocks]\ndir = \"{}\"\nsubmit_attempts = 2\nsubmit_retry_ms = 50\n{extra_blocks}\n{early_table}",
        node_auth(node),
        rings.display(),
        dir.join("blocks").display()
    );
    let path = dir.join("jobmaster.toml");
    std::fs::write(&path, text).expect("jobmaster config");
    path
}

/// Writes the configuration of bitpeer on `peers` (P2P ports), with `seed` as its node; returns
/// it and bitpeer's relay address.
pub fn bitpeer_config(
    dir: &Path,
    peers: &[&RegtestNode],
    seed: &RegtestNode,
    key: &Path,
) -> (PathBuf, String) {
    let relay = free_address();
    let peer_list: Vec<String> = peers
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.p2p_port))
        .collect();
    let text = format!(
        "network = \"regtest\"\nmagic = \"dab5bffa\"\npeers = {peer_list:?}\nreconnect_secs = 1\n\
         status_file = \"{}\"\n[node]\nname = \"seed\"\n{}[relay]\nlisten = \"{relay}\"\nkey_file = \"{}\"\n",
        dir.join("bitpeer-status.json").display(),
        node_auth(seed),
        key.display()
    );
    let path = dir.join("bitpeer.toml");
    std::fs::write(&path, text).expect("bitpeer config");
    (path, relay)
}

pub fn status(path: &Path) -> serde_json::Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Waits until `check` holds, or panics with `what` and `context()`.
pub fn wait_for(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A one-shard gateway on the jobmaster's rings; returns its stratum address.
pub fn gateway(dir: &Path, rings: &Path) -> (SocketAddr, Arc<GatewayControl>) {
    let addr: SocketAddr = free_address().parse().expect("addr");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nshards = 1\n[rings]\ndir = \"{}\"\nspool_dir = \"{}\"\nshare_ring_records = 4096\n\
             [[port]]\nlisten = [\"{addr}\"]\ndifficulty = {DIFFICULTY}\nmin_difficulty = {DIFFICULTY}\nmax_difficulty = {DIFFICULTY}\n",
            rings.display(),
            dir.join("spool").display()
        ),
    )
    .expect("gateway config");
    let settings = GatewayConfig::load(&config).expect("gateway config loads");
    let control = Arc::new(GatewayControl::default());
    let _ = shard::start(Arc::new(settings), control.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "gateway never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    (addr, control)
}

/// The jobs the jobmaster publishes, read from its ring.
pub struct Jobs {
    reader: JobRingReader,
    pub seen: Vec<JobRecord>,
}

impl Jobs {
    pub fn attach(rings: &Path) -> Jobs {
        let reader =
            attach_job_ring(&job_ring_path(rings), Duration::from_secs(30)).expect("job ring");
        Jobs {
            reader,
            seen: Vec::new(),
        }
    }

    /// Waits for a job matching `want`.
    pub fn wait(
        &mut self,
        what: &str,
        timeout: Duration,
        want: impl Fn(&JobRecord) -> bool,
    ) -> JobRecord {
        if let Some(job) = self.seen.iter().find(|j| want(j)) {
            return job.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            for job in wait_jobs(&mut self.reader, Duration::from_millis(100)).expect("job ring") {
                self.seen.push(job.record.clone());
                if want(&job.record) {
                    return job.record;
                }
            }
            assert!(Instant::now() < deadline, "no job: {what}");
        }
    }
}

/// A `mining.notify` as the gateway sent it.
#[derive(Debug, Clone)]
pub struct Notify {
    pub job_id: u32,
    pub prev_hash_stratum: String,
    pub merkle_branch: Vec<serde_json::Value>,
    pub clean: bool,
    pub nbits: String,
}

/// Reads lines until a notify matching `want` (others are skipped).
pub fn wait_notify(
    client: &mut Client,
    what: &str,
    timeout: Duration,
    want: impl Fn(&Notify) -> bool,
) -> Notify {
    let deadline = Instant::now() + timeout;
    loop {
        assert!(Instant::now() < deadline, "no notify: {what}");
        let Some(line) = client.line() else {
            panic!("gateway closed the session while waiting for {what}");
        };
        let v: serde_json::Value = serde_json::from_str(&line).expect("json line");
        if v["method"] != "mining.notify" {
            continue;
        }
        let p = &v["params"];
        let notify = Notify {
            job_id: u32::from_str_radix(p[0].as_str().expect("job id"), 16).expect("hex id"),
            prev_hash_stratum: p[1].as_str().expect("prev").to_owned(),
            merkle_branch: p[4].as_array().expect("branch").clone(),
            clean: p[8].as_bool().expect("clean"),
            nbits: p[6].as_str().expect("nbits").to_owned(),
        };
        if want(&notify) {
            return notify;
        }
    }
}

/// The stratum form of a block hash given in display hex.
pub fn stratum_prev(display_hex: &str) -> String {
    let hash: bitcoin::BlockHash = display_hex.parse().expect("block hash");
    let internal = hash.to_byte_array();
    let words = ironpool_shared::stratum::prev_hash_to_stratum(&internal);
    words.iter().map(|b| format!("{b:02x}")).collect()
}

/// The best block hash of every node.
pub fn best_hashes(nodes: &[RegtestNode]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n.best_block_hash().unwrap_or_default())
        .collect()
}

/// Three connected regtest nodes, with node B (index 1) having mined `height` blocks that every
/// node holds.
pub fn three_nodes_at(height: u32) -> crate::regtest::RegtestNodes {
    let set = crate::regtest::RegtestNodes::start(crate::regtest::RegtestOptions {
        nodes: 3,
        cookie_auth: false,
        zmq: true,
    })
    .expect("regtest nodes");
    if height > 0 {
        set.nodes()[1].generate(height).expect("generate");
    }
    for n in set.nodes() {
        n.wait_for_height(u64::from(height), Duration::from_secs(30))
            .expect("sync");
    }
    set
}

/// A stratum session on `gateway`, past the handshake; returns it and its extranonce1.
pub fn miner(gateway: SocketAddr, worker: &str) -> (Client, Vec<u8>) {
    let mut client = Client::connect(gateway);
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let en1 = client.handshake(worker);
    (client, en1)
}

/// Waits until bitpeer's status file shows `peers` connected peers and one relay link (the
/// jobmaster).
pub fn wait_bitpeer_ready(status_path: &Path, peers: usize, context: impl Fn() -> String) {
    wait_for(
        "bitpeer linked to its peers and the jobmaster",
        Duration::from_secs(30),
        || {
            let s = status(status_path);
            s["relay_links"].as_u64() == Some(1)
                && s["peers"]
                    .as_array()
                    .is_some_and(|p| p.iter().filter(|p| p["connected"] == true).count() == peers)
        },
        context,
    );
}

/// Node `a` back on the network (after `setnetworkactive false`), linked again to `others`.
pub fn rejoin(a: &RegtestNode, others: &[&RegtestNode]) {
    a.cli("setnetworkactive", &["true"]).expect("network on");
    for node in others {
        let addr = format!("127.0.0.1:{}", node.p2p_port);
        let _ = a.cli("addnode", &[&addr, "onetry"]);
    }
}

/// Submits `solution` for `job` as request `id` and returns the gateway's reply (notifies in
/// between are skipped: a session that never reads would be cut off as a slow consumer).
pub fn submit(
    client: &mut Client,
    id: u64,
    worker: &str,
    job: &JobRecord,
    solution: &ironpool_shared::work::Solution,
) -> String {
    client.send(&crate::stratum_client::submit_line(
        id, worker, job, solution, None,
    ));
    let prefix = format!("{{\"id\":{id},");
    loop {
        let line = client.line().expect("gateway closed the session");
        if line.starts_with(&prefix) {
            return line;
        }
    }
}
