//! bitpeer against hostile peers: five fake nodes in this test each misbehave in one way (a bad
//! checksum, an `inv` announcing four billion entries, a message of 100 MB, a header without its
//! proof of work, an `inv` flood) next to one real regtest node. Each bad peer is cut off, and
//! the real node's next block still reaches the relay link as a tip.

mod early_support;

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::Magic;
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use early_support::process::write_key;
use early_support::*;
use ironpool_bench::regtest::{RegtestNodes, RegtestOptions};
use ironpool_controlplane::relay_link::RelayHub;
use ironpool_shared::meta::PresharedKey;
use ironpool_shared::p2p::{encode_message, version_message, P2pDecoder};
use ironpool_shared::relay::RelayMessage;
use std::str::FromStr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MAGIC: [u8; 4] = [0xda, 0xb5, 0xbf, 0xfa];

#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    BadChecksum,
    HugeInvCount,
    Oversize,
    HeaderWithoutWork,
    InvFlood,
}

/// Plays a node: handshakes with bitpeer, then misbehaves; returns whether bitpeer closed the
/// connection within the timeout.
async fn fake_node(listener: TcpListener, how: Misbehaviour, tip: BlockHash) -> bool {
    let magic = Magic::from_bytes(MAGIC);
    let (mut stream, _) = listener.accept().await.expect("bitpeer connects");
    let mut decoder = P2pDecoder::new(magic, 4_000_000);
    let mut buf = vec![0u8; 65536];
    // Wait for bitpeer's version, answer version + verack.
    loop {
        let n = stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "bitpeer closed before the handshake");
        decoder.push(&buf[..n]);
        if let Ok(Some(d)) = decoder.next_message() {
            if matches!(d.message, NetworkMessage::Version(_)) {
                break;
            }
        }
    }
    let version = version_message(42, 0, "/fake:0.1/", 1_700_000_000);
    let _ = stream
        .write_all(&encode_message(magic, NetworkMessage::Version(version)))
        .await;
    let _ = stream
        .write_all(&encode_message(magic, NetworkMessage::Verack))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    match how {
        Misbehaviour::BadChecksum => {
            let mut bytes = encode_message(magic, NetworkMessage::Ping(7));
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            let _ = stream.write_all(&bytes).await;
        }
        Misbehaviour::HugeInvCount => {
            let mut bytes = encode_message(magic, NetworkMessage::Inv(vec![]));
            // Payload: a CompactSize of 0xffffffff and no entries; fix length and checksum.
            let payload = [0xfe, 0xff, 0xff, 0xff, 0xff];
            bytes.truncate(24);
            bytes[16..20].copy_from_slice(&(payload.len() as u32).to_le_bytes());
            let sum = bitcoin::hashes::sha256d::Hash::hash(&payload);
            bytes[20..24].copy_from_slice(&sum.as_byte_array()[..4]);
            bytes.extend_from_slice(&payload);
            let _ = stream.write_all(&bytes).await;
        }
        Misbehaviour::Oversize => {
            let mut bytes = encode_message(magic, NetworkMessage::Ping(7));
            bytes[16..20].copy_from_slice(&100_000_000u32.to_le_bytes());
            let _ = stream.write_all(&bytes[..24]).await;
        }
        Misbehaviour::HeaderWithoutWork => {
            let mut header = Header {
                version: Version::from_consensus(0x2000_0000),
                prev_blockhash: tip,
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: 0,
            };
            while header.validate_pow(header.target()).is_ok() {
                header.nonce += 1;
            }
            let _ = stream
                .write_all(&encode_message(
                    magic,
                    NetworkMessage::Headers(vec![header]),
                ))
                .await;
        }
        Misbehaviour::InvFlood => {
            for i in 0..3_000u32 {
                let mut hash = [0u8; 32];
                hash[..4].copy_from_slice(&i.to_le_bytes());
                let inv =
                    NetworkMessage::Inv(vec![Inventory::Block(BlockHash::from_byte_array(hash))]);
                if stream.write_all(&encode_message(magic, inv)).await.is_err() {
                    break;
                }
            }
        }
    }
    // Closed by bitpeer: reads end (EOF or reset) while we keep answering nothing.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await;
    closed.unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_peers_are_cut_off_and_the_good_one_still_delivers_new_blocks() {
    let set = tokio::task::spawn_blocking(|| {
        RegtestNodes::start(RegtestOptions {
            nodes: 1,
            ..Default::default()
        })
    })
    .await
    .expect("join")
    .expect("regtest node");
    let node = set.nodes()[0].clone();
    let dir = Dir::new("bitpeer-bad-peers");
    let key_path = write_key(&dir.path, "relay.key", 5);
    let tip = BlockHash::from_str(&node.best_block_hash().expect("best")).expect("hash");

    let cases = [
        Misbehaviour::BadChecksum,
        Misbehaviour::HugeInvCount,
        Misbehaviour::Oversize,
        Misbehaviour::HeaderWithoutWork,
        Misbehaviour::InvFlood,
    ];
    let mut fakes = Vec::new();
    let mut ports = Vec::new();
    for how in cases {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        ports.push(listener.local_addr().expect("addr").port());
        fakes.push((how, tokio::spawn(fake_node(listener, how, tip))));
    }
    let relay = free_address();
    let mut peers = vec![format!("127.0.0.1:{}", node.p2p_port)];
    peers.extend(ports.iter().map(|p| format!("127.0.0.1:{p}")));
    let config = dir.path.join("bitpeer.toml");
    std::fs::write(
        &config,
        format!(
            "network = \"regtest\"\nmagic = \"dab5bffa\"\npeers = {peers:?}\nreconnect_secs = 1\n\
             status_file = \"{}\"\n[node]\nname = \"seed\"\n{}[relay]\nlisten = \"{relay}\"\nkey_file = \"{}\"\n",
            dir.path.join("bitpeer-status.json").display(),
            node_auth(&node),
            key_path.display()
        ),
    )
    .expect("config");
    let mut bitpeer = early_support::process::RoleProcess::start("bitpeer", config);

    // A relay client in place of the jobmaster.
    let key = PresharedKey::new(&[5u8; 32]).expect("key");
    let (hub, mut inbound) = RelayHub::new(key, 1 << 20);
    hub.connect(relay.clone());

    for (how, fake) in fakes {
        let closed = fake.await.expect("fake node");
        assert!(
            closed,
            "bitpeer kept a peer that misbehaved: {how:?}\n{}",
            bitpeer.log()
        );
    }
    for expected in [
        "does not match the payload",
        "entries exceed the limit",
        "exceeds the limit of",
        "floods inv",
        "proof of work",
    ] {
        wait_for(
            expected,
            Duration::from_secs(10),
            || bitpeer.log().contains(expected),
            || bitpeer.log(),
        );
    }

    // The real node is undisturbed: its next block reaches the relay link.
    let mined = {
        let node = node.clone();
        tokio::task::spawn_blocking(move || node.generate(1).expect("generate")[0].clone())
            .await
            .expect("join")
    };
    let tip = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let Some(message) = inbound.recv().await else {
                panic!("relay hub closed");
            };
            if let RelayMessage::Tip(tip) = message.message {
                if BlockHash::from_byte_array(tip.hash).to_string() == mined {
                    return tip;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no tip for the real node's block\n{}", bitpeer.log()));
    assert_eq!(tip.height, 1);
    assert!(tip.header.is_some());
    let status_path = dir.path.join("bitpeer-status.json");
    let counted = |field: &str| -> u64 {
        status(&status_path)["peers"]
            .as_array()
            .map(|peers| peers.iter().map(|p| p[field].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0)
    };
    wait_for(
        "the status file to count the refused header and the ignored invs",
        Duration::from_secs(5),
        || counted("refused_headers") >= 1 && counted("invs_ignored") > 1_000,
        || status(&status_path).to_string(),
    );
    bitpeer.stop();
    drop(set);
}
