//! What the shard knows about one connection.

use super::outbound::Outbound;
use ironpool_shared::stratum::WorkerName;
use ironpool_shared::vardiff::{Vardiff, VardiffConfig};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

/// A session, shared between its own task, the shard's fan-out and the validator.
#[derive(Debug)]
pub struct Session {
    pub id: u64,
    pub outbound: Outbound,
    pub state: RefCell<SessionState>,
}

/// Mutable state of a session.
#[derive(Debug)]
pub struct SessionState {
    pub subscribed: bool,
    /// Set by the first successful `mining.authorize`; shares are credited to it.
    pub worker: Option<WorkerName>,
    pub extranonce1: Vec<u8>,
    /// Version bits granted by `mining.configure` (0: no rolling).
    pub version_mask: u32,
    pub vardiff: Vardiff<Rc<VardiffConfig>>,
    pub errors_in_row: u32,
    pub connected_at: Instant,
    /// Whether the session has had its first difficulty and job.
    pub primed: bool,
}

impl Session {
    pub fn new(
        id: u64,
        send_queue_bytes_max: usize,
        extranonce1: Vec<u8>,
        vardiff: Rc<VardiffConfig>,
        now: Instant,
    ) -> Self {
        Session {
            id,
            outbound: Outbound::new(send_queue_bytes_max),
            state: RefCell::new(SessionState {
                subscribed: false,
                worker: None,
                extranonce1,
                version_mask: 0,
                vardiff: Vardiff::new(vardiff, now),
                errors_in_row: 0,
                connected_at: now,
                primed: false,
            }),
        }
    }

    /// Whether the session gets jobs: subscribed and authorized.
    pub fn is_mining(&self) -> bool {
        let s = self.state.borrow();
        s.subscribed && s.worker.is_some()
    }
}
