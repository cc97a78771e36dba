//! A gateway in this process with one shard, fed by a job ring the caller writes itself: tests of
//! the gateway and of the load generator need no node, only jobs, and publish clean jobs when they
//! want.

use crate::fixtures;
use ironpool_dataplane::config::GatewayConfig;
use ironpool_dataplane::shard::{self, GatewayControl};
use ironpool_shared::ring::{job_ring_path, JobRing, JobRingConfig};
use ironpool_shared::work::JobRecord;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A gateway with one shard in this process. For tests and benchmarks: it panics when the
/// machine cannot give it a directory, a ring or a port.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub control: Arc<GatewayControl>,
    pub ring: JobRing,
    pub dir: PathBuf,
    pub rings: PathBuf,
    next_job_id: u32,
    /// The previous-block byte of the current tip: a non-clean job stays on it.
    tip_byte: u8,
}

/// A job from Bitcoin Core's regtest fixture with difficulty-1 bits, so that shares at the tiny
/// session difficulties used here are not blocks.
pub fn job(job_id: u32, clean: bool, prev_byte: u8) -> JobRecord {
    fixtures::job(job_id, clean, prev_byte, 0x1d00_ffff)
}

impl TestGateway {
    /// Starts a one-shard gateway; `extra` is appended to its TOML (e.g. a `[stratum]` table).
    pub fn start(name: &str, difficulty: f64, extra: &str) -> TestGateway {
        Self::start_with(name, difficulty, "", extra)
    }

    /// As `start`, with `gateway_keys` added to the `[gateway]` table.
    pub fn start_with(name: &str, difficulty: f64, gateway_keys: &str, extra: &str) -> TestGateway {
        Self::start_ports(
            name,
            difficulty,
            difficulty.min(0.000_000_1),
            gateway_keys,
            extra,
        )
    }

    /// A gateway whose sessions keep `difficulty` for good (vardiff bounded to it): tests that
    /// credit shares exactly.
    pub fn start_fixed(name: &str, difficulty: f64) -> TestGateway {
        Self::start_ports(
            name,
            difficulty,
            difficulty,
            "",
            &format!("max_difficulty = {difficulty}\n"),
        )
    }

    fn start_ports(
        name: &str,
        difficulty: f64,
        min_difficulty: f64,
        gateway_keys: &str,
        extra: &str,
    ) -> TestGateway {
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
                 [[port]]\nlisten = [\"127.0.0.1:{port}\"]\ndifficulty = {difficulty}\nmin_difficulty = {}\n{extra}",
                rings.display(),
                dir.join("spool").display(),
                min_difficulty
            ),
        )
        .expect("config");
        let settings = GatewayConfig::load(&config).expect("config loads");
        let control = Arc::new(GatewayControl::default());
        let shards = shard::start(Arc::new(settings), control.clone());
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            if let Some(ended) = shards.iter().position(|s| s.is_finished()) {
                panic!("shard {ended} of the test gateway ended at start; see its log");
            }
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
            tip_byte: 1,
        }
    }

    /// Publishes a new job: a clean one on a new tip, or a non-clean one on the current tip.
    pub fn publish(&mut self, clean: bool) -> JobRecord {
        let id = self.next_job_id;
        self.next_job_id += 1;
        if clean {
            self.tip_byte = id as u8;
        }
        let record = job(id, clean, self.tip_byte);
        self.ring.publish(&record.encode()).expect("publish");
        record
    }

    /// As `publish`, with the network `bits` given (`0x207fffff`: every share is a block).
    pub fn publish_bits(&mut self, clean: bool, bits: u32) -> JobRecord {
        let id = self.next_job_id;
        self.next_job_id += 1;
        if clean {
            self.tip_byte = id as u8;
        }
        let record = fixtures::job(id, clean, self.tip_byte, bits);
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
