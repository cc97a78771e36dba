//! Errors of the stratum codec, one type per consequence:
//!
//! - [`StratumError`]: the error codes a session sends to a miner (`[code, "message", null]`); the
//!   session goes on.
//! - [`LineError`]: the byte stream cannot be framed (a line over the limit): close the session and
//!   count it as abuse.
//! - [`RequestError`]: a line that is not a usable request. [`RequestError::NotJson`] is abuse
//!   (count it; the gateway closes); [`RequestError::NotRequest`] and [`RequestError::BadParams`]
//!   are answered with error 20 and the session goes on ([`RequestError::is_abuse`] tells them
//!   apart, [`RequestError::write_reply`] writes the answer).
//!
//! Messages are lower-case, say what was expected and what was found, and do not repeat a source.

use super::request::RequestId;

/// The error codes of Stratum V1 (the slush pool specification, used by every pool and miner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StratumError {
    /// 20: anything else, including malformed parameters and unknown methods.
    Other,
    /// 21: the job id is unknown or stale (issued before the last clean job).
    JobNotFound,
    /// 22: this share was already submitted.
    Duplicate,
    /// 23: the share does not meet the session's difficulty.
    LowDifficulty,
    /// 24: the worker is not authorized on this session.
    Unauthorized,
    /// 25: `mining.subscribe` has not been sent yet.
    NotSubscribed,
}

impl StratumError {
    /// Every code, in numeric order.
    pub const ALL: [StratumError; 6] = [
        StratumError::Other,
        StratumError::JobNotFound,
        StratumError::Duplicate,
        StratumError::LowDifficulty,
        StratumError::Unauthorized,
        StratumError::NotSubscribed,
    ];

    /// The numeric code sent on the wire.
    pub fn code(self) -> u16 {
        match self {
            StratumError::Other => 20,
            StratumError::JobNotFound => 21,
            StratumError::Duplicate => 22,
            StratumError::LowDifficulty => 23,
            StratumError::Unauthorized => 24,
            StratumError::NotSubscribed => 25,
        }
    }

    /// The conventional message for the code (the texts of the original specification, which
    /// miners print as they are).
    pub fn message(self) -> &'static str {
        match self {
            StratumError::Other => "Other/Unknown",
            StratumError::JobNotFound => "Job not found",
            StratumError::Duplicate => "Duplicate share",
            StratumError::LowDifficulty => "Low difficulty share",
            StratumError::Unauthorized => "Unauthorized worker",
            StratumError::NotSubscribed => "Not subscribed",
        }
    }
}

/// A byte stream that cannot be cut into lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// A line (or the unterminated tail of the stream) holds more than `limit` bytes.
    #[error("line of at least {seen} bytes exceeds the limit of {limit} bytes")]
    TooLong { limit: usize, seen: usize },
}

/// A line that is not a request this codec can hand over.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError<'a> {
    /// Not JSON at all (or not one complete JSON value): abuse, count it.
    #[error("line is not json: {detail}")]
    NotJson { detail: String },
    /// JSON, but not a JSON-RPC request object (not an object, no string `method`, a repeated
    /// key): answer error 20, keep the session.
    #[error("line is not a json-rpc request: {detail}")]
    NotRequest {
        id: RequestId<'a>,
        detail: &'static str,
    },
    /// A known method whose parameters are wrong: answer error 20, keep the session.
    #[error("{method}: {detail}")]
    BadParams {
        id: RequestId<'a>,
        method: &'static str,
        detail: ParamsError,
    },
}

impl RequestError<'_> {
    /// Whether the line counts as abuse (not JSON): the gateway counts it and closes the session.
    pub fn is_abuse(&self) -> bool {
        matches!(self, RequestError::NotJson { .. })
    }

    /// The id to answer, when the line was JSON.
    pub fn id(&self) -> Option<RequestId<'_>> {
        match self {
            RequestError::NotJson { .. } => None,
            RequestError::NotRequest { id, .. } | RequestError::BadParams { id, .. } => Some(*id),
        }
    }

    /// Appends the error-20 reply for a non-abuse error, with this error's text as the message;
    /// appends nothing for abuse. Returns whether a reply was written.
    pub fn write_reply(&self, out: &mut Vec<u8>) -> bool {
        match self.id() {
            Some(id) => {
                super::reply::reply_error(out, id, StratumError::Other, &self.to_string());
                true
            }
            None => false,
        }
    }
}

/// What is wrong with a request's `params`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamsError {
    /// `params` is present but not an array.
    #[error("params must be an array, got {found}")]
    NotArray { found: &'static str },
    /// Too few or too many parameters.
    #[error("expected {expected} params, got {found}")]
    Count {
        expected: &'static str,
        found: usize,
    },
    /// One parameter is unusable.
    #[error("param {index} ({field}): {problem}")]
    Field {
        index: usize,
        field: &'static str,
        problem: FieldProblem,
    },
}

/// Why one parameter is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FieldProblem {
    /// A JSON type other than the one required.
    #[error("expected {expected}, got {found}")]
    Type {
        expected: &'static str,
        found: &'static str,
    },
    /// A hex number with the wrong count of digits.
    #[error("expected {expected} hex digits, got {found}")]
    HexLength {
        expected: &'static str,
        found: usize,
    },
    /// A hex byte string with an odd count of digits or more than `bytes_max` bytes.
    #[error("expected an even count of hex digits, at most {}, got {digits}", .bytes_max.saturating_mul(2))]
    HexBytes { bytes_max: usize, digits: usize },
    /// A character that is not a hex digit.
    #[error("not a hex digit at offset {offset}")]
    HexDigit { offset: usize },
    /// A number outside its range (`1e400` counts as infinite).
    #[error("expected {expected}, got {value}")]
    Range { expected: &'static str, value: f64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_are_the_conventional_ones() {
        let table: Vec<(u16, &str)> = StratumError::ALL
            .iter()
            .map(|e| (e.code(), e.message()))
            .collect();
        assert_eq!(
            table,
            vec![
                (20, "Other/Unknown"),
                (21, "Job not found"),
                (22, "Duplicate share"),
                (23, "Low difficulty share"),
                (24, "Unauthorized worker"),
                (25, "Not subscribed"),
            ]
        );
    }

    #[test]
    fn messages_are_lower_case_with_context() {
        let e = ParamsError::Field {
            index: 2,
            field: "extranonce2",
            problem: FieldProblem::HexBytes {
                bytes_max: 16,
                digits: 33,
            },
        };
        assert_eq!(
            e.to_string(),
            "param 2 (extranonce2): expected an even count of hex digits, at most 32, got 33"
        );
        assert_eq!(
            LineError::TooLong {
                limit: 16384,
                seen: 16385
            }
            .to_string(),
            "line of at least 16385 bytes exceeds the limit of 16384 bytes"
        );
    }
}
