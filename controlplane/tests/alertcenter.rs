//! alertcenter against a real redis-server: error events from the `tracing` layer arrive in
//! `alert:message` with host and process; repeats are folded; a storm is rate-limited and
//! summarised; bad frames are counted without hurting good ones; a Redis outage only delays
//! alerts; a Redis Cluster works like a single server.
//!
//! alertcenter runs in-process (`alertcenter::serve` on a tokio runtime of the test), so the
//! tests read its counters directly; Redis is real and every assertion is on what is read back
//! from it. Waits poll with a deadline.

use ironpool_bench::redis_server::{RedisCluster, RedisDump, RedisServer, RedisValue};
use ironpool_controlplane::alertcenter::{self, Alertcenter, CounterSnapshot, Counters};
use ironpool_shared::alert::{alert_layer, AlertConfig, AlertHandle, AlertLayer};
use ironpool_shared::meta::{encode_frame, Alert, FrameKind, PresharedKey};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

const LIST: &str = "alert:message";
/// Deadline of every wait: generous, the waits end as soon as the condition holds.
const WAIT: Duration = Duration::from_secs(30);

fn key() -> PresharedKey {
    PresharedKey::new(b"alertcenter-test-key-0123456789").expect("key")
}

/// An alert frame as a sender without the layer would write it.
fn frame(key: &PresharedKey, message: &str) -> Vec<u8> {
    let alert = Alert {
        host: "raw-host".to_owned(),
        process: "raw".to_owned(),
        message: message.to_owned(),
    };
    encode_frame(key, FrameKind::Alert, &alert.encode())
}

fn raw_line(message: &str) -> String {
    format!("raw-host raw: {message}")
}

/// The alert list in a dump (empty when the key does not exist yet).
fn list_of(dump: RedisDump) -> Vec<String> {
    match dump.get(LIST) {
        Some(RedisValue::List(items)) => items.clone(),
        Some(other) => panic!("{LIST} is not a list: {other:?}"),
        None => Vec::new(),
    }
}

fn list(redis: &RedisServer) -> Vec<String> {
    list_of(redis.dump().expect("dump redis"))
}

/// Polls `probe` until it gives a value, at most [`WAIT`].
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// alertcenter serving on a free port of 127.0.0.1, on a runtime of its own.
struct Center {
    address: SocketAddr,
    counters: Arc<Counters>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), String>>>,
    runtime: tokio::runtime::Runtime,
}

impl Center {
    /// Defaults of the tests: no rate limit to speak of, a long dedup window.
    fn start(redis: Vec<String>, configure: impl FnOnce(&mut Alertcenter)) -> Center {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let address = listener.local_addr().expect("local address");
        let mut settings = Alertcenter {
            listen: address,
            key: key(),
            redis,
            list: LIST.to_owned(),
            dedup_window: Duration::from_secs(300),
            rate_per_minute: 100_000,
            queue_max: 10_000,
        };
        configure(&mut settings);
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = runtime.spawn(alertcenter::serve(
            listener,
            settings,
            Arc::clone(&counters),
            async move {
                let _ = stopped.await;
            },
        ));
        Center {
            address,
            counters,
            stop: Some(stop),
            done: Some(done),
            runtime,
        }
    }

    fn counters(&self) -> CounterSnapshot {
        self.counters.snapshot()
    }

    fn layer(&self, process: &str) -> (AlertLayer, AlertHandle) {
        alert_layer(AlertConfig {
            address: self.address.to_string(),
            key: key(),
            host: "test-host".to_owned(),
            process: process.to_owned(),
        })
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.address).expect("connect to alertcenter");
        stream.set_read_timeout(Some(WAIT)).expect("read timeout");
        stream
    }

    /// Stops it as SIGTERM would, and checks that it ends cleanly.
    fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let result = self.runtime.block_on(done).expect("serve task");
            assert_eq!(result, Ok(()));
        }
    }
}

#[test]
fn error_events_arrive_with_host_and_process_and_warnings_do_not() {
    let redis = RedisServer::start().expect("redis");
    let center = Center::start(vec![redis.url()], |_| {});
    let (layer, handle) = center.layer("gateway");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::error!(target: "pool::disk", path = "/var/lib", free_mib = 12, "disk full");
        tracing::warn!(target: "pool::disk", "disk almost full");
        tracing::info!(target: "pool::disk", "disk fine");
        tracing::error!(target: "pool::node", node = "primary", "getblocktemplate failed");
        assert!(handle.flush(WAIT), "alerts not written to alertcenter");
    });
    assert_eq!((handle.sent(), handle.dropped()), (2, 0));

    wait_for("two alerts pushed", || {
        (center.counters().pushed >= 2).then_some(())
    });
    assert_eq!(
        list(&redis),
        [
            "test-host gateway: pool::disk: disk full path=/var/lib free_mib=12",
            "test-host gateway: pool::node: getblocktemplate failed node=primary",
        ]
    );
    let counters = center.counters();
    assert_eq!((counters.received, counters.pushed), (2, 2));
    assert_eq!((counters.bad_frames, counters.bad_tags), (0, 0));
    center.stop();
}

#[test]
fn the_same_error_fifty_times_is_pushed_once_then_its_repeat_count() {
    let redis = RedisServer::start().expect("redis");
    // A short window, so the count comes out within the test. The 50 alerts take milliseconds;
    // they all fall in the first window.
    let center = Center::start(vec![redis.url()], |s| {
        s.dedup_window = Duration::from_secs(2);
    });
    let (layer, handle) = center.layer("jobmaster");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..50 {
            tracing::error!(target: "pool::node", "node unreachable");
        }
        assert!(handle.flush(WAIT), "alerts not written to alertcenter");
    });

    // Received by the connection, then folded by the limiter task: wait for both.
    wait_for("50 alerts received, 49 of them folded", || {
        let c = center.counters();
        (c.received == 50 && c.deduplicated == 49).then_some(())
    });
    let line = "test-host jobmaster: pool::node: node unreachable";
    let repeated = format!("{line} (repeated 49 times)");
    let items = wait_for("the repeat count", || {
        let items = list(&redis);
        items.contains(&repeated).then_some(items)
    });
    assert_eq!(items, [line.to_owned(), repeated]);
    // The writer counts a push once Redis has answered, a moment after the list shows it.
    wait_for("2 lines counted as pushed", || {
        (center.counters().pushed == 2).then_some(())
    });
}

#[test]
fn a_storm_of_distinct_alerts_is_rate_limited_and_summarised() {
    let redis = RedisServer::start().expect("redis");
    let center = Center::start(vec![redis.url()], |s| s.rate_per_minute = 60);
    let mut stream = center.connect();
    // One write: the burst reaches alertcenter within milliseconds, before a token returns.
    let burst: Vec<u8> = (0..200)
        .flat_map(|i| frame(&key(), &format!("storm {i}")))
        .collect();
    let started = Instant::now();
    stream.write_all(&burst).expect("write the burst");
    wait_for("200 alerts received", || {
        (center.counters().received == 200).then_some(())
    });
    // A token returns per second: a burst slowed past a second may let one more through each.
    let extra_allowed = started.elapsed().as_secs();

    const SUMMARY_TAIL: &str = " alerts suppressed by the rate limit (60 per minute)";
    /// The alerts the summary lines account for.
    fn summarised(items: &[String]) -> u64 {
        items
            .iter()
            .filter_map(|l| l.strip_suffix(SUMMARY_TAIL))
            .filter_map(|l| l.rsplit(": ").next())
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    }
    fn storm_lines(items: &[String]) -> usize {
        let prefix = raw_line("storm ");
        items.iter().filter(|l| l.starts_with(&prefix)).count()
    }
    // Every alert is either pushed or accounted for by a summary.
    let items = wait_for("the rate-limit summary", || {
        let items = list(&redis);
        (storm_lines(&items) as u64 + summarised(&items) == 200).then_some(items)
    });
    let pushed = storm_lines(&items) as u64;
    assert!(
        (60..=60 + extra_allowed).contains(&pushed),
        "{pushed} storm alerts pushed with a limit of 60 per minute"
    );
    let counters = center.counters();
    assert_eq!(counters.rate_limited, 200 - pushed);
    let summaries: Vec<&String> = items.iter().filter(|l| l.ends_with(SUMMARY_TAIL)).collect();
    assert!(!summaries.is_empty());
    assert!(
        summaries.iter().all(|l| l.contains(" alertcenter: ")),
        "{summaries:?}"
    );
    assert_eq!(items.len() as u64, pushed + summaries.len() as u64);
    if extra_allowed == 0 {
        // The usual case, exactly: 60 pushed, one summary for the other 140.
        assert_eq!(pushed, 60);
        assert_eq!(summaries.len(), 1);
        assert!(summaries[0].ends_with(&format!("alertcenter: 140{SUMMARY_TAIL}")));
        // The 60 pushed are the first 60 sent, in order, and the summary comes last.
        for (i, line) in items.iter().take(60).enumerate() {
            assert_eq!(line, &raw_line(&format!("storm {i}")));
        }
        assert_eq!(items.last(), Some(summaries[0]));
    }
}

#[test]
fn bad_frames_are_counted_and_good_alerts_still_arrive() {
    let redis = RedisServer::start().expect("redis");
    let center = Center::start(vec![redis.url()], |_| {});
    let arrived = |message: &str| {
        let line = raw_line(message);
        wait_for(message, || list(&redis).contains(&line).then_some(()));
    };

    // A wrong key, then a good alert on the same connection.
    let mut first = center.connect();
    let wrong = PresharedKey::new(b"not-the-alertcenter-key-at-all").expect("key");
    first.write_all(&frame(&wrong, "forged")).expect("write");
    first
        .write_all(&frame(&key(), "after a wrong key"))
        .expect("write");
    arrived("after a wrong key");
    assert_eq!(center.counters().bad_tags, 1);

    // An oversized frame (skipped by its length), then a good alert on the same connection.
    let oversize = encode_frame(
        &key(),
        FrameKind::Alert,
        &vec![b'x'; alertcenter::BODY_MAX as usize + 1],
    );
    first.write_all(&oversize).expect("write");
    first
        .write_all(&frame(&key(), "after an oversize frame"))
        .expect("write");
    arrived("after an oversize frame");
    assert_eq!(center.counters().bad_frames, 1);

    // Garbage (a ViaBTC-style alert line): out of step, so that connection is closed.
    let mut garbage = center.connect();
    garbage
        .write_all(b"373d26968a5a2b698045h1: a line in the old format\n")
        .expect("write");
    let mut byte = [0u8; 1];
    match garbage.read(&mut byte) {
        Ok(0) => {}
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {}
        other => panic!("the garbage connection was not closed: {other:?}"),
    }
    assert_eq!(center.counters().bad_frames, 2);

    // A new connection works, and so does the first one still.
    let mut second = center.connect();
    second
        .write_all(&frame(&key(), "after garbage, new connection"))
        .expect("write");
    arrived("after garbage, new connection");
    first
        .write_all(&frame(&key(), "first connection still up"))
        .expect("write");
    arrived("first connection still up");

    assert_eq!(
        list(&redis),
        [
            raw_line("after a wrong key"),
            raw_line("after an oversize frame"),
            raw_line("after garbage, new connection"),
            raw_line("first connection still up"),
        ]
    );
    let counters = center.counters();
    assert_eq!(
        (counters.received, counters.bad_tags, counters.bad_frames),
        (4, 1, 2)
    );
}

#[test]
fn alerts_sent_while_redis_is_down_arrive_after_it_restarts() {
    let mut redis = RedisServer::start().expect("redis");
    let center = Center::start(vec![redis.url()], |_| {});
    let (layer, handle) = center.layer("metawriter");
    // One dispatcher for both phases: the layer (and its connection) outlives each closure.
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let line = |m: &str| format!("test-host metawriter: pool: {m}");

    tracing::dispatcher::with_default(&dispatch, || {
        tracing::error!(target: "pool", "before the outage");
    });
    wait_for("the first alert", || {
        (list(&redis) == [line("before the outage")]).then_some(())
    });
    wait_for("1 line counted as pushed", || {
        (center.counters().pushed == 1).then_some(())
    });

    redis.stop().expect("stop redis");
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..5 {
            tracing::error!(target: "pool", "during the outage {i}");
        }
    });
    assert!(handle.flush(WAIT), "alerts not written to alertcenter");
    wait_for("the outage alerts received", || {
        (center.counters().received == 6).then_some(())
    });
    // Redis is down: nothing more can have been pushed.
    assert_eq!(center.counters().pushed, 1);

    redis.restart().expect("restart redis");
    let mut expected = vec![line("before the outage")];
    expected.extend((0..5).map(|i| line(&format!("during the outage {i}"))));
    wait_for("the queued alerts after the restart", || {
        (list(&redis) == expected).then_some(())
    });
    wait_for("6 lines counted as pushed", || {
        (center.counters().pushed == 6).then_some(())
    });
    assert_eq!(center.counters().dropped, 0);
    center.stop();
    drop(dispatch);
}

#[test]
fn a_redis_cluster_receives_alerts_like_a_single_server() {
    let cluster = RedisCluster::start(3).expect("redis cluster");
    let center = Center::start(cluster.urls(), |_| {});
    let mut stream = center.connect();
    for i in 0..3 {
        stream
            .write_all(&frame(&key(), &format!("cluster {i}")))
            .expect("write");
    }
    let expected: Vec<String> = (0..3).map(|i| raw_line(&format!("cluster {i}"))).collect();
    wait_for("the alerts in the cluster", || {
        (list_of(cluster.dump().expect("dump cluster")) == expected).then_some(())
    });
    wait_for("3 lines counted as pushed", || {
        (center.counters().pushed == 3).then_some(())
    });
}
