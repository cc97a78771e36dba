//! One line from a miner → one typed [`Request`], borrowing from the line.
//!
//! The whole line is read in one serde_json pass (the borrowed-struct approach measured fastest
//! here, DESIGN.md); `params` elements are kept raw and read by the method that knows them. The
//! `id` is kept as raw JSON ([`RequestId`]) and echoed byte for byte; a missing id reads as `null`.
//!
//! Tolerance, where miners in the field differ (each a documented choice):
//! - `params` missing or `null` reads as `[]`; an optional string parameter of another type (a
//!   `null` password, a numeric user agent) reads as absent;
//! - `mining.subscribe` and `mining.extranonce.subscribe` ignore parameters they do not use, even
//!   malformed ones;
//! - hex is case-insensitive; `job_id` and `version_bits` take 1 to 8 digits, `ntime` and `nonce`
//!   exactly 8; a `null` sixth submit parameter means no version bits;
//! - `mining.suggest_difficulty` takes a number or a string holding one;
//! - BIP310: a missing `version-rolling.mask` means `ffffffff`, a missing min-bit-count 0, and an
//!   unusable `minimum-difficulty.value` is answered `false` rather than with an error.
//!
//! Checked here: JSON shape, parameter count and types, hex digits and lengths (extranonce2 at most
//! [`EXTRANONCE2_BYTES_MAX`](super::EXTRANONCE2_BYTES_MAX) bytes), difficulty finite and positive.
//! Not checked here (session state): subscribe/authorize order, the job, the exact extranonce2
//! length, version bits against the negotiated mask, ntime against the job's window.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::error::Category;
use serde_json::value::RawValue;

use super::error::{FieldProblem, ParamsError, RequestError};
use super::hex::{parse_bytes, parse_u32, Extranonce2};
use super::json::{Key, Scalar};
use super::params::{field_error, ParamList, ParamsShape};

/// Longest user agent kept from `mining.subscribe`, in bytes (cut at a character boundary).
pub const USER_AGENT_BYTES_MAX: usize = 64;
/// Longest session id kept from `mining.subscribe`, in bytes (cut at a character boundary).
pub const SESSION_ID_BYTES_MAX: usize = 64;
/// Most unknown `mining.configure` extension names kept (the rest are dropped).
pub const CONFIGURE_UNKNOWN_MAX: usize = 8;

/// A request's `id`, as the raw JSON the miner sent (any type), to echo in the reply.
#[derive(Clone, Copy)]
pub struct RequestId<'a>(&'a RawValue);

impl<'a> RequestId<'a> {
    /// `null`: the id of a request that has none.
    pub const NULL: RequestId<'static> = RequestId(RawValue::NULL);

    /// Wraps raw JSON.
    pub fn from_raw(raw: &'a RawValue) -> Self {
        RequestId(raw)
    }

    /// The id as JSON text, exactly as received.
    pub fn as_json(&self) -> &'a str {
        self.0.get()
    }
}

impl fmt::Debug for RequestId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_json())
    }
}

impl PartialEq for RequestId<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

/// A request from a miner.
#[derive(Debug, Clone, PartialEq)]
pub enum Request<'a> {
    /// `mining.subscribe [user_agent?, session_id?]`.
    Subscribe {
        id: RequestId<'a>,
        /// At most [`USER_AGENT_BYTES_MAX`] bytes.
        user_agent: Option<Cow<'a, str>>,
        /// Session to resume; at most [`SESSION_ID_BYTES_MAX`] bytes.
        session_id: Option<Cow<'a, str>>,
    },
    /// `mining.authorize [user, password?]`: the user is not yet checked (see
    /// [`WorkerName`](super::WorkerName)).
    Authorize {
        id: RequestId<'a>,
        user: Cow<'a, str>,
        /// `None` when missing, `null` or not a string.
        password: Option<Cow<'a, str>>,
    },
    /// `mining.configure [extensions, parameters]` (BIP310).
    Configure {
        id: RequestId<'a>,
        configure: ConfigureRequest<'a>,
    },
    /// `mining.suggest_difficulty [difficulty]`: finite and above 0, not yet clamped.
    SuggestDifficulty { id: RequestId<'a>, difficulty: f64 },
    /// `mining.extranonce.subscribe []`.
    ExtranonceSubscribe { id: RequestId<'a> },
    /// `mining.submit [worker, job_id, extranonce2, ntime, nonce, version_bits?]`.
    Submit {
        id: RequestId<'a>,
        submit: Submit<'a>,
    },
    /// Any other method (answered with error 20; the session goes on).
    Unknown {
        id: RequestId<'a>,
        method: Cow<'a, str>,
    },
}

impl<'a> Request<'a> {
    /// The id to echo.
    pub fn id(&self) -> RequestId<'a> {
        match self {
            Request::Subscribe { id, .. }
            | Request::Authorize { id, .. }
            | Request::Configure { id, .. }
            | Request::SuggestDifficulty { id, .. }
            | Request::ExtranonceSubscribe { id }
            | Request::Submit { id, .. }
            | Request::Unknown { id, .. } => *id,
        }
    }
}

/// A `mining.submit`, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit<'a> {
    /// The worker name as sent (compare with the session's authorized names).
    pub worker: Cow<'a, str>,
    /// The job id (sent to miners as `{:x}`).
    pub job_id: u32,
    /// The miner's extranonce2; its exact length is the session's to check.
    pub extranonce2: Extranonce2,
    /// Header time (8 hex digits, big-endian as written).
    pub ntime: u32,
    /// Header nonce (8 hex digits, big-endian as written).
    pub nonce: u32,
    /// BIP310 version bits, when a sixth parameter was sent.
    pub version_bits: Option<u32>,
}

/// What a `mining.configure` asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigureRequest<'a> {
    /// `version-rolling` was listed.
    pub version_rolling: Option<VersionRollingRequest>,
    /// `minimum-difficulty` was listed.
    pub minimum_difficulty: Option<MinimumDifficultyRequest>,
    /// `subscribe-extranonce` was listed.
    pub subscribe_extranonce: bool,
    /// Other extension names, in order, at most [`CONFIGURE_UNKNOWN_MAX`]: BIP310 wants each
    /// answered (`false`).
    pub unknown: Vec<Cow<'a, str>>,
}

/// The `version-rolling` extension's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRollingRequest {
    /// Bits the miner can roll (`ffffffff` when not sent, per BIP310).
    pub mask: u32,
    /// Bits the miner needs for efficient rolling (0 when not sent; at most 32).
    pub min_bit_count: u32,
}

/// The server's answer to `version-rolling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRollingAnswer {
    /// Granted: the miner may roll the bits of `mask`.
    Granted {
        mask: u32,
        /// Whether `mask` has at least the bits the miner asked for. BIP310: when it has fewer,
        /// the miner runs degraded and the server should not close the connection; the gateway
        /// may count it, or refuse instead.
        meets_min_bit_count: bool,
    },
    /// Refused (`"version-rolling": false`).
    Refused,
}

impl VersionRollingRequest {
    /// BIP310 negotiation: the granted mask is the miner's mask intersected with the pool's;
    /// refused only when the intersection is empty.
    pub fn negotiate(&self, pool_mask: u32) -> VersionRollingAnswer {
        let mask = self.mask & pool_mask;
        if mask == 0 {
            return VersionRollingAnswer::Refused;
        }
        VersionRollingAnswer::Granted {
            mask,
            meets_min_bit_count: mask.count_ones() >= self.min_bit_count,
        }
    }
}

/// The `minimum-difficulty` extension's parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinimumDifficultyRequest {
    /// The floor asked for: finite and ≥ 0 (0 disables it); `None` when missing or unusable
    /// (answer `false`).
    pub value: Option<f64>,
}

/// Parses one line (without its terminator) into a request.
///
/// # Errors
///
/// [`RequestError::NotJson`] (abuse), [`RequestError::NotRequest`] or
/// [`RequestError::BadParams`] (answer error 20). Never panics, whatever the bytes.
pub fn parse_request(line: &[u8]) -> Result<Request<'_>, RequestError<'_>> {
    let envelope: Envelope<'_> = match serde_json::from_slice(line) {
        Ok(envelope) => envelope,
        Err(e) if e.classify() == Category::Data => {
            return Err(RequestError::NotRequest {
                id: RequestId::NULL,
                detail: "expected one object with unique keys",
            })
        }
        Err(e) => {
            return Err(RequestError::NotJson {
                detail: e.to_string(),
            })
        }
    };
    let id = envelope.id.map_or(RequestId::NULL, RequestId);
    let method = match envelope.method {
        Some(Scalar::Str(method)) => method,
        None => {
            return Err(RequestError::NotRequest {
                id,
                detail: "method is missing",
            })
        }
        Some(_) => {
            return Err(RequestError::NotRequest {
                id,
                detail: "method is not a string",
            })
        }
    };
    let params = envelope.params;
    let bad = |method: &'static str| {
        move |detail: ParamsError| RequestError::BadParams { id, method, detail }
    };
    match &*method {
        "mining.submit" => {
            let submit = params
                .list()
                .and_then(submit)
                .map_err(bad("mining.submit"))?;
            Ok(Request::Submit { id, submit })
        }
        "mining.subscribe" => {
            let list = params.list().unwrap_or(ParamList::EMPTY);
            Ok(Request::Subscribe {
                id,
                user_agent: list
                    .optional_string(0)
                    .map(|s| truncate(s, USER_AGENT_BYTES_MAX)),
                session_id: list
                    .optional_string(1)
                    .map(|s| truncate(s, SESSION_ID_BYTES_MAX)),
            })
        }
        "mining.authorize" => {
            let list = params.list().map_err(bad("mining.authorize"))?;
            let user = list.string(0, "user").map_err(bad("mining.authorize"))?;
            Ok(Request::Authorize {
                id,
                user,
                password: list.optional_string(1),
            })
        }
        "mining.configure" => {
            let configure = params
                .list()
                .and_then(configure)
                .map_err(bad("mining.configure"))?;
            Ok(Request::Configure { id, configure })
        }
        "mining.suggest_difficulty" => {
            let difficulty = params
                .list()
                .and_then(suggested_difficulty)
                .map_err(bad("mining.suggest_difficulty"))?;
            Ok(Request::SuggestDifficulty { id, difficulty })
        }
        "mining.extranonce.subscribe" => Ok(Request::ExtranonceSubscribe { id }),
        _ => Ok(Request::Unknown { id, method }),
    }
}

fn submit(params: ParamList<'_>) -> Result<Submit<'_>, ParamsError> {
    if !(5..=6).contains(&params.len()) {
        return Err(ParamsError::Count {
            expected: "5 or 6",
            found: params.len(),
        });
    }
    let worker = params.string(0, "worker")?;
    let job_id = params.hex_u32(1, "job_id", false)?;
    let extranonce2 = parse_bytes(&params.string(2, "extranonce2")?)
        .map_err(|p| field_error(2, "extranonce2", p))?;
    let ntime = params.hex_u32(3, "ntime", true)?;
    let nonce = params.hex_u32(4, "nonce", true)?;
    let version_bits = match params.scalar(5) {
        None | Some(Scalar::Null) => None,
        Some(_) => Some(params.hex_u32(5, "version_bits", false)?),
    };
    Ok(Submit {
        worker,
        job_id,
        extranonce2,
        ntime,
        nonce,
        version_bits,
    })
}

fn suggested_difficulty(params: ParamList<'_>) -> Result<f64, ParamsError> {
    let value = match params.scalar(0) {
        Some(Scalar::Number(n)) => n,
        Some(Scalar::Str(text)) => match text.trim().parse::<f64>() {
            Ok(n) => n,
            Err(_) => {
                return Err(field_error(
                    0,
                    "difficulty",
                    FieldProblem::Type {
                        expected: "a number",
                        found: "a string that is not one",
                    },
                ))
            }
        },
        None => {
            return Err(ParamsError::Count {
                expected: "1",
                found: 0,
            })
        }
        Some(other) => {
            return Err(field_error(
                0,
                "difficulty",
                FieldProblem::Type {
                    expected: "a number",
                    found: other.type_name(),
                },
            ))
        }
    };
    if !(value.is_finite() && value > 0.0) {
        return Err(field_error(
            0,
            "difficulty",
            FieldProblem::Range {
                expected: "a finite number above 0",
                value,
            },
        ));
    }
    Ok(value)
}

fn configure(params: ParamList<'_>) -> Result<ConfigureRequest<'_>, ParamsError> {
    let Some(list) = params.raw(0) else {
        return Err(ParamsError::Count {
            expected: "2",
            found: params.len(),
        });
    };
    let mut request = match serde_json::from_str::<ExtensionList<'_>>(list.get()) {
        Ok(ExtensionList(request)) => request,
        Err(_) => {
            return Err(field_error(
                0,
                "extensions",
                FieldProblem::Type {
                    expected: "an array of strings",
                    found: Scalar::of(list).type_name(),
                },
            ))
        }
    };
    let options = match params.scalar(1) {
        None | Some(Scalar::Null) => ConfigureOptions::default(),
        Some(Scalar::Object) => params
            .raw(1)
            .and_then(|raw| serde_json::from_str::<ConfigureOptions<'_>>(raw.get()).ok())
            .ok_or_else(|| {
                field_error(
                    1,
                    "extension parameters",
                    FieldProblem::Type {
                        expected: "an object with unique keys",
                        found: "an object with a repeated key",
                    },
                )
            })?,
        Some(other) => {
            return Err(field_error(
                1,
                "extension parameters",
                FieldProblem::Type {
                    expected: "an object",
                    found: other.type_name(),
                },
            ))
        }
    };
    if let Some(rolling) = request.version_rolling.as_mut() {
        if let Some(raw) = options.mask {
            rolling.mask = match Scalar::of(raw) {
                Scalar::Str(text) => parse_u32(&text, false),
                other => Err(FieldProblem::Type {
                    expected: "a hex string",
                    found: other.type_name(),
                }),
            }
            .map_err(|p| field_error(1, "version-rolling.mask", p))?;
        }
        if let Some(raw) = options.min_bit_count {
            rolling.min_bit_count = min_bit_count(Scalar::of(raw))
                .map_err(|p| field_error(1, "version-rolling.min-bit-count", p))?;
        }
    }
    if let Some(minimum) = request.minimum_difficulty.as_mut() {
        minimum.value = match options.minimum_difficulty.map(Scalar::of) {
            Some(Scalar::Number(n)) if n.is_finite() && n >= 0.0 => Some(n),
            _ => None,
        };
    }
    Ok(request)
}

/// `version-rolling.min-bit-count`: an integer (BIP310's example), or a string holding one.
fn min_bit_count(value: Scalar<'_>) -> Result<u32, FieldProblem> {
    let n = match value {
        Scalar::Number(n) => n,
        Scalar::Str(text) => text.trim().parse::<f64>().unwrap_or(f64::NAN),
        other => {
            return Err(FieldProblem::Type {
                expected: "an integer",
                found: other.type_name(),
            })
        }
    };
    if !(n.is_finite() && n >= 0.0) {
        return Err(FieldProblem::Range {
            expected: "an integer from 0 to 32",
            value: n,
        });
    }
    // In range and at most 32 after `min`: the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(n.min(32.0) as u32)
}

/// Cuts `text` to at most `max` bytes at a character boundary.
fn truncate(text: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(s.get(..end).unwrap_or("")),
        Cow::Owned(mut s) => {
            s.truncate(end);
            Cow::Owned(s)
        }
    }
}

/// The request object: `id`, `method` and `params`; other keys are skipped, repeated ones refused.
struct Envelope<'a> {
    id: Option<&'a RawValue>,
    method: Option<Scalar<'a>>,
    params: ParamsShape<'a>,
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json-rpc request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut id = None;
        let mut method = None;
        let mut params = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                "id" if id.is_none() => id = Some(map.next_value::<&'de RawValue>()?),
                "method" if method.is_none() => method = Some(map.next_value::<Scalar<'de>>()?),
                "params" if params.is_none() => {
                    params = Some(map.next_value::<ParamsShape<'de>>()?)
                }
                "id" | "method" | "params" => return Err(de::Error::custom("repeated key")),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Envelope {
            id,
            method,
            params: params.unwrap_or(ParamsShape::Absent),
        })
    }
}

/// The extension list of `mining.configure`, read straight into a [`ConfigureRequest`].
struct ExtensionList<'a>(ConfigureRequest<'a>);

impl<'de> Deserialize<'de> for ExtensionList<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = ExtensionList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of extension names")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut request = ConfigureRequest::default();
                while let Some(item) = seq.next_element::<Scalar<'de>>()? {
                    let Scalar::Str(name) = item else {
                        // Not an extension code: nothing to answer.
                        continue;
                    };
                    match &*name {
                        "version-rolling" => {
                            request.version_rolling = Some(VersionRollingRequest {
                                mask: u32::MAX,
                                min_bit_count: 0,
                            })
                        }
                        "minimum-difficulty" => {
                            request.minimum_difficulty =
                                Some(MinimumDifficultyRequest { value: None })
                        }
                        "subscribe-extranonce" => request.subscribe_extranonce = true,
                        _ => {
                            if request.unknown.len() < CONFIGURE_UNKNOWN_MAX
                                && !request.unknown.contains(&name)
                            {
                                request.unknown.push(truncate(name, USER_AGENT_BYTES_MAX));
                            }
                        }
                    }
                }
                Ok(ExtensionList(request))
            }
        }
        deserializer.deserialize_seq(ListVisitor)
    }
}

/// The BIP310 parameters this server reads; others are ignored.
#[derive(Default, Deserialize)]
struct ConfigureOptions<'a> {
    #[serde(borrow, default, rename = "version-rolling.mask")]
    mask: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "version-rolling.min-bit-count")]
    min_bit_count: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "minimum-difficulty.value")]
    minimum_difficulty: Option<&'a RawValue>,
}
