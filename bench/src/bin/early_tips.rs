//! The two latencies that decide orphan rates, measured end to end on three regtest nodes with
//! the jobmaster, bitpeer and a one-shard gateway in this process:
//!
//! - **header → empty job**: from the moment bitpeer reads a block announcement from node B to
//!   the moment a stratum client of the gateway reads the empty job on it (the jobmaster's own
//!   node is cut off each round, so the announcement is the only way to learn the block);
//! - **found block → every node**: from the client's `mining.submit` of a block to the moment
//!   the last of the three nodes publishes it on ZMQ `hashblock` (connected to its chain).
//!
//! A third figure is the baseline of the same run: a block mined by node B, from B's `hashblock`
//! to the last of the other two nodes' (the nodes' own relay).
//!
//! `cargo run --release -p ironpool-bench --bin early_tips -- --rounds 40`

use bitcoin::hashes::Hash;
use clap::Parser;
use ironpool_bench::early_site::*;
use ironpool_bench::stratum_client::find_share;
use ironpool_controlplane::config::bitpeer::BitpeerConfig;
use ironpool_controlplane::config::jobmaster::JobmasterConfig;
use ironpool_shared::work::header_for_solution;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeromq::{Socket, SocketRecv};

/// Block hash (display hex) → (node index, when its `hashblock` arrived, unix µs).
type Connected = HashMap<String, Vec<(usize, u64)>>;

#[derive(Parser)]
struct Args {
    /// Blocks measured for each latency.
    #[arg(long, default_value_t = 40)]
    rounds: u32,
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn on_thread<F: std::future::Future + Send + 'static>(name: &str, future: F) {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(future);
        })
        .expect("thread");
}

fn percentiles(name: &str, mut us: Vec<u64>) {
    us.sort_unstable();
    let at = |q: f64| {
        us[((us.len() as f64 * q).ceil() as usize)
            .saturating_sub(1)
            .min(us.len() - 1)] as f64
            / 1000.0
    };
    println!(
        "{name}: n={} p50={:.2} ms p90={:.2} ms p99={:.2} ms max={:.2} ms",
        us.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

fn main() {
    let args = Args::parse();
    // The roles' log lines on stderr when RUST_LOG asks for them (where a round's time goes).
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = ironpool_shared::alert::init_logging(None);
    }
    let set = three_nodes_at(10);
    let nodes = set.nodes().to_vec();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let dir = Dir::new("early-bench");
    let key = dir.path.join("relay.key");
    std::fs::write(&key, [3u8; 32]).expect("key");
    let (bp_config, relay) = bitpeer_config(&dir.path, &[a, b, c], b, &key);
    let bp = BitpeerConfig::load(&bp_config).expect("bitpeer config");
    on_thread("bitpeer", async move {
        let _ = ironpool_controlplane::bitpeer::run(bp).await;
    });
    let jm_config = jobmaster_config(&dir.path, &dir.rings, a, &key, &[relay], "", 120);
    let jm = JobmasterConfig::load(&jm_config).expect("jobmaster config");
    on_thread("jobmaster", async move {
        let _ = ironpool_controlplane::jobmaster::run(jm).await;
    });
    let mut jobs = Jobs::attach(&dir.rings);
    let (gateway, _control) = gateway(&dir.path, &dir.rings);
    let (mut client, en1) = miner(gateway, "bench.rig1");
    let bp_status = dir.path.join("bitpeer-status.json");
    wait_bitpeer_ready(&bp_status, 3, || status(&bp_status).to_string());

    // 1. Header seen by bitpeer → empty job read by the miner.
    let mut header_to_job = Vec::new();
    for round in 0..args.rounds {
        a.cli("setnetworkactive", &["false"]).expect("isolate A");
        let mined = b.generate(1).expect("generate")[0].clone();
        let want = stratum_prev(&mined);
        let notify = wait_notify(&mut client, "empty job", Duration::from_secs(10), |n| {
            n.prev_hash_stratum == want
        });
        let received_us = unix_us();
        assert!(
            notify.clean && notify.merkle_branch.is_empty(),
            "{notify:?}"
        );
        let mut seen_us = None;
        wait_for(
            "bitpeer's record of the block",
            Duration::from_secs(5),
            || {
                seen_us = status(&bp_status)["blocks"].as_array().and_then(|blocks| {
                    blocks
                        .iter()
                        .find(|b| b["hash"] == mined.as_str())
                        .and_then(|b| b["seen_us"].as_u64())
                });
                seen_us.is_some()
            },
            String::new,
        );
        header_to_job.push(received_us.saturating_sub(seen_us.unwrap_or(received_us)));
        rejoin(a, &[b, c]);
        let height = b.block_count().expect("height");
        a.wait_for_height(height, Duration::from_secs(60))
            .expect("A catches up");
        wait_notify(&mut client, "full template", Duration::from_secs(30), |n| {
            n.prev_hash_stratum == want && !n.clean
        });
        if round % 10 == 9 {
            eprintln!("header → empty job: {} rounds", round + 1);
        }
    }

    // 2. Our block submitted → connected by every node (ZMQ hashblock).
    let connected: Arc<Mutex<Connected>> = Arc::default();
    for (index, node) in nodes.iter().enumerate() {
        let endpoint = node.zmq_endpoint.clone().expect("zmq");
        let connected = connected.clone();
        on_thread("zmq", async move {
            let mut socket = zeromq::SubSocket::new();
            socket.connect(&endpoint).await.expect("zmq connect");
            socket.subscribe("hashblock").await.expect("subscribe");
            while let Ok(message) = socket.recv().await {
                let at = unix_us();
                if let Some(hash) = message.get(1) {
                    // hashblock carries the hash in display order.
                    let bytes: [u8; 32] = hash.as_ref().try_into().unwrap_or([0; 32]);
                    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                    connected
                        .lock()
                        .expect("lock")
                        .entry(hex)
                        .or_default()
                        .push((index, at));
                }
            }
        });
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut block_to_nodes = Vec::new();
    let mut per_node: [Vec<u64>; 3] = Default::default();
    let mut to_jobmaster = Vec::new();
    for round in 0..args.rounds {
        let height = a.block_count().expect("height") as u32;
        let job = jobs.wait("job on the tip", Duration::from_secs(30), |j| {
            j.height == height + 1
        });
        let en2 = [0, 0, 0, 0, 0, 1, (round >> 8) as u8, round as u8];
        let solution = find_share(&job, &en1, &en2, job.version, DIFFICULTY, f64::INFINITY);
        let hash = header_for_solution(&job, &solution)
            .expect("header")
            .block_hash();
        let hex = bitcoin::BlockHash::from_byte_array(hash.to_byte_array()).to_string();
        let submitted = unix_us();
        // The reply is read at once: a session that never reads is cut off as a slow consumer.
        let reply = submit(
            &mut client,
            100 + u64::from(round),
            "bench.rig1",
            &job,
            &solution,
        );
        assert!(reply.contains("\"result\":true"), "share refused: {reply}");
        let mut last = None;
        wait_for(
            "every node connects our block",
            Duration::from_secs(20),
            || {
                let map = connected.lock().expect("lock");
                last = map.get(&hex).filter(|times| times.len() >= 3).cloned();
                last.is_some()
            },
            || format!("{:?}", best_hashes(&nodes)),
        );
        let times = last.unwrap_or_default();
        for &(index, at) in &times {
            per_node[index].push(at.saturating_sub(submitted));
        }
        // When the gateways got work on our own block: the jobmaster's empty job on it, unless
        // the node's template was faster (it can wait behind a getblocktemplate in flight).
        let own = jobs.wait("empty job on our block", Duration::from_secs(10), |j| {
            j.prev_hash == hash.to_byte_array()
        });
        to_jobmaster.push(own.created_at_us.saturating_sub(submitted));
        let slowest = times.iter().map(|&(_, at)| at).max().unwrap_or(submitted);
        block_to_nodes.push(slowest.saturating_sub(submitted));
        for n in &nodes {
            n.wait_for_height(u64::from(height) + 1, Duration::from_secs(10))
                .expect("height");
        }
    }
    percentiles(
        "header seen by bitpeer -> empty job on the wire",
        header_to_job,
    );
    percentiles(
        "found block submitted -> all 3 nodes connected it",
        block_to_nodes,
    );
    percentiles(
        "  aside: submit -> first job on our block (empty job, or the node's template)",
        to_jobmaster,
    );
    let [to_a, to_b, to_c] = per_node;
    percentiles("  of which node A (submitblock and P2P)", to_a);
    percentiles("  of which node B (P2P)", to_b);
    percentiles("  of which node C (P2P)", to_c);

    // Baseline in the same run: the nodes' own relay. Node B mines a block; from B's hashblock
    // to the last of A and C connecting it.
    let mut node_relay = Vec::new();
    for _ in 0..args.rounds {
        let mined = b.generate(1).expect("generate")[0].clone();
        let mut times = None;
        wait_for(
            "every node connects B's block",
            Duration::from_secs(20),
            || {
                times = connected
                    .lock()
                    .expect("lock")
                    .get(&mined)
                    .filter(|t| t.len() >= 3)
                    .cloned();
                times.is_some()
            },
            || format!("{:?}", best_hashes(&nodes)),
        );
        let times = times.unwrap_or_default();
        let at_b = times.iter().find(|(i, _)| *i == 1).map_or(0, |&(_, t)| t);
        let last = times.iter().map(|&(_, t)| t).max().unwrap_or(at_b);
        node_relay.push(last.saturating_sub(at_b));
    }
    percentiles(
        "baseline: block connected by node B -> by all 3 (the nodes' own relay)",
        node_relay,
    );
}
