//! The gateway's configuration: the documented examples load, and each bad value stops the
//! process with exit code 2 naming the key, the value and what was expected.

use ironpool_dataplane::config::{ConfigError, GatewayConfig};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example() -> String {
    std::fs::read_to_string(repo().join("conf/gateway.toml")).expect("conf/gateway.toml")
}

fn load_text(name: &str, text: &str) -> Result<ironpool_dataplane::config::Gateway, ConfigError> {
    let dir = std::env::temp_dir().join(format!("ironpool-gwconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write");
    GatewayConfig::load(&path)
}

#[test]
fn the_documented_examples_load_with_their_defaults() {
    for file in ["conf/gateway.toml", "conf/regtest/gateway.toml"] {
        GatewayConfig::load(&repo().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let g = GatewayConfig::load(&repo().join("conf/gateway.toml")).expect("loads");
    assert_eq!(g.line_bytes_max, 16 * 1024);
    assert_eq!(g.version_mask, 0x1fff_e000);
    assert_eq!(g.ports[0].addrs.len(), 2, "IPv4 and IPv6");
    assert!(g.ports[0].addrs[1].is_ipv6());
    assert_eq!(g.worker_rules.user_bytes_max, 64);
}

#[test]
fn each_bad_value_names_its_key() {
    let base = example();
    let cases = [
        ("host_id = 0 ", "host_id = 256 ", "gateway.host_id"),
        ("process_id = 0 ", "process_id = 16 ", "gateway.process_id"),
        (
            "driver = \"io_uring\"",
            "driver = \"kqueue\"",
            "gateway.driver",
        ),
        (
            "uring_entries = 1024",
            "uring_entries = 1000",
            "gateway.uring_entries",
        ),
        (
            "share_ring_records = 65536",
            "share_ring_records = 100",
            "rings.share_ring_records",
        ),
        (
            "listen = [\"0.0.0.0:3333\", \"[::]:3333\"]",
            "listen = [\"localhost\"]",
            "port[0].listen[0]",
        ),
        (
            "difficulty = 65536",
            "difficulty = -1",
            "port[0].difficulty",
        ),
        (
            "min_difficulty = 0.0001",
            "min_difficulty = 0",
            "port[0].min_difficulty",
        ),
        (
            "line_bytes_max = 16384",
            "line_bytes_max = 10",
            "stratum.line_bytes_max",
        ),
        (
            "version_mask = \"1fffe000\"",
            "version_mask = \"ffffffff\"",
            "stratum.version_mask",
        ),
        (
            "user_chars = \"A-Za-z0-9_-\"",
            "user_chars = \"a b\"",
            "stratum.user_chars",
        ),
        (
            "user_bytes_max = 64",
            "user_bytes_max = 0",
            "stratum.user_bytes_max",
        ),
        ("hysteresis = 1.5", "hysteresis = 0.5", "vardiff.hysteresis"),
    ];
    for (i, (from, to, key)) in cases.iter().enumerate() {
        assert!(base.contains(from), "example lacks {from:?}");
        match load_text(&format!("case{i}"), &base.replacen(from, to, 1)) {
            Err(ConfigError::Invalid {
                key: k, expected, ..
            }) => {
                assert_eq!(&k, key, "for {to}");
                assert!(!expected.is_empty());
            }
            other => panic!("{to}: expected an invalid key, got {other:?}"),
        }
    }
    match load_text(
        "unknown",
        &base.replacen("[stratum]", "[stratum]\nline_bytes = 5", 1),
    ) {
        Err(ConfigError::Parse { message, .. }) => {
            assert!(message.contains("line_bytes"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_binary_exits_2_on_a_bad_config_and_checks_a_good_one() {
    let bin = env!("CARGO_BIN_EXE_ironpool-gateway");
    let dir = std::env::temp_dir().join(format!("ironpool-gwconfig-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        example().replacen("send_timeout_ms = 10000", "send_timeout_ms = 0", 1),
    )
    .expect("write");
    let out = Command::new(bin)
        .arg("--config")
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stratum.send_timeout_ms") && stderr.contains("= 0"),
        "{stderr}"
    );
    let out = Command::new(bin)
        .args(["--check", "--config"])
        .arg(repo().join("conf/gateway.toml"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
