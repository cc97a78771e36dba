//! Replies to requests, written by hand from pieces and appended to the caller's write buffer
//! (no serializer per message, no allocation beyond the buffer's growth). Each call appends exactly
//! one line, terminated by `\n`; the id is echoed as received.
//!
//! Shapes (keys in this order):
//! - `{"id":<id>,"result":<result>,"error":null}`
//! - `{"id":<id>,"result":null,"error":[<code>,"<message>",null]}`

use std::borrow::Cow;

use super::error::StratumError;
use super::hex::{push_hex, push_u32_hex};
use super::json::{push_decimal, push_raw, push_string};
use super::request::{RequestId, VersionRollingAnswer};

/// `{"id":<id>,"result":true,"error":null}`.
pub fn reply_true(out: &mut Vec<u8>, id: RequestId<'_>) {
    reply_result_raw(out, id, "true");
}

/// `{"id":<id>,"result":<raw_json>,"error":null}`. `raw_json` must be one JSON value without a
/// raw line break (built by the caller, never taken from a peer).
pub fn reply_result_raw(out: &mut Vec<u8>, id: RequestId<'_>, raw_json: &str) {
    debug_assert!(!raw_json.contains('\n'), "a reply is one line");
    open(out, id);
    out.extend_from_slice(raw_json.as_bytes());
    close_ok(out);
}

/// `{"id":<id>,"result":null,"error":[<code>,"<message>",null]}` with `message` JSON-escaped.
pub fn reply_error(out: &mut Vec<u8>, id: RequestId<'_>, error: StratumError, message: &str) {
    out.extend_from_slice(b"{\"id\":");
    push_raw(out, id.as_json());
    out.extend_from_slice(b",\"result\":null,\"error\":[");
    push_decimal(out, u64::from(error.code()));
    out.push(b',');
    push_string(out, message);
    out.extend_from_slice(b",null]}\n");
}

/// [`reply_error`] with the code's conventional message ([`StratumError::message`]).
pub fn reply_error_default(out: &mut Vec<u8>, id: RequestId<'_>, error: StratumError) {
    reply_error(out, id, error, error.message());
}

/// The `mining.subscribe` result:
/// `[[["mining.set_difficulty","<sid>"],["mining.notify","<sid>"]],"<extranonce1 hex>",<size>]`.
pub fn subscribe_reply(
    out: &mut Vec<u8>,
    id: RequestId<'_>,
    subscription_id_hex: &str,
    extranonce1: &[u8],
    extranonce2_size: usize,
) {
    open(out, id);
    out.extend_from_slice(b"[[[\"mining.set_difficulty\",");
    push_string(out, subscription_id_hex);
    out.extend_from_slice(b"],[\"mining.notify\",");
    push_string(out, subscription_id_hex);
    out.extend_from_slice(b"]],\"");
    push_hex(out, extranonce1);
    out.extend_from_slice(b"\",");
    push_decimal(out, u64::try_from(extranonce2_size).unwrap_or(u64::MAX));
    out.push(b']');
    close_ok(out);
}

/// The server's answers to one `mining.configure` (BIP310). `None` leaves an extension out of the
/// result (it was not asked for); BIP310 wants every asked extension answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConfigureAnswer<'r> {
    /// `"version-rolling":true,"version-rolling.mask":"<8 hex>"`, or `"version-rolling":false`.
    pub version_rolling: Option<VersionRollingAnswer>,
    /// `"minimum-difficulty":true|false`.
    pub minimum_difficulty: Option<bool>,
    /// `"subscribe-extranonce":true|false`.
    pub subscribe_extranonce: Option<bool>,
    /// Extensions this server does not know, each answered `false`
    /// (from [`ConfigureRequest::unknown`](super::ConfigureRequest::unknown)).
    pub unknown: &'r [Cow<'r, str>],
}

/// The `mining.configure` result, e.g.
/// `{"version-rolling":true,"version-rolling.mask":"1fffe000","minimum-difficulty":false}`.
pub fn configure_reply(out: &mut Vec<u8>, id: RequestId<'_>, answer: &ConfigureAnswer<'_>) {
    open(out, id);
    out.push(b'{');
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, name: &str| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        push_string(out, name);
        out.push(b':');
    };
    match answer.version_rolling {
        Some(VersionRollingAnswer::Granted { mask, .. }) => {
            key(out, "version-rolling");
            out.extend_from_slice(b"true");
            key(out, "version-rolling.mask");
            out.push(b'"');
            push_u32_hex(out, mask);
            out.push(b'"');
        }
        Some(VersionRollingAnswer::Refused) => {
            key(out, "version-rolling");
            out.extend_from_slice(b"false");
        }
        None => {}
    }
    for (name, answer) in [
        ("minimum-difficulty", answer.minimum_difficulty),
        ("subscribe-extranonce", answer.subscribe_extranonce),
    ] {
        if let Some(yes) = answer {
            key(out, name);
            out.extend_from_slice(if yes { b"true" } else { b"false" });
        }
    }
    for name in answer.unknown {
        key(out, name);
        out.extend_from_slice(b"false");
    }
    out.push(b'}');
    close_ok(out);
}

fn open(out: &mut Vec<u8>, id: RequestId<'_>) {
    out.extend_from_slice(b"{\"id\":");
    push_raw(out, id.as_json());
    out.extend_from_slice(b",\"result\":");
}

fn close_ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"error\":null}\n");
}
