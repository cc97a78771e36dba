//! poolbench against another pool played by the test: a tiny stratum server on loopback, and a
//! relay client in the jobmaster's place. The real binary runs as a child process.
//!
//! What is checked: the first job at a new height becomes a tip (height one below the coinbase's
//! BIP34 height, the prevhash in internal order, the job's bits) even before the authorize answer;
//! garbage lines are counted and skipped without losing the connection; a second job at the same
//! height is no new tip; a line over 64 KiB drops the connection and poolbench comes back.

use ironpool_controlplane::relay_link::{Inbound, RelayHub, DEFAULT_MAX_BODY};
use ironpool_shared::meta::PresharedKey;
use ironpool_shared::relay::{RelayMessage, TipAnnouncement, TipSource};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const KEY: [u8; 32] = [0x5a; 32];
const WAIT: Duration = Duration::from_secs(15);

/// poolbench as a child process, killed when dropped.
struct Poolbench {
    child: Child,
    log: PathBuf,
}

impl Poolbench {
    fn start(config: &Path) -> Poolbench {
        let log = config.with_extension("log");
        let child = Command::new(env!("CARGO_BIN_EXE_ironpool-control"))
            .arg("poolbench")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn ironpool-control");
        Poolbench { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Poolbench {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ironpool-poolbench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A loopback address nobody listens on yet.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

/// Writes the key and the config; returns the config's path and the status file's.
fn write_config(dir: &Path, relay: &str, stratum_port: u16) -> (PathBuf, PathBuf) {
    let key = dir.join("relay.key");
    std::fs::write(&key, KEY).expect("key");
    let status = dir.join("status.json");
    let config = dir.join("poolbench.toml");
    std::fs::write(
        &config,
        format!(
            "status_file = {status:?}\n\
             [relay]\nlisten = {relay:?}\nkey_file = {key:?}\n\
             [[pool]]\nname = \"rival\"\nhost = \"127.0.0.1\"\nport = {stratum_port}\n\
             user = \"watcher\"\n",
            status = status.display().to_string(),
            key = key.display().to_string(),
        ),
    )
    .expect("config");
    (config, status)
}

fn read_status(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null)
}

/// Waits until `check` holds for the status file.
async fn wait_status(path: &Path, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = read_status(path);
        if check(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}: status {status:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// coinb1 with BIP34 `height` (1..=127 here: the push `01 <height>`): version, one input spending
/// nothing, the scriptSig length (the push, a tag, 8 bytes of extranonces), then the push and tag.
fn coinb1(height: u8) -> String {
    assert!((17..=127).contains(&height), "a one-byte push");
    let tag = "2f7269762f00"; // "/riv/" and a zero
    let script_len = 2 + tag.len() / 2 + 8;
    format!(
        "01000000\
         01\
         {zeros}ffffffff\
         {script_len:02x}01{height:02x}{tag}",
        zeros = "00".repeat(32)
    )
}

/// A block hash in internal order, and its stratum form (each 4-byte word reversed).
fn prev_hash(seed: u8) -> ([u8; 32], String) {
    let mut internal = [0u8; 32];
    for (i, b) in internal.iter_mut().enumerate() {
        *b = seed.wrapping_mul(31).wrapping_add(i as u8);
    }
    let stratum = internal
        .chunks(4)
        .flat_map(|w| w.iter().rev())
        .map(|b| format!("{b:02x}"))
        .collect();
    (internal, stratum)
}

fn notify(
    job: &str,
    prev: &str,
    coinb1: &str,
    branch: &[&str],
    nbits: &str,
    ntime: &str,
) -> String {
    json!({"id": null, "method": "mining.notify", "params": [
        job, prev, coinb1, "ffffffff0100f2052a01000000", branch, "20000000", nbits, ntime, true
    ]})
    .to_string()
}

/// The other pool: answers `mining.subscribe` itself, reports every line it reads on `got`, and
/// writes what the test sends on the returned channel.
async fn stratum_server(listener: TcpListener) -> (mpsc::Sender<String>, mpsc::Receiver<String>) {
    let (to_pool, mut lines_out) = mpsc::channel::<String>(64);
    let (got_tx, got) = mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("poolbench connects");
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::new(reader).lines();
        loop {
            tokio::select! {
                line = reader.next_line() => {
                    let Ok(Some(line)) = line else { return };
                    let request: Value = serde_json::from_str(&line).expect("poolbench sends JSON");
                    if request["method"] == "mining.subscribe" {
                        let answer = json!({"id": request["id"], "error": null, "result": [
                            [["mining.set_difficulty", "1"], ["mining.notify", "1"]], "08000002", 8
                        ]});
                        let _ = writer.write_all(format!("{answer}\n").as_bytes()).await;
                    }
                    let _ = got_tx.send(line).await;
                }
                line = lines_out.recv() => {
                    let Some(line) = line else { return };
                    if writer.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    (to_pool, got)
}

async fn next_line(got: &mut mpsc::Receiver<String>) -> Value {
    let line = tokio::time::timeout(WAIT, got.recv())
        .await
        .expect("a line from poolbench in time")
        .expect("server running");
    serde_json::from_str(&line).expect("JSON")
}

async fn next_tip(inbound: &mut mpsc::Receiver<Inbound>) -> TipAnnouncement {
    let message = tokio::time::timeout(WAIT, inbound.recv())
        .await
        .expect("a tip in time")
        .expect("hub running");
    match message.message {
        RelayMessage::Tip(tip) => tip,
        other => panic!("expected a tip, got {other:?}"),
    }
}

/// A relay client in the jobmaster's place, linked once poolbench counts the link.
async fn relay_client(relay: &str, status: &Path) -> (RelayHub, mpsc::Receiver<Inbound>) {
    let key = PresharedKey::new(&KEY).expect("key");
    let (hub, inbound) = RelayHub::new(key, DEFAULT_MAX_BODY);
    hub.connect(relay.to_owned());
    // poolbench only sends to links it has accepted: wait until its status shows ours.
    wait_status(status, "the relay link", |s| s["relay_links"] == 1).await;
    (hub, inbound)
}

#[tokio::test]
async fn a_rival_moving_first_becomes_a_tip_and_garbage_does_not_break_the_watch() {
    let dir = temp_dir("tips");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (to_pool, mut got) = stratum_server(listener).await;
    let relay = free_address();
    let (config, status) = write_config(&dir, &relay, port);
    let poolbench = Poolbench::start(&config);

    let subscribe = next_line(&mut got).await;
    assert_eq!(
        subscribe,
        json!({"id": 1, "method": "mining.subscribe", "params": ["ironpool-poolbench/0.1"]})
    );
    let authorize = next_line(&mut got).await;
    assert_eq!(authorize["method"], "mining.authorize");
    assert_eq!(authorize["params"], json!(["watcher", "x"]));
    let (_hub, mut inbound) = relay_client(&relay, &status).await;

    // Height 101 on P1, before the authorize answer (some pools send the job at once).
    let (p1, p1_stratum) = prev_hash(1);
    let branch = "aa".repeat(32);
    let line = notify(
        "1",
        &p1_stratum,
        &coinb1(101),
        &[&branch],
        "1d00ffff",
        "6650f3a1",
    );
    to_pool.send(line).await.expect("server");
    let tip = next_tip(&mut inbound).await;
    assert_eq!(tip.source, TipSource::Poolbench);
    assert_eq!(tip.via, "rival");
    assert_eq!(tip.height, 100);
    assert_eq!(tip.hash, p1, "internal byte order");
    assert_eq!(tip.next_bits, Some(0x1d00_ffff));
    assert_eq!(tip.time, 0x6650_f3a1);
    assert_eq!(tip.header, None);
    to_pool
        .send(json!({"id": 2, "result": true, "error": null}).to_string())
        .await
        .expect("server");

    // Garbage, then height 102 on P2: the tip still comes, on the same connection.
    for garbage in [
        "this is not json".to_owned(),
        json!({"id": null, "method": "mining.notify", "params": ["2", "ab", "cd"]}).to_string(),
        notify("3", &p1_stratum, "zz", &[], "1d00ffff", "6650f3a2"),
    ] {
        to_pool.send(garbage).await.expect("server");
    }
    let (p2, p2_stratum) = prev_hash(2);
    let line = notify("4", &p2_stratum, &coinb1(102), &[], "1d00fffe", "6650f3b0");
    to_pool.send(line).await.expect("server");
    let tip = next_tip(&mut inbound).await;
    assert_eq!((tip.height, tip.hash), (101, p2));
    assert_eq!(tip.next_bits, Some(0x1d00_fffe));

    // Height 102 again: the full job on P2, then a competing block at the same height. Neither is
    // a new tip; the tip for 103 that follows proves both were read before it.
    let (_, p3_stratum) = prev_hash(3);
    let full = notify(
        "5",
        &p2_stratum,
        &coinb1(102),
        &[&branch],
        "1d00fffe",
        "6650f3b5",
    );
    let competing = notify(
        "6",
        &p3_stratum,
        &coinb1(102),
        &[&branch],
        "1d00fffe",
        "6650f3b6",
    );
    to_pool.send(full).await.expect("server");
    to_pool.send(competing).await.expect("server");
    let (p4, p4_stratum) = prev_hash(4);
    let line = notify(
        "7",
        &p4_stratum,
        &coinb1(103),
        &[&branch],
        "1d00fffe",
        "6650f3c0",
    );
    to_pool.send(line).await.expect("server");
    let tip = next_tip(&mut inbound).await;
    assert_eq!(
        (tip.height, tip.hash),
        (102, p4),
        "no tip between 101 and 102"
    );

    let s = wait_status(&status, "the last job booked", |s| {
        s["pools"][0]["height"] == 102 && s["pools"][0]["authorized"] == true
    })
    .await;
    let pool = &s["pools"][0];
    assert_eq!(pool["name"], "rival");
    assert_eq!(pool["connected"], true);
    assert_eq!(pool["bad_messages"], 3);
    assert_eq!(pool["first_count"], 3);
    assert_eq!(pool["disconnects"], 0);
    assert_eq!(s["tips_announced"], 3);
    assert_eq!(s["heights"][0]["height"], 102);
    assert_eq!(s["heights"][0]["first"], "rival");
    // The empty job at 102 (clean, no branch) and the full one after it: one SPV measurement.
    assert_eq!(s["spv_ms"]["rival"][0]["height"], 102);

    let log = poolbench.log();
    assert!(log.contains("competing tip"), "{log}");
    assert!(log.contains("bad line from the pool ignored"), "{log}");
    assert!(log.contains("rival"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    drop(poolbench);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_line_over_64_kib_drops_the_connection_and_poolbench_comes_back() {
    let dir = temp_dir("long-line");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let relay = free_address();
    let (config, status) = write_config(&dir, &relay, port);
    let poolbench = Poolbench::start(&config);

    let accept = || async {
        let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("poolbench connects in time")
            .expect("accept");
        stream
    };
    let mut first: TcpStream = accept().await;
    let mut line = vec![b'x'; 70 * 1024];
    line.push(b'\n');
    // poolbench may close before all of it is written.
    let _ = first.write_all(&line).await;
    // The connection ends (EOF or reset), and poolbench connects again.
    let mut reader = BufReader::new(first);
    let mut sink = Vec::new();
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            sink.clear();
            match reader.read_until(b'\n', &mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "poolbench kept the connection");
    let second = accept().await;
    let mut lines = BufReader::new(second).lines();
    let subscribe = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("subscribe in time")
        .expect("read")
        .expect("a line");
    assert!(subscribe.contains("mining.subscribe"), "{subscribe}");

    wait_status(&status, "the disconnect counted, connected again", |s| {
        s["pools"][0]["disconnects"] == 1 && s["pools"][0]["connected"] == true
    })
    .await;
    let log = poolbench.log();
    assert!(log.contains("over the maximum"), "{log}");
    // The length read when poolbench gave up (the log may be coloured around `length=`).
    assert!(log.contains("65537"), "{log}");
    drop(poolbench);
    let _ = std::fs::remove_dir_all(&dir);
}
