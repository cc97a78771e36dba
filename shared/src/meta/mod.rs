//! Share accounting, the pure part: the authenticated binary frames between metarelays, remote
//! sites, alert senders and the metawriter; the per-minute aggregation of share-ring records into
//! the ViaBTC Redis key format; and the grouping of the resulting Redis writes by cluster slot,
//! each group applied once through a marker (see `redis_batch`).

mod aggregate;
mod frame;
mod keys;
mod message;
mod redis_batch;
mod slot;

pub use aggregate::{Aggregate, CoinNames, RecordRefused};
pub use frame::{
    encode_frame, FrameError, FrameHeader, FrameKind, PresharedKey, FRAME_HEADER_BYTES,
    FRAME_TAG_BYTES,
};
pub use keys::{minute_of, MonitorKey, MINING_KEYS, MONITOR_KEYS};
pub use message::{Ack, AckOutcome, Alert, Batch, MessageError, Nack, NackCode};
pub use redis_batch::{marker_key, Op, RedisBatch, ScriptCall, APPLY_SCRIPT, OPS_PER_CALL_MAX};
pub use slot::{key_slot, slot_tag, SLOT_COUNT};
