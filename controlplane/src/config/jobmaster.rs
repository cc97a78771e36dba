//! The jobmaster's configuration (`conf/jobmaster.toml` documents every key).

use super::{ConfigError, InvalidKey};
use crate::node::{NodeAuth, NodeEndpoint};
use bitcoin::Network;
use ironpool_shared::alert::AlertConfig;
use ironpool_shared::config::AlertSection;
use ironpool_shared::work::{ExtranonceSizes, JobParams, PayoutRecipient};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobmasterConfig {
    /// Which chain: `bitcoin`, `testnet`, `testnet4`, `signet` or `regtest`.
    pub network: String,
    /// Nodes, in order of preference for templates; blocks go to all of them.
    #[serde(rename = "node")]
    pub nodes: Vec<NodeConfig>,
    #[serde(default)]
    pub tip: TipConfig,
    #[serde(default)]
    pub coinbase: CoinbaseConfig,
    /// Who is paid by the coinbase.
    #[serde(rename = "payout")]
    pub payouts: Vec<PayoutConfig>,
    #[serde(default)]
    pub jobs: JobsConfig,
    #[serde(default)]
    pub rings: RingsConfig,
    #[serde(default)]
    pub blocks: BlocksConfig,
    /// Early tips from bitpeer, poolbench and blockmasters (empty-block jobs), and found blocks to
    /// them; none when absent.
    pub early_tips: Option<EarlyTipsConfig>,
    /// Error-level events to alertcenter; none when absent.
    pub alert: Option<AlertSection>,
}

/// `[early_tips]`: relay links to bitpeer, poolbench and blockmasters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyTipsConfig {
    /// The relay link key (at least 16 bytes), shared with those roles.
    pub key_file: PathBuf,
    /// Their relay addresses (`host:port`); the jobmaster connects and keeps reconnecting.
    pub connect: Vec<String>,
    /// How long to mine empty blocks on an announced tip the node has not taken, before going
    /// back to the node's template.
    #[serde(default = "default_empty_job_timeout_secs")]
    pub empty_job_timeout_secs: u64,
    /// How often the node is asked whether it has the announced tip while empty jobs run.
    #[serde(default = "default_catch_up_poll_ms")]
    pub catch_up_poll_ms: u64,
    /// Where the jobmaster writes what it learned about each block (JSON, every second).
    pub status_file: Option<PathBuf>,
}

/// One `[[node]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub name: String,
    /// `http://host:port/`.
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Path of the node's `.cookie` file; instead of `user` / `password`.
    pub cookie_file: Option<PathBuf>,
    #[serde(default = "default_rpc_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_max_response_mib")]
    pub max_response_mib: usize,
    /// The node's ZMQ `hashblock` publisher (`-zmqpubhashblock`), e.g. `tcp://127.0.0.1:28332`.
    pub zmq_hashblock: Option<String>,
}

impl NodeConfig {
    /// Checks the connection keys (`prefix` names the table in errors, e.g. `node[0]`) and builds
    /// the endpoint.
    pub fn endpoint(&self, prefix: &str) -> Result<NodeEndpoint, InvalidKey> {
        let n = self;
        let key = |k: &str| format!("{prefix}.{k}");
        if !n.url.starts_with("http://") {
            return Err(InvalidKey::new(
                key("url"),
                &n.url,
                "an http://host:port/ URL",
            ));
        }
        let auth = match (&n.user, &n.password, &n.cookie_file) {
            (Some(user), Some(password), None) => NodeAuth::UserPassword {
                user: user.clone(),
                password: password.clone(),
            },
            (None, None, Some(cookie)) => NodeAuth::CookieFile(cookie.clone()),
            _ => {
                return Err(InvalidKey::new(
                    key("user"),
                    n.user.as_deref().unwrap_or("(unset)"),
                    "either user and password, or cookie_file alone",
                ))
            }
        };
        if n.timeout_ms == 0 || n.timeout_ms > 600_000 {
            return Err(InvalidKey::new(
                key("timeout_ms"),
                n.timeout_ms,
                "1 to 600000 milliseconds",
            ));
        }
        if n.max_response_mib == 0 || n.max_response_mib > 4096 {
            return Err(InvalidKey::new(
                key("max_response_mib"),
                n.max_response_mib,
                "1 to 4096",
            ));
        }
        Ok(NodeEndpoint::new(n.name.clone(), n.url.clone(), auth)
            .with_timeout(Duration::from_millis(n.timeout_ms))
            .with_max_response_bytes(n.max_response_mib * 1024 * 1024))
    }
}

/// `[tip]`: how a new best block is noticed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TipConfig {
    /// `getbestblockhash` polling interval. With ZMQ configured, polling still runs as a safety
    /// net at `zmq_poll_interval_ms`.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    #[serde(default = "default_zmq_poll_interval_ms")]
    pub zmq_poll_interval_ms: u64,
    /// A new (non-clean) job from a fresh template at this interval, to pick up new transactions.
    #[serde(default = "default_refresh_interval_secs")]
    pub refresh_interval_secs: u64,
}

/// `[coinbase]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinbaseConfig {
    /// Pool tag in the coinbase scriptSig; cut to fit the 100-byte limit.
    #[serde(default = "default_tag")]
    pub tag: String,
    #[serde(default = "default_extranonce1_size")]
    pub extranonce1_size: usize,
    #[serde(default = "default_extranonce2_size")]
    pub extranonce2_size: usize,
}

/// One `[[payout]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutConfig {
    pub address: String,
    #[serde(default = "default_weight")]
    pub weight: u64,
}

/// `[jobs]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// Version bits miners may roll, hex; intersected with BIP320's `1fffe000`.
    #[serde(default = "default_version_mask")]
    pub version_mask: String,
    /// How far past the template time a share's ntime may go.
    #[serde(default = "default_ntime_roll_secs")]
    pub ntime_roll_secs: u32,
    /// Jobs kept per tip for late shares and blocks.
    #[serde(default = "default_keep_per_tip")]
    pub keep_per_tip: usize,
}

/// `[rings]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingsConfig {
    /// Directory of the ring files (a tmpfs: `/dev/shm/...`): `jobs.ring` and `shares-<id>.ring`.
    #[serde(default = "default_ring_dir")]
    pub dir: PathBuf,
    #[serde(default = "default_job_ring_slots")]
    pub job_ring_slots: u32,
    #[serde(default = "default_job_ring_slot_bytes")]
    pub job_ring_slot_bytes: u32,
    /// Gateway shard ids whose share rings are read for block candidates.
    #[serde(default = "default_shards")]
    pub shards: Vec<u16>,
}

/// `[blocks]`: found blocks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlocksConfig {
    /// Found blocks are written here before they are submitted, and kept until a node accepts them.
    #[serde(default = "default_block_dir")]
    pub dir: PathBuf,
    /// Attempts per node when the transport fails.
    #[serde(default = "default_submit_attempts")]
    pub submit_attempts: u32,
    /// Pause between attempts.
    #[serde(default = "default_submit_retry_ms")]
    pub submit_retry_ms: u64,
    /// `submitblock` to the nodes. Off, blocks reach them only through the relay links (bitpeer
    /// and blockmasters): for proving that path, never in production.
    #[serde(default = "default_true")]
    pub submit: bool,
}

fn default_rpc_timeout_ms() -> u64 {
    10_000
}
fn default_max_response_mib() -> usize {
    32
}
fn default_poll_interval_ms() -> u64 {
    100
}
fn default_zmq_poll_interval_ms() -> u64 {
    1_000
}
fn default_refresh_interval_secs() -> u64 {
    30
}
fn default_tag() -> String {
    "/ironpool/".to_owned()
}
fn default_extranonce1_size() -> usize {
    4
}
fn default_extranonce2_size() -> usize {
    8
}
fn default_weight() -> u64 {
    1
}
fn default_version_mask() -> String {
    "1fffe000".to_owned()
}
fn default_ntime_roll_secs() -> u32 {
    600
}
fn default_keep_per_tip() -> usize {
    16
}
fn default_ring_dir() -> PathBuf {
    PathBuf::from("/dev/shm/ironpool")
}
fn default_job_ring_slots() -> u32 {
    64
}
fn default_job_ring_slot_bytes() -> u32 {
    16 * 1024
}
fn default_shards() -> Vec<u16> {
    vec![0, 1]
}
fn default_block_dir() -> PathBuf {
    PathBuf::from("/var/lib/ironpool/blocks")
}
fn default_submit_attempts() -> u32 {
    5
}
fn default_submit_retry_ms() -> u64 {
    200
}
fn default_true() -> bool {
    true
}
fn default_empty_job_timeout_secs() -> u64 {
    30
}
fn default_catch_up_poll_ms() -> u64 {
    20
}

impl Default for TipConfig {
    fn default() -> Self {
        TipConfig {
            poll_interval_ms: default_poll_interval_ms(),
            zmq_poll_interval_ms: default_zmq_poll_interval_ms(),
            refresh_interval_secs: default_refresh_interval_secs(),
        }
    }
}
impl Default for CoinbaseConfig {
    fn default() -> Self {
        CoinbaseConfig {
            tag: default_tag(),
            extranonce1_size: default_extranonce1_size(),
            extranonce2_size: default_extranonce2_size(),
        }
    }
}
impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            version_mask: default_version_mask(),
            ntime_roll_secs: default_ntime_roll_secs(),
            keep_per_tip: default_keep_per_tip(),
        }
    }
}
impl Default for RingsConfig {
    fn default() -> Self {
        RingsConfig {
            dir: default_ring_dir(),
            job_ring_slots: default_job_ring_slots(),
            job_ring_slot_bytes: default_job_ring_slot_bytes(),
            shards: default_shards(),
        }
    }
}
impl Default for BlocksConfig {
    fn default() -> Self {
        BlocksConfig {
            dir: default_block_dir(),
            submit_attempts: default_submit_attempts(),
            submit_retry_ms: default_submit_retry_ms(),
            submit: true,
        }
    }
}

/// The jobmaster's settings once checked.
#[derive(Debug, Clone)]
pub struct Jobmaster {
    pub network: Network,
    pub nodes: Vec<NodeEndpoint>,
    /// ZMQ `hashblock` endpoints, with the node name each belongs to.
    pub zmq_hashblock: Vec<(String, String)>,
    pub poll_interval: Duration,
    pub refresh_interval: Duration,
    pub job_params: JobParams,
    pub keep_per_tip: usize,
    pub rings: RingsConfig,
    pub blocks: BlocksConfig,
    /// Relay links for early tips and found blocks.
    pub early_tips: Option<EarlyTips>,
    /// Where error-level events go (`[alert]`, process `jobmaster`).
    pub alert: Option<AlertConfig>,
}

/// `[early_tips]` once checked.
#[derive(Debug, Clone)]
pub struct EarlyTips {
    pub key: ironpool_shared::meta::PresharedKey,
    pub connect: Vec<String>,
    pub empty_job_timeout: Duration,
    pub catch_up_poll: Duration,
    pub status_file: Option<PathBuf>,
}

impl EarlyTipsConfig {
    fn validate(&self) -> Result<EarlyTips, InvalidKey> {
        let key = ironpool_shared::config::read_key(&self.key_file, "early_tips.key_file")?;
        for (i, addr) in self.connect.iter().enumerate() {
            if addr
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(InvalidKey::new(
                    format!("early_tips.connect[{i}]"),
                    addr,
                    "host:port",
                ));
            }
        }
        if self.connect.is_empty() {
            return Err(InvalidKey::new(
                "early_tips.connect",
                "[]",
                "at least one bitpeer, poolbench or blockmaster address",
            ));
        }
        if !(1..=600).contains(&self.empty_job_timeout_secs) {
            return Err(InvalidKey::new(
                "early_tips.empty_job_timeout_secs",
                self.empty_job_timeout_secs,
                "1 to 600 seconds",
            ));
        }
        if !(5..=1000).contains(&self.catch_up_poll_ms) {
            return Err(InvalidKey::new(
                "early_tips.catch_up_poll_ms",
                self.catch_up_poll_ms,
                "5 to 1000 milliseconds",
            ));
        }
        Ok(EarlyTips {
            key,
            connect: self.connect.clone(),
            empty_job_timeout: Duration::from_secs(self.empty_job_timeout_secs),
            catch_up_poll: Duration::from_millis(self.catch_up_poll_ms),
            status_file: self.status_file.clone(),
        })
    }
}

pub(crate) fn network(name: &str) -> Result<Network, InvalidKey> {
    match name {
        "bitcoin" | "mainnet" | "main" => Ok(Network::Bitcoin),
        "testnet" | "testnet3" | "test" => Ok(Network::Testnet),
        "testnet4" => Ok(Network::Testnet4),
        // Signet blocks need a signet solution in the coinbase, which this pool does not build.
        "signet" => Err(InvalidKey::new("network", name, "bitcoin, testnet, testnet4 or regtest (signet blocks need a signet solution this pool does not build)")),
        "regtest" => Ok(Network::Regtest),
        other => Err(InvalidKey::new(
            "network",
            other,
            "one of bitcoin, testnet, testnet4, regtest",
        )),
    }
}

impl JobmasterConfig {
    /// Loads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Jobmaster, ConfigError> {
        let raw: JobmasterConfig = super::load(path)?;
        raw.validate().map_err(|k| ConfigError::invalid(path, k))
    }

    /// Checks every key and builds the settings.
    pub fn validate(&self) -> Result<Jobmaster, InvalidKey> {
        let network = network(&self.network)?;
        if self.nodes.is_empty() {
            return Err(InvalidKey::new("node", "(none)", "at least one [[node]]"));
        }
        let mut nodes = Vec::with_capacity(self.nodes.len());
        let mut zmq = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let key = |k: &str| format!("node[{i}].{k}");
            if n.name.trim().is_empty() {
                return Err(InvalidKey::new(key("name"), &n.name, "a non-empty name"));
            }
            if self.nodes[..i].iter().any(|o| o.name == n.name) {
                return Err(InvalidKey::new(
                    key("name"),
                    &n.name,
                    "a name no other node has",
                ));
            }
            let endpoint = n.endpoint(&format!("node[{i}]"))?;
            if let Some(endpoint) = &n.zmq_hashblock {
                if !endpoint.starts_with("tcp://") {
                    return Err(InvalidKey::new(
                        key("zmq_hashblock"),
                        endpoint,
                        "a tcp://host:port endpoint",
                    ));
                }
                zmq.push((n.name.clone(), endpoint.clone()));
            }
            nodes.push(endpoint);
        }

        let tip = &self.tip;
        if !(10..=100).contains(&tip.poll_interval_ms) {
            return Err(InvalidKey::new(
                "tip.poll_interval_ms",
                tip.poll_interval_ms,
                "10 to 100 milliseconds",
            ));
        }
        if !(10..=60_000).contains(&tip.zmq_poll_interval_ms) {
            return Err(InvalidKey::new(
                "tip.zmq_poll_interval_ms",
                tip.zmq_poll_interval_ms,
                "10 to 60000 milliseconds",
            ));
        }
        if !(1..=600).contains(&tip.refresh_interval_secs) {
            return Err(InvalidKey::new(
                "tip.refresh_interval_secs",
                tip.refresh_interval_secs,
                "1 to 600 seconds",
            ));
        }
        let poll_interval = Duration::from_millis(if zmq.is_empty() {
            tip.poll_interval_ms
        } else {
            tip.zmq_poll_interval_ms
        });

        let cb = &self.coinbase;
        if cb.tag.len() > 100 {
            return Err(InvalidKey::new("coinbase.tag", &cb.tag, "at most 100 bytes (the whole coinbase scriptSig is limited to 100; longer tags are cut to what fits)"));
        }
        let extranonce = ExtranonceSizes {
            extranonce1: cb.extranonce1_size,
            extranonce2: cb.extranonce2_size,
        };
        if !ExtranonceSizes::EXTRANONCE1_RANGE.contains(&extranonce.extranonce1) {
            return Err(InvalidKey::new(
                "coinbase.extranonce1_size",
                cb.extranonce1_size,
                "2 to 8 bytes",
            ));
        }
        if !ExtranonceSizes::EXTRANONCE2_RANGE.contains(&extranonce.extranonce2) {
            return Err(InvalidKey::new(
                "coinbase.extranonce2_size",
                cb.extranonce2_size,
                "2 to 16 bytes",
            ));
        }

        if self.payouts.is_empty() {
            return Err(InvalidKey::new(
                "payout",
                "(none)",
                "at least one [[payout]] address",
            ));
        }
        let mut payouts = Vec::with_capacity(self.payouts.len());
        for (i, p) in self.payouts.iter().enumerate() {
            let recipient = PayoutRecipient::parse(&p.address, p.weight, network).map_err(|e| {
                let k = if p.weight == 0 { "weight" } else { "address" };
                let value = if p.weight == 0 {
                    p.weight.to_string()
                } else {
                    p.address.clone()
                };
                InvalidKey {
                    key: format!("payout[{i}].{k}"),
                    value: format!("{value:?}"),
                    expected: format!("a valid {} address with weight ≥ 1 ({e})", self.network),
                }
            })?;
            payouts.push(recipient);
        }

        // The heaviest coinbase these payouts can make (largest height push, every output at its
        // widest value, a witness commitment) must fit the weight the node leaves for it; else
        // every job would fail at run time.
        let widest: Vec<bitcoin::TxOut> = payouts
            .iter()
            .map(|p| bitcoin::TxOut {
                value: bitcoin::Amount::MAX_MONEY,
                script_pubkey: p.script_pubkey.clone(),
            })
            .collect();
        let commitment = bitcoin::ScriptBuf::from_bytes(
            [&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed][..], &[0; 32]].concat(),
        );
        let worst =
            ironpool_shared::work::CoinbaseParts::build(&ironpool_shared::work::CoinbaseSpec {
                height: u32::MAX,
                aux: &[],
                tag: cb.tag.as_bytes(),
                extranonce,
                payouts: &widest,
                witness_commitment: Some(&commitment),
            });
        if let Err(e) = worst {
            return Err(InvalidKey::new(
                "payout",
                format!("{} recipients", payouts.len()),
                format!("fewer payout recipients: {e}"),
            ));
        }

        let jobs = &self.jobs;
        let version_mask = u32::from_str_radix(jobs.version_mask.trim_start_matches("0x"), 16)
            .map_err(|_| {
                InvalidKey::new(
                    "jobs.version_mask",
                    &jobs.version_mask,
                    "8 hex digits such as 1fffe000",
                )
            })?;
        if version_mask & !ironpool_shared::work::job_builder::VERSION_ROLLING_MASK_MAX != 0 {
            return Err(InvalidKey::new(
                "jobs.version_mask",
                &jobs.version_mask,
                "bits within 1fffe000 (BIP320)",
            ));
        }
        if jobs.ntime_roll_secs > 7_000 {
            return Err(InvalidKey::new(
                "jobs.ntime_roll_secs",
                jobs.ntime_roll_secs,
                "0 to 7000 seconds (nodes refuse blocks over 2 hours ahead)",
            ));
        }
        if !(1..=1024).contains(&jobs.keep_per_tip) {
            return Err(InvalidKey::new(
                "jobs.keep_per_tip",
                jobs.keep_per_tip,
                "1 to 1024 jobs",
            ));
        }

        let rings = &self.rings;
        if !rings.job_ring_slots.is_power_of_two() || !(2..=4096).contains(&rings.job_ring_slots) {
            return Err(InvalidKey::new(
                "rings.job_ring_slots",
                rings.job_ring_slots,
                "a power of two from 2 to 4096",
            ));
        }
        if !(4096..=1 << 20).contains(&rings.job_ring_slot_bytes)
            || !rings.job_ring_slot_bytes.is_multiple_of(8)
        {
            return Err(InvalidKey::new(
                "rings.job_ring_slot_bytes",
                rings.job_ring_slot_bytes,
                "a multiple of 8 from 4096 to 1048576",
            ));
        }
        if rings.shards.is_empty() {
            return Err(InvalidKey::new(
                "rings.shards",
                "[]",
                "at least one gateway shard id",
            ));
        }
        for (i, id) in rings.shards.iter().enumerate() {
            if rings.shards[..i].contains(id) {
                return Err(InvalidKey::new(
                    format!("rings.shards[{i}]"),
                    id,
                    "shard ids without repeats",
                ));
            }
        }

        let blocks = &self.blocks;
        if blocks.submit_attempts == 0 || blocks.submit_attempts > 1000 {
            return Err(InvalidKey::new(
                "blocks.submit_attempts",
                blocks.submit_attempts,
                "1 to 1000",
            ));
        }
        if blocks.submit_retry_ms > 60_000 {
            return Err(InvalidKey::new(
                "blocks.submit_retry_ms",
                blocks.submit_retry_ms,
                "0 to 60000 milliseconds",
            ));
        }

        let alert = self
            .alert
            .as_ref()
            .map(|a| a.validate("jobmaster"))
            .transpose()?;
        let early_tips = self
            .early_tips
            .as_ref()
            .map(EarlyTipsConfig::validate)
            .transpose()?;
        if let (Some(early), Some(alert)) = (&early_tips, &alert) {
            if early.key == alert.key {
                return Err(InvalidKey::new(
                    "alert.key_file",
                    "the same key as early_tips.key_file",
                    "a key of its own: every host holds the alert key, and the relay key lets its \
                     holder start empty-block mining",
                ));
            }
        }

        Ok(Jobmaster {
            network,
            nodes,
            zmq_hashblock: zmq,
            poll_interval,
            refresh_interval: Duration::from_secs(tip.refresh_interval_secs),
            job_params: JobParams {
                tag: cb.tag.as_bytes().to_vec(),
                payouts,
                extranonce,
                version_mask,
                ntime_roll_secs: jobs.ntime_roll_secs,
            },
            keep_per_tip: jobs.keep_per_tip,
            rings: rings.clone(),
            blocks: blocks.clone(),
            early_tips,
            alert,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::meta::tests::{example, uncomment_table, with_key_file, KeyFile};

    fn jobmaster(text: &str) -> Result<Jobmaster, InvalidKey> {
        super::super::parse::<JobmasterConfig>(Path::new("jobmaster.toml"), text)
            .expect("parses")
            .validate()
    }

    #[test]
    fn the_examples_load_without_alerts() {
        for name in ["jobmaster.toml", "regtest/jobmaster.toml"] {
            let settings = jobmaster(&example(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(settings.alert.is_none(), "{name}");
        }
    }

    #[test]
    fn the_commented_alert_table_is_valid() {
        let key = KeyFile::new(b"0123456789abcdef\n");
        let text = with_key_file(
            &uncomment_table(&example("jobmaster.toml"), "[alert]"),
            &key.0,
        );
        let alert = jobmaster(&text).expect("valid").alert.expect("[alert]");
        assert_eq!(alert.address, "10.0.0.5:4100");
        assert_eq!(alert.host, "pool-eu-1");
        assert_eq!(alert.process, "jobmaster");
    }

    #[test]
    fn a_bad_alert_table_is_refused_naming_the_key() {
        let key = KeyFile::new(b"0123456789abcdef");
        let short = KeyFile::new(b"12345\n");
        let missing = std::env::temp_dir().join("ironpool-jobmaster-no-such-key");
        let base = example("jobmaster.toml");
        for (key_file, host, address, name) in [
            (&missing, "h", "10.0.0.5:4100", "alert.key_file"),
            (&short.0, "h", "10.0.0.5:4100", "alert.key_file"),
            (&key.0, "", "10.0.0.5:4100", "alert.host"),
            (&key.0, "h", "10.0.0.5", "alert.address"),
        ] {
            let text = format!(
                "{base}\n[alert]\naddress = {address:?}\nkey_file = {:?}\nhost = {host:?}\n",
                key_file.display().to_string()
            );
            let e = jobmaster(&text).expect_err("refused");
            assert_eq!(e.key, name, "{key_file:?} {host:?} {address:?}");
        }
    }
}
