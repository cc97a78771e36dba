//! The regtest harness against real nodes: start, mine, sync, cookie auth, stopping one node, and
//! clean-up on drop. Each test starts its own set in its own directory, so they run in parallel.

use std::net::TcpStream;
use std::time::Duration;

use ironpool_bench::regtest::{RegtestNodes, RegtestOptions};

const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn two_nodes_mine_and_agree_on_the_tip() {
    // 1. Two nodes with ZMQ: both hand out templates at height 0 (peers linked, no IBD).
    let set = RegtestNodes::start(RegtestOptions {
        nodes: 2,
        cookie_auth: false,
        zmq: true,
    })
    .expect("start two nodes");
    let [n0, n1] = set.nodes() else {
        panic!("expected two nodes, got {}", set.nodes().len());
    };
    assert_eq!((n0.index, n1.index), (0, 1));
    for node in [n0, n1] {
        assert_eq!(node.block_count().expect("getblockcount"), 0);
        let template = node.cli("getblocktemplate", &[]).expect("getblocktemplate");
        assert_eq!(template["height"], 1, "{template}");
        let endpoint = node.zmq_endpoint.as_deref().expect("zmq endpoint");
        let address = endpoint.strip_prefix("tcp://").expect("tcp endpoint");
        TcpStream::connect(address).expect("zmq publisher listens");
    }

    // 2. Mine three blocks on node 0.
    let hashes = n0.generate(3).expect("generate");
    assert_eq!(hashes.len(), 3);
    assert_eq!(n0.best_block_hash().expect("best hash"), hashes[2]);

    // 3. Node 1 receives them over P2P.
    n1.wait_for_height(3, SYNC_TIMEOUT).expect("node 1 syncs");
    assert_eq!(n1.best_block_hash().expect("best hash"), hashes[2]);
}

#[test]
fn cookie_auth_start_and_cli() {
    let set = RegtestNodes::start(RegtestOptions {
        nodes: 2,
        cookie_auth: true,
        zmq: false,
    })
    .expect("start with cookie auth");
    for node in set.nodes() {
        let cookie = node.cookie_path.as_ref().expect("cookie path");
        assert_eq!(cookie, &node.datadir.join("regtest/.cookie"));
        let text = std::fs::read_to_string(cookie).expect("cookie file");
        assert!(text.starts_with("__cookie__:"), "{text}");
        assert_eq!((&node.rpc_user, &node.rpc_password), (&None, &None));
        assert_eq!(node.zmq_endpoint, None);
        assert_eq!(node.block_count().expect("cli with the cookie"), 0);
    }
}

#[test]
fn stop_node_leaves_the_others_running() {
    let set = RegtestNodes::start(RegtestOptions::default()).expect("start two nodes");
    let [n0, n1] = set.nodes() else {
        panic!("expected two nodes, got {}", set.nodes().len());
    };
    set.stop_node(1).expect("stop node 1");
    assert!(n1.block_count().is_err(), "node 1 still answers");
    assert!(
        TcpStream::connect(("127.0.0.1", n1.rpc_port)).is_err(),
        "node 1 still listens"
    );
    assert_eq!(n0.block_count().expect("node 0 still answers"), 0);
    // Stopping a stopped node is not an error; an index outside the set is.
    set.stop_node(1).expect("stop node 1 again");
    assert!(set.stop_node(2).is_err());
}

#[test]
fn drop_stops_the_nodes_and_removes_the_directory() {
    let set = RegtestNodes::start(RegtestOptions {
        nodes: 1,
        cookie_auth: false,
        zmq: false,
    })
    .expect("start one node");
    let dir = set.dir().to_owned();
    let node = set.nodes()[0].clone();
    let real_dir = std::fs::canonicalize(&dir).expect("canonical dir");
    assert!(
        node.datadir.starts_with(&real_dir),
        "{}",
        node.datadir.display()
    );
    assert!(dir.starts_with(std::env::temp_dir()));
    assert_eq!(node.block_count().expect("getblockcount"), 0);

    drop(set);
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(
        TcpStream::connect(("127.0.0.1", node.rpc_port)).is_err(),
        "the node still listens"
    );
}

#[test]
fn zero_nodes_is_refused() {
    let err = RegtestNodes::start(RegtestOptions {
        nodes: 0,
        cookie_auth: false,
        zmq: false,
    })
    .expect_err("zero nodes");
    assert!(err.to_string().contains("at least 1"), "{err}");
}
