//! One running regtest node and blocking calls to it through `bitcoin-cli`.

use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::error::RegtestError;
use super::{command_line, run};

/// How long one `bitcoin-cli` call may wait for the node before it gives up (its own default is
/// 900 s, which would hang a test on a stuck node for a quarter of an hour).
const CLI_TIMEOUT_S: u32 = 60;
/// How often [`RegtestNode::wait_for_height`] asks for the height.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A node started by [`RegtestNodes::start`](super::RegtestNodes::start), as listed in its
/// `nodes.txt`. Everything listens on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct RegtestNode {
    /// Position in the set, 0-based; the node's datadir is `node<index>`.
    pub index: usize,
    pub rpc_port: u16,
    pub p2p_port: u16,
    /// `tcp://127.0.0.1:<port>` of the `hashblock` publisher, when the set was started with ZMQ.
    pub zmq_endpoint: Option<String>,
    /// The node's datadir; its `bitcoin.conf` holds every setting, its log is
    /// `regtest/bitcoind.log`.
    pub datadir: PathBuf,
    /// The RPC cookie file (`<datadir>/regtest/.cookie`) when the set uses cookie auth. The node
    /// writes a new cookie at every start and deletes it when it stops: read it when connecting.
    pub cookie_path: Option<PathBuf>,
    pub rpc_user: Option<String>,
    pub rpc_password: Option<String>,
    /// The `bitcoin-cli` of the same package as the node.
    pub(super) cli_path: PathBuf,
}

impl RegtestNode {
    /// The JSON-RPC URL, `http://127.0.0.1:<rpc_port>/`.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.rpc_port)
    }

    /// Calls `method` with `args` through `bitcoin-cli` and waits for the answer.
    ///
    /// Each argument is one command-line word; `bitcoin-cli` turns numbers, booleans and JSON
    /// objects into JSON for the methods that expect them. Returns the answer parsed as JSON;
    /// an answer that is not JSON (`bitcoin-cli` prints string results bare, e.g. a block hash)
    /// comes back as a JSON string, and an empty answer (a `null` result) as `Value::Null`.
    ///
    /// # Errors
    ///
    /// [`RegtestError::Command`] when the node refuses (its error code and message are in
    /// `stderr`) or cannot be reached; [`RegtestError::Spawn`] when `bitcoin-cli` cannot run.
    pub fn cli(&self, method: &str, args: &[&str]) -> Result<serde_json::Value, RegtestError> {
        let text = self.cli_text(method, args)?;
        if text.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// The hash of the node's best block, in the usual (byte-reversed) hex.
    ///
    /// # Errors
    ///
    /// As [`cli`](Self::cli), or [`RegtestError::Unexpected`] when the answer is not 64 hex digits.
    pub fn best_block_hash(&self) -> Result<String, RegtestError> {
        // Read as text: a hash made only of decimal digits would otherwise parse as a JSON number.
        let hash = self.cli_text("getbestblockhash", &[])?;
        if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(hash)
        } else {
            Err(self.unexpected("getbestblockhash", &[], hash, "a 64-digit hex hash"))
        }
    }

    /// The height of the node's best block.
    ///
    /// # Errors
    ///
    /// As [`cli`](Self::cli), or [`RegtestError::Unexpected`] when the answer is not a number.
    pub fn block_count(&self) -> Result<u64, RegtestError> {
        let text = self.cli_text("getblockcount", &[])?;
        text.parse()
            .map_err(|_| self.unexpected("getblockcount", &[], text, "a block height"))
    }

    /// Mines `blocks` blocks on this node (`generatetoaddress` to a fresh wallet address) and
    /// returns their hashes, oldest first. The node relays them to its peers.
    ///
    /// # Errors
    ///
    /// As [`cli`](Self::cli), or [`RegtestError::Unexpected`] when the node does not return
    /// `blocks` hashes.
    pub fn generate(&self, blocks: u32) -> Result<Vec<String>, RegtestError> {
        let address = self.cli_text("getnewaddress", &[])?;
        let count = blocks.to_string();
        let args = [count.as_str(), address.as_str()];
        let answer = self.cli("generatetoaddress", &args)?;
        let hashes: Option<Vec<String>> = answer.as_array().and_then(|items| {
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect()
        });
        match hashes {
            Some(hashes) if u32::try_from(hashes.len()) == Ok(blocks) => Ok(hashes),
            _ => Err(self.unexpected(
                "generatetoaddress",
                &args,
                answer.to_string(),
                "one block hash per block asked for",
            )),
        }
    }

    /// Waits until the node's best block is at height `height` or above.
    ///
    /// # Errors
    ///
    /// [`RegtestError::Timeout`] when the height is not reached within `timeout` (the error
    /// holds the last height seen), or the first failed `getblockcount`.
    pub fn wait_for_height(&self, height: u64, timeout: Duration) -> Result<(), RegtestError> {
        let start = Instant::now();
        loop {
            let current = self.block_count()?;
            if current >= height {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(RegtestError::Timeout {
                    index: self.index,
                    what: format!("height {height}"),
                    waited: timeout,
                    last: format!("height {current}"),
                });
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Runs `bitcoin-cli` and returns its stdout, trimmed.
    fn cli_text(&self, method: &str, args: &[&str]) -> Result<String, RegtestError> {
        let mut command = self.cli_command(method, args);
        let stdout = run(&mut command)?;
        Ok(stdout.trim().to_owned())
    }

    /// `bitcoin-cli -datadir=<datadir>` reads the node's `bitcoin.conf`, which names the network,
    /// the RPC port and either the user and password or (by their absence) the cookie.
    fn cli_command(&self, method: &str, args: &[&str]) -> Command {
        let mut command = Command::new(&self.cli_path);
        command
            .arg(format!("-datadir={}", self.datadir.display()))
            .arg(format!("-rpcclienttimeout={CLI_TIMEOUT_S}"))
            .arg(method)
            .args(args);
        command
    }

    fn unexpected(
        &self,
        method: &str,
        args: &[&str],
        output: String,
        expected: &'static str,
    ) -> RegtestError {
        RegtestError::Unexpected {
            command: command_line(&self.cli_command(method, args)),
            output,
            expected,
        }
    }
}
