//! End to end with real regtest nodes: jobmaster → job ring → gateway (2 shards) → simulated
//! miners over TCP; the blocks they find go back through the share rings and the jobmaster, and
//! the nodes accept them. The shares the gateway accepted are exactly the ones the miners were
//! told were accepted.

use ironpool_bench::regtest::{RegtestNodes, RegtestOptions};
use ironpool_bench::sim_miner::{SimMiner, SimMinerConfig};
use ironpool_controlplane::config::jobmaster::JobmasterConfig;
use ironpool_dataplane::config::GatewayConfig;
use ironpool_dataplane::shard::{self, GatewayControl};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn miners_on_the_gateway_find_blocks_the_nodes_accept() {
    let nodes = RegtestNodes::start(RegtestOptions {
        nodes: 2,
        cookie_auth: false,
        zmq: true,
    })
    .expect("regtest nodes");
    let n0 = &nodes.nodes()[0];
    let dir = std::env::temp_dir().join(format!("ironpool-gw-e2e-{}", std::process::id()));
    let rings = PathBuf::from(format!("/dev/shm/ironpool-gw-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&rings);
    std::fs::create_dir_all(&dir).expect("dir");

    let jm_config = dir.join("jobmaster.toml");
    std::fs::write(
        &jm_config,
        format!(
            "network = \"regtest\"\n[[node]]\nname = \"node0\"\nurl = \"{}\"\nuser = \"ironpool\"\npassword = \"ironpool\"\nzmq_hashblock = \"{}\"\n\
             [[payout]]\naddress = \"n1ESb9aqqxPZMG33uCvA9avKqHAtP5DBau\"\n[rings]\ndir = \"{}\"\nshards = [0, 1]\n[blocks]\ndir = \"{}\"\n",
            n0.rpc_url(),
            n0.zmq_endpoint.clone().expect("zmq"),
            rings.display(),
            dir.join("blocks").display()
        ),
    )
    .expect("jobmaster config");
    let settings = JobmasterConfig::load(&jm_config).expect("jobmaster config loads");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let _ = rt.block_on(ironpool_controlplane::jobmaster::run(settings));
    });

    let port = free_port();
    let gw_config = dir.join("gateway.toml");
    std::fs::write(
        &gw_config,
        format!(
            "[gateway]\nshards = 2\n[rings]\ndir = \"{}\"\nspool_dir = \"{}\"\nshare_ring_records = 4096\n\
             [[port]]\nlisten = [\"127.0.0.1:{port}\"]\ndifficulty = 0.00005\nmin_difficulty = 0.00001\n",
            rings.display(),
            dir.join("spool").display()
        ),
    )
    .expect("gateway config");
    let gateway = GatewayConfig::load(&gw_config).expect("gateway config loads");
    let control = Arc::new(GatewayControl::default());
    let _shards = shard::start(Arc::new(gateway), control.clone());

    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "gateway never listened");
        std::thread::sleep(Duration::from_millis(50));
    }

    let start_height = n0.block_count().expect("height");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt.block_on(async {
        let mut cfg = SimMinerConfig::new(addr);
        cfg.connections = 10;
        cfg.hashrate_per_connection = 5_000.0;
        cfg.stop_after_blocks = Some(5);
        cfg.duration = Some(Duration::from_secs(120));
        let miner = SimMiner::start(cfg).expect("sim miner");
        miner.stopping().await;
        miner.stop().await
    });
    let stats = &report.stats;
    assert!(stats.blocks_found >= 5, "{}", report.result_line());
    assert_eq!(stats.shares.rejected.total(), 0, "{}", report.result_line());

    // Every block the miners found is held by the node: the jobmaster files each one in
    // accepted/ once the node took it (two found on one tip both count: the node keeps the
    // second as a side branch, `inconclusive`).
    let accepted = || {
        std::fs::read_dir(dir.join("blocks/accepted"))
            .map(|d| d.count() as u64)
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while accepted() < stats.blocks_found {
        assert!(
            Instant::now() < deadline,
            "{} of {} blocks accepted; {}",
            accepted(),
            stats.blocks_found,
            report.result_line()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(n0.block_count().expect("height") >= start_height + 5);
    // The gateway's count of accepted shares equals what the miners were told (counters are
    // published every second).
    std::thread::sleep(Duration::from_millis(1_500));
    let totals = control.totals();
    assert_eq!(
        totals.shares_accepted,
        stats.shares.accepted,
        "{:?} vs {}",
        totals,
        report.result_line()
    );
    assert_eq!(totals.blocks_found, stats.blocks_found);
    assert_eq!(totals.sessions_authorized, 10);

    control
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = std::fs::remove_dir_all(&rings);
    let _ = std::fs::remove_dir_all(&dir);
}
