//! Found blocks against real regtest nodes: a block whose nodes cannot be reached stays in
//! `pending/` and is accepted once a node answers; a block the node refuses moves to `rejected/`
//! with the node's reason; submitting an accepted block again is recorded as `duplicate`.

use ironpool_bench::regtest::{RegtestNode, RegtestNodes, RegtestOptions};
use ironpool_controlplane::jobmaster::found_blocks::{BlockState, FoundBlocks};
use ironpool_controlplane::jobmaster::submitter::{NodeVerdict, Submitter};
use ironpool_controlplane::node::{NodeAuth, NodeClient, NodeEndpoint};
use ironpool_shared::work::{
    assemble_block, build_job, AssembledBlock, BlockTemplate, ExtranonceSizes, JobParams,
    PayoutRecipient, Solution,
};
use std::time::Duration;

fn client(name: &str, node: &RegtestNode) -> NodeClient {
    let auth = NodeAuth::UserPassword {
        user: node.rpc_user.clone().expect("user"),
        password: node.rpc_password.clone().expect("password"),
    };
    NodeClient::new(
        NodeEndpoint::new(name, node.rpc_url(), auth).with_timeout(Duration::from_secs(5)),
    )
    .expect("client")
}

fn dead_client() -> NodeClient {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let auth = NodeAuth::UserPassword {
        user: "x".into(),
        password: "y".into(),
    };
    NodeClient::new(
        NodeEndpoint::new("dead", format!("http://127.0.0.1:{port}/"), auth)
            .with_timeout(Duration::from_millis(500)),
    )
    .expect("client")
}

/// A block on the node's current template, with `extra_value` satoshis more than allowed.
async fn mine(node: &NodeClient, extra_value: u64) -> (u32, AssembledBlock) {
    let raw = node
        .get_block_template(&["segwit"])
        .await
        .expect("getblocktemplate");
    let mut template = BlockTemplate::from_json(&raw).expect("template");
    template.coinbase_value += extra_value;
    let params = JobParams {
        tag: b"/ironpool-test/".to_vec(),
        payouts: vec![PayoutRecipient::parse(
            "n1ESb9aqqxPZMG33uCvA9avKqHAtP5DBau",
            1,
            bitcoin::Network::Regtest,
        )
        .expect("address")],
        extranonce: ExtranonceSizes::default(),
        version_mask: 0x1fff_e000,
        ntime_roll_secs: 600,
    };
    let job = build_job(&template, &params, 1, true, 0).expect("job");
    for nonce in 0..10_000 {
        let solution = Solution {
            extranonce1: vec![1; 4],
            extranonce2: vec![2; 8],
            ntime: template.curtime,
            nonce,
            version: template.version,
        };
        let block = assemble_block(
            &job.record,
            &job.coinbase,
            &template.transactions,
            &solution,
        )
        .expect("assemble");
        if block.meets_target {
            return (template.height, block);
        }
    }
    panic!("no nonce met the regtest target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_stays_on_disk_until_a_node_holds_it() {
    let nodes = tokio::task::spawn_blocking(|| {
        RegtestNodes::start(RegtestOptions {
            nodes: 2,
            cookie_auth: false,
            zmq: false,
        })
    })
    .await
    .expect("join")
    .expect("regtest nodes");
    let node0 = client("node0", &nodes.nodes()[0]);
    let dir = std::env::temp_dir().join(format!("ironpool-submit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let found = FoundBlocks::open(&dir).expect("block dir");

    let (height, block) = mine(&node0, 0).await;
    let hash = block.hash.to_string();

    // Only an unreachable node: the block is written first and stays pending.
    let unreachable = Submitter::new(
        vec![dead_client()],
        true,
        found.clone(),
        3,
        Duration::from_millis(20),
    );
    let outcome = unreachable.submit_new(height, &hash, &block.bytes).await;
    assert_eq!(outcome.state, BlockState::Pending);
    assert!(
        matches!(outcome.verdicts[0].1, NodeVerdict::Unreachable(_)),
        "{:?}",
        outcome.verdicts
    );
    let pending = found.path(BlockState::Pending, height, &hash);
    assert_eq!(
        std::fs::read(&pending).expect("pending block file"),
        block.bytes
    );

    // A restarted jobmaster with a live node resubmits it.
    let live = Submitter::new(
        vec![dead_client(), node0.clone()],
        true,
        found.clone(),
        2,
        Duration::from_millis(20),
    );
    live.resubmit_pending().await;
    assert!(
        !pending.exists(),
        "pending/ is emptied once a node holds the block"
    );
    assert!(found.path(BlockState::Accepted, height, &hash).exists());
    assert_eq!(node0.get_best_block_hash().await.expect("best"), hash);

    // The same block again: the node already has it.
    let again = Submitter::new(vec![node0.clone()], true, found.clone(), 1, Duration::ZERO);
    std::fs::create_dir_all(dir.join("pending")).expect("pending dir");
    let outcome = again.submit_new(height, &hash, &block.bytes).await;
    assert_eq!(outcome.state, BlockState::Accepted);
    assert!(
        matches!(&outcome.verdicts[0].1, NodeVerdict::Accepted(Some(note)) if note.contains("duplicate")),
        "{:?}",
        outcome.verdicts
    );

    // A block paying one satoshi too much: refused with the node's reason, kept in rejected/.
    let (height, bad) = mine(&node0, 1).await;
    let bad_hash = bad.hash.to_string();
    let outcome = again.submit_new(height, &bad_hash, &bad.bytes).await;
    assert_eq!(outcome.state, BlockState::Rejected);
    match &outcome.verdicts[0].1 {
        NodeVerdict::Rejected(reason) => assert!(
            reason.contains("cb-amount") || reason.contains("amount"),
            "reason: {reason}"
        ),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(found.path(BlockState::Rejected, height, &bad_hash).exists());

    let records = std::fs::read_to_string(dir.join("submissions.jsonl")).expect("records");
    assert_eq!(
        records.lines().count(),
        1 + 2 + 1 + 1,
        "one line per node answer"
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(nodes);
}
