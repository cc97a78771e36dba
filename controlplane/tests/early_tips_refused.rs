//! What the jobmaster does with announced tips that are wrong (from a peer that holds the relay
//! key: a bug, a compromised watcher): a header without its proof of work, a header with bits its
//! height cannot have and a tip at the wrong height publish nothing; a tip the node never takes
//! gets its empty job, then times out back to the node's template with an error.

mod early_support;

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use early_support::process::{write_key, RoleProcess};
use early_support::*;
use ironpool_bench::regtest::{RegtestNodes, RegtestOptions};
use ironpool_controlplane::relay_link::RelayHub;
use ironpool_shared::meta::PresharedKey;
use ironpool_shared::relay::{RelayMessage, TipAnnouncement, TipSource};
use std::str::FromStr;
use std::time::Duration;

fn header(prev: BlockHash, bits: u32, with_work: bool) -> Header {
    let mut header = Header {
        version: Version::from_consensus(0x2000_0000),
        prev_blockhash: prev,
        merkle_root: TxMerkleNode::from_byte_array([4; 32]),
        time: 1_900_000_000,
        bits: CompactTarget::from_consensus(bits),
        nonce: 0,
    };
    while header.validate_pow(header.target()).is_ok() != with_work {
        header.nonce += 1;
    }
    header
}

fn tip(
    height: u32,
    header: Option<&Header>,
    hash: [u8; 32],
    next_bits: Option<u32>,
) -> RelayMessage {
    RelayMessage::Tip(TipAnnouncement {
        source: if header.is_some() {
            TipSource::Bitpeer
        } else {
            TipSource::Poolbench
        },
        via: "test".to_owned(),
        height,
        hash: header.map_or(hash, |h| h.block_hash().to_byte_array()),
        time: 1_900_000_000,
        header: header.map(|h| {
            bitcoin::consensus::serialize(h)
                .try_into()
                .expect("80 bytes")
        }),
        next_bits,
        seen_at_us: 1,
    })
}

#[test]
fn wrong_tips_publish_nothing_and_one_the_node_never_takes_times_out() {
    let set = RegtestNodes::start(RegtestOptions::default()).expect("regtest nodes");
    let node = &set.nodes()[0];
    node.generate(2).expect("generate");
    let dir = Dir::new("early-refused");
    let key_path = write_key(&dir.path, "relay.key", 13);
    let relay = free_address();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    // The test plays poolbench: the jobmaster connects to it.
    let (hub, _inbound) = RelayHub::new(PresharedKey::new(&[13; 32]).expect("key"), 1 << 20);
    runtime.block_on(hub.listen(&relay)).expect("listen");
    let mut jobmaster = RoleProcess::start(
        "jobmaster",
        jobmaster_config(&dir.path, &dir.rings, node, &key_path, &[relay], "", 2),
    );
    let mut jobs = Jobs::attach(&dir.rings);
    let tip_hash = BlockHash::from_str(&node.best_block_hash().expect("best")).expect("hash");
    let first = jobs.wait("first job", Duration::from_secs(30), |j| j.height == 3);
    wait_for(
        "the jobmaster's relay link",
        Duration::from_secs(10),
        || hub.link_count() == 1,
        || jobmaster.log(),
    );

    let send = |message: RelayMessage| {
        let _guard = runtime.enter();
        assert_eq!(hub.broadcast(&message), 1);
    };
    send(tip(
        3,
        Some(&header(tip_hash, 0x207f_ffff, false)),
        [0; 32],
        None,
    ));
    send(tip(
        3,
        Some(&header(tip_hash, 0x207f_fffe, true)),
        [0; 32],
        None,
    ));
    send(tip(9, None, [9; 32], Some(0x207f_ffff)));
    // A competitor's tip with bits a regtest block cannot have (above the pow limit).
    send(tip(3, None, [8; 32], Some(0x2100_ffff)));
    std::thread::sleep(Duration::from_secs(1));
    let status_path = dir.path.join("jobmaster-status.json");
    wait_for(
        "the four announcements counted",
        Duration::from_secs(5),
        || status(&status_path)["announcements"].as_u64() == Some(4),
        || status(&status_path).to_string(),
    );
    let s = status(&status_path);
    assert_eq!(s["refused"].as_u64(), Some(3), "{s}");
    assert_eq!(s["ignored"].as_u64(), Some(1), "{s}");
    assert_eq!(s["empty_jobs"].as_u64(), Some(0), "{s}");
    let log = jobmaster.log();
    for reason in ["proof of work", "needs 207fffff", "next bits"] {
        assert!(log.contains(reason), "no {reason:?} in the log:\n{log}");
    }
    jobs.wait(
        "nothing but jobs on the node's tip",
        Duration::from_millis(300),
        |_| true,
    );
    assert!(
        jobs.seen.iter().all(|j| j.prev_hash == first.prev_hash),
        "a refused tip published a job"
    );

    // A tip nobody will ever validate: empty job at once, back to the node's tip after 2 s.
    let phantom = [0x5a; 32];
    send(tip(3, None, phantom, Some(0x207f_ffff)));
    let empty = jobs.wait(
        "empty job on the phantom tip",
        Duration::from_secs(5),
        |j| j.prev_hash == phantom,
    );
    assert!(
        empty.clean && empty.merkle_branch.is_empty() && empty.height == 4,
        "{empty:?}"
    );
    let back = jobs.wait("the node's template again", Duration::from_secs(10), |j| {
        j.prev_hash == first.prev_hash && j.job_id > empty.job_id
    });
    assert!(
        back.clean,
        "leaving a tip that never came is a clean job: {back:?}"
    );
    assert!(
        jobmaster
            .log()
            .contains("never became the node's best block"),
        "{}",
        jobmaster.log()
    );
    wait_for(
        "the timeout counted",
        Duration::from_secs(5),
        || status(&status_path)["empty_timeouts"].as_u64() == Some(1),
        || status(&status_path).to_string(),
    );
    jobmaster.stop();
}
