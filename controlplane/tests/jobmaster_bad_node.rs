//! A node that answers garbage must not stop the jobmaster: it logs the field that is wrong and
//! keeps running, and takes the next template once the node answers properly again.
//!
//! A real node cannot be made to send a broken template, so this one fault uses a small in-test
//! HTTP server that speaks just enough JSON-RPC.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Serves `getbestblockhash` and `getblocktemplate`; the template lacks `height` until `fixed`.
fn fake_node(fixed: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let fixed = fixed.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut writer = stream;
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let request: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    let result = match request["method"].as_str() {
                        Some("getbestblockhash") => serde_json::json!(
                            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
                        ),
                        Some("getblocktemplate") => {
                            let mut t = serde_json::json!({
                                "version": 0x2000_0000u32,
                                "previousblockhash": "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
                                "transactions": [],
                                "coinbasevalue": 5_000_000_000u64,
                                "bits": "207fffff",
                                "curtime": 1_700_000_000u32,
                                "height": 1,
                            });
                            if !fixed.load(Ordering::Relaxed) {
                                t.as_object_mut().expect("object").remove("height");
                            }
                            t
                        }
                        _ => serde_json::Value::Null,
                    };
                    let reply =
                        serde_json::json!({"result": result, "error": null, "id": request["id"]})
                            .to_string();
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", reply.len());
                    if writer
                        .write_all(head.as_bytes())
                        .and_then(|_| writer.write_all(reply.as_bytes()))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn a_garbage_template_is_logged_with_its_field_and_the_jobmaster_keeps_running() {
    let fixed = Arc::new(AtomicBool::new(false));
    let port = fake_node(fixed.clone());
    let dir = std::env::temp_dir().join(format!("ironpool-bad-node-{}", std::process::id()));
    let rings = format!("/dev/shm/ironpool-bad-node-{}", std::process::id());
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("jobmaster.toml");
    std::fs::write(
        &config,
        format!(
            "network = \"regtest\"\n[[node]]\nname = \"liar\"\nurl = \"http://127.0.0.1:{port}/\"\nuser = \"u\"\npassword = \"p\"\n\
             [[payout]]\naddress = \"n1ESb9aqqxPZMG33uCvA9avKqHAtP5DBau\"\n[rings]\ndir = \"{rings}\"\nshards = [0]\n\
             [blocks]\ndir = \"{}\"\n",
            dir.join("blocks").display()
        ),
    )
    .expect("config");
    let log_path = dir.join("jobmaster.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ironpool-control"))
        .args(["jobmaster", "--config"])
        .arg(&config)
        .stderr(std::fs::File::create(&log_path).expect("log"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log().contains("block template field `height` = (missing)") {
        assert!(
            Instant::now() < deadline,
            "no error naming the field:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().expect("status").is_none(),
        "the jobmaster exited:\n{}",
        log()
    );

    // Once the node answers properly, the next poll publishes a job.
    fixed.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log().contains("new tip: clean job") {
        assert!(
            Instant::now() < deadline,
            "no job after the node recovered:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&rings);
}
