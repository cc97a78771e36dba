//! The miner's side of Stratum V1, written independently of the pool's codec: lines of JSON read
//! into `serde_json::Value` and checked field by field, requests built with `json!`.
//!
//! What the pool sends is either a reply (an `id` we issued, with `result` and `error`) or a
//! message with a `method` (notifications, and requests such as `client.get_version`).

use super::work::NotifyJob;
use serde_json::{json, Value};
use std::fmt::Display;
use std::time::Duration;

/// What is wrong with a line from the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON, or not a JSON object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// A field of a known message has the wrong type or value.
    #[error("{method}: {field}: {detail}")]
    Field {
        method: &'static str,
        field: &'static str,
        detail: String,
    },
}

impl ProtocolError {
    pub(crate) fn field(method: &'static str, field: &'static str, detail: impl Display) -> Self {
        ProtocolError::Field {
            method,
            field,
            detail: detail.to_string(),
        }
    }
}

/// An error as the pool reported it: `[code, "message", data]` or `{"code":.., "message":..}`.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolError {
    /// The numeric code, when there is one.
    pub code: Option<i64>,
    /// The message, or the raw error when it has no recognised shape.
    pub message: String,
}

impl PoolError {
    fn from_value(error: &Value) -> Self {
        match error {
            Value::Array(items) => PoolError {
                code: items.first().and_then(Value::as_i64),
                message: items
                    .get(1)
                    .and_then(Value::as_str)
                    .map_or_else(|| error.to_string(), str::to_owned),
            },
            Value::Object(map) => PoolError {
                code: map.get("code").and_then(Value::as_i64),
                message: map
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| error.to_string(), str::to_owned),
            },
            other => PoolError {
                code: other.as_i64(),
                message: other.to_string(),
            },
        }
    }
}

impl Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "[{code}] {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

/// One message from the pool.
#[derive(Debug, Clone, PartialEq)]
pub enum FromPool {
    /// The answer to one of our requests. `error` is set when the pool sent a non-null error.
    Reply {
        id: u64,
        result: Value,
        error: Option<PoolError>,
    },
    /// `mining.notify`.
    Notify(NotifyJob),
    /// `mining.set_difficulty`.
    SetDifficulty(f64),
    /// `mining.set_version_mask`.
    SetVersionMask(u32),
    /// `mining.set_extranonce`.
    SetExtranonce {
        extranonce1: Vec<u8>,
        extranonce2_size: usize,
    },
    /// `client.reconnect`: host and port to use (None: the same), and how long to wait first.
    Reconnect {
        host: Option<String>,
        port: Option<u16>,
        wait: Duration,
    },
    /// `client.get_version`: the pool wants an answer with this id.
    GetVersion { id: Value },
    /// Any other method (`client.show_message`, ...): ignored.
    Other { method: String },
}

/// Longest extranonce1 accepted from a pool, in bytes.
pub const EXTRANONCE1_MAX: usize = 32;
/// Largest extranonce2 size accepted from a pool, in bytes.
pub const EXTRANONCE2_SIZE_MAX: usize = 32;
/// Longest wait a `client.reconnect` may ask for.
const RECONNECT_WAIT_MAX: Duration = Duration::from_secs(3600);

/// Parses one line from the pool.
pub fn parse_line(line: &str) -> Result<FromPool, ProtocolError> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| ProtocolError::NotJson(e.to_string()))?;
    let Value::Object(map) = &value else {
        return Err(ProtocolError::NotJson(format!("{:.80}", value.to_string())));
    };
    if let Some(method) = map.get("method").and_then(Value::as_str) {
        let params = map.get("params").unwrap_or(&Value::Null);
        return parse_method(
            method,
            params,
            map.get("id").cloned().unwrap_or(Value::Null),
        );
    }
    let id = match map.get("id") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ProtocolError::field("reply", "id", "missing or not one of our ids"))?;
    let error = match map.get("error") {
        None | Some(Value::Null) => None,
        Some(e) => Some(PoolError::from_value(e)),
    };
    Ok(FromPool::Reply {
        id,
        result: map.get("result").cloned().unwrap_or(Value::Null),
        error,
    })
}

fn parse_method(method: &str, params: &Value, id: Value) -> Result<FromPool, ProtocolError> {
    let first = params.as_array().and_then(|p| p.first());
    match method {
        "mining.notify" => Ok(FromPool::Notify(NotifyJob::from_params(params)?)),
        "mining.set_difficulty" => {
            let difficulty = first.and_then(number).ok_or_else(|| {
                ProtocolError::field("mining.set_difficulty", "difficulty", "not a number")
            })?;
            if !(difficulty.is_finite() && difficulty > 0.0) {
                return Err(ProtocolError::field(
                    "mining.set_difficulty",
                    "difficulty",
                    format!("{difficulty} is not above zero"),
                ));
            }
            Ok(FromPool::SetDifficulty(difficulty))
        }
        "mining.set_version_mask" => {
            let mask = first
                .and_then(Value::as_str)
                .and_then(|s| u32::from_str_radix(s, 16).ok())
                .ok_or_else(|| {
                    ProtocolError::field("mining.set_version_mask", "mask", "not hex")
                })?;
            Ok(FromPool::SetVersionMask(mask))
        }
        "mining.set_extranonce" => {
            let (extranonce1, extranonce2_size) =
                parse_extranonce(params, "mining.set_extranonce")?;
            Ok(FromPool::SetExtranonce {
                extranonce1,
                extranonce2_size,
            })
        }
        "client.reconnect" => {
            let items = params.as_array().map(Vec::as_slice).unwrap_or(&[]);
            let host = items
                .first()
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty())
                .map(str::to_owned);
            let port = items.get(1).and_then(number).and_then(|p| {
                // A port is an integer in 1..=65535; anything else means "the same".
                ((1.0..=65535.0).contains(&p) && p.fract() == 0.0).then_some(p as u16)
            });
            let wait = items
                .get(2)
                .and_then(number)
                .filter(|w| w.is_finite() && *w >= 0.0)
                .map_or(Duration::ZERO, |w| {
                    Duration::from_secs_f64(w).min(RECONNECT_WAIT_MAX)
                });
            Ok(FromPool::Reconnect { host, port, wait })
        }
        "client.get_version" => Ok(FromPool::GetVersion { id }),
        other => Ok(FromPool::Other {
            method: other.to_owned(),
        }),
    }
}

/// A JSON number, or a string holding one (some pools quote numbers).
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `[extranonce1_hex, extranonce2_size]`, as in the subscribe result (after the subscriptions)
/// and in `mining.set_extranonce`.
fn parse_extranonce(
    params: &Value,
    method: &'static str,
) -> Result<(Vec<u8>, usize), ProtocolError> {
    use bitcoin::hex::FromHex;
    let items = params
        .as_array()
        .ok_or_else(|| ProtocolError::field(method, "params", "not an array"))?;
    let extranonce1 = items
        .first()
        .and_then(Value::as_str)
        .and_then(|s| Vec::<u8>::from_hex(s).ok())
        .filter(|e| e.len() <= EXTRANONCE1_MAX)
        .ok_or_else(|| {
            ProtocolError::field(method, "extranonce1", "not hex of at most 32 bytes")
        })?;
    let extranonce2_size = items
        .get(1)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n <= EXTRANONCE2_SIZE_MAX)
        .ok_or_else(|| {
            ProtocolError::field(method, "extranonce2_size", "not an integer in 0..=32")
        })?;
    Ok((extranonce1, extranonce2_size))
}

/// The subscribe result: `[subscriptions, extranonce1_hex, extranonce2_size]`.
pub fn parse_subscribe_result(result: &Value) -> Result<(Vec<u8>, usize), ProtocolError> {
    let items = result
        .as_array()
        .filter(|items| items.len() >= 3)
        .ok_or_else(|| {
            ProtocolError::field("mining.subscribe", "result", "not a 3-element array")
        })?;
    parse_extranonce(&Value::Array(items[1..3].to_vec()), "mining.subscribe")
}

/// The mask granted by a `mining.configure` result: `None` when version rolling was refused.
pub fn parse_configure_result(result: &Value) -> Option<u32> {
    let map = result.as_object()?;
    if map.get("version-rolling").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    map.get("version-rolling.mask")
        .and_then(Value::as_str)
        .and_then(|s| u32::from_str_radix(s, 16).ok())
}

/// One request line, newline included.
pub fn request_line(id: u64, method: &str, params: Value) -> String {
    let mut line = json!({"id": id, "method": method, "params": params}).to_string();
    line.push('\n');
    line
}

/// The reply to a pool's request (`client.get_version`), newline included.
pub fn reply_line(id: &Value, result: Value) -> String {
    let mut line = json!({"id": id, "result": result, "error": null}).to_string();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_errors_in_both_shapes() {
        assert_eq!(
            parse_line(r#"{"id":4,"result":true,"error":null}"#),
            Ok(FromPool::Reply {
                id: 4,
                result: Value::Bool(true),
                error: None
            })
        );
        let Ok(FromPool::Reply {
            id: 9,
            error: Some(e),
            ..
        }) = parse_line(r#"{"id":9,"result":null,"error":[23,"Low difficulty share",null]}"#)
        else {
            panic!("reply expected");
        };
        assert_eq!(
            (e.code, e.message.as_str()),
            (Some(23), "Low difficulty share")
        );
        let Ok(FromPool::Reply { error: Some(e), .. }) =
            parse_line(r#"{"id":"9","result":false,"error":{"code":21,"message":"stale"}}"#)
        else {
            panic!("reply expected");
        };
        assert_eq!(e.code, Some(21));
        assert!(parse_line(r#"{"id":null,"result":true}"#).is_err());
        assert!(parse_line("[1,2]").is_err());
        assert!(parse_line("{not json").is_err());
    }

    #[test]
    fn notifications() {
        assert_eq!(
            parse_line(r#"{"id":null,"method":"mining.set_difficulty","params":[0.001]}"#),
            Ok(FromPool::SetDifficulty(0.001))
        );
        assert!(parse_line(r#"{"method":"mining.set_difficulty","params":[0]}"#).is_err());
        assert!(parse_line(r#"{"method":"mining.set_difficulty","params":["x"]}"#).is_err());
        assert_eq!(
            parse_line(r#"{"method":"mining.set_version_mask","params":["1fffe000"]}"#),
            Ok(FromPool::SetVersionMask(0x1fff_e000))
        );
        assert_eq!(
            parse_line(r#"{"method":"mining.set_extranonce","params":["0a0b",6]}"#),
            Ok(FromPool::SetExtranonce {
                extranonce1: vec![10, 11],
                extranonce2_size: 6
            })
        );
        assert!(parse_line(r#"{"method":"mining.set_extranonce","params":["0a0b",-1]}"#).is_err());
        assert_eq!(
            parse_line(r#"{"method":"client.reconnect","params":["pool.example",3334,2]}"#),
            Ok(FromPool::Reconnect {
                host: Some("pool.example".into()),
                port: Some(3334),
                wait: Duration::from_secs(2)
            })
        );
        assert_eq!(
            parse_line(r#"{"method":"client.reconnect","params":[]}"#),
            Ok(FromPool::Reconnect {
                host: None,
                port: None,
                wait: Duration::ZERO
            })
        );
        assert_eq!(
            parse_line(r#"{"id":7,"method":"client.show_message","params":["hi"]}"#),
            Ok(FromPool::Other {
                method: "client.show_message".into()
            })
        );
    }

    #[test]
    fn subscribe_and_configure_results() {
        let result = serde_json::json!([[["mining.notify", "1"]], "08000002", 8]);
        assert_eq!(parse_subscribe_result(&result), Ok((vec![8, 0, 0, 2], 8)));
        assert!(parse_subscribe_result(&serde_json::json!([[], "zz", 8])).is_err());
        assert!(parse_subscribe_result(&serde_json::json!([[], "00", 33])).is_err());
        assert_eq!(
            parse_configure_result(
                &serde_json::json!({"version-rolling": true, "version-rolling.mask": "1fffe000"})
            ),
            Some(0x1fff_e000)
        );
        assert_eq!(
            parse_configure_result(&serde_json::json!({"version-rolling": false})),
            None
        );
    }
}
