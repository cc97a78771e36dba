//! The jobmaster's configuration: the documented example loads, and each bad value stops the
//! process with exit code 2 and a message naming the key, the value and what was expected.

use ironpool_controlplane::config::jobmaster::JobmasterConfig;
use ironpool_controlplane::config::ConfigError;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example() -> String {
    std::fs::read_to_string(repo().join("conf/jobmaster.toml")).expect("conf/jobmaster.toml")
}

fn load_text(text: &str) -> Result<(), ConfigError> {
    let dir = std::env::temp_dir().join(format!("ironpool-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{:x}.toml", text.len() ^ (text.as_ptr() as usize)));
    std::fs::write(&path, text).expect("write");
    let result = JobmasterConfig::load(&path).map(|_| ());
    let _ = std::fs::remove_file(&path);
    result
}

#[test]
fn the_documented_examples_load() {
    for file in ["conf/jobmaster.toml", "conf/regtest/jobmaster.toml"] {
        let settings =
            JobmasterConfig::load(&repo().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!settings.nodes.is_empty());
    }
    let settings = JobmasterConfig::load(&repo().join("conf/jobmaster.toml")).expect("loads");
    // Defaults as documented.
    assert_eq!(settings.poll_interval.as_millis(), 100);
    assert_eq!(settings.refresh_interval.as_secs(), 30);
    assert_eq!(settings.job_params.extranonce.extranonce1, 4);
    assert_eq!(settings.job_params.extranonce.extranonce2, 8);
    assert_eq!(settings.job_params.version_mask, 0x1fff_e000);
}

fn invalid(text: &str) -> (String, String, String) {
    match load_text(text) {
        Err(ConfigError::Invalid {
            key,
            value,
            expected,
            ..
        }) => (key, value, expected),
        other => panic!("expected an invalid key, got {other:?}"),
    }
}

#[test]
fn each_bad_value_names_its_key() {
    let base = example();
    let cases = [
        ("network = \"bitcoin\"", "network = \"bitcoinz\"", "network"),
        (
            "url = \"http://127.0.0.1:8332/\"",
            "url = \"https://x/\"",
            "node[0].url",
        ),
        ("timeout_ms = 10000", "timeout_ms = 0", "node[0].timeout_ms"),
        (
            "poll_interval_ms = 100 ",
            "poll_interval_ms = 500 ",
            "tip.poll_interval_ms",
        ),
        (
            "extranonce2_size = 8",
            "extranonce2_size = 1",
            "coinbase.extranonce2_size",
        ),
        (
            "version_mask = \"1fffe000\"",
            "version_mask = \"ffffffff\"",
            "jobs.version_mask",
        ),
        (
            "version_mask = \"1fffe000\"",
            "version_mask = \"xyz\"",
            "jobs.version_mask",
        ),
        (
            "ntime_roll_secs = 600",
            "ntime_roll_secs = 9000",
            "jobs.ntime_roll_secs",
        ),
        (
            "job_ring_slots = 64",
            "job_ring_slots = 63",
            "rings.job_ring_slots",
        ),
        ("shards = [0, 1]", "shards = [0, 0]", "rings.shards[1]"),
        (
            "submit_attempts = 5",
            "submit_attempts = 0",
            "blocks.submit_attempts",
        ),
        (
            "weight = 1                    # >= 1",
            "weight = 0",
            "payout[0].weight",
        ),
    ];
    for (from, to, key) in cases {
        assert!(base.contains(from), "example lacks {from:?}");
        let (k, value, expected) = invalid(&base.replacen(from, to, 1));
        assert_eq!(k, key, "for {to}");
        assert!(!expected.is_empty());
        let shown = to
            .split('=')
            .nth(1)
            .map(str::trim)
            .unwrap_or_default()
            .trim_matches('"');
        // A list key reports the offending element.
        let shown = shown
            .trim_start_matches('[')
            .trim_end_matches(']')
            .rsplit(", ")
            .next()
            .unwrap_or_default();
        assert!(
            value.contains(shown),
            "value {value:?} should show {shown:?}"
        );
    }
}

#[test]
fn a_payout_address_of_another_network_is_refused() {
    let text = example().replacen("network = \"bitcoin\"", "network = \"regtest\"", 1);
    let (key, value, expected) = invalid(&text);
    assert_eq!(key, "payout[0].address");
    assert!(value.contains("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"));
    assert!(expected.contains("regtest"), "{expected}");
    // A broken checksum too.
    let text = example().replacen("kv8f3t4", "kv8f3t5", 1);
    assert_eq!(invalid(&text).0, "payout[0].address");
}

#[test]
fn too_many_payout_recipients_are_refused_at_start() {
    let many: String = (0..60)
        .map(|_| "[[payout]]\naddress = \"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0\"\n".to_owned())
        .collect();
    let (key, value, expected) = invalid(&format!("{}\n{many}", example()));
    assert_eq!(key, "payout");
    assert!(value.contains("61 recipients"), "{value}");
    assert!(expected.contains("weight"), "{expected}");
    // Ten fit (a P2TR output is 43 bytes; the node reserves 4,000 weight units, about 1,000 bytes).
    let some: String = many.lines().take(20).map(|l| format!("{l}\n")).collect();
    assert!(load_text(&format!("{}\n{some}", example())).is_ok());
}

#[test]
fn signet_is_refused() {
    let text = example().replacen("network = \"bitcoin\"", "network = \"signet\"", 1);
    assert_eq!(invalid(&text).0, "network");
}

#[test]
fn a_tag_too_long_is_refused_with_its_key() {
    let text = example().replacen(
        "tag = \"/ironpool/\"",
        &format!("tag = \"{}\"", "x".repeat(101)),
        1,
    );
    assert_eq!(invalid(&text).0, "coinbase.tag");
}

#[test]
fn unknown_keys_and_wrong_types_are_parse_errors_naming_the_key() {
    match load_text(&example().replacen("[tip]", "[tip]\npoll_intervall_ms = 5", 1)) {
        Err(ConfigError::Parse { message, .. }) => {
            assert!(message.contains("poll_intervall_ms"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match load_text(&example().replacen("timeout_ms = 10000", "timeout_ms = \"ten\"", 1)) {
        Err(ConfigError::Parse { message, .. }) => {
            assert!(message.contains("timeout_ms"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match load_text("this is not toml") {
        Err(ConfigError::Parse { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_binary_exits_2_naming_the_key_on_a_bad_config_and_on_an_unreadable_file() {
    let bin = env!("CARGO_BIN_EXE_ironpool-control");
    let dir = std::env::temp_dir().join(format!("ironpool-config-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        example().replacen("refresh_interval_secs = 30", "refresh_interval_secs = 0", 1),
    )
    .expect("write");
    let out = Command::new(bin)
        .args(["jobmaster", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tip.refresh_interval_secs") && stderr.contains("= 0"),
        "{stderr}"
    );

    let out = Command::new(bin)
        .args(["jobmaster", "--config"])
        .arg(dir.join("missing.toml"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));

    let good = repo().join("conf/jobmaster.toml");
    let out = Command::new(bin)
        .args(["jobmaster", "--check", "--config"])
        .arg(&good)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
