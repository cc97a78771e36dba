//! Making a new block happen, timestamped: `generatetoaddress` on a node over JSON-RPC, or any
//! command line (for pools whose node this machine cannot reach, or a script of the operator's).
//!
//! The timestamp is taken just before the request leaves, so the fan-out measured from it includes
//! the node's own work: block found at the node → miner has the clean notify.

use super::clock::monotonic_ns;
use base64::Engine as _;
use bitcoin::hex::{DisplayHex, FromHex};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// Longest answer read from the node.
const ANSWER_MAX: u64 = 1 << 20;
const RPC_TIMEOUT: Duration = Duration::from_secs(60);

/// How to make a block.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// JSON-RPC `generatetoaddress 1 <address>` at `addr` with HTTP basic auth.
    Rpc {
        addr: SocketAddr,
        user: String,
        password: String,
        address: String,
    },
    /// `sh -c <command>`; a 64-hex-digit word in its output is taken as the new block's hash.
    Command(String),
}

/// A trigger that fired.
#[derive(Debug, Clone, Copy)]
pub struct Fired {
    /// `CLOCK_MONOTONIC` just before the trigger.
    pub at_ns: u64,
    /// The new block's hash in internal byte order, when the trigger told it.
    pub block: Option<[u8; 32]>,
}

impl Trigger {
    /// Makes one block.
    ///
    /// # Errors
    ///
    /// The node refused or could not be reached, or the command failed; the message says which.
    pub fn fire(&self) -> Result<Fired, String> {
        match self {
            Trigger::Rpc {
                addr,
                user,
                password,
                address,
            } => {
                let body = format!(
                    r#"{{"jsonrpc":"1.0","id":1,"method":"generatetoaddress","params":[1,"{address}"]}}"#
                );
                let at_ns = monotonic_ns();
                let answer = rpc(*addr, user, password, &body)?;
                let hash = answer
                    .get("result")
                    .and_then(|r| r.get(0))
                    .and_then(|h| h.as_str())
                    .ok_or_else(|| format!("generatetoaddress at {addr} answered {answer}"))?;
                Ok(Fired {
                    at_ns,
                    block: Some(internal_order(hash)?),
                })
            }
            Trigger::Command(command) => {
                let at_ns = monotonic_ns();
                let output = Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .output()
                    .map_err(|e| format!("trigger command {command:?}: {e}"))?;
                if !output.status.success() {
                    return Err(format!(
                        "trigger command {command:?} failed ({}): {}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr).trim()
                    ));
                }
                let stdout = String::from_utf8_lossy(&output.stdout);
                let block = stdout
                    .split(|c: char| !c.is_ascii_hexdigit())
                    .find(|w| w.len() == 64)
                    .and_then(|w| internal_order(w).ok());
                Ok(Fired { at_ns, block })
            }
        }
    }
}

/// A block hash as RPC shows it (display order hex) in internal byte order.
pub fn internal_order(display_hex: &str) -> Result<[u8; 32], String> {
    let mut bytes = <[u8; 32]>::from_hex(display_hex)
        .map_err(|e| format!("block hash {display_hex:?}: {e}"))?;
    bytes.reverse();
    Ok(bytes)
}

/// A block hash in internal byte order as RPC shows it (display order hex).
pub fn display_hex(internal: &[u8; 32]) -> String {
    let mut display = *internal;
    display.reverse();
    display.to_lower_hex_string()
}

/// One JSON-RPC call over HTTP/1.0 (the connection closes after the answer).
pub fn rpc(
    addr: SocketAddr,
    user: &str,
    password: &str,
    body: &str,
) -> Result<serde_json::Value, String> {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut stream = TcpStream::connect_timeout(&addr, RPC_TIMEOUT)
        .map_err(|e| format!("connect to node {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(RPC_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let request = format!(
        "POST / HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write to node {addr}: {e}"))?;
    let mut answer = Vec::new();
    stream
        .take(ANSWER_MAX)
        .read_to_end(&mut answer)
        .map_err(|e| format!("read from node {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, json) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("node {addr} answered without HTTP headers: {:.200}", text))?;
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| format!("node {addr} answered {:.80}: {e}: {:.200}", head, json))?;
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        return Err(format!("node {addr}: {error}"));
    }
    Ok(value)
}
