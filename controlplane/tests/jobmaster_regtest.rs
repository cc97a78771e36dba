//! The jobmaster against real regtest nodes: jobs read from the job ring are solved by grinding
//! nonces here, sent back through a share ring as a gateway shard would, and each becomes the
//! nodes' best block; 20 blocks in a row, one of them after the tip moved while its job was being
//! worked. The first configured node is a dead port, so templates come through failover and every
//! submission to it is retried and recorded as unreachable while the live nodes accept.

use bitcoin::hashes::Hash;
use ironpool_bench::regtest::{RegtestNode, RegtestNodes, RegtestOptions};
use ironpool_bench::ring_miner::{
    attach_job_ring, block_candidate, grind, send, wait_jobs, ReceivedJob,
};
use ironpool_shared::ring::{
    block_ring_path, job_ring_path, JobRingReader, ShareProducer, ShareRingConfig, ShareSender,
    ShareSenderConfig,
};
use ironpool_shared::work::{header_for_solution, JobRecord};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A regtest P2PKH address (testnet prefix), paid by every block.
const PAYOUT: &str = "n1ESb9aqqxPZMG33uCvA9avKqHAtP5DBau";

struct Jobmaster {
    child: Child,
    log: PathBuf,
}

impl Jobmaster {
    fn start(config: &Path, log: PathBuf) -> Jobmaster {
        let stderr = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ironpool-control"))
            .args(["jobmaster", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,ironpool_controlplane=debug")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start jobmaster");
        Jobmaster { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Jobmaster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Setup {
    pub dir: PathBuf,
    pub ring_dir: PathBuf,
    pub block_dir: PathBuf,
}

impl Setup {
    pub fn new(name: &str) -> Setup {
        let dir = std::env::temp_dir().join(format!("ironpool-{name}-{}", std::process::id()));
        let ring_dir = PathBuf::from(format!("/dev/shm/ironpool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&ring_dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::create_dir_all(&ring_dir).expect("ring dir");
        let block_dir = dir.join("blocks");
        Setup {
            dir,
            ring_dir,
            block_dir,
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.ring_dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn node_toml(name: &str, node: &RegtestNode, zmq: bool) -> String {
    let auth = match (&node.rpc_user, &node.rpc_password, &node.cookie_path) {
        (Some(u), Some(p), _) => format!("user = \"{u}\"\npassword = \"{p}\"\n"),
        (_, _, Some(cookie)) => format!("cookie_file = \"{}\"\n", cookie.display()),
        _ => panic!("node without credentials"),
    };
    let zmq = match (&node.zmq_endpoint, zmq) {
        (Some(endpoint), true) => format!("zmq_hashblock = \"{endpoint}\"\n"),
        _ => String::new(),
    };
    format!(
        "[[node]]\nname = \"{name}\"\nurl = \"{}\"\n{auth}{zmq}timeout_ms = 5000\n",
        node.rpc_url()
    )
}

fn dead_port() -> u16 {
    // Bind and drop: nothing listens there afterwards.
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn write_config(setup: &Setup, nodes: &[RegtestNode]) -> PathBuf {
    let mut text = String::from("network = \"regtest\"\n\n");
    text += &format!(
        "[[node]]\nname = \"dead\"\nurl = \"http://127.0.0.1:{}/\"\nuser = \"x\"\npassword = \"y\"\ntimeout_ms = 500\n\n",
        dead_port()
    );
    for (i, node) in nodes.iter().enumerate() {
        text += &node_toml(&format!("node{i}"), node, i == 0);
        text.push('\n');
    }
    text += &format!(
        "[tip]\npoll_interval_ms = 50\n\n[coinbase]\ntag = \"/ironpool-test/\"\n\n[[payout]]\naddress = \"{PAYOUT}\"\n\n\
         [rings]\ndir = \"{}\"\nshards = [0]\n\n[blocks]\ndir = \"{}\"\nsubmit_attempts = 2\nsubmit_retry_ms = 50\n",
        setup.ring_dir.display(),
        setup.block_dir.display()
    );
    let path = setup.dir.join("jobmaster.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Waits for a job on `tip` (display hex); returns the newest such job and whether a clean one
/// was seen on the way.
fn job_on_tip(reader: &mut JobRingReader, tip: &str, jm: &Jobmaster) -> (JobRecord, bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut newest: Option<ReceivedJob> = None;
    let mut saw_clean = false;
    loop {
        for job in wait_jobs(reader, Duration::from_millis(200)).expect("job ring") {
            let prev = bitcoin::BlockHash::from_byte_array(job.record.prev_hash).to_string();
            if prev == tip {
                saw_clean |= job.record.clean;
                newest = Some(job);
            }
        }
        if let Some(job) = newest.take() {
            return (job.record, saw_clean);
        }
        assert!(
            Instant::now() < deadline,
            "no job on tip {tip} within 30 s; jobmaster log:\n{}",
            jm.log()
        );
    }
}

fn wait_best(node: &RegtestNode, hash: &str, jm: &Jobmaster) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if node.best_block_hash().expect("getbestblockhash") == hash {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {} never took block {hash}; jobmaster log:\n{}",
            node.index,
            jm.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn twenty_blocks_in_a_row_from_ring_jobs_become_the_best_block() {
    let nodes = RegtestNodes::start(RegtestOptions {
        nodes: 2,
        cookie_auth: false,
        zmq: true,
    })
    .expect("regtest nodes");
    let (n0, n1) = (&nodes.nodes()[0], &nodes.nodes()[1]);
    let setup = Setup::new("jobmaster-20");
    let config = write_config(&setup, nodes.nodes());
    // The gateway side creates its block ring; the jobmaster opens it whenever it appears.
    let producer = ShareProducer::open(
        block_ring_path(&setup.ring_dir, 0),
        &ShareRingConfig::default(),
    )
    .expect("share ring");
    let mut sender = ShareSender::new(producer, &ShareSenderConfig::new(setup.dir.join("spool")))
        .expect("sender");
    let jm = Jobmaster::start(&config, setup.dir.join("jobmaster.log"));
    let mut reader = attach_job_ring(&job_ring_path(&setup.ring_dir), Duration::from_secs(30))
        .expect("job ring");

    let start_height = n0.block_count().expect("height");
    let mut found = Vec::new();
    for round in 0..20u32 {
        let tip = n0.best_block_hash().expect("tip");
        let (mut job, saw_clean) = job_on_tip(&mut reader, &tip, &jm);
        assert!(
            saw_clean || round == 0 || job.clean,
            "round {round}: the first job on a new tip is clean"
        );
        assert_eq!(u64::from(job.height), n0.block_count().expect("height") + 1);

        if round == 7 {
            // The tip moves while this job is being worked: another miner's block on node 1.
            let theirs = n1.generate(1).expect("generate on node 1");
            let new_tip = theirs.last().expect("one block").clone();
            wait_best(n0, &new_tip, &jm);
            let (next, saw_clean) = job_on_tip(&mut reader, &new_tip, &jm);
            assert!(saw_clean, "a tip change must come with clean_jobs");
            assert_ne!(next.prev_hash, job.prev_hash);
            assert_eq!(next.height, job.height + 1);
            job = next;
        }

        let extranonce1 = vec![0x11, 0x22, 0x33, round as u8];
        let extranonce2 = vec![round as u8; job.extranonce.extranonce2];
        let solution = grind(&job, &extranonce1, &extranonce2, 0, 1_000_000)
            .expect("regtest target solves quickly");
        let hash = header_for_solution(&job, &solution)
            .expect("sizes")
            .block_hash()
            .to_string();
        send(
            &mut sender,
            &block_candidate(0, &job, &solution, "tester", "rig1"),
        )
        .expect("send");
        wait_best(n0, &hash, &jm);
        wait_best(n1, &hash, &jm);
        found.push((job.height, hash));
    }
    assert_eq!(
        n0.block_count().expect("height"),
        start_height + 21,
        "20 of ours and 1 from node 1"
    );

    // Each block is on disk in accepted/, and every node's answer is recorded: the live nodes
    // accepted, the dead one was retried and is recorded as unreachable.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let accepted = std::fs::read_dir(setup.block_dir.join("accepted"))
            .map(|d| d.count())
            .unwrap_or(0);
        if accepted == found.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{accepted} of {} blocks in accepted/",
            found.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let records = std::fs::read_to_string(setup.block_dir.join("submissions.jsonl"))
        .expect("submissions.jsonl");
    for (height, hash) in &found {
        let lines: Vec<serde_json::Value> = records
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["block_hash"] == hash.as_str())
            .collect();
        assert_eq!(lines.len(), 3, "block {hash}: one record per node");
        for v in &lines {
            assert_eq!(v["height"], *height);
            let expected = if v["node"] == "dead" {
                "unreachable"
            } else {
                "accepted"
            };
            assert_eq!(v["outcome"], expected, "{v}");
            if v["node"] == "dead" {
                assert_eq!(v["attempts"], 2, "transport failures are retried");
            }
        }
    }
    let log = jm.log();
    assert!(log.contains("block accepted by node"), "{log}");
    assert!(
        log.contains("subscribed to zmq hashblock"),
        "ZMQ wake-ups were not used:\n{log}"
    );

    // A jobmaster killed and restarted re-attaches to the same ring, and still rebuilds blocks
    // for the jobs its previous run published (a gateway may be mining one, or have a candidate
    // for it in the share ring): they come back from the job archive.
    let tip = n0.best_block_hash().expect("tip");
    let (old_job, _) = job_on_tip(&mut reader, &tip, &jm);
    let mut jm = jm;
    jm.child.kill().expect("kill jobmaster");
    let _ = jm.child.wait();
    // The candidate reaches the share ring while no jobmaster runs: the next one must restore the
    // job before it reads the ring.
    let solution = grind(&old_job, &[9, 9, 9, 9], &[7; 8], 0, 1_000_000).expect("solves");
    let hash = header_for_solution(&old_job, &solution)
        .expect("sizes")
        .block_hash()
        .to_string();
    send(
        &mut sender,
        &block_candidate(0, &old_job, &solution, "tester", "rig1"),
    )
    .expect("send");
    let jm = Jobmaster::start(&config, setup.dir.join("jobmaster-2.log"));
    wait_best(n0, &hash, &jm);
    let log = jm.log();
    assert!(log.contains("job ring re-attached"), "{log}");
    assert!(log.contains("restored from the archive"), "{log}");

    // The new run continues job ids after the archived ones, and its first job on the new tip
    // (our block) is clean.
    let (new_job, saw_clean) = job_on_tip(&mut reader, &hash, &jm);
    assert!(saw_clean, "the block we just found moved the tip");
    assert_ne!(new_job.job_id, old_job.job_id);
    assert!(
        new_job.job_id.wrapping_sub(old_job.job_id) < 1_000,
        "ids continue after the archived ones"
    );

    // A candidate naming a job no jobmaster ever published cannot be rebuilt: it is kept, every
    // field, in unbuildable/ for the operator, and nothing is submitted.
    let mut stray = block_candidate(0, &new_job, &solution, "tester", "rig1");
    stray.job_id = new_job.job_id.wrapping_add(500_000);
    send(&mut sender, &stray).expect("send");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let kept: Vec<PathBuf> = std::fs::read_dir(setup.block_dir.join("unbuildable"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if let Some(path) = kept.first() {
            let text = std::fs::read_to_string(path).expect("read");
            let v: serde_json::Value = serde_json::from_str(&text).expect("json");
            assert_eq!(v["job_id"], stray.job_id);
            assert_eq!(v["reason"], "unknown job");
            assert_eq!(v["nonce"], stray.nonce);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no unbuildable record; log:\n{}",
            jm.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
