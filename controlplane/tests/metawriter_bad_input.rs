//! Hostile or broken input on the metawriter's batch link, against a real redis-server: garbage,
//! frames signed with another key, oversize frames, malformed batches, an unknown coin, names
//! that would change a Redis key. Each is refused with a precise answer, logged and counted; the
//! link (where the stream can still be followed) and everyone else keep working, and Redis ends
//! with exactly the good batches, each counted once.

mod accounting_support;

use accounting_support::expect::{wait_for, Expected};
use accounting_support::process::RoleProcess;
use accounting_support::process::{free_address, status, write_key};
use ironpool_bench::redis_server::RedisServer;
use ironpool_controlplane::meta_link::{BatchClient, Reply};
use ironpool_shared::meta::{encode_frame, AckOutcome, Batch, FrameKind, NackCode, PresharedKey};
use ironpool_shared::ring::{RecordDetail, ShareKind, ShareRecord};
use std::time::Duration;

fn record(user: &str, nonce: u32, at_ms: u64) -> ShareRecord {
    ShareRecord {
        kind: ShareKind::Share,
        shard_id: 0,
        session_id: 1,
        job_id: 1,
        extranonce1: vec![],
        extranonce2: vec![],
        ntime: 0,
        nonce,
        version: 0,
        share_difficulty: 4.0,
        accepted_at_ms: at_ms,
        user: user.to_owned(),
        worker: "w".to_owned(),
        network_difficulty: 64.0,
        detail: RecordDetail::None,
    }
}

fn batch(seq: u64, coin: &str, records: Vec<ShareRecord>) -> Batch {
    Batch {
        origin: 7,
        seq,
        coin: coin.to_owned(),
        host: "site-b".to_owned(),
        records: records.iter().map(|r| r.encode().expect("fits")).collect(),
    }
}

fn nack_code(reply: Result<Reply, String>) -> NackCode {
    match reply {
        Ok(Reply::Nack(nack)) => nack.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A metawriter taking batches on a fresh address with a key of `key_byte`s; `extra` is appended
/// to its config (after `[listen]`). Returns its directory, key, address and process.
fn start_writer(
    name: &str,
    redis: &RedisServer,
    key_byte: u8,
    extra: &str,
) -> (std::path::PathBuf, PresharedKey, String, RoleProcess) {
    let dir = std::env::temp_dir().join(format!("ironpool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let key_path = write_key(&dir, "meta.key", key_byte);
    let key = PresharedKey::new(&[key_byte; 32]).expect("key");
    let address = free_address();
    let config = dir.join("metawriter.toml");
    std::fs::write(
        &config,
        format!(
            "writer_id = \"{name}\"\nspool_dir = {:?}\nflush_interval_ms = 300\n[redis]\nurls = [{:?}]\n\
             [[coins]]\nkey = \"btc\"\nname = \"BTC\"\n\
             [listen]\naddress = \"{address}\"\nkey_file = {:?}\n{extra}",
            dir.join("spool").display().to_string(),
            redis.url(),
            key_path.display().to_string()
        ),
    )
    .expect("config");
    (dir, key, address, RoleProcess::start("metawriter", config))
}

/// Connects to a metawriter that may still be starting.
fn connect(address: &str, key: &PresharedKey) -> BatchClient {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match BatchClient::connect(address, key.clone(), Duration::from_secs(5)) {
            Ok(c) => return c,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!("metawriter never listened: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[test]
fn bad_frames_are_refused_counted_and_logged_and_good_batches_still_land_once() {
    let redis = RedisServer::start().expect("redis");
    let (dir, key, address, writer) =
        start_writer("badinput", &redis, 0x11, "max_batch_bytes = 65536\n");
    let connect = || connect(&address, &key);
    let now = accounting_support::miners::unix_ms();
    let mut link = connect();

    // Signed with another key: refused, the link goes on.
    let other = PresharedKey::new(&[0x22; 32]).expect("key");
    let good = batch(
        0,
        "btc",
        vec![record("alice", 1, now), record("alice", 2, now)],
    );
    link.send_raw(&encode_frame(&other, FrameKind::Batch, &good.encode()))
        .expect("send");
    assert_eq!(nack_code(link.read_reply()), NackCode::Authentication);
    // Over max_batch_bytes: the body is skipped, refused, the link goes on.
    let huge = batch(
        1,
        "btc",
        (0..300).map(|n| record("alice", n, now)).collect(),
    );
    assert_eq!(nack_code(link.send(&huge)), NackCode::Oversize);
    // A record count that does not match the bytes.
    let mut body = good.encode();
    body.truncate(body.len() - 10);
    link.send_raw(&encode_frame(&key, FrameKind::Batch, &body))
        .expect("send");
    assert_eq!(nack_code(link.read_reply()), NackCode::Malformed);
    // A coin nobody configured.
    assert_eq!(
        nack_code(link.send(&batch(2, "doge", vec![record("alice", 3, now)]))),
        NackCode::UnknownCoin
    );
    // A user name that would change the key (`btc:s:a:b` is user a, worker b).
    assert_eq!(
        nack_code(link.send(&batch(3, "btc", vec![record("a:b", 4, now)]))),
        NackCode::Malformed
    );
    // An alert frame is not taken on this link.
    link.send_raw(&encode_frame(&key, FrameKind::Alert, b""))
        .expect("send");
    assert_eq!(nack_code(link.read_reply()), NackCode::UnexpectedKind);
    // The good batch, on the same link after all that: stored; sent again: a duplicate.
    assert!(matches!(link.send(&good), Ok(Reply::Ack(a)) if a.outcome == AckOutcome::Stored));
    assert!(matches!(link.send(&good), Ok(Reply::Ack(a)) if a.outcome == AckOutcome::Duplicate));

    // Garbage: the connection is closed; a new one works.
    let mut garbage = connect();
    garbage
        .send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    assert!(garbage.read_reply().is_err(), "the garbage link is closed");
    let mut fresh = connect();
    let second = batch(4, "btc", vec![record("bob", 5, now)]);
    assert!(matches!(fresh.send(&second), Ok(Reply::Ack(a)) if a.outcome == AckOutcome::Stored));
    // The first link still works too.
    let third = batch(5, "btc", vec![record("bob", 6, now)]);
    assert!(matches!(link.send(&third), Ok(Reply::Ack(a)) if a.outcome == AckOutcome::Stored));
    drop(garbage);

    // Redis holds the three good batches, once each.
    let mut expected = Expected::default();
    let mut announced = std::collections::BTreeSet::from([
        ("alice".to_owned(), "w".to_owned()),
        ("bob".to_owned(), "w".to_owned()),
    ]);
    for user in ["alice", "alice", "bob", "bob"] {
        let note = accounting_support::miners::ShareNote {
            user: user.to_owned(),
            worker: "w".to_owned(),
            minute: now / 60_000 * 60,
            difficulty: 4.0,
            network_difficulty: 64.0,
            rejected: None,
            block: None,
        };
        expected.add_share(&note, "site-b", &mut announced);
    }
    let outcome = wait_for(|| redis.dump(), &expected, Duration::from_secs(30));
    if let Err(differences) = outcome {
        panic!("{differences}\n{}", writer.log());
    }
    // The status file is rewritten every second: wait for one written after the last batch.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut status = status(&dir.join("spool"));
    while status["batches_stored"] != 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        status = accounting_support::process::status(&dir.join("spool"));
    }
    for (counter, value) in [
        ("bad_tags", 1),
        ("oversize", 1),
        ("malformed", 2),
        ("unknown_coin", 1),
        ("unexpected_kind", 1),
        ("bad_headers", 1),
        ("batches_stored", 3),
        ("batches_duplicate", 1),
        ("records_stored", 4),
    ] {
        assert_eq!(status[counter], value, "{counter} in {status}");
    }
    let log = writer.log();
    for logged in [
        "frame refused",
        "only batches are taken here",
        "malformed batch refused",
        "batch refused",
        "not an ironpool frame",
    ] {
        assert!(log.contains(logged), "log lacks {logged:?}:\n{log}");
    }
}

#[test]
fn retention_removes_minute_fields_older_than_the_configured_age_and_keeps_the_rest() {
    let redis = RedisServer::start().expect("redis");
    let (dir, key, address, writer) = start_writer(
        "retention",
        &redis,
        0x33,
        "[retention]\nmax_age_secs = 600\nsweep_interval_secs = 1\n",
    );
    let now = accounting_support::miners::unix_ms();
    let old = now - 20 * 60_000;
    let mut link = connect(&address, &key);
    let both = batch(
        0,
        "btc",
        vec![record("carol", 1, old), record("carol", 2, now)],
    );
    assert!(matches!(link.send(&both), Ok(Reply::Ack(a)) if a.outcome == AckOutcome::Stored));
    // Only the recent minute survives the sweeps, in the user keys and the monitor keys alike.
    let mut expected = Expected::default();
    let mut announced = std::collections::BTreeSet::from([("carol".to_owned(), "w".to_owned())]);
    let note = accounting_support::miners::ShareNote {
        user: "carol".to_owned(),
        worker: "w".to_owned(),
        minute: now / 60_000 * 60,
        difficulty: 4.0,
        network_difficulty: 64.0,
        rejected: None,
        block: None,
    };
    expected.add_share(&note, "site-b", &mut announced);
    let outcome = wait_for(|| redis.dump(), &expected, Duration::from_secs(30));
    if let Err(differences) = outcome {
        panic!("{differences}\n{}", writer.log());
    }
    // It was written (the batch holds it) and then removed by a sweep.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let removed = status(&dir.join("spool"))["fields_removed"]
            .as_u64()
            .unwrap_or(0);
        if removed > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no field removed:\n{}",
            writer.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_metawriter_whose_spool_was_lost_is_not_silenced_by_its_old_markers() {
    let redis = RedisServer::start().expect("redis");
    let (dir, key, address, mut writer) = start_writer("lostspool", &redis, 0x44, "");
    let now = accounting_support::miners::unix_ms();
    let first = batch(0, "btc", vec![record("erin", 1, now)]);
    assert!(matches!(
        connect(&address, &key).send(&first),
        Ok(Reply::Ack(_))
    ));
    let shares = || -> usize {
        match redis.dump().ok().and_then(|d| d.get("btc:s:erin").cloned()) {
            Some(ironpool_bench::redis_server::RedisValue::Hash(h)) => {
                h.values().filter_map(|v| v.parse::<usize>().ok()).sum()
            }
            _ => 0,
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while shares() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "first batch never landed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The disk lost the spool: a new one starts its batch numbers again, under its own markers.
    assert!(writer.stop().is_some_and(|s| s.success()));
    std::fs::remove_dir_all(dir.join("spool")).expect("remove spool");
    writer.restart();
    let second = batch(0, "btc", vec![record("erin", 2, now)]);
    assert!(matches!(
        connect(&address, &key).send(&second),
        Ok(Reply::Ack(_))
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while shares() != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new spool's batch never landed:\n{}",
            writer.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_peer_that_never_authenticates_is_closed_and_one_that_did_may_stay_idle() {
    use std::io::Read as _;
    let redis = RedisServer::start().expect("redis");
    let (_dir, key, address, _writer) = start_writer("idle", &redis, 0x55, "");
    let mut trusted = connect(&address, &key);
    let now = accounting_support::miners::unix_ms();
    assert!(matches!(
        trusted.send(&batch(0, "btc", vec![record("fay", 1, now)])),
        Ok(Reply::Ack(_))
    ));
    // Connected, silent, no key: cut after the 60 s allowed for a first authenticated frame.
    let started = std::time::Instant::now();
    let mut silent = std::net::TcpStream::connect(&address).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(90)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    let read = silent.read(&mut byte);
    let waited = started.elapsed();
    assert!(
        matches!(read, Ok(0)) && (55..=80).contains(&waited.as_secs()),
        "{read:?} after {waited:?}"
    );
    // The link that had sent a good batch stayed open through the same idle minute.
    assert!(matches!(
        trusted.send(&batch(1, "btc", vec![record("fay", 2, now)])),
        Ok(Reply::Ack(_))
    ));
}
