//! The load generator against a real gateway in this process (and a real regtest node for its
//! trigger): what it counts is what the gateway counted, its valid shares are accepted, and each
//! deliberate fault is rejected with its code.

use ironpool_bench::gateway_harness::TestGateway;
use ironpool_bench::loadgen::clock::monotonic_ns;
use ironpool_bench::loadgen::trigger::Trigger;
use ironpool_bench::loadgen::{Driver, Loadgen, LoadgenConfig, ShareMix};
use ironpool_bench::regtest::{RegtestNodes, RegtestOptions};
use ironpool_bench::sim_miner::{RejectCode, ShareKind};
use ironpool_dataplane::counters::CounterSnapshot;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

/// 2^-29: one hash in eight is a share, so grinding costs nothing in a debug build.
const DIFFICULTY: f64 = 1.0 / (1u64 << 29) as f64;

fn wait_for_counters(gw: &TestGateway, done: impl Fn(&CounterSnapshot) -> bool) -> CounterSnapshot {
    // The shards publish their counters once a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let totals = gw.control.totals();
        if done(&totals) || Instant::now() > deadline {
            return totals;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn counts_what_the_gateway_counted_and_every_fault_gets_its_code() {
    let mut gw = TestGateway::start(
        "loadgen-mix",
        DIFFICULTY,
        &format!("max_difficulty = {DIFFICULTY}\n"),
    );
    let mut cfg = LoadgenConfig::new(gw.addr, 12);
    cfg.mix = ShareMix::parse("valid=0.55,duplicate=0.15,stale=0.15,low=0.15").expect("mix");
    let lg = Loadgen::start(cfg).expect("start");
    lg.wait_authorized(12, Duration::from_secs(20))
        .expect("authorized");

    lg.set_share_rate(15.0).expect("rate");
    std::thread::sleep(Duration::from_millis(800));
    gw.publish(true); // stale shares become possible from here on
    std::thread::sleep(Duration::from_millis(800));
    gw.publish(false);
    std::thread::sleep(Duration::from_millis(500));
    gw.publish(true);
    std::thread::sleep(Duration::from_millis(800));
    lg.set_share_rate(0.0).expect("rate");
    std::thread::sleep(Duration::from_millis(500));

    // A clean job timed from its publication: every miner gets it.
    let trigger_ns = monotonic_ns();
    let record = gw.publish(true);
    let fanout = lg
        .fanout(trigger_ns, None, Duration::from_secs(10))
        .expect("fanout");
    assert_eq!(
        fanout.block,
        Some(record.prev_hash),
        "the new tip is the one published"
    );
    assert_eq!((fanout.received, fanout.miners), (12, 12));
    assert!(fanout.latency.max() < 10_000_000);

    let report = lg.stop().expect("stop");
    let valid = report.kind(ShareKind::Valid);
    let duplicate = report.kind(ShareKind::Duplicate);
    let stale = report.kind(ShareKind::Stale);
    let low = report.kind(ShareKind::LowDifficulty);
    assert!(valid.submitted > 50, "{report:?}");
    assert!(
        duplicate.submitted > 0 && stale.submitted > 0 && low.submitted > 0,
        "{}",
        report.line()
    );
    assert_eq!(report.totals().unanswered, 0);
    // A valid share ground on the old tip just before a clean job is stale by the time the
    // gateway judges it (21): at most one per miner per clean job during the run.
    let valid_stale = valid.rejected_with(RejectCode::JobNotFound);
    assert_eq!(
        valid.accepted + valid_stale,
        valid.submitted,
        "{}",
        report.line()
    );
    assert!(valid_stale <= 2 * 12, "{}", report.line());
    assert_eq!(
        duplicate.rejected_with(RejectCode::Duplicate),
        duplicate.submitted
    );
    assert_eq!(
        stale.rejected_with(RejectCode::JobNotFound),
        stale.submitted
    );
    assert_eq!(low.rejected_with(RejectCode::LowDifficulty), low.submitted);
    assert_eq!(report.kind(ShareKind::BadVersion).submitted, 0);
    assert_eq!(report.submit_to_reply.len(), report.totals().submitted);
    assert_eq!(report.connect_to_authorized.len(), 12);
    assert_eq!(
        (
            report.connects,
            report.connect_failures,
            report.protocol_errors
        ),
        (12, 0, 0)
    );

    let gateway = wait_for_counters(&gw, |c| {
        c.shares_accepted == valid.accepted && c.notifies_sent == report.notifies
    });
    assert_eq!(gateway.shares_accepted, valid.accepted);
    assert_eq!(gateway.shares_duplicate, duplicate.submitted);
    assert_eq!(gateway.shares_stale, stale.submitted + valid_stale);
    assert_eq!(gateway.shares_low_difficulty, low.submitted);
    assert_eq!(gateway.shares_invalid, 0);
    assert_eq!(
        gateway.notifies_sent, report.notifies,
        "every notify sent was received once"
    );
    // Each miner received the first job and the four published after.
    assert_eq!(report.notifies, 12 * 5);
    // Clean: the first job and the three clean jobs; the fourth stayed on its tip.
    assert_eq!(report.clean_notifies, 12 * 4);
}

#[test]
fn a_connect_storm_over_epoll_with_churn_from_several_source_addresses() {
    connect_storm_with_churn(Driver::Epoll);
}

#[test]
fn a_connect_storm_over_io_uring_with_churn_from_several_source_addresses() {
    connect_storm_with_churn(Driver::IoUring);
}

fn connect_storm_with_churn(driver: Driver) {
    let gw = TestGateway::start(&format!("loadgen-storm-{driver:?}"), DIFFICULTY, "");
    let mut cfg = LoadgenConfig::new(gw.addr, 300);
    cfg.driver = driver;
    cfg.source_ips = (2..6)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
        .collect();
    cfg.session_lifetime = Some(Duration::from_millis(600));
    cfg.reconnect_delay = Duration::from_millis(10);
    let lg = Loadgen::start(cfg).expect("start");
    lg.wait_authorized(250, Duration::from_secs(30))
        .expect("most authorized");
    std::thread::sleep(Duration::from_millis(1500));
    let report = lg.stop().expect("stop");
    assert_eq!(report.connect_failures, 0, "{}", report.line());
    assert_eq!(
        report.disconnects,
        0,
        "lifetime ends are not losses: {}",
        report.line()
    );
    assert!(
        report.connects > 300,
        "sessions ended at their lifetime and came back: {}",
        report.line()
    );
    // Stop may end a connection between its connect and its authorization.
    let authorized = report.connect_to_authorized.len();
    assert!(authorized <= report.connects && authorized + 300 >= report.connects);
    let gateway = wait_for_counters(&gw, |c| {
        c.connections_accepted >= report.connects && c.connections_open == 0
    });
    // A connect the kernel completed while stop cancelled the miner's wait is the gateway's only.
    assert!(
        gateway.connections_accepted >= report.connects
            && gateway.connections_accepted <= report.connects + 300
    );
    assert!(
        gateway.sessions_authorized >= authorized && gateway.sessions_authorized <= report.connects
    );
    assert_eq!(gateway.connections_open, 0, "stop closed every connection");
}

#[test]
fn a_connect_rate_spreads_the_connects() {
    let gw = TestGateway::start("loadgen-rate", DIFFICULTY, "");
    let mut cfg = LoadgenConfig::new(gw.addr, 40);
    cfg.connect_rate = 100.0;
    let lg = Loadgen::start(cfg).expect("start");
    let report = lg
        .wait_authorized(40, Duration::from_secs(20))
        .expect("authorized");
    let spread_ms = (report.last_authorized_ns - report.first_connect_ns) / 1_000_000;
    // 40 connects at 100 per second: the last starts 390 ms after the first.
    assert!(spread_ms >= 390, "connects took only {spread_ms} ms");
    lg.stop().expect("stop");
}

#[test]
fn garbage_from_the_pool_is_counted_and_the_miner_retries() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = (&stream).write_all(b"this is not json\n");
        }
    });
    let mut cfg = LoadgenConfig::new(addr, 2);
    cfg.reconnect_delay = Duration::from_millis(50);
    let lg = Loadgen::start(cfg).expect("start");
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        let report = lg.report(false).expect("report");
        if report.protocol_errors >= 4 || Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(report.protocol_errors >= 4, "{}", report.line());
    assert!(
        report.connects >= 4,
        "each miner connected again after the garbage"
    );
    assert_eq!(report.authorized_now, 0);
    lg.stop().expect("stop");
}

#[test]
fn bad_configurations_are_refused_with_the_field() {
    let addr = "127.0.0.1:1".parse().expect("addr");
    let mut cfg = LoadgenConfig::new(addr, 0);
    assert!(Loadgen::start(cfg.clone())
        .err()
        .expect("zero miners")
        .to_string()
        .contains("miners"));
    cfg.miners = 1;
    cfg.share_rate = f64::NAN;
    assert!(Loadgen::start(cfg.clone())
        .err()
        .expect("NaN")
        .to_string()
        .contains("share_rate"));
    cfg.share_rate = 0.0;
    cfg.source_ips = vec!["::1".parse().expect("v6")];
    assert!(Loadgen::start(cfg)
        .err()
        .expect("family")
        .to_string()
        .contains("family"));
    assert!(ShareMix::parse("valid=1,bogus=2").is_err());
    assert!(ShareMix::parse("valid=x").is_err());
    assert!(ShareMix::parse("valid=0").is_err());
}

#[test]
fn the_rpc_trigger_makes_the_block_it_reports() {
    let nodes = RegtestNodes::start(RegtestOptions {
        nodes: 1,
        ..RegtestOptions::default()
    })
    .expect("regtest node");
    let node = &nodes.nodes()[0];
    let trigger = Trigger::Rpc {
        addr: format!("127.0.0.1:{}", node.rpc_port)
            .parse()
            .expect("addr"),
        user: node.rpc_user.clone().expect("user"),
        password: node.rpc_password.clone().expect("password"),
        address: "n1ESb9aqqxPZMG33uCvA9avKqHAtP5DBau".into(),
    };
    let before = monotonic_ns();
    let fired = trigger.fire().expect("generatetoaddress");
    assert!(fired.at_ns >= before);
    let mut best = fired.block.expect("the hash of the new block");
    best.reverse();
    let display: String = best.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(node.best_block_hash().expect("best"), display);

    let wrong = Trigger::Rpc {
        addr: format!("127.0.0.1:{}", node.rpc_port)
            .parse()
            .expect("addr"),
        user: "nobody".into(),
        password: "wrong".into(),
        address: "n1ESb9aqqxPZMG33uCvA9avKqHAtP5DBau".into(),
    };
    let error = wrong.fire().expect_err("bad credentials");
    assert!(error.contains("127.0.0.1"), "{error}");
    let error = Trigger::Command("exit 3".into())
        .fire()
        .expect_err("failing command");
    assert!(error.contains("exit 3"), "{error}");
    let fired = Trigger::Command(format!("echo {display}"))
        .fire()
        .expect("command");
    assert_eq!(
        fired.block.map(|mut b| {
            b.reverse();
            b
        }),
        Some(best)
    );
}

/// A pool that authorizes twice, then sends a difficulty and one job, and never answers a submit:
/// faults the gateway cannot be made to show.
fn silent_pool(difficulty: f64) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().expect("clone");
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let answer = if line.contains("mining.subscribe") {
                        r#"{"id":2,"result":[[],"01020304",8],"error":null}"#.to_owned()
                    } else if line.contains("mining.authorize") {
                        format!(
                            "{}\n{}\n{{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[{difficulty:e}]}}\n{NOTIFY}",
                            r#"{"id":3,"result":true,"error":null}"#,
                            r#"{"id":3,"result":true,"error":null}"#
                        )
                    } else {
                        continue;
                    };
                    if writeln!(writer, "{answer}").is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

const NOTIFY: &str = r#"{"id":null,"method":"mining.notify","params":["1f","00000000000000000000000000000000000000000000000000000000000000aa","01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff0d03","ffffffff0100f2052a010000001976a914000000000000000000000000000000000000000088ac00000000",[],"20000000","1d00ffff","5f5e1000",true]}"#;

#[test]
fn a_pool_that_never_answers_costs_bounded_memory_and_every_share_is_accounted() {
    let mut cfg = LoadgenConfig::new(silent_pool(DIFFICULTY), 1);
    cfg.share_rate = 600.0;
    let lg = Loadgen::start(cfg).expect("start");
    lg.wait_authorized(1, Duration::from_secs(10))
        .expect("authorized");
    std::thread::sleep(Duration::from_secs(3));
    let running = lg.report(false).expect("report");
    let valid = running.kind(ShareKind::Valid);
    assert!(valid.submitted > 1024 + 100, "{}", running.line());
    // More than PENDING_MAX waiting: the oldest were given up, counted unanswered.
    assert_eq!(
        valid.unanswered,
        valid.submitted - 1024,
        "{}",
        running.line()
    );
    // The second "authorized" is the pool's error, counted once, and the miner is authorized once.
    assert_eq!((running.authorized_now, running.protocol_errors), (1, 1));
    let report = lg.stop().expect("stop");
    let valid = report.kind(ShareKind::Valid);
    assert_eq!(
        valid.unanswered, valid.submitted,
        "every share given up at stop"
    );
    assert_eq!(report.connect_to_authorized.len(), 1);
}

#[test]
fn a_difficulty_too_high_to_grind_is_counted_not_ground() {
    let mut cfg = LoadgenConfig::new(silent_pool(1.0), 1);
    cfg.share_rate = 50.0;
    let lg = Loadgen::start(cfg).expect("start");
    lg.wait_authorized(1, Duration::from_secs(10))
        .expect("authorized");
    std::thread::sleep(Duration::from_millis(500));
    let report = lg.stop().expect("stop");
    assert!(report.too_hard >= 5, "{}", report.line());
    assert_eq!(report.totals().submitted, 0);
}
