//! A real Redis for tests (DESIGN.md "Real parts in tests"): one `redis-server`
//! ([`RedisServer`]) or a Redis Cluster of masters ([`RedisCluster`]), started by
//! `scripts/redis.sh` in a fresh directory under [`std::env::temp_dir`], and stopped and removed
//! when dropped.
//!
//! What a started server or cluster guarantees: it listens on 127.0.0.1, has loaded its AOF, and
//! writes the AOF with `appendfsync always`, so every acknowledged write survives a stop, a
//! restart on the same port and directory, or SIGKILL. A started cluster has every node reporting
//! `cluster_state:ok` and seeing every other node connected; its nodes are all masters (no
//! replicas), so a stopped node's slots are unavailable until it is started again.
//!
//! [`RedisServer::dump`] and [`RedisCluster::dump`] read every key with its value, for tests that
//! compare the whole content of Redis after two runs ([`without_bookkeeping`] drops the writer's
//! own keys first). They hold strings, hashes, lists and sets; any other type is an error.
//!
//! Servers outlive a test process killed with SIGKILL (drop never runs); `scripts/redis.sh stop
//! DIR` or `cluster-stop DIR` stops them. Calls are blocking (they run the script or the sync
//! `redis` client): from async code, use `spawn_blocking`.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Keys with this prefix are the writer's own bookkeeping, not data.
pub const BOOKKEEPING_PREFIX: &str = "ironpool:";

/// Fewest masters `redis-cli --cluster create` accepts.
const CLUSTER_MASTERS_MIN: usize = 3;
/// A connection to a local server that is up is immediate; one that hangs means it is not.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bounds each reply, so a wedged server fails the test instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Keys per SCAN round trip.
const SCAN_COUNT: u64 = 1000;

/// Key → value, ordered, so two dumps compare with `==`.
pub type RedisDump = BTreeMap<String, RedisValue>;

/// One key's value, by Redis type.
#[derive(Debug, Clone, PartialEq)]
pub enum RedisValue {
    String(String),
    Hash(BTreeMap<String, String>),
    /// In list order.
    List(Vec<String>),
    Set(BTreeSet<String>),
}

/// Keys starting with `"ironpool:"` ([`BOOKKEEPING_PREFIX`]) are the writer's own bookkeeping;
/// this drops them, so dumps of two runs compare on the data alone.
pub fn without_bookkeeping(dump: &RedisDump) -> RedisDump {
    dump.iter()
        .filter(|(key, _)| !key.starts_with(BOOKKEEPING_PREFIX))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// A running `redis-server` with appendonly and `appendfsync always`; dropping it stops the
/// server and removes its directory.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    /// The script's DIR. `Drop` runs `stop --rm` first; the `TempDir` removal is only a fallback
    /// should the script fail.
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A server with appendonly + fsync always (`scripts/redis.sh start DIR --always`), on a free
    /// port; returns once it answers.
    ///
    /// # Errors
    ///
    /// The script's failure (with the tail of the server's log), or a directory that cannot be
    /// created; no server is left running then.
    pub fn start() -> Result<RedisServer, String> {
        // From here on a failure drops `server`, whose Drop stops whatever was started.
        let mut server = RedisServer {
            port: 0,
            dir: temp_dir("ironpool-redis-")?,
        };
        let mut command = script_command();
        command.arg("start").arg(server.dir.path()).arg("--always");
        server.port = parse_port(run(&mut command)?.trim())?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `"redis://127.0.0.1:PORT/"`
    pub fn url(&self) -> String {
        node_url(self.port)
    }

    /// The server's directory (its AOF, `redis.log`, `redis.port`, `redis.pid`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops it (SHUTDOWN NOSAVE, SIGKILL after 10 s) and waits for it to exit; the data stays
    /// on disk. Stopping a stopped server does nothing.
    ///
    /// # Errors
    ///
    /// The script's failure.
    pub fn stop(&mut self) -> Result<(), String> {
        let mut command = script_command();
        command.arg("stop").arg(self.dir.path());
        run(&mut command).map(drop)
    }

    /// Starts it again on the same port and dir, where it reads its AOF back; returns once it
    /// answers PING.
    ///
    /// # Errors
    ///
    /// The script's failure: the server is still running, or another process took the port.
    pub fn restart(&mut self) -> Result<(), String> {
        let mut command = script_command();
        command
            .arg("start")
            .arg(self.dir.path())
            .arg("--always")
            .arg("--port")
            .arg(self.port.to_string());
        let port = parse_port(run(&mut command)?.trim())?;
        if port != self.port {
            return Err(format!(
                "redis restarted on port {port} instead of {}",
                self.port
            ));
        }
        match self.command(&["PING"])? {
            redis::Value::SimpleString(pong) if pong == "PONG" => Ok(()),
            other => Err(format!(
                "redis at {} answered PING with {other:?}",
                self.url()
            )),
        }
    }

    /// Every key and its value (see [`RedisDump`]).
    ///
    /// # Errors
    ///
    /// A connection or command failure, a key or value that is not UTF-8, or a key of a type
    /// [`RedisValue`] does not hold (the error names the key and the type).
    pub fn dump(&self) -> Result<RedisDump, String> {
        dump_node(&self.url())
    }

    /// Runs one command (`args[0]` is its name) through the sync redis client, on a new
    /// connection, returning the reply as [`redis::Value`].
    ///
    /// # Errors
    ///
    /// No command name, a connection failure, or an error reply.
    pub fn command(&self, args: &[&str]) -> Result<redis::Value, String> {
        let url = self.url();
        let Some((name, rest)) = args.split_first() else {
            return Err(format!("redis {url}: no command given"));
        };
        let mut con = connect(&url)?;
        let mut cmd = redis::cmd(name);
        for arg in rest {
            cmd.arg(*arg);
        }
        cmd.query::<redis::Value>(&mut con)
            .map_err(|err| format!("redis {url}: {args:?} failed: {err}"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let mut command = script_command();
        command.arg("stop").arg(self.dir.path()).arg("--rm");
        // Drop cannot return the error; a server left running must at least be reported.
        if let Err(err) = run(&mut command) {
            report(&format!(
                "redis: stopping the server in {} failed: {err}",
                self.dir.path().display()
            ));
        }
    }
}

/// A running Redis Cluster of masters (no replicas), each with appendonly and `appendfsync
/// always`; dropping it stops every node and removes the directory.
#[derive(Debug)]
pub struct RedisCluster {
    /// Client port of each node, in node order.
    ports: Vec<u16>,
    /// The script's DIR, holding `node-<i>/`. Declared last so it drops last, as in
    /// [`RedisServer`].
    dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3) and joins them (`scripts/redis.sh cluster-start`);
    /// returns once every node reports `cluster_state:ok`.
    ///
    /// # Errors
    ///
    /// Fewer than 3 masters, or the script's failure (no node is left running then).
    pub fn start(masters: usize) -> Result<RedisCluster, String> {
        if masters < CLUSTER_MASTERS_MIN {
            return Err(format!(
                "a Redis Cluster needs at least {CLUSTER_MASTERS_MIN} masters, not {masters}"
            ));
        }
        // From here on a failure drops `cluster`, whose Drop stops whatever was started.
        let mut cluster = RedisCluster {
            ports: Vec::new(),
            dir: temp_dir("ironpool-redis-cluster-")?,
        };
        let mut command = script_command();
        command
            .arg("cluster-start")
            .arg(cluster.dir.path())
            .arg(masters.to_string());
        let stdout = run(&mut command)?;
        cluster.ports = stdout
            .split_whitespace()
            .map(parse_port)
            .collect::<Result<_, _>>()?;
        if cluster.ports.len() != masters {
            return Err(format!(
                "redis cluster-start printed {} ports for {masters} masters: {stdout:?}",
                cluster.ports.len()
            ));
        }
        Ok(cluster)
    }

    /// `"redis://127.0.0.1:PORT/"` of every node, in node order.
    pub fn urls(&self) -> Vec<String> {
        self.ports.iter().map(|&port| node_url(port)).collect()
    }

    /// Client port of every node, in node order.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// The cluster's directory (`node-<i>/`, `cluster.ports`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops node `index` (0-based) and waits for its process to exit; its data and
    /// `nodes.conf` stay on disk. Stopping a stopped node does nothing.
    ///
    /// # Errors
    ///
    /// An index outside the cluster, or the script's failure.
    pub fn stop_node(&mut self, index: usize) -> Result<(), String> {
        self.node_command("node-stop", index)
    }

    /// Starts node `index` again on its own ports and directory, where it reads its AOF and
    /// `nodes.conf` back and rejoins with its slots; returns once every node reports
    /// `cluster_state:ok` again (so every other node must be running).
    ///
    /// # Errors
    ///
    /// An index outside the cluster, or the script's failure (the node is running already,
    /// another process took its port, or the cluster is not healthy within 30 s).
    pub fn start_node(&mut self, index: usize) -> Result<(), String> {
        self.node_command("node-start", index)
    }

    /// Union over the masters: each node's own keys, read via SCAN on each node directly.
    ///
    /// # Errors
    ///
    /// As [`RedisServer::dump`], for any node (a stopped node is a connection failure), or a key
    /// that two nodes hold with different values.
    pub fn dump(&self) -> Result<RedisDump, String> {
        let mut union = RedisDump::new();
        for url in self.urls() {
            for (key, value) in dump_node(&url)? {
                match union.get(&key) {
                    Some(seen) if *seen != value => {
                        return Err(format!(
                            "redis cluster: key {key:?} is on two nodes with different values \
                             ({seen:?}, and {value:?} on {url})"
                        ));
                    }
                    Some(_) => {}
                    None => {
                        union.insert(key, value);
                    }
                }
            }
        }
        Ok(union)
    }

    fn node_command(&self, subcommand: &str, index: usize) -> Result<(), String> {
        if index >= self.ports.len() {
            return Err(format!(
                "redis cluster: no node {index} (it has {} nodes)",
                self.ports.len()
            ));
        }
        let mut command = script_command();
        command
            .arg(subcommand)
            .arg(self.dir.path())
            .arg(index.to_string());
        run(&mut command).map(drop)
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        let mut command = script_command();
        command.arg("cluster-stop").arg(self.dir.path()).arg("--rm");
        // Drop cannot return the error; a node left running must at least be reported.
        if let Err(err) = run(&mut command) {
            report(&format!(
                "redis: stopping the cluster in {} failed: {err}",
                self.dir.path().display()
            ));
        }
    }
}

/// Every key on the server at `url` (for a cluster node, only the keys it holds) with its value.
fn dump_node(url: &str) -> Result<RedisDump, String> {
    let mut con = connect(url)?;
    let mut keys = BTreeSet::new();
    let mut cursor = 0_u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query(&mut con)
            .map_err(|err| format!("redis {url}: SCAN {cursor} failed: {err}"))?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }

    let mut dump = RedisDump::new();
    for key in keys {
        let failed = |what: &str, err: redis::RedisError| {
            format!("redis {url}: {what} of key {key:?} failed: {err}")
        };
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query(&mut con)
            .map_err(|err| failed("TYPE", err))?;
        let value = match kind.as_str() {
            "string" => RedisValue::String(
                redis::cmd("GET")
                    .arg(&key)
                    .query(&mut con)
                    .map_err(|err| failed("GET", err))?,
            ),
            "hash" => RedisValue::Hash(
                redis::cmd("HGETALL")
                    .arg(&key)
                    .query(&mut con)
                    .map_err(|err| failed("HGETALL", err))?,
            ),
            "list" => RedisValue::List(
                redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query(&mut con)
                    .map_err(|err| failed("LRANGE", err))?,
            ),
            "set" => RedisValue::Set(
                redis::cmd("SMEMBERS")
                    .arg(&key)
                    .query(&mut con)
                    .map_err(|err| failed("SMEMBERS", err))?,
            ),
            // Expired or deleted between SCAN and TYPE.
            "none" => continue,
            other => {
                return Err(format!(
                    "redis {url}: key {key:?} has type {other}, which a RedisDump does not hold"
                ));
            }
        };
        dump.insert(key, value);
    }
    Ok(dump)
}

/// A connection to `url`, with timeouts so a wedged server fails instead of hanging.
fn connect(url: &str) -> Result<redis::Connection, String> {
    let client = redis::Client::open(url).map_err(|err| format!("redis {url}: bad URL: {err}"))?;
    let con = client
        .get_connection_with_timeout(CONNECT_TIMEOUT)
        .map_err(|err| format!("redis {url}: cannot connect: {err}"))?;
    con.set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| con.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|err| format!("redis {url}: cannot set timeouts: {err}"))?;
    Ok(con)
}

fn node_url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!("redis: the script printed {text:?}, not a port")),
    }
}

/// A fresh directory under [`std::env::temp_dir`].
fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, String> {
    let temp = std::env::temp_dir();
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&temp)
        .map_err(|err| {
            format!(
                "redis: cannot create a directory in {}: {err}",
                temp.display()
            )
        })
}

/// `<workspace>/scripts/redis.sh`: this crate lives in `<workspace>/bench`.
fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/redis.sh")
}

/// `bash <script>`: run through bash so a checkout that lost the executable bit still works.
fn script_command() -> Command {
    let mut command = Command::new("bash");
    command.arg(script_path());
    command
}

/// Runs `command` to completion and returns its stdout.
fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|err| format!("cannot run {}: {err}", command_line(command)))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            command_line(command),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        ));
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

/// Writes a line to stderr without panicking (`eprintln!` panics when stderr is closed), for
/// `Drop`.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_bookkeeping_drops_only_ironpool_keys() {
        let dump: RedisDump = [
            ("ironpool:cursor", RedisValue::String("7".into())),
            ("ironpool", RedisValue::String("no colon: data".into())),
            ("share:ironpool:1", RedisValue::List(vec!["a".into()])),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
        let kept = without_bookkeeping(&dump);
        assert_eq!(
            kept.keys().map(String::as_str).collect::<Vec<_>>(),
            ["ironpool", "share:ironpool:1"]
        );
        assert_eq!(kept["ironpool"], dump["ironpool"]);
    }

    #[test]
    fn ports_parse() {
        assert_eq!(parse_port("6379"), Ok(6379));
        for bad in ["", "0", "65536", "x", "1 2"] {
            assert!(parse_port(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_script_is_found() {
        assert!(script_path().is_file(), "{}", script_path().display());
        assert_eq!(node_url(7000), "redis://127.0.0.1:7000/");
    }
}
