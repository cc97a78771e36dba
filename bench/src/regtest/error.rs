//! What can go wrong while starting, driving or stopping regtest nodes.
//!
//! Every error names what it ran: the full command line, its exit status and its stderr (which,
//! for `scripts/regtest.sh`, holds the tail of the failing node's log). Messages are lower-case
//! and Display does not repeat the `source`.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// An error of the regtest harness.
#[derive(Debug, thiserror::Error)]
pub enum RegtestError {
    /// The options ask for something the harness cannot start.
    #[error("invalid regtest options: {0}")]
    Options(&'static str),
    /// A file-system step of the harness itself failed.
    #[error("{what}: {}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A command (a script or `bitcoin-cli`) could not be run at all.
    #[error("could not run `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    /// A command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// `nodes.txt`, written by `scripts/regtest.sh start`, does not read as expected.
    #[error("{}: line {line_no}: {reason}: {line:?}", .path.display())]
    NodesFile {
        path: PathBuf,
        line_no: usize,
        line: String,
        reason: &'static str,
    },
    /// A command succeeded but its answer is not of the expected shape.
    #[error("`{command}` answered {output:?}, expected {expected}")]
    Unexpected {
        command: String,
        output: String,
        expected: &'static str,
    },
    /// A node did not reach a state in time.
    #[error("node {index}: {what} not reached within {waited:?} (last seen: {last})")]
    Timeout {
        index: usize,
        what: String,
        waited: Duration,
        last: String,
    },
    /// A node index beyond the set.
    #[error("no node {index}: the set has {count} node(s)")]
    NoSuchNode { index: usize, count: usize },
}
