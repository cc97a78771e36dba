//! The few stratum V1 lines poolbench sends, and what it makes of the lines it reads.
//!
//! poolbench is a miner that never mines: it subscribes, authorizes, and reads jobs. Of the
//! server's lines only three matter (the two answers and `mining.notify`); the rest
//! (`mining.set_difficulty`, `client.show_message`, …) are skipped. A line that is not JSON, or a
//! notify of the wrong shape, is a [`BadLine`]: the caller counts it and reads on.

use super::notify::{cut, parse_notify, shown, Notify, NotifyError};
use serde_json::{json, Value};

/// The id of `mining.subscribe`.
pub const SUBSCRIBE_ID: u64 = 1;
/// The id of `mining.authorize`.
pub const AUTHORIZE_ID: u64 = 2;
/// The user agent sent with `mining.subscribe`.
pub const USER_AGENT: &str = "ironpool-poolbench/0.1";

/// How much of a line that is not JSON a log shows.
const SHOWN_LINE_CHARS: usize = 80;

/// `mining.subscribe`, with its newline.
pub fn subscribe_line() -> Vec<u8> {
    line(&json!({"id": SUBSCRIBE_ID, "method": "mining.subscribe", "params": [USER_AGENT]}))
}

/// `mining.authorize [user, password]`, with its newline.
pub fn authorize_line(user: &str, password: &str) -> Vec<u8> {
    line(&json!({"id": AUTHORIZE_ID, "method": "mining.authorize", "params": [user, password]}))
}

fn line(value: &Value) -> Vec<u8> {
    let mut out = value.to_string().into_bytes();
    out.push(b'\n');
    out
}

/// A line from the server, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine {
    /// A job.
    Notify(Box<Notify>),
    /// The answer to `mining.subscribe`: `Err` holds what the server said instead of a result.
    Subscribed(Result<(), String>),
    /// The answer to `mining.authorize`: `Err` holds what the server said instead of `true`.
    Authorized(Result<(), String>),
    /// Any other method or answer.
    Other,
}

/// A line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` = {value}: expected {expected}")]
pub struct BadLine {
    /// `line` (not JSON), `message` (not an object), or the notify parameter.
    pub field: &'static str,
    /// The value received, cut to a few dozen characters.
    pub value: String,
    pub expected: String,
}

impl BadLine {
    /// The problem without its value, to log the same problem once in a while.
    pub fn kind(&self) -> String {
        format!("{}: {}", self.field, self.expected)
    }
}

impl From<NotifyError> for BadLine {
    fn from(e: NotifyError) -> Self {
        BadLine {
            field: e.field,
            value: e.value,
            expected: e.expected,
        }
    }
}

/// Reads one line (without its newline).
///
/// # Errors
///
/// Not JSON, not a JSON object, or a `mining.notify` whose parameters do not parse.
pub fn parse_line(line: &[u8]) -> Result<ServerLine, BadLine> {
    let value: Value = serde_json::from_slice(line).map_err(|e| BadLine {
        field: "line",
        value: cut(&String::from_utf8_lossy(line), SHOWN_LINE_CHARS),
        expected: format!("a JSON-RPC message ({e})"),
    })?;
    let Some(message) = value.as_object() else {
        return Err(BadLine {
            field: "message",
            value: shown(&value),
            expected: "a JSON object".to_owned(),
        });
    };
    if let Some(method) = message.get("method") {
        if method.as_str() != Some("mining.notify") {
            return Ok(ServerLine::Other);
        }
        let params = message.get("params").unwrap_or(&Value::Null);
        return Ok(ServerLine::Notify(Box::new(parse_notify(params)?)));
    }
    // Ids are numbers as this client sends them; a server echoing them as strings is rare
    // enough not to guess for.
    let result = message.get("result").unwrap_or(&Value::Null);
    let error = message.get("error").unwrap_or(&Value::Null);
    let refused = || {
        if error.is_null() {
            shown(result)
        } else {
            shown(error)
        }
    };
    match message.get("id").and_then(Value::as_u64) {
        Some(SUBSCRIBE_ID) if error.is_null() && result.is_array() => {
            Ok(ServerLine::Subscribed(Ok(())))
        }
        Some(SUBSCRIBE_ID) => Ok(ServerLine::Subscribed(Err(refused()))),
        Some(AUTHORIZE_ID) if error.is_null() && result.as_bool() == Some(true) => {
            Ok(ServerLine::Authorized(Ok(())))
        }
        Some(AUTHORIZE_ID) => Ok(ServerLine::Authorized(Err(refused()))),
        _ => Ok(ServerLine::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::super::notify::tests::{coinb1_hex, prev_hash_pair};
    use super::*;

    #[test]
    fn the_requests_are_one_json_line_each() {
        assert_eq!(
            subscribe_line(),
            b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"ironpool-poolbench/0.1\"]}\n"
        );
        let auth = authorize_line("acct.\"w\"", "x");
        let value: Value = serde_json::from_slice(&auth).expect("json");
        assert_eq!(value["params"], json!(["acct.\"w\"", "x"]));
        assert_eq!(value["id"], json!(2));
        assert_eq!(auth.last(), Some(&b'\n'));
    }

    #[test]
    fn answers_are_told_apart_by_id() {
        let subscribed =
            br#"{"id":1,"result":[[["mining.notify","ae"]],"08000002",4],"error":null}"#;
        assert_eq!(parse_line(subscribed), Ok(ServerLine::Subscribed(Ok(()))));
        let refused = br#"{"id":1,"result":null,"error":[20,"busy",null]}"#;
        assert_eq!(
            parse_line(refused),
            Ok(ServerLine::Subscribed(Err("[20,\"busy\",null]".to_owned())))
        );
        assert_eq!(
            parse_line(br#"{"id":2,"result":true,"error":null}"#),
            Ok(ServerLine::Authorized(Ok(())))
        );
        assert_eq!(
            parse_line(br#"{"id":2,"result":false}"#),
            Ok(ServerLine::Authorized(Err("false".to_owned())))
        );
        assert_eq!(
            parse_line(br#"{"id":7,"result":true}"#),
            Ok(ServerLine::Other)
        );
        assert_eq!(
            parse_line(br#"{"id":null,"method":"mining.set_difficulty","params":[8]}"#),
            Ok(ServerLine::Other)
        );
    }

    #[test]
    fn a_notify_is_read() {
        let (internal, prev) = prev_hash_pair();
        let line = json!({"id": null, "method": "mining.notify", "params": [
            "1", prev, coinb1_hex("0165"), "00", [], "20000000", "207fffff", "6650f3a1", true
        ]})
        .to_string();
        match parse_line(line.as_bytes()) {
            Ok(ServerLine::Notify(n)) => {
                assert_eq!((n.height, n.prev_hash), (101, internal));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_a_bad_line_naming_the_field() {
        let e = parse_line(b"this is not json").expect_err("bad");
        assert_eq!((e.field, e.value.as_str()), ("line", "this is not json"));
        assert!(e.kind().starts_with("line: a JSON-RPC message"));
        assert_eq!(parse_line(b"[1,2]").expect_err("bad").field, "message");
        assert_eq!(parse_line(&[0xff, 0xfe]).expect_err("bad").field, "line");
        let three = br#"{"id":null,"method":"mining.notify","params":["a","b","c"]}"#;
        assert_eq!(parse_line(three).expect_err("bad").field, "params");
        let none = br#"{"id":null,"method":"mining.notify"}"#;
        assert_eq!(parse_line(none).expect_err("bad").field, "params");
    }
}
