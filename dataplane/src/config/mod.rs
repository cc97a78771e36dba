//! The gateway's configuration (`conf/gateway.toml` documents every key with its default).
//!
//! Serde checks the shape (unknown keys refused, with the key's path); [`GatewayConfig::validate`]
//! checks meaning and names the key, the value and what was expected.

use ironpool_shared::alert::AlertConfig;
use ironpool_shared::config::AlertSection;
use ironpool_shared::stratum::{CharSet, WorkerNameRules};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ironpool_shared::config::{ConfigError, InvalidKey};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    #[serde(default)]
    pub gateway: ProcessConfig,
    #[serde(default)]
    pub rings: RingsConfig,
    /// Listening ports, each with its own starting difficulty.
    #[serde(rename = "port")]
    pub ports: Vec<PortConfig>,
    #[serde(default)]
    pub stratum: StratumConfig,
    #[serde(default)]
    pub vardiff: VardiffSettings,
    /// Error-level events to alertcenter; none when absent.
    pub alert: Option<AlertSection>,
}

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    /// Shards (threads, one io_uring runtime each); 0 = one per core.
    #[serde(default)]
    pub shards: usize,
    /// Pin shard i to core i.
    #[serde(default = "yes")]
    pub pin_cores: bool,
    /// This host's id, 0..=255: part of every extranonce1.
    #[serde(default)]
    pub host_id: u16,
    /// This gateway process's id on the host, 0..=15: part of every extranonce1 and of its share
    /// ring ids (`process_id * 16 + shard`).
    #[serde(default)]
    pub process_id: u16,
    /// `io_uring`, or `epoll` only when asked for (never a silent fallback).
    #[serde(default = "default_driver")]
    pub driver: String,
    /// Entries of each shard's io_uring (locked memory: keep 256..=1024).
    #[serde(default = "default_uring_entries")]
    pub uring_entries: u32,
    /// On a clean stop, send every session `client.reconnect` to this `host:port` (another
    /// gateway, or this one after a restart) before closing it. Unset: just close.
    #[serde(default)]
    pub stop_reconnect_to: Option<String>,
}

/// `[rings]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingsConfig {
    /// The jobmaster's `rings.dir`.
    #[serde(default = "default_ring_dir")]
    pub dir: PathBuf,
    /// Where a shard spools shares when its share ring is full.
    #[serde(default = "default_spool_dir")]
    pub spool_dir: PathBuf,
    /// Records per share ring (power of two).
    #[serde(default = "default_share_ring_records")]
    pub share_ring_records: u32,
}

/// One `[[port]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    /// Addresses to listen on, IPv4 and IPv6 (`"0.0.0.0:3333"`, `"[::]:3333"`).
    pub listen: Vec<String>,
    /// Starting share difficulty of sessions on this port.
    pub difficulty: f64,
    /// Lowest difficulty vardiff and `mining.suggest_difficulty` may set.
    #[serde(default = "default_min_difficulty")]
    pub min_difficulty: f64,
    /// Highest difficulty.
    #[serde(default = "default_max_difficulty")]
    pub max_difficulty: f64,
}

/// `[stratum]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StratumConfig {
    /// A line longer than this without a newline closes the connection.
    #[serde(default = "default_line_bytes_max")]
    pub line_bytes_max: usize,
    /// Errors in a row (bad requests, rejected shares) before the connection is closed.
    #[serde(default = "default_errors_in_row_max")]
    pub errors_in_row_max: u32,
    /// Bytes queued for a session (notifies and replies) before it is dropped as too slow.
    #[serde(default = "default_send_queue_bytes_max")]
    pub send_queue_bytes_max: usize,
    /// A session whose socket accepts nothing for this long is dropped.
    #[serde(default = "default_send_timeout_ms")]
    pub send_timeout_ms: u64,
    /// A connection that has not authorized after this long is closed.
    #[serde(default = "default_authorize_timeout_secs")]
    pub authorize_timeout_secs: u64,
    /// Version bits the pool lets miners roll (BIP310), hex; within 1fffe000.
    #[serde(default = "default_version_mask")]
    pub version_mask: String,
    /// How long the previous difficulty still counts after a change.
    #[serde(default = "default_difficulty_grace_ms")]
    pub difficulty_grace_ms: u64,
    /// Bytes allowed in the user part of `user.worker`, as ranges and characters (`A-Za-z0-9_-`).
    #[serde(default = "default_user_chars")]
    pub user_chars: String,
    /// Bytes allowed in the worker part.
    #[serde(default = "default_worker_chars")]
    pub worker_chars: String,
    /// Characters that split user from worker (at the first one found).
    #[serde(default = "default_separators")]
    pub worker_separators: String,
    /// Longest user part, 1..=64 bytes.
    #[serde(default = "default_name_bytes_max")]
    pub user_bytes_max: usize,
    /// Longest worker part, 0..=64 bytes.
    #[serde(default = "default_name_bytes_max")]
    pub worker_bytes_max: usize,
    /// Worker name given to `user` alone (no separator).
    #[serde(default = "default_worker_name")]
    pub default_worker: String,
}

/// `[vardiff]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VardiffSettings {
    /// Seconds between shares vardiff aims for.
    #[serde(default = "default_target_interval_secs")]
    pub target_interval_secs: f64,
    /// How often difficulty is re-evaluated, with or without shares.
    #[serde(default = "default_retarget_secs")]
    pub retarget_secs: f64,
    /// Change only when the estimate is off by more than this ratio.
    #[serde(default = "default_hysteresis")]
    pub hysteresis: f64,
}

fn yes() -> bool {
    true
}
fn default_driver() -> String {
    "io_uring".to_owned()
}
fn default_uring_entries() -> u32 {
    1024
}
fn default_ring_dir() -> PathBuf {
    PathBuf::from("/dev/shm/ironpool")
}
fn default_spool_dir() -> PathBuf {
    PathBuf::from("/var/lib/ironpool/spool")
}
fn default_share_ring_records() -> u32 {
    65_536
}
fn default_min_difficulty() -> f64 {
    0.0001
}
fn default_max_difficulty() -> f64 {
    1e15
}
fn default_line_bytes_max() -> usize {
    16 * 1024
}
fn default_errors_in_row_max() -> u32 {
    50
}
fn default_send_queue_bytes_max() -> usize {
    256 * 1024
}
fn default_send_timeout_ms() -> u64 {
    10_000
}
fn default_authorize_timeout_secs() -> u64 {
    60
}
fn default_version_mask() -> String {
    "1fffe000".to_owned()
}
/// Longer than the jobmaster's refresh (30 s): after a raise, a miner may keep working the job it
/// has at the old difficulty until the next new job, and those shares are honest.
fn default_difficulty_grace_ms() -> u64 {
    35_000
}
fn default_user_chars() -> String {
    "A-Za-z0-9_-".to_owned()
}
fn default_worker_chars() -> String {
    "A-Za-z0-9_.-".to_owned()
}
fn default_separators() -> String {
    ".".to_owned()
}
fn default_name_bytes_max() -> usize {
    64
}
fn default_worker_name() -> String {
    "default".to_owned()
}
fn default_target_interval_secs() -> f64 {
    10.0
}
fn default_retarget_secs() -> f64 {
    30.0
}
fn default_hysteresis() -> f64 {
    1.5
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            shards: 0,
            pin_cores: true,
            host_id: 0,
            process_id: 0,
            driver: default_driver(),
            uring_entries: default_uring_entries(),
            stop_reconnect_to: None,
        }
    }
}
impl Default for RingsConfig {
    fn default() -> Self {
        RingsConfig {
            dir: default_ring_dir(),
            spool_dir: default_spool_dir(),
            share_ring_records: default_share_ring_records(),
        }
    }
}
impl Default for StratumConfig {
    fn default() -> Self {
        StratumConfig {
            line_bytes_max: default_line_bytes_max(),
            errors_in_row_max: default_errors_in_row_max(),
            send_queue_bytes_max: default_send_queue_bytes_max(),
            send_timeout_ms: default_send_timeout_ms(),
            authorize_timeout_secs: default_authorize_timeout_secs(),
            version_mask: default_version_mask(),
            difficulty_grace_ms: default_difficulty_grace_ms(),
            user_chars: default_user_chars(),
            worker_chars: default_worker_chars(),
            worker_separators: default_separators(),
            user_bytes_max: default_name_bytes_max(),
            worker_bytes_max: default_name_bytes_max(),
            default_worker: default_worker_name(),
        }
    }
}
impl Default for VardiffSettings {
    fn default() -> Self {
        VardiffSettings {
            target_interval_secs: default_target_interval_secs(),
            retarget_secs: default_retarget_secs(),
            hysteresis: default_hysteresis(),
        }
    }
}

/// Which io driver the shards run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    IoUring,
    Epoll,
}

/// One listening port, checked.
#[derive(Debug, Clone)]
pub struct Port {
    pub addrs: Vec<SocketAddr>,
    pub difficulty: f64,
    pub min_difficulty: f64,
    pub max_difficulty: f64,
}

/// The gateway's settings once checked.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub shards: usize,
    pub pin_cores: bool,
    pub host_id: u16,
    pub process_id: u16,
    pub driver: Driver,
    pub uring_entries: u32,
    pub stop_reconnect_to: Option<(String, u16)>,
    pub ring_dir: PathBuf,
    pub spool_dir: PathBuf,
    pub share_ring_records: u32,
    pub ports: Vec<Port>,
    pub line_bytes_max: usize,
    pub errors_in_row_max: u32,
    pub send_queue_bytes_max: usize,
    pub send_timeout: Duration,
    pub authorize_timeout: Duration,
    pub version_mask: u32,
    pub difficulty_grace: Duration,
    pub worker_rules: WorkerNameRules,
    pub vardiff_target_interval: Duration,
    pub vardiff_retarget: Duration,
    pub vardiff_hysteresis: f64,
    /// Where error-level events go (`[alert]`, process `gateway`).
    pub alert: Option<AlertConfig>,
}

impl Gateway {
    /// The share ring id of shard `index` of this process.
    pub fn shard_ring_id(&self, index: usize) -> u16 {
        self.process_id * 16 + index as u16
    }
}

fn invalid(
    key: impl Into<String>,
    value: impl std::fmt::Debug,
    expected: impl Into<String>,
) -> InvalidKey {
    InvalidKey::new(key, value, expected)
}

impl GatewayConfig {
    /// Loads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Gateway, ConfigError> {
        let raw: GatewayConfig = ironpool_shared::config::load(path)?;
        raw.validate()
            .map_err(|key| ConfigError::invalid(path, key))
    }

    fn validate(&self) -> Result<Gateway, InvalidKey> {
        let g = &self.gateway;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let shards = if g.shards == 0 {
            cores.min(16)
        } else {
            g.shards
        };
        if shards > 16 {
            return Err(invalid("gateway.shards", g.shards, "0 (one per core) to 16 per process; run more processes with other process_id values"));
        }
        if g.host_id > crate::extranonce::HOST_ID_MAX {
            return Err(invalid("gateway.host_id", g.host_id, "0 to 255"));
        }
        if g.process_id > crate::extranonce::PROCESS_ID_MAX {
            return Err(invalid("gateway.process_id", g.process_id, "0 to 15"));
        }
        let driver = match g.driver.as_str() {
            "io_uring" => Driver::IoUring,
            "epoll" => Driver::Epoll,
            other => return Err(invalid("gateway.driver", other, "io_uring or epoll")),
        };
        if !(256..=4096).contains(&g.uring_entries) || !g.uring_entries.is_power_of_two() {
            return Err(invalid(
                "gateway.uring_entries",
                g.uring_entries,
                "a power of two from 256 to 4096 (locked memory)",
            ));
        }
        let stop_reconnect_to = match &g.stop_reconnect_to {
            None => None,
            Some(target) => {
                let parsed = target
                    .rsplit_once(':')
                    .and_then(|(host, port)| {
                        Some((
                            host.trim_matches(|c| c == '[' || c == ']').to_owned(),
                            port.parse::<u16>().ok()?,
                        ))
                    })
                    .filter(|(host, port)| !host.is_empty() && *port != 0);
                Some(
                    parsed
                        .ok_or_else(|| invalid("gateway.stop_reconnect_to", target, "host:port"))?,
                )
            }
        };
        let r = &self.rings;
        if !r.share_ring_records.is_power_of_two()
            || !(64..=1 << 20).contains(&r.share_ring_records)
        {
            return Err(invalid(
                "rings.share_ring_records",
                r.share_ring_records,
                "a power of two from 64 to 1048576",
            ));
        }
        if self.ports.is_empty() {
            return Err(invalid("port", "(none)", "at least one [[port]]"));
        }
        let mut ports = Vec::with_capacity(self.ports.len());
        for (i, p) in self.ports.iter().enumerate() {
            if p.listen.is_empty() {
                return Err(invalid(
                    format!("port[{i}].listen"),
                    "[]",
                    "at least one address",
                ));
            }
            let mut addrs = Vec::with_capacity(p.listen.len());
            for (j, a) in p.listen.iter().enumerate() {
                let addr = a.parse::<SocketAddr>().map_err(|_| {
                    invalid(
                        format!("port[{i}].listen[{j}]"),
                        a,
                        "an address such as 0.0.0.0:3333 or [::]:3333",
                    )
                })?;
                addrs.push(addr);
            }
            let diff_ok = |d: f64| d.is_finite() && d > 0.0;
            if !diff_ok(p.min_difficulty) {
                return Err(invalid(
                    format!("port[{i}].min_difficulty"),
                    p.min_difficulty,
                    "a finite number > 0",
                ));
            }
            if !diff_ok(p.max_difficulty) || p.max_difficulty < p.min_difficulty {
                return Err(invalid(
                    format!("port[{i}].max_difficulty"),
                    p.max_difficulty,
                    "a finite number ≥ min_difficulty",
                ));
            }
            if !diff_ok(p.difficulty)
                || p.difficulty < p.min_difficulty
                || p.difficulty > p.max_difficulty
            {
                return Err(invalid(
                    format!("port[{i}].difficulty"),
                    p.difficulty,
                    "a number between min_difficulty and max_difficulty",
                ));
            }
            ports.push(Port {
                addrs,
                difficulty: p.difficulty,
                min_difficulty: p.min_difficulty,
                max_difficulty: p.max_difficulty,
            });
        }
        let s = &self.stratum;
        if !(256..=1 << 20).contains(&s.line_bytes_max) {
            return Err(invalid(
                "stratum.line_bytes_max",
                s.line_bytes_max,
                "256 to 1048576 bytes",
            ));
        }
        if s.errors_in_row_max == 0 {
            return Err(invalid(
                "stratum.errors_in_row_max",
                s.errors_in_row_max,
                "at least 1",
            ));
        }
        if s.send_queue_bytes_max < 4096 {
            return Err(invalid(
                "stratum.send_queue_bytes_max",
                s.send_queue_bytes_max,
                "at least 4096 bytes (a notify is about 1.5 KB)",
            ));
        }
        if s.send_timeout_ms == 0 {
            return Err(invalid(
                "stratum.send_timeout_ms",
                s.send_timeout_ms,
                "at least 1",
            ));
        }
        let version_mask = u32::from_str_radix(s.version_mask.trim_start_matches("0x"), 16)
            .ok()
            .filter(|m| m & !0x1fff_e000 == 0)
            .ok_or_else(|| {
                invalid(
                    "stratum.version_mask",
                    &s.version_mask,
                    "hex bits within 1fffe000 (BIP320)",
                )
            })?;
        let charset = |key: &str, spec: &str| {
            CharSet::from_spec(spec).map_err(|c| {
                invalid(
                    format!("stratum.{key}"),
                    spec,
                    format!("ranges and characters such as A-Za-z0-9_- (cannot use {c:?})"),
                )
            })
        };
        let worker_rules = WorkerNameRules {
            user_chars: charset("user_chars", &s.user_chars)?,
            worker_chars: charset("worker_chars", &s.worker_chars)?,
            separators: charset("worker_separators", &s.worker_separators)?,
            user_bytes_max: s.user_bytes_max,
            worker_bytes_max: s.worker_bytes_max,
            default_worker: s.default_worker.clone(),
        };
        worker_rules.validate().map_err(|(key, expected)| {
            let value = match key {
                "user_bytes_max" => s.user_bytes_max.to_string(),
                "worker_bytes_max" => s.worker_bytes_max.to_string(),
                "default_worker" => s.default_worker.clone(),
                _ => String::new(),
            };
            // The rules name their own fields; the config key of `separators` differs.
            let key = if key == "separators" {
                "worker_separators"
            } else {
                key
            };
            invalid(format!("stratum.{key}"), value, expected)
        })?;
        let v = &self.vardiff;
        if !(v.target_interval_secs.is_finite() && v.target_interval_secs >= 0.1) {
            return Err(invalid(
                "vardiff.target_interval_secs",
                v.target_interval_secs,
                "at least 0.1 seconds",
            ));
        }
        if !(v.retarget_secs.is_finite() && v.retarget_secs >= 0.1) {
            return Err(invalid(
                "vardiff.retarget_secs",
                v.retarget_secs,
                "at least 0.1 seconds",
            ));
        }
        if !(v.hysteresis.is_finite() && v.hysteresis >= 1.0) {
            return Err(invalid("vardiff.hysteresis", v.hysteresis, "a ratio ≥ 1"));
        }
        let alert = self
            .alert
            .as_ref()
            .map(|a| a.validate("gateway"))
            .transpose()?;
        Ok(Gateway {
            shards,
            pin_cores: g.pin_cores,
            host_id: g.host_id,
            process_id: g.process_id,
            driver,
            uring_entries: g.uring_entries,
            stop_reconnect_to,
            ring_dir: r.dir.clone(),
            spool_dir: r.spool_dir.clone(),
            share_ring_records: r.share_ring_records,
            ports,
            line_bytes_max: s.line_bytes_max,
            errors_in_row_max: s.errors_in_row_max,
            send_queue_bytes_max: s.send_queue_bytes_max,
            send_timeout: Duration::from_millis(s.send_timeout_ms),
            authorize_timeout: Duration::from_secs(s.authorize_timeout_secs),
            version_mask,
            difficulty_grace: Duration::from_millis(s.difficulty_grace_ms),
            worker_rules,
            vardiff_target_interval: Duration::from_secs_f64(v.target_interval_secs),
            vardiff_retarget: Duration::from_secs_f64(v.retarget_secs),
            vardiff_hysteresis: v.hysteresis,
            alert,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use ironpool_shared::config::TempKeyFile as KeyFile;

    fn example(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../conf")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn gateway(text: &str) -> Result<Gateway, InvalidKey> {
        ironpool_shared::config::parse::<GatewayConfig>(Path::new("gateway.toml"), text)
            .expect("parses")
            .validate()
    }

    fn alert_table(address: &str, key_file: &Path, host: &str) -> String {
        format!(
            "\n[alert]\naddress = {address:?}\nkey_file = {:?}\nhost = {host:?}\n",
            key_file.display().to_string()
        )
    }

    #[test]
    fn the_examples_load_without_alerts() {
        for name in ["gateway.toml", "regtest/gateway.toml"] {
            let settings = gateway(&example(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(settings.alert.is_none(), "{name}");
        }
    }

    #[test]
    fn the_commented_alert_table_is_valid() {
        let text = example("gateway.toml");
        let block_at = text.find("# [alert]\n").expect("a commented-out [alert]");
        // The table's lines, uncommented, with the key file pointed at a real one.
        let key = KeyFile::new(b"0123456789abcdef\n");
        let mut table = String::new();
        for line in text[block_at..].lines() {
            let Some(bare) = line
                .strip_prefix("# ")
                .filter(|b| b.starts_with(|c: char| c == '[' || c.is_ascii_lowercase()))
            else {
                break;
            };
            table.push_str(bare);
            table.push('\n');
        }
        let example_key = "\"/etc/ironpool/alert.key\"";
        assert!(table.contains(example_key), "{table}");
        let table = table.replace(example_key, &format!("{:?}", key.0.display().to_string()));
        let alert = gateway(&format!("{}\n{table}", &text[..block_at]))
            .expect("valid")
            .alert
            .expect("[alert]");
        assert_eq!(alert.address, "10.0.0.5:4100");
        assert_eq!(alert.host, "pool-eu-1");
        assert_eq!(alert.process, "gateway");
    }

    #[test]
    fn a_bad_alert_table_is_refused_naming_the_key() {
        let key = KeyFile::new(b"0123456789abcdef");
        let short = KeyFile::new(b"12345\n");
        let missing = std::env::temp_dir().join("ironpool-gateway-no-such-key");
        let base = example("gateway.toml");
        for (table, name) in [
            (
                alert_table("10.0.0.5:4100", &missing, "h"),
                "alert.key_file",
            ),
            (
                alert_table("10.0.0.5:4100", &short.0, "h"),
                "alert.key_file",
            ),
            (alert_table("10.0.0.5:4100", &key.0, ""), "alert.host"),
            (alert_table("10.0.0.5:0", &key.0, "h"), "alert.address"),
        ] {
            let e = gateway(&(base.clone() + &table)).expect_err("refused");
            assert_eq!(e.key, name, "{table}");
        }
        // Through the file, as the process reports it.
        let path =
            std::env::temp_dir().join(format!("ironpool-gateway-{}.toml", std::process::id()));
        std::fs::write(&path, base + &alert_table("10.0.0.5:4100", &short.0, "h")).expect("write");
        let error = GatewayConfig::load(&path).expect_err("refused").to_string();
        let _ = std::fs::remove_file(&path);
        assert!(error.contains("key `alert.key_file`"), "{error}");
    }
}
