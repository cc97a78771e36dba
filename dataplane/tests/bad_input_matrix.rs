//! The bad-input matrix: every kind of garbage, abuse and slowness gets its expected reply or
//! close, while 100 simulated miners on the same shard keep mining without a single rejected
//! share or disconnect.

mod support;

use ironpool_bench::sim_miner::{SimMiner, SimMinerConfig};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::{error_code, find_share, submit_line, Client, TestGateway, DIFF};

#[test]
fn abuse_is_answered_or_closed_while_100_sessions_keep_mining() {
    let mut gw = TestGateway::start(
        "matrix",
        DIFF,
        "[stratum]\nerrors_in_row_max = 50\nsend_queue_bytes_max = 16384\nsend_timeout_ms = 2000\nauthorize_timeout_secs = 2\n",
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut cfg = SimMinerConfig::new(gw.addr);
    cfg.connections = 100;
    cfg.hashrate_per_connection = 300.0;
    cfg.duration = Some(Duration::from_secs(600));
    let miners = rt
        .block_on(async { SimMiner::start(cfg) })
        .expect("sim miner");
    let deadline = Instant::now() + Duration::from_secs(30);
    while miners.stats().authorized < 100 {
        assert!(Instant::now() < deadline, "miners never authorized");
        std::thread::sleep(Duration::from_millis(50));
    }
    let accepted_before = miners.stats().shares.accepted;
    let job = support::job(1, true, 1);

    // Random bytes: closed.
    let mut c = Client::connect(gw.addr);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed & 0xff) as u8 | 0x80
        })
        .collect();
    c.stream.write_all(&noise).expect("write");
    c.stream.write_all(b"\n").expect("write");
    assert!(c.closed(), "random bytes");

    // 16 KiB without a newline, and a 1 MB line: closed at the limit, without buffering it all.
    for size in [16 * 1024 + 1, 1 << 20] {
        let mut c = Client::connect(gw.addr);
        let _ = c.stream.write_all(&vec![b'a'; size]);
        assert!(c.closed(), "{size}-byte line");
    }

    // Invalid hex, wrong types and counts: error 20, the session stays.
    let mut c = Client::connect(gw.addr);
    let en1 = c.handshake("tester.attacker");
    for line in [
        r#"{"id":1,"method":"mining.submit","params":["tester.attacker","1","xyz!","00000000","00000000"]}"#,
        r#"{"id":2,"method":"mining.submit","params":["tester.attacker",["1"],"00","00000000","00000000"]}"#,
        r#"{"id":3,"method":"mining.submit","params":[]}"#,
        r#"{"id":4,"method":"mining.authorize","params":[42]}"#,
    ] {
        c.send(line);
        assert_eq!(error_code(&c.line().expect("reply")), 20, "{line}");
    }
    // Duplicate, stale, low difficulty, version bits outside the mask, ntime out of range.
    let good = find_share(&job, &en1, &[5; 8], job.version, DIFF, f64::INFINITY);
    c.send(&submit_line(10, "tester.attacker", &job, &good, None));
    assert_eq!(
        c.line().as_deref(),
        Some(r#"{"id":10,"result":true,"error":null}"#)
    );
    c.send(&submit_line(11, "tester.attacker", &job, &good, None));
    assert_eq!(error_code(&c.line().expect("dup")), 22);
    let mut stale = job.clone();
    stale.job_id = 0xbeef;
    c.send(&submit_line(12, "tester.attacker", &stale, &good, None));
    assert_eq!(error_code(&c.line().expect("stale")), 21);
    let low = find_share(&job, &en1, &[6; 8], job.version, 0.0, DIFF);
    c.send(&submit_line(13, "tester.attacker", &job, &low, None));
    assert_eq!(error_code(&c.line().expect("low")), 23);
    c.send(&submit_line(
        14,
        "tester.attacker",
        &job,
        &good,
        Some(0x8000_0000),
    ));
    assert_eq!(error_code(&c.line().expect("mask")), 20);
    let early = ironpool_shared::work::Solution {
        ntime: job.ntime_min - 1,
        ..good.clone()
    };
    c.send(&submit_line(15, "tester.attacker", &job, &early, None));
    assert_eq!(error_code(&c.line().expect("ntime")), 20);

    // Submits before subscribe and before authorize.
    let mut c2 = Client::connect(gw.addr);
    c2.send(&submit_line(1, "tester.x", &job, &good, None));
    assert_eq!(error_code(&c2.line().expect("reply")), 24);
    c2.send(r#"{"id":2,"method":"mining.authorize","params":["tester.x","x"]}"#);
    c2.line().expect("authorize");
    c2.send(&submit_line(3, "tester.x", &job, &good, None));
    assert_eq!(error_code(&c2.line().expect("reply")), 25);

    // A flood of 10,000 submits as fast as the socket takes them: closed after 50 errors in a row.
    let mut flood = Client::connect(gw.addr);
    flood.handshake("tester.flood");
    let line = submit_line(99, "tester.flood", &stale, &good, None);
    let mut burst = Vec::with_capacity(10_000 * (line.len() + 1));
    for _ in 0..10_000 {
        burst.extend_from_slice(line.as_bytes());
        burst.push(b'\n');
    }
    let started = Instant::now();
    let _ = flood.stream.write_all(&burst);
    assert!(flood.closed(), "flood");
    assert!(started.elapsed() < Duration::from_secs(10));

    // Half-open: connects and says nothing, or half a line: closed at the authorize deadline.
    let mut silent = Client::connect(gw.addr);
    let mut half = Client::connect(gw.addr);
    half.stream
        .write_all(br#"{"id":1,"method":"mining.sub"#)
        .expect("write");
    assert!(silent.closed() && half.closed(), "half-open clients");

    // A client that never reads: the answers it does not read fill its queue (a 4 KiB receive
    // buffer keeps the kernel from absorbing them) and it is dropped, alone.
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    socket.connect(&gw.addr.into()).expect("connect");
    let slow: TcpStream = socket.into();
    let mut writer = slow.try_clone().expect("clone");
    std::thread::spawn(move || {
        let _ = writer.write_all(b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n");
        let _ = writer.write_all(
            b"{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"tester.slow\",\"x\"]}\n",
        );
        let line = b"{\"id\":3,\"method\":\"mining.extranonce.subscribe\",\"params\":[]}\n";
        for _ in 0..100_000 {
            if writer.write_all(line).is_err() {
                return; // dropped by the gateway, as intended
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let t = gw.control.totals();
        if t.closed_send_queue_full + t.closed_send_timeout >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow reader was never dropped: {t:?}"
        );
    }
    let mut sink = vec![0u8; 1 << 16];
    let mut slow = slow;
    let _ = slow.read(&mut sink);
    // Jobs still reach everyone else.
    gw.publish(false);

    // Meanwhile the 100 honest sessions kept mining: more accepted shares, none rejected, none
    // disconnected.
    let deadline = Instant::now() + Duration::from_secs(20);
    while miners.stats().shares.accepted < accepted_before + 20 {
        assert!(
            Instant::now() < deadline,
            "honest miners stalled: {}",
            miners.stats().result_line()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = rt.block_on(miners.stop());
    let s = &report.stats;
    assert_eq!(s.shares.rejected.total(), 0, "{}", report.result_line());
    assert_eq!(s.disconnects, 0, "{}", report.result_line());
    assert_eq!(s.connect_failures, 0, "{}", report.result_line());

    std::thread::sleep(Duration::from_millis(1_200));
    let t = gw.control.totals();
    assert_eq!(t.closed_not_json, 1, "{t:?}");
    assert_eq!(t.closed_line_too_long, 2, "{t:?}");
    assert_eq!(t.closed_errors_in_row, 1, "{t:?}");
    // The two half-open clients, and the one that authorized but never subscribed.
    assert_eq!(t.closed_authorize_timeout, 3, "{t:?}");
    assert_eq!(
        t.closed_send_queue_full + t.closed_send_timeout,
        1,
        "{t:?} (the slow reader alone)"
    );
    drop(gw);
}
