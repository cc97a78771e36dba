//! Early tips end to end, with three real regtest nodes (Bitcoin SV, whose regtest halves the
//! subsidy every 150 blocks and never retargets; the retarget math is proven by unit tests in
//! `shared::chain`).
//!
//! - A block mined on node B reaches bitpeer and becomes an empty job on the gateway's wire while
//!   the jobmaster's own node is cut off; the node's full template then follows without
//!   `clean_jobs`; a share on the empty job is still a block every node accepts. The empty
//!   block is at height 150, the first regtest halving: its coinbase pays exactly 25 coins.
//! - With `submitblock` off, a block the pool finds reaches every node through bitpeer alone.

mod early_support;

use early_support::process::write_key;
use early_support::*;
use ironpool_bench::stratum_client::find_share;
use std::time::Duration;

#[test]
fn a_block_from_another_node_becomes_an_empty_job_and_our_block_on_it_is_accepted_everywhere() {
    // Node B mines up to 148: the block it mines next is 149, and the pool's empty block on it
    // is at 150, the regtest halving height.
    let set = three_nodes_at(148);
    let nodes = set.nodes();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let dir = Dir::new("early-empty");
    let key = write_key(&dir.path, "relay.key", 7);

    let (mut bitpeer, relay) = bitpeer(&dir.path, &[a, b, c], b, &key);
    let mut jobmaster = jobmaster(&dir.path, &dir.rings, a, &key, &[relay], "");
    let mut jobs = Jobs::attach(&dir.rings);
    let (gateway, _control) = gateway(&dir.path, &dir.rings);
    let (mut client, en1) = miner(gateway, "alice.rig1");
    jobs.wait("first job", Duration::from_secs(30), |j| j.height == 149);

    let bitpeer_status = dir.path.join("bitpeer-status.json");
    wait_bitpeer_ready(&bitpeer_status, 3, || {
        format!("{}\n{}", bitpeer.log(), jobmaster.log())
    });

    // The jobmaster's node hears of nothing now: the new block can only come through bitpeer.
    a.cli("setnetworkactive", &["false"])
        .expect("isolate node A");
    let mined = b.generate(1).expect("generate")[0].clone();
    let notify = wait_notify(
        &mut client,
        "empty job on B's block",
        Duration::from_secs(10),
        |n| n.prev_hash_stratum == stratum_prev(&mined),
    );
    assert!(
        notify.clean,
        "the first job on a new tip is clean: {notify:?}"
    );
    assert!(
        notify.merkle_branch.is_empty(),
        "an empty job has only the coinbase: {notify:?}"
    );
    assert_eq!(notify.nbits, "207fffff");
    let empty_job = jobs.wait("empty job record", Duration::from_secs(5), |j| {
        j.job_id == notify.job_id
    });
    assert_eq!(empty_job.height, 150);
    assert_eq!(
        a.block_count().expect("height"),
        148,
        "node A must not have B's block yet"
    );

    // Node A back on the network: it gets B's block, and the full template follows, not clean.
    rejoin(a, &[b, c]);
    let full = wait_notify(
        &mut client,
        "full template after the empty job",
        Duration::from_secs(60),
        |n| n.prev_hash_stratum == stratum_prev(&mined) && n.job_id != notify.job_id,
    );
    assert!(
        !full.clean,
        "miners keep their work when the full template replaces the empty job: {full:?}"
    );

    // A share on the empty job, after the switch: still valid, and a block.
    let solution = find_share(
        &empty_job,
        &en1,
        &[0, 0, 0, 0, 0, 0, 0, 1],
        empty_job.version,
        DIFFICULTY,
        f64::INFINITY,
    );
    let reply = submit(&mut client, 10, "alice.rig1", &empty_job, &solution);
    assert!(
        reply.contains("\"result\":true"),
        "share on the empty job refused: {reply}"
    );
    wait_for(
        "every node at height 150",
        Duration::from_secs(30),
        || nodes.iter().all(|n| n.block_count().unwrap_or(0) == 150),
        || format!("{:?}\n{}", best_hashes(nodes), jobmaster.log()),
    );
    let ours = a.best_block_hash().expect("best");
    assert_eq!(best_hashes(nodes), vec![ours.clone(); 3]);
    let block = a.cli("getblock", &[&ours, "2"]).expect("getblock");
    let txs = block["tx"].as_array().expect("transactions");
    assert_eq!(txs.len(), 1, "an empty block: {block}");
    let paid: f64 = txs[0]["vout"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| o["value"].as_f64().expect("value"))
        .sum();
    assert_eq!(
        paid, 25.0,
        "the subsidy at the halving height 150 is 25 coins"
    );

    // How early the block was learned, and by which path.
    let jm_status = dir.path.join("jobmaster-status.json");
    wait_for(
        "the jobmaster's record of B's block",
        Duration::from_secs(10),
        || {
            status(&jm_status)["blocks"]
                .as_array()
                .is_some_and(|blocks| {
                    blocks
                        .iter()
                        .any(|b| b["hash"] == mined.as_str() && b["empty_job_ms"].is_u64())
                })
        },
        || status(&jm_status).to_string(),
    );
    let s = status(&jm_status);
    let record = s["blocks"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["hash"] == mined.as_str()).cloned())
        .expect("record");
    assert_eq!(record["first_path"], "bitpeer", "{record}");
    assert!(
        record["lead_over_node_ms"].as_f64().expect("lead") > 0.0,
        "{record}"
    );
    assert_eq!(s["empty_jobs"].as_u64().map(|n| n >= 1), Some(true), "{s}");
    wait_for(
        "bitpeer's record of B's block",
        Duration::from_secs(5),
        || {
            status(&bitpeer_status)["blocks"]
                .as_array()
                .is_some_and(|b| b.iter().any(|b| b["hash"] == mined.as_str()))
        },
        || format!("{}\n{}", status(&bitpeer_status), bitpeer.log()),
    );
    drop(client);
    jobmaster.stop();
    bitpeer.stop();
}

#[test]
fn with_submitblock_off_our_block_reaches_every_node_through_bitpeer_alone() {
    let set = three_nodes_at(5);
    let nodes = set.nodes();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let dir = Dir::new("early-p2p-only");
    let key = write_key(&dir.path, "relay.key", 9);
    let (mut bitpeer, relay) = bitpeer(&dir.path, &[a, b, c], b, &key);
    let mut jobmaster = jobmaster(&dir.path, &dir.rings, a, &key, &[relay], "submit = false\n");
    let mut jobs = Jobs::attach(&dir.rings);
    let (gateway, _control) = gateway(&dir.path, &dir.rings);
    let (mut client, en1) = miner(gateway, "bob.rig1");
    let bitpeer_status = dir.path.join("bitpeer-status.json");
    wait_bitpeer_ready(&bitpeer_status, 3, || {
        format!("{}\n{}", bitpeer.log(), jobmaster.log())
    });

    for round in 0..3u8 {
        let height = a.block_count().expect("height") as u32;
        let job = jobs.wait("job on the tip", Duration::from_secs(30), |j| {
            j.height == height + 1
        });
        let solution = find_share(
            &job,
            &en1,
            &[0, 0, 0, 0, 0, 0, 1, round],
            job.version,
            DIFFICULTY,
            f64::INFINITY,
        );
        let reply = submit(
            &mut client,
            20 + u64::from(round),
            "bob.rig1",
            &job,
            &solution,
        );
        assert!(reply.contains("\"result\":true"), "{reply}");
        wait_for(
            "every node holds the pool's block",
            Duration::from_secs(20),
            || {
                nodes
                    .iter()
                    .all(|n| n.block_count().unwrap_or(0) == u64::from(height) + 1)
            },
            || {
                format!(
                    "{:?}\n{}\n{}",
                    best_hashes(nodes),
                    bitpeer.log(),
                    jobmaster.log()
                )
            },
        );
        let hashes = best_hashes(nodes);
        assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    }
    let log = jobmaster.log();
    assert!(
        !log.contains("submitblock failed"),
        "submitblock must not run: {log}"
    );
    assert!(log.contains("held via relay"), "{log}");
    drop(client);
    jobmaster.stop();
    bitpeer.stop();
}

#[test]
fn poolbench_watching_another_ironpool_gateway_triggers_the_empty_job() {
    let set = three_nodes_at(3);
    let nodes = set.nodes();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let dir = Dir::new("early-poolbench");
    let key = write_key(&dir.path, "relay.key", 11);

    // The "other pool": an ironpool jobmaster and gateway on node B.
    let other = dir.path.join("other");
    std::fs::create_dir_all(&other).expect("dir");
    let other_rings = dir.rings.join("other");
    let mut other_jobmaster = early_support::process::RoleProcess::start(
        "jobmaster",
        jobmaster_config(&other, &other_rings, b, &key, &[], "", 120),
    );
    let (other_gateway, _other_control) = gateway(&other, &other_rings);

    // poolbench watches it; our jobmaster (node A) listens to poolbench.
    let relay = free_address();
    let pb_config = dir.path.join("poolbench.toml");
    std::fs::write(
        &pb_config,
        format!(
            "status_file = \"{}\"\n[relay]\nlisten = \"{relay}\"\nkey_file = \"{}\"\n\
             [[pool]]\nname = \"other\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"watcher.1\"\n",
            dir.path.join("poolbench-status.json").display(),
            key.display(),
            other_gateway.port()
        ),
    )
    .expect("poolbench config");
    let mut poolbench = early_support::process::RoleProcess::start("poolbench", pb_config);
    let mut jobmaster = jobmaster(&dir.path, &dir.rings, a, &key, &[relay], "");
    let (gateway, _control) = gateway(&dir.path, &dir.rings);
    let (mut client, _) = miner(gateway, "carol.rig1");
    wait_for(
        "our jobmaster linked to poolbench, poolbench watching the other pool",
        Duration::from_secs(30),
        || {
            jobmaster.log().contains("relay link up")
                && status(&dir.path.join("poolbench-status.json"))
                    .to_string()
                    .contains("\"authorized\":true")
        },
        || format!("{}\n{}", poolbench.log(), jobmaster.log()),
    );

    // Our node is cut off; the other pool moves to B's new block first.
    a.cli("setnetworkactive", &["false"])
        .expect("isolate node A");
    let mined = b.generate(1).expect("generate")[0].clone();
    let notify = wait_notify(
        &mut client,
        "empty job from the other pool's tip",
        Duration::from_secs(15),
        |n| n.prev_hash_stratum == stratum_prev(&mined),
    );
    assert!(
        notify.clean && notify.merkle_branch.is_empty(),
        "{notify:?}"
    );
    assert_eq!(
        a.block_count().expect("height"),
        3,
        "node A must not have B's block yet"
    );
    rejoin(a, &[b, c]);
    let full = wait_notify(&mut client, "full template", Duration::from_secs(60), |n| {
        n.prev_hash_stratum == stratum_prev(&mined) && n.job_id != notify.job_id
    });
    assert!(!full.clean, "{full:?}");
    let jm_status = dir.path.join("jobmaster-status.json");
    wait_for(
        "the jobmaster's record of the block, learned from poolbench",
        Duration::from_secs(10),
        || {
            status(&jm_status)["blocks"]
                .as_array()
                .is_some_and(|blocks| {
                    blocks
                        .iter()
                        .any(|b| b["hash"] == mined.as_str() && b["first_path"] == "poolbench")
                })
        },
        || status(&jm_status).to_string(),
    );
    drop(client);
    jobmaster.stop();
    poolbench.stop();
    other_jobmaster.stop();
}
