//! Records that are not shares, for the metawriter: connected / disconnected (per authorized
//! session), rejected shares, the first share of a worker new within the hour, and a sample of the
//! open authorized sessions once a minute.
//!
//! They travel on the share ring with the shares, so that the accounting sees them in order and
//! with the same guarantees (backlog, spool, nothing lost).

use super::Shard;
use crate::session::state::Session;
use ironpool_shared::ring::{RecordDetail, ShareKind, ShareRecord};
use ironpool_shared::stratum::StratumError;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::error;

/// How long a worker stays "seen": its first share after that is announced again.
const RECENT_WORKERS_SECS: u64 = 3600;
/// Bound on the recent-worker set; when full it is cleared (a worker may be announced twice).
const RECENT_WORKERS_MAX: usize = 1 << 20;

/// Per-shard state of the event records.
#[derive(Debug, Default)]
pub struct EventState {
    /// `user` NUL `worker` of the workers announced since `recent_since`.
    recent: RefCell<HashSet<Box<str>>>,
    /// The hour (unix seconds / 3600) `recent` belongs to.
    recent_hour: Cell<u64>,
    /// The unix minute of the last connections sample.
    sampled_minute: Cell<u64>,
}

impl EventState {
    /// The minute the shard starts in gets no sample: it would be taken before any session could
    /// authorize, and read as an empty pool.
    pub fn starting_now() -> EventState {
        let state = EventState::default();
        state.sampled_minute.set(unix_ms() / 60_000);
        state
    }
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Shard {
    /// A record of `kind` for `session`'s account; `None` before the session is authorized.
    fn session_record(
        &self,
        session: &Session,
        kind: ShareKind,
        detail: RecordDetail,
        job_id: u32,
    ) -> Option<ShareRecord> {
        let state = session.state.borrow();
        let account = state.worker.as_ref()?;
        Some(ShareRecord {
            kind,
            shard_id: self.ring_id,
            session_id: session.id,
            job_id,
            extranonce1: state.extranonce1.as_slice().to_vec(),
            extranonce2: Vec::new(),
            ntime: 0,
            nonce: 0,
            version: 0,
            share_difficulty: if kind == ShareKind::Reject {
                state.vardiff.current()
            } else {
                0.0
            },
            accepted_at_ms: unix_ms(),
            user: account.user().to_owned(),
            worker: account.worker().to_owned(),
            network_difficulty: 0.0,
            detail,
        })
    }

    fn store(&self, record: &ShareRecord) {
        if let Err(e) = self.send_record(record) {
            error!(shard = self.index, kind = ?record.kind, error = %e, "event record could not be stored");
        }
    }

    /// Connected (at the first authorize) or disconnected (when an authorized session ends).
    pub fn send_event(&self, session: &Session, kind: ShareKind) {
        if let Some(record) =
            self.session_record(session, kind, RecordDetail::Peer(session.peer), 0)
        {
            self.store(&record);
        }
    }

    /// A rejected share of an authorized session, with its code.
    pub fn send_reject(&self, session: &Session, error: StratumError, job_id: u32) {
        let code = u8::try_from(error.code()).unwrap_or(u8::MAX);
        if let Some(record) = self.session_record(
            session,
            ShareKind::Reject,
            RecordDetail::RejectCode(code),
            job_id,
        ) {
            self.store(&record);
        }
    }

    /// After a session's first accepted share: announces its worker unless the shard saw it
    /// within the hour.
    pub fn announce_worker(&self, session: &Session) {
        let name = {
            let mut state = session.state.borrow_mut();
            if state.worker_announced {
                return;
            }
            state.worker_announced = true;
            match state.worker.as_ref() {
                Some(account) => format!("{}\0{}", account.user(), account.worker()),
                None => return,
            }
        };
        let hour = unix_ms() / 1000 / RECENT_WORKERS_SECS;
        let events = &self.events;
        let mut recent = events.recent.borrow_mut();
        if events.recent_hour.get() != hour || recent.len() >= RECENT_WORKERS_MAX {
            recent.clear();
            events.recent_hour.set(hour);
        }
        if recent.insert(name.into_boxed_str()) {
            drop(recent);
            if let Some(record) =
                self.session_record(session, ShareKind::NewWorker, RecordDetail::None, 0)
            {
                self.store(&record);
            }
        }
    }

    /// Once per unix minute (called every second): the authorized sessions open on the shard.
    pub fn sample_connections(&self) {
        let now_ms = unix_ms();
        let minute = now_ms / 60_000;
        if self.events.sampled_minute.get() == minute {
            return;
        }
        self.events.sampled_minute.set(minute);
        let open = self.authorized_sessions();
        let record = ShareRecord {
            kind: ShareKind::Connections,
            shard_id: self.ring_id,
            session_id: 0,
            job_id: 0,
            extranonce1: Vec::new(),
            extranonce2: Vec::new(),
            ntime: 0,
            nonce: 0,
            version: 0,
            share_difficulty: 0.0,
            accepted_at_ms: now_ms,
            user: String::new(),
            worker: String::new(),
            network_difficulty: 0.0,
            detail: RecordDetail::Count(open),
        };
        self.store(&record);
    }
}
