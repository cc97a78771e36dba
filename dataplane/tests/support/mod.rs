//! A gateway in this process with one shard, fed by a job ring the test writes itself: the
//! protocol tests need no node, only jobs, and can publish clean jobs when they want.

#![allow(dead_code)]

use ironpool_dataplane::config::GatewayConfig;
use ironpool_dataplane::shard::{self, GatewayControl};
use ironpool_shared::ring::{job_ring_path, JobRing, JobRingConfig};
use ironpool_shared::work::{hash_difficulty, header_for_solution, JobRecord, Solution};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct TestGateway {
    pub addr: SocketAddr,
    pub control: Arc<GatewayControl>,
    pub ring: JobRing,
    pub dir: PathBuf,
    pub rings: PathBuf,
    next_job_id: u32,
}

/// A job from Bitcoin Core's regtest fixture with difficulty-1 bits, so that shares at the tiny
/// session difficulties used here are not blocks.
pub fn job(job_id: u32, clean: bool, prev_byte: u8) -> JobRecord {
    ironpool_bench::fixtures::job(job_id, clean, prev_byte, 0x1d00_ffff)
}

impl TestGateway {
    /// Starts a one-shard gateway; `extra` is appended to its TOML (e.g. a `[stratum]` table).
    pub fn start(name: &str, difficulty: f64, extra: &str) -> TestGateway {
        Self::start_with(name, difficulty, "", extra)
    }

    /// As `start`, with `gateway_keys` added to the `[gateway]` table.
    pub fn start_with(name: &str, difficulty: f64, gateway_keys: &str, extra: &str) -> TestGateway {
        let id = format!("{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("ironpool-gwtest-{id}"));
        let rings = PathBuf::from(format!("/dev/shm/ironpool-gwtest-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&rings);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::create_dir_all(&rings).expect("rings");
        let mut ring =
            JobRing::open(job_ring_path(&rings), &JobRingConfig::default()).expect("job ring");
        ring.publish(&job(1, true, 1).encode()).expect("publish");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let config = dir.join("gateway.toml");
        std::fs::write(
            &config,
            format!(
                "[gateway]\nshards = 1\npin_cores = false\n{gateway_keys}\n[rings]\ndir = \"{}\"\nspool_dir = \"{}\"\nshare_ring_records = 4096\n\
                 [[port]]\nlisten = [\"127.0.0.1:{port}\"]\ndifficulty = {difficulty}\nmin_difficulty = 0.0000001\n{extra}",
                rings.display(),
                dir.join("spool").display()
            ),
        )
        .expect("config");
        let settings = GatewayConfig::load(&config).expect("config loads");
        let control = Arc::new(GatewayControl::default());
        let _ = shard::start(Arc::new(settings), control.clone());
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "gateway never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        TestGateway {
            addr,
            control,
            ring,
            dir,
            rings,
            next_job_id: 2,
        }
    }

    /// Publishes a new job; a clean one on a new tip.
    pub fn publish(&mut self, clean: bool) -> JobRecord {
        let id = self.next_job_id;
        self.next_job_id += 1;
        let record = job(id, clean, if clean { id as u8 } else { 1 });
        self.ring.publish(&record.encode()).expect("publish");
        record
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.control
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = std::fs::remove_dir_all(&self.rings);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A line-oriented stratum client with timeouts.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Client { stream, reader }
    }

    pub fn send(&mut self, line: &str) {
        self.stream.write_all(line.as_bytes()).expect("write");
        self.stream.write_all(b"\n").expect("write");
    }

    /// The next line, without its newline; `None` when the server closed the connection.
    pub fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches('\n').to_owned()),
            Err(e) => panic!("no line from the gateway: {e}"),
        }
    }

    /// Whether the server closes the connection (EOF or reset) within the timeout.
    pub fn closed(&mut self) -> bool {
        let mut line = String::new();
        loop {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    /// configure + subscribe + authorize; returns extranonce1 and skips the replies, the first
    /// difficulty and the first job.
    pub fn handshake(&mut self, worker: &str) -> Vec<u8> {
        self.send(r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff"}]}"#);
        self.line().expect("configure reply");
        self.send(r#"{"id":2,"method":"mining.subscribe","params":["test/1"]}"#);
        let reply: serde_json::Value =
            serde_json::from_str(&self.line().expect("subscribe reply")).expect("json");
        let en1 = bitcoin::hex::FromHex::from_hex(reply["result"][1].as_str().expect("en1"))
            .expect("hex");
        self.send(&format!(
            r#"{{"id":3,"method":"mining.authorize","params":["{worker}","x"]}}"#
        ));
        assert_eq!(
            self.line().as_deref(),
            Some(r#"{"id":3,"result":true,"error":null}"#)
        );
        let diff = self.line().expect("difficulty");
        assert!(diff.contains("mining.set_difficulty"), "{diff}");
        let notify = self.line().expect("notify");
        assert!(notify.contains("mining.notify"), "{notify}");
        en1
    }
}

/// A nonce whose header for `job` has a difficulty within `[min, max)`.
pub fn find_share(
    job: &JobRecord,
    en1: &[u8],
    en2: &[u8],
    version: u32,
    min: f64,
    max: f64,
) -> Solution {
    for nonce in 0..50_000_000u32 {
        let solution = Solution {
            extranonce1: en1.to_vec(),
            extranonce2: en2.to_vec(),
            ntime: job.ntime,
            nonce,
            version,
        };
        let hash = header_for_solution(job, &solution)
            .expect("sizes")
            .block_hash();
        let d = hash_difficulty(&bitcoin::hashes::Hash::to_byte_array(hash));
        if d >= min && d < max {
            return solution;
        }
    }
    panic!("no nonce in range");
}

/// The `mining.submit` line for a solution.
pub fn submit_line(
    id: u64,
    worker: &str,
    job: &JobRecord,
    s: &Solution,
    version_bits: Option<u32>,
) -> String {
    let en2: String = s.extranonce2.iter().map(|b| format!("{b:02x}")).collect();
    let mut params = format!(
        r#""{worker}","{:x}","{en2}","{:08x}","{:08x}""#,
        job.job_id, s.ntime, s.nonce
    );
    if let Some(bits) = version_bits {
        params.push_str(&format!(r#","{bits:08x}""#));
    }
    format!(r#"{{"id":{id},"method":"mining.submit","params":[{params}]}}"#)
}
