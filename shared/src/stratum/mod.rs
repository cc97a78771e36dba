//! Stratum V1, server side, sans-I/O: bytes in, typed requests out; typed answers in, bytes out.
//! The gateway owns sockets, buffers, sessions and policy; this module owns the wire format.
//!
//! - [`LineBuffer`] (`line`): splits a byte stream into `\n`-terminated lines, at most
//!   [`LINE_BYTES_MAX_DEFAULT`] bytes each unless configured otherwise; holds no memory while idle.
//! - [`parse_request`] (`request`): one line → one [`Request`] (subscribe, authorize, configure,
//!   suggest_difficulty, extranonce.subscribe, submit, or `Unknown`), borrowing from the line; the
//!   request `id` is kept as raw JSON and echoed byte for byte.
//! - `reply`: replies to a request (`true`, raw result, `[code, "message", null]` errors, subscribe,
//!   BIP310 configure), appended to the caller's write buffer.
//! - `notify`: server-initiated lines: [`NotifyLine`] (built once per job and shared by every
//!   session), `mining.set_difficulty`, `mining.set_version_mask`, `mining.set_extranonce`,
//!   `client.reconnect`.
//! - [`WorkerName`] (`worker_name`): `user.worker` under configurable [`WorkerNameRules`].
//! - `error`: [`StratumError`] (the codes sent to miners) and the decode errors, one per
//!   consequence: [`LineError`] closes the session, [`RequestError::NotJson`] is abuse (count it,
//!   close), every other [`RequestError`] is answered with error 20 and the session goes on.
//!
//! Invariants: no input makes any function here panic, allocate more than the input's size, or
//! recurse without bound (serde_json's recursion limit and its iterative skipping cover nesting);
//! every peer-supplied length is bounded before use (`*_MAX` constants, [`BoundedBytes`]). Lines
//! written here never contain a raw `\n` except the terminating one. What is *not* checked here:
//! whether a submit's job exists, its extranonce2 has the session's length, its version bits fit the
//! negotiated mask or its ntime the job's window: that is session state, the gateway's job.

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod error;
mod hex;
mod json;
mod line;
mod notify;
mod params;
mod reply;
mod request;
mod worker_name;

pub use error::{FieldProblem, LineError, ParamsError, RequestError, StratumError};
pub use hex::{BoundedBytes, Extranonce2, EXTRANONCE2_BYTES_MAX};
pub use line::{LineBuffer, LINE_BYTES_MAX_DEFAULT};
pub use notify::{
    prev_hash_to_stratum, reconnect_line, set_difficulty_line, set_extranonce_line,
    set_version_mask_line, DifficultyOutOfRange, NotifyLine, DIFFICULTY_LINE_MAX,
    DIFFICULTY_LINE_MIN,
};
pub use params::PARAMS_MAX;
pub use reply::{
    configure_reply, reply_error, reply_error_default, reply_result_raw, reply_true,
    subscribe_reply, ConfigureAnswer,
};
pub use request::{
    parse_request, ConfigureRequest, MinimumDifficultyRequest, Request, RequestId, Submit,
    VersionRollingAnswer, VersionRollingRequest, CONFIGURE_UNKNOWN_MAX, SESSION_ID_BYTES_MAX,
    USER_AGENT_BYTES_MAX,
};
pub use worker_name::{
    CharSet, WorkerName, WorkerNameError, WorkerNameRules, DEFAULT_WORKER, USER_BYTES_MAX,
    WORKER_BYTES_MAX,
};
