//! Golden conversations with a real gateway over TCP: one per method and one per error code,
//! comparing the exact bytes the gateway sends.

mod support;

use support::{error_code, find_share, submit_line, Client, TestGateway, DIFF};

#[test]
fn subscribe_authorize_and_the_first_job() {
    let gw = TestGateway::start("subscribe", DIFF, "");
    let mut c = Client::connect(gw.addr);
    c.send(r#"{"id":2,"method":"mining.subscribe","params":["test/1"]}"#);
    // Session 2 of the shard (the harness's readiness probe was session 1): extranonce1 is host 0,
    // process 0, shard 0, session counter 1.
    assert_eq!(
        c.line().as_deref(),
        Some(
            r#"{"id":2,"result":[[["mining.set_difficulty","0000000000000002"],["mining.notify","0000000000000002"]],"00000001",8],"error":null}"#
        )
    );
    c.send(r#"{"id":"a","method":"mining.authorize","params":["tester.rig1","x"]}"#);
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":"a","result":true,"error":null}"#)
    );
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":null,"method":"mining.set_difficulty","params":[0.000001]}"#)
    );
    let notify = c.line().expect("notify");
    let expected = String::from_utf8(
        ironpool_shared::stratum::NotifyLine::new(&support::job(1, true, 1), true).into_bytes(),
    )
    .expect("utf8");
    assert_eq!(format!("{notify}\n"), expected);
    assert!(
        notify.ends_with(",true]}"),
        "the first job a session gets is clean"
    );
}

#[test]
fn authorize_before_subscribe_is_tolerated() {
    let gw = TestGateway::start("authfirst", DIFF, "");
    let mut c = Client::connect(gw.addr);
    c.send(r#"{"id":1,"method":"mining.authorize","params":["tester.rig1",null]}"#);
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":1,"result":true,"error":null}"#)
    );
    c.send(r#"{"id":2,"method":"mining.subscribe","params":[]}"#);
    assert!(c
        .line()
        .expect("subscribe")
        .starts_with(r#"{"id":2,"result":[[["mining.set_difficulty""#));
    assert!(c
        .line()
        .expect("difficulty")
        .contains("mining.set_difficulty"));
    assert!(c.line().expect("job").contains("mining.notify"));
}

#[test]
fn configure_negotiates_version_rolling_and_answers_every_extension() {
    let gw = TestGateway::start("configure", DIFF, "");
    let mut c = Client::connect(gw.addr);
    c.send(r#"{"id":1,"method":"mining.configure","params":[["version-rolling","minimum-difficulty","subscribe-extranonce","foo"],{"version-rolling.mask":"00ffe000","version-rolling.min-bit-count":2,"minimum-difficulty.value":0.5}]}"#);
    let reply = c.line().expect("configure reply");
    let v: serde_json::Value = serde_json::from_str(&reply).expect("json");
    // BIP310: the granted mask is the miner's mask within the pool's 1fffe000.
    assert_eq!(v["result"]["version-rolling"], true, "{reply}");
    assert_eq!(v["result"]["version-rolling.mask"], "00ffe000", "{reply}");
    assert_eq!(v["result"]["minimum-difficulty"], true, "{reply}");
    assert_eq!(v["result"]["subscribe-extranonce"], true, "{reply}");
    assert_eq!(v["result"]["foo"], false, "{reply}");
    // More bits needed than the pool's mask has (16): refused, min-bit-count is honoured.
    c.send(r#"{"id":3,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":17}]}"#);
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":3,"result":{"version-rolling":false},"error":null}"#)
    );
    // A mask with no bit in common with the pool's: refused.
    c.send(r#"{"id":2,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"00000001"}]}"#);
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":2,"result":{"version-rolling":false},"error":null}"#)
    );
}

#[test]
fn suggest_difficulty_is_fractional_and_clamped_and_extranonce_subscribe_is_answered() {
    let gw = TestGateway::start("suggest", DIFF, "");
    let mut c = Client::connect(gw.addr);
    c.handshake("tester.rig1");
    c.send(r#"{"id":7,"method":"mining.suggest_difficulty","params":[0.0005]}"#);
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":7,"result":true,"error":null}"#)
    );
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":null,"method":"mining.set_difficulty","params":[0.0005]}"#)
    );
    assert!(
        c.line().expect("job").contains("mining.notify"),
        "the new difficulty applies from a notify"
    );
    // Above the port's maximum (1e15 by default): clamped to it.
    c.send(r#"{"id":8,"method":"mining.suggest_difficulty","params":[1e30]}"#);
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":8,"result":true,"error":null}"#)
    );
    let line = c.line().expect("difficulty");
    assert!(line.contains("1000000000000000"), "{line}");
    c.line().expect("job");
    c.send(r#"{"id":9,"method":"mining.extranonce.subscribe","params":[]}"#);
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":9,"result":true,"error":null}"#)
    );
}

#[test]
fn submit_accepted_then_duplicate_22_low_difficulty_23() {
    let gw = TestGateway::start("submit", DIFF, "");
    let job = support::job(1, true, 1);
    let mut c = Client::connect(gw.addr);
    let en1 = c.handshake("tester.rig1");
    let good = find_share(&job, &en1, &[1; 8], job.version, DIFF, f64::INFINITY);
    c.send(&submit_line(10, "tester.rig1", &job, &good, None));
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":10,"result":true,"error":null}"#)
    );
    c.send(&submit_line(11, "tester.rig1", &job, &good, None));
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":11,"result":null,"error":[22,"Duplicate share",null]}"#)
    );
    let low = find_share(&job, &en1, &[2; 8], job.version, 0.0, DIFF);
    c.send(&submit_line(12, "tester.rig1", &job, &low, None));
    assert_eq!(error_code(&c.line().expect("reply")), 23);
    // With version rolling: bits inside the granted mask are fine.
    let rolled = find_share(
        &job,
        &en1,
        &[3; 8],
        (job.version & !0x1fff_e000) | 0x0000_4000,
        DIFF,
        f64::INFINITY,
    );
    c.send(&submit_line(
        13,
        "tester.rig1",
        &job,
        &rolled,
        Some(0x0000_4000),
    ));
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":13,"result":true,"error":null}"#)
    );
    let totals = {
        std::thread::sleep(std::time::Duration::from_millis(1_200));
        gw.control.totals()
    };
    assert_eq!(
        (
            totals.shares_accepted,
            totals.shares_duplicate,
            totals.shares_low_difficulty
        ),
        (2, 1, 1)
    );
}

#[test]
fn unknown_and_stale_jobs_are_21() {
    let mut gw = TestGateway::start("stale", DIFF, "");
    let job = support::job(1, true, 1);
    let mut c = Client::connect(gw.addr);
    let en1 = c.handshake("tester.rig1");
    let share = find_share(&job, &en1, &[1; 8], job.version, DIFF, f64::INFINITY);
    let mut unknown = job.clone();
    unknown.job_id = 0xdead;
    c.send(&submit_line(20, "tester.rig1", &unknown, &share, None));
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":20,"result":null,"error":[21,"job dead not found or stale",null]}"#)
    );
    // A clean job on a new tip: the old job is stale.
    gw.publish(true);
    assert!(c.line().expect("clean notify").ends_with(",true]}"));
    c.send(&submit_line(21, "tester.rig1", &job, &share, None));
    assert_eq!(error_code(&c.line().expect("reply")), 21);
}

#[test]
fn submit_before_authorize_is_24_and_before_subscribe_is_25() {
    let gw = TestGateway::start("order", DIFF, "");
    let job = support::job(1, true, 1);
    let share = find_share(&job, &[0; 4], &[1; 8], job.version, 0.0, f64::INFINITY);
    let mut c = Client::connect(gw.addr);
    c.send(&submit_line(1, "tester.rig1", &job, &share, None));
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":1,"result":null,"error":[24,"Unauthorized worker",null]}"#)
    );
    c.send(r#"{"id":2,"method":"mining.authorize","params":["tester.rig1","x"]}"#);
    c.line().expect("authorize reply");
    c.send(&submit_line(3, "tester.rig1", &job, &share, None));
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":3,"result":null,"error":[25,"Not subscribed",null]}"#)
    );
    // A name outside the rules is refused with 24 and the reason.
    c.send(r#"{"id":4,"method":"mining.authorize","params":["bad user!","x"]}"#);
    assert_eq!(error_code(&c.line().expect("reply")), 24);
}

#[test]
fn bad_fields_are_20_and_the_session_goes_on() {
    let gw = TestGateway::start("fields", DIFF, "");
    let job = support::job(1, true, 1);
    let mut c = Client::connect(gw.addr);
    let en1 = c.handshake("tester.rig1");
    let share = find_share(&job, &en1, &[1; 8], job.version, DIFF, f64::INFINITY);
    // ntime past the job's window.
    let late = ironpool_shared::work::Solution {
        ntime: job.ntime_max + 1,
        ..share.clone()
    };
    c.send(&submit_line(30, "tester.rig1", &job, &late, None));
    assert_eq!(error_code(&c.line().expect("reply")), 20);
    // Version bits outside the granted mask.
    c.send(&submit_line(
        31,
        "tester.rig1",
        &job,
        &share,
        Some(0x0000_0001),
    ));
    assert_eq!(error_code(&c.line().expect("reply")), 20);
    // extranonce2 of the wrong size.
    let short = ironpool_shared::work::Solution {
        extranonce2: vec![1; 4],
        ..share.clone()
    };
    c.send(&submit_line(32, "tester.rig1", &job, &short, None));
    assert_eq!(error_code(&c.line().expect("reply")), 20);
    // Invalid hex, wrong types, wrong counts, an unknown method.
    for (id, line) in [
        (
            33,
            r#"{"id":33,"method":"mining.submit","params":["tester.rig1","1","zz","00000000","00000000"]}"#,
        ),
        (
            34,
            r#"{"id":34,"method":"mining.submit","params":["tester.rig1",1,"00","00000000","00000000"]}"#,
        ),
        (
            35,
            r#"{"id":35,"method":"mining.submit","params":["tester.rig1"]}"#,
        ),
        (
            36,
            r#"{"id":36,"method":"mining.suggest_difficulty","params":["high"]}"#,
        ),
        (37, r#"{"id":37,"method":"mining.fly","params":[]}"#),
    ] {
        c.send(line);
        let reply = c.line().expect("reply");
        assert_eq!(error_code(&reply), 20, "{reply}");
        assert!(reply.starts_with(&format!(r#"{{"id":{id},"#)), "{reply}");
    }
    // The session still mines.
    c.send(&submit_line(40, "tester.rig1", &job, &share, None));
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":40,"result":true,"error":null}"#)
    );
}

#[test]
fn abuse_closes_the_connection() {
    let gw = TestGateway::start("abuse", DIFF, "[stratum]\nerrors_in_row_max = 5\n");
    // Bytes that are not JSON.
    let mut c = Client::connect(gw.addr);
    c.send("\u{1}\u{2}garbage");
    assert!(c.closed());
    // 16 KiB without a newline.
    let mut c = Client::connect(gw.addr);
    std::io::Write::write_all(&mut c.stream, &vec![b'{'; 16 * 1024 + 1]).expect("write");
    assert!(c.closed());
    // Too many errors in a row.
    let mut c = Client::connect(gw.addr);
    for i in 0..10 {
        c.send(&format!(
            r#"{{"id":{i},"method":"mining.fly","params":[]}}"#
        ));
    }
    assert!(c.closed());
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    let t = gw.control.totals();
    assert_eq!(
        (
            t.closed_not_json,
            t.closed_line_too_long,
            t.closed_errors_in_row
        ),
        (1, 1, 1)
    );
}

#[test]
fn a_clean_stop_sends_client_reconnect_then_closes() {
    let gw = TestGateway::start_with(
        "reconnect",
        DIFF,
        "stop_reconnect_to = \"pool.example.com:3334\"",
        "",
    );
    let mut c = Client::connect(gw.addr);
    c.handshake("tester.rig1");
    gw.control
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":null,"method":"client.reconnect","params":["pool.example.com",3334,0]}"#)
    );
    assert!(c.closed());
}

#[test]
fn a_block_below_the_share_difficulty_still_goes_to_the_share_ring() {
    use ironpool_shared::ring::{share_ring_path, ShareConsumer, ShareKind};
    // Session difficulty 1,000,000; the job's network target is regtest's (about one hash in
    // two meets it): a hash far below the share difficulty that is a block. ViaBTC dropped these
    // (bug 15.1.5).
    let mut gw = TestGateway::start("block", 1_000_000.0, "");
    let mut job = support::job(9, true, 9);
    job.bits = 0x207f_ffff;
    gw.ring.publish(&job.encode()).expect("publish");
    let mut c = Client::connect(gw.addr);
    let en1 = c.handshake("tester.rig1");
    // The handshake's notify may be job 1 or 9; make sure job 9 is current before submitting.
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Difficulty at least 1e-9 (regtest's target is worth 4.7e-10), far below the session's.
    let block = find_share(&job, &en1, &[4; 8], job.version, 1e-9, 1.0);
    let hash = ironpool_shared::work::header_for_solution(&job, &block)
        .expect("sizes")
        .block_hash();
    assert!(
        bitcoin::Target::from_compact(bitcoin::CompactTarget::from_consensus(job.bits))
            .is_met_by(hash)
    );
    c.send(&submit_line(50, "tester.rig1", &job, &block, None));
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":50,"result":true,"error":null}"#)
    );
    let mut consumer = ShareConsumer::open(share_ring_path(&gw.rings, 0)).expect("share ring");
    let mut kinds = Vec::new();
    while let Some(record) = consumer.pop() {
        let record = record.expect("record");
        kinds.push((record.kind, record.job_id, record.nonce));
    }
    assert!(
        kinds.contains(&(ShareKind::BlockCandidate, 9, block.nonce)),
        "{kinds:?}"
    );
}

#[test]
fn ipv6_and_a_second_port_with_its_own_starting_difficulty() {
    let v6 = std::net::TcpListener::bind("[::1]:0")
        .expect("IPv6 loopback")
        .local_addr()
        .expect("addr");
    let gw = TestGateway::start(
        "ports",
        DIFF,
        &format!("[[port]]\nlisten = [\"{v6}\"]\ndifficulty = 0.25\nmin_difficulty = 0.001\n"),
    );
    let mut c = Client::connect(v6);
    c.send(r#"{"id":1,"method":"mining.subscribe","params":[]}"#);
    c.line().expect("subscribe reply");
    c.send(r#"{"id":2,"method":"mining.authorize","params":["tester.v6","x"]}"#);
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":2,"result":true,"error":null}"#)
    );
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":null,"method":"mining.set_difficulty","params":[0.25]}"#)
    );
    // The first port still starts at its own difficulty.
    let mut c4 = Client::connect(gw.addr);
    c4.send(r#"{"id":1,"method":"mining.subscribe","params":[]}"#);
    c4.line().expect("subscribe reply");
    c4.send(r#"{"id":2,"method":"mining.authorize","params":["tester.v4","x"]}"#);
    c4.line().expect("authorize reply");
    assert_eq!(
        c4.line().as_deref(),
        Some(r#"{"id":null,"method":"mining.set_difficulty","params":[0.000001]}"#)
    );
}

#[test]
fn sessions_open_when_the_gateway_stops_are_recorded_as_disconnected() {
    use ironpool_shared::ring::{share_ring_path, RecordDetail, ShareConsumer, ShareKind};
    let gw = TestGateway::start("stop-events", DIFF, "");
    let mut c = Client::connect(gw.addr);
    c.handshake("stopper.rig1");
    gw.control
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // The shard stops within a second or two; its records are read before the test gateway is
    // dropped (which removes the rings).
    let mut consumer = ShareConsumer::open(share_ring_path(&gw.rings, 0)).expect("share ring");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut events = Vec::new();
    while !events.contains(&ShareKind::Disconnected) {
        assert!(
            std::time::Instant::now() < deadline,
            "no disconnected record: {events:?}"
        );
        while let Some(record) = consumer.pop() {
            let record = record.expect("record");
            if record.kind != ShareKind::Connections {
                assert_eq!(
                    (record.user.as_str(), record.worker.as_str()),
                    ("stopper", "rig1")
                );
                assert!(matches!(record.detail, RecordDetail::Peer(p) if p.ip().is_loopback()));
                events.push(record.kind);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(events, vec![ShareKind::Connected, ShareKind::Disconnected]);
}
