//! Two pool sites, each a pair of real regtest nodes (not connected to each other) with its own
//! blockmaster process; the test plays site A's jobmaster on a relay link.
//!
//! 1. A block found at site A holding 10 transactions, 7 of which site B's node already has,
//!    reaches B as a compact block: 7 from B's mempool cache, the coinbase prefilled, 3 asked for
//!    in one round trip, and B's node takes it.
//! 2. Blockmaster A restarted with `IRONPOOL_BLOCKMASTER_IGNORE_GETBLOCKTXN=1`: B's request for the
//!    missing transactions goes unanswered, B falls back to the whole block, and B's node takes it.
//!
//! A third test needs no node: garbage and stray answers on a relay link are logged and ignored,
//! and the next good block still goes out.

use bitcoin::bip152::{BlockTransactions, BlockTransactionsRequest};
use bitcoin::blockdata::constants::genesis_block;
use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::hex::FromHex;
use bitcoin::{BlockHash, Network};
use ironpool_bench::regtest::{RegtestNode, RegtestNodes, RegtestOptions};
use ironpool_controlplane::relay_link::{RelayHub, DEFAULT_MAX_BODY};
use ironpool_shared::meta::PresharedKey;
use ironpool_shared::relay::{BlockOrigin, RelayMessage};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY_BYTE: u8 = 0x42;

/// A blockmaster process, killed when dropped.
struct Blockmaster {
    config: PathBuf,
    log: PathBuf,
    status: PathBuf,
    child: Option<Child>,
}

impl Blockmaster {
    fn start(config: PathBuf, status: PathBuf, env: &[(&str, &str)]) -> Blockmaster {
        let log = config.with_extension("log");
        let mut process = Blockmaster {
            config,
            log,
            status,
            child: None,
        };
        process.spawn(env);
        process
    }

    fn spawn(&mut self, env: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ironpool-control"))
            .arg("blockmaster")
            .arg("--config")
            .arg(&self.config)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info,ironpool_controlplane=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn ironpool-control blockmaster");
        self.child = Some(child);
    }

    /// SIGTERM, wait, and start again with `env`; the old status file is removed first so that
    /// what is read afterwards comes from the new process.
    fn restart(&mut self, env: &[(&str, &str)]) {
        if let Some(mut child) = self.child.take() {
            // Our own child, not yet reaped: its pid cannot have been reused.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !matches!(child.try_wait(), Ok(Some(_))) {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = std::fs::remove_file(&self.status);
        self.spawn(env);
    }

    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn status(&self) -> Value {
        std::fs::read_to_string(&self.status)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null)
    }

    /// The status record of block `hash`, once it is there with the node's answer.
    fn block_record(&self, hash: &str) -> Option<Value> {
        self.status()["blocks"]
            .as_array()?
            .iter()
            .find(|b| b["hash"] == hash && !b["submit"].is_null())
            .cloned()
    }

    fn has_link(&self, kind: &str) -> bool {
        self.status()["links"]
            .as_array()
            .is_some_and(|links| links.iter().any(|l| l["kind"] == kind))
    }
}

impl Drop for Blockmaster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A directory of its own under the temporary directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("ironpool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback address nobody listens on yet.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

fn write_key(dir: &Path) -> PathBuf {
    let path = dir.join("relay.key");
    std::fs::write(&path, [KEY_BYTE; 32]).expect("key file");
    path
}

fn relay_key() -> PresharedKey {
    PresharedKey::new(&[KEY_BYTE; 32]).expect("key")
}

/// The `[node]` table for `url` with the regtest credentials.
fn node_table(name: &str, url: &str, node: Option<&RegtestNode>) -> String {
    let user = node
        .and_then(|n| n.rpc_user.clone())
        .unwrap_or_else(|| "ironpool".to_owned());
    let password = node
        .and_then(|n| n.rpc_password.clone())
        .unwrap_or_else(|| "ironpool".to_owned());
    format!("[node]\nname = \"{name}\"\nurl = \"{url}\"\nuser = \"{user}\"\npassword = \"{password}\"\ntimeout_ms = 5000\n")
}

#[allow(clippy::too_many_arguments)]
fn write_config(
    dir: &Path,
    name: &str,
    listen: &str,
    peers: &[String],
    bitpeers: &[String],
    node: &str,
    status: &Path,
    key: &Path,
) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "peers = {peers:?}\nbitpeers = {bitpeers:?}\nmempool_poll_ms = 200\nmissing_timeout_ms = 3000\n\
         status_file = \"{}\"\n[relay]\nlisten = \"{listen}\"\nkey_file = \"{}\"\n{node}",
        status.display(),
        key.display()
    );
    std::fs::write(&path, text).expect("config");
    path
}

/// Polls `done` every 100 ms until it holds; panics after `timeout` with `what` and `context()`.
fn wait_for(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > timeout {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                context()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A JSON answer as text (bitcoin-cli prints hex and hashes bare).
fn text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn raw_block(node: &RegtestNode, hash: &str) -> String {
    text(node.cli("getblock", &[hash, "0"]).expect("getblock"))
}

/// A wallet payment on `node`; its txid.
fn pay(node: &RegtestNode) -> String {
    let address = text(node.cli("getnewaddress", &[]).expect("getnewaddress"));
    text(
        node.cli("sendtoaddress", &[&address, "1"])
            .expect("sendtoaddress"),
    )
}

/// Sends transaction `txid` of `from`'s mempool to `to`.
fn copy_tx(from: &RegtestNode, to: &RegtestNode, txid: &str) {
    let hex = text(
        from.cli("getrawtransaction", &[txid])
            .expect("getrawtransaction"),
    );
    to.cli("sendrawtransaction", &[&hex])
        .expect("sendrawtransaction");
}

fn mempool_size(node: &RegtestNode) -> usize {
    node.cli("getrawmempool", &[])
        .expect("getrawmempool")
        .as_array()
        .map_or(0, Vec::len)
}

fn logs(a: &Blockmaster, b: &Blockmaster) -> String {
    format!(
        "--- blockmaster A status ---\n{}\n--- blockmaster B status ---\n{}\n--- blockmaster A log ---\n{}\n--- blockmaster B log ---\n{}",
        a.status(),
        b.status(),
        tail(&a.log()),
        tail(&b.log())
    )
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Mines one block on `a0` and sends it to blockmaster A as its jobmaster would; returns the
/// block's hash.
fn mine_and_relay(a0: &RegtestNode, jobmaster: &RelayHub, expected_txs: usize) -> String {
    let hash = a0.generate(1).expect("generate")[0].clone();
    let hex = raw_block(a0, &hash);
    let bytes = Vec::<u8>::from_hex(&hex).expect("block hex");
    let block: bitcoin::Block = bitcoin::consensus::deserialize(&bytes).expect("block decodes");
    assert_eq!(
        block.txdata.len(),
        expected_txs,
        "transactions in the mined block"
    );
    let links = jobmaster.broadcast(&RelayMessage::Block {
        origin: BlockOrigin::OwnPool,
        bytes,
    });
    assert_eq!(links, 1, "the jobmaster's link to blockmaster A");
    hash
}

fn figures(label: &str, record: &Value) {
    println!(
        "{label}: transactions {} | prefilled {} | from cache {} | missing {} | round trips {} | round-trip ms {} | fallback {} ({}) | total ms {} | submit {}",
        record["transactions"],
        record["prefilled"],
        record["from_cache"],
        record["missing"],
        record["round_trips"],
        record["round_trip_ms"],
        record["fallback"],
        record["fallback_reason"],
        record["total_ms"],
        record["submit"],
    );
}

#[test]
fn compact_blocks_cross_sites_in_one_round_trip_and_fall_back_to_the_whole_block() {
    let site_a = RegtestNodes::start(RegtestOptions::default()).expect("site A nodes");
    let site_b = RegtestNodes::start(RegtestOptions::default()).expect("site B nodes");
    let (a0, b0) = (&site_a.nodes()[0], &site_b.nodes()[0]);

    // One chain at both sites: A mines (its coinbases mature), B is given every block.
    for hash in a0.generate(101).expect("generate 101") {
        let answer = b0
            .cli("submitblock", &[&raw_block(a0, &hash)])
            .expect("submitblock on B0");
        assert!(answer.is_null(), "B0 refused block {hash}: {answer}");
    }
    assert_eq!(
        b0.best_block_hash().expect("B0 best"),
        a0.best_block_hash().expect("A0 best")
    );

    // 10 payments at A, 7 of them known at B too (in order: each spends the previous change).
    let txids: Vec<String> = (0..10).map(|_| pay(a0)).collect();
    for txid in &txids[..7] {
        copy_tx(a0, b0, txid);
    }
    assert_eq!(mempool_size(b0), 7);

    let dir = Dir::new("blockmaster-relay");
    let key = write_key(&dir.0);
    let (listen_a, listen_b) = (free_address(), free_address());
    let status_a = dir.0.join("a-status.json");
    let status_b = dir.0.join("b-status.json");
    let config_a = write_config(
        &dir.0,
        "a",
        &listen_a,
        std::slice::from_ref(&listen_b),
        &[],
        &node_table("a0", &a0.rpc_url(), Some(a0)),
        &status_a,
        &key,
    );
    let config_b = write_config(
        &dir.0,
        "b",
        &listen_b,
        &[],
        &[],
        &node_table("b0", &b0.rpc_url(), Some(b0)),
        &status_b,
        &key,
    );
    let mut bm_b = Blockmaster::start(config_b, status_b, &[]);
    let mut bm_a = Blockmaster::start(config_a, status_a, &[]);

    // Site A's jobmaster.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _entered = runtime.enter();
    let (jobmaster, _inbound) = RelayHub::new(relay_key(), DEFAULT_MAX_BODY);
    jobmaster.connect(listen_a.clone());

    wait_for(
        "B's mempool cache to hold the 7 shared transactions",
        Duration::from_secs(20),
        || bm_b.status()["mempool_cache"]["in_mempool"] == 7,
        || logs(&bm_a, &bm_b),
    );
    wait_for(
        "blockmaster A's links to B and to the jobmaster",
        Duration::from_secs(20),
        || {
            bm_a.has_link("peer_blockmaster")
                && bm_a.has_link("accepted")
                && jobmaster.link_count() == 1
        },
        || logs(&bm_a, &bm_b),
    );

    // Phase 1: one round trip for the 3 transactions B lacks.
    let first = mine_and_relay(a0, &jobmaster, 11);
    wait_for(
        "B0 to hold the first block",
        Duration::from_secs(30),
        || b0.best_block_hash().ok().as_deref() == Some(first.as_str()),
        || logs(&bm_a, &bm_b),
    );
    wait_for(
        "B's record of the first block",
        Duration::from_secs(10),
        || bm_b.block_record(&first).is_some(),
        || logs(&bm_a, &bm_b),
    );
    let record = bm_b.block_record(&first).expect("record");
    figures("phase 1 (compact, one round trip)", &record);
    assert_eq!(record["arrived_as"], "compact block", "{record}");
    assert_eq!(record["origin"], "own_pool", "{record}");
    assert_eq!(record["transactions"], 11, "{record}");
    assert_eq!(record["prefilled"], 1, "{record}");
    assert_eq!(record["from_cache"], 7, "{record}");
    assert_eq!(record["missing"], 3, "{record}");
    assert_eq!(record["round_trips"], 1, "{record}");
    assert!(record["round_trip_ms"].as_f64().is_some(), "{record}");
    assert_eq!(record["fallback"], false, "{record}");
    assert_eq!(record["submit"], "accepted", "{record}");
    let sent = bm_a.block_record(&first);
    assert!(
        sent.as_ref().is_some_and(|r| r["sent_to_peers"] == 1),
        "A's record of the first block: {sent:?}"
    );

    // Phase 2: A does not answer getblocktxn; B falls back to the whole block.
    bm_a.restart(&[("IRONPOOL_BLOCKMASTER_IGNORE_GETBLOCKTXN", "1")]);
    wait_for(
        "restarted blockmaster A's links to B and to the jobmaster",
        Duration::from_secs(30),
        || {
            bm_a.has_link("peer_blockmaster")
                && bm_a.has_link("accepted")
                && jobmaster.link_count() == 1
        },
        || logs(&bm_a, &bm_b),
    );
    let txids: Vec<String> = (0..5).map(|_| pay(a0)).collect();
    for txid in &txids[..2] {
        copy_tx(a0, b0, txid);
    }
    wait_for(
        "B's mempool cache to hold the 2 shared transactions",
        Duration::from_secs(20),
        || bm_b.status()["mempool_cache"]["in_mempool"] == 2,
        || logs(&bm_a, &bm_b),
    );
    let second = mine_and_relay(a0, &jobmaster, 6);
    wait_for(
        "B0 to hold the second block",
        Duration::from_secs(30),
        || b0.best_block_hash().ok().as_deref() == Some(second.as_str()),
        || logs(&bm_a, &bm_b),
    );
    wait_for(
        "B's record of the second block",
        Duration::from_secs(10),
        || bm_b.block_record(&second).is_some(),
        || logs(&bm_a, &bm_b),
    );
    let record = bm_b.block_record(&second).expect("record");
    figures("phase 2 (getblocktxn ignored, whole block)", &record);
    assert_eq!(record["from_cache"], 2, "{record}");
    assert_eq!(record["missing"], 3, "{record}");
    assert_eq!(record["round_trips"], 0, "{record}");
    assert_eq!(record["fallback"], true, "{record}");
    assert_eq!(record["submit"], "accepted", "{record}");
    assert!(
        record["fallback_reason"]
            .as_str()
            .is_some_and(|r| r.contains("getblocktxn unanswered")),
        "{record}"
    );
    assert!(
        bm_a.log().contains("fault injection"),
        "{}",
        logs(&bm_a, &bm_b)
    );
    assert_eq!(bm_b.status()["counters"]["fallback_timeouts"], 1);
    assert!(bm_a.alive() && bm_b.alive(), "{}", logs(&bm_a, &bm_b));
}

#[test]
fn garbage_and_stray_answers_are_ignored_and_the_next_block_still_goes_out() {
    let dir = Dir::new("blockmaster-bad-input");
    let key = write_key(&dir.0);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _entered = runtime.enter();
    // The test is a bitpeer of the blockmaster (it listens) and its jobmaster (it connects).
    let (hub, mut inbound) = RelayHub::new(relay_key(), DEFAULT_MAX_BODY);
    let bitpeer = runtime
        .block_on(hub.listen("127.0.0.1:0"))
        .expect("listen")
        .to_string();
    let listen = free_address();
    let status = dir.0.join("status.json");
    // No node: its port is closed, so submitblock and the mempool poll fail (logged).
    let dead_node = format!("http://{}/", free_address());
    let config = write_config(
        &dir.0,
        "bm",
        &listen,
        &[],
        std::slice::from_ref(&bitpeer),
        &node_table("dead", &dead_node, None),
        &status,
        &key,
    );
    let mut bm = Blockmaster::start(config, status, &[]);
    hub.connect(listen.clone());
    wait_for(
        "both links (the blockmaster's to the bitpeer, ours to it)",
        Duration::from_secs(20),
        || hub.link_count() == 2,
        || bm.log(),
    );
    let link = hub
        .links()
        .into_iter()
        .find(|(_, peer)| *peer == listen)
        .map(|(id, _)| id)
        .expect("our link to the blockmaster");

    let stray = BlockHash::from_byte_array([7; 32]);
    let messages = [
        RelayMessage::CompactBlock {
            origin: BlockOrigin::OtherSite,
            bytes: vec![0xde, 0xad, 0xbe, 0xef, 1, 2, 3],
        },
        RelayMessage::GetBlockTxnReply(serialize(&BlockTransactions {
            block_hash: stray,
            transactions: Vec::new(),
        })),
        RelayMessage::GetBlockTxnReply(vec![0xff; 40]),
        RelayMessage::GetBlockTxn(serialize(&BlockTransactionsRequest {
            block_hash: stray,
            indexes: vec![1, 2],
        })),
        RelayMessage::GetBlock(stray.to_byte_array()),
        RelayMessage::Block {
            origin: BlockOrigin::OwnPool,
            bytes: vec![1, 2, 3],
        },
    ];
    for message in &messages {
        assert!(hub.send(link, message), "sent {}", message.name());
    }
    let good = genesis_block(Network::Regtest);
    let good_bytes = serialize(&good);
    assert!(hub.send(
        link,
        &RelayMessage::Block {
            origin: BlockOrigin::OwnPool,
            bytes: good_bytes.clone(),
        }
    ));

    // The good block reaches the bitpeer side.
    let relayed = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(message) = inbound.recv().await {
                if let RelayMessage::Block { bytes, .. } = message.message {
                    return Some(bytes);
                }
            }
            None
        })
        .await
    });
    assert_eq!(
        relayed.ok().flatten().as_deref(),
        Some(good_bytes.as_slice()),
        "good block not relayed to the bitpeer\n{}",
        bm.log()
    );
    wait_for(
        "the counters in the status",
        Duration::from_secs(5),
        || bm.status()["counters"]["blocks_handled"] == 1,
        || bm.log(),
    );
    let counters = bm.status()["counters"].clone();
    println!("bad input counters: {counters}");
    // Garbage compact block, garbage blocktxn, garbage block.
    assert_eq!(counters["bad_messages"], 3, "{counters}");
    assert_eq!(counters["unexpected_answers"], 1, "{counters}");
    assert_eq!(counters["unknown_block_requests"], 2, "{counters}");
    let log = bm.log();
    for expected in [
        "relay message unusable; ignored",
        "blocktxn not expected; ignored",
        "getblocktxn for a block not kept",
        "getblock for a block not kept",
        "block relayed",
    ] {
        assert!(log.contains(expected), "log lacks {expected:?}\n{log}");
    }
    assert!(bm.alive(), "blockmaster exited\n{log}");
}
