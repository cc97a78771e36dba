//! Answering a session's requests. Shares go to the shard's validator (hashed in batches); every
//! other request is answered at once.

use super::state::Session;
use super::{line, Ended};
use crate::shard::validator::PendingShare;
use crate::shard::Shard;
use ironpool_shared::ring::ShareKind;
use ironpool_shared::stratum::{
    configure_reply, parse_request, reply_error, reply_error_default, reply_true, subscribe_reply,
    ConfigureAnswer, LineBuffer, LineError, Request, RequestError, StratumError,
    VersionRollingAnswer, WorkerName,
};
use std::rc::Rc;
use std::time::Instant;

/// Handles every complete line; `Some` when the session must close.
pub fn handle_lines(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    lines: &mut LineBuffer,
    port: usize,
) -> Option<Ended> {
    loop {
        let line = match lines.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => return None,
            Err(LineError::TooLong { .. }) => {
                shard
                    .counters
                    .closed_line_too_long
                    .set(shard.counters.closed_line_too_long.get() + 1);
                return Some(Ended::LineTooLong);
            }
        };
        shard
            .counters
            .requests
            .set(shard.counters.requests.get() + 1);
        let mut out = Vec::with_capacity(128);
        let ok = match parse_request(line) {
            Ok(request) => handle(shard, session, request, port, &mut out),
            Err(e) => {
                if let RequestError::NotJson { .. } = e {
                    shard
                        .counters
                        .closed_not_json
                        .set(shard.counters.closed_not_json.get() + 1);
                    return Some(Ended::NotJson);
                }
                e.write_reply(&mut out);
                false
            }
        };
        if !out.is_empty() {
            session.send(line_from(out));
        }
        if !ok && note_error(shard, session) {
            return Some(Ended::ErrorsInRow);
        }
    }
}

fn line_from(out: Vec<u8>) -> crate::shard::shared_line::SharedLine {
    line(out)
}

/// Counts an error answered to this session; true when it has made too many in a row.
pub fn note_error(shard: &Shard, session: &Session) -> bool {
    shard
        .counters
        .request_errors
        .set(shard.counters.request_errors.get() + 1);
    let mut state = session.state.borrow_mut();
    state.errors_in_row += 1;
    if state.errors_in_row > shard.config.errors_in_row_max {
        shard
            .counters
            .closed_errors_in_row
            .set(shard.counters.closed_errors_in_row.get() + 1);
        return true;
    }
    false
}

/// Answers one request into `out`; false when the answer is an error.
fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    request: Request<'_>,
    port: usize,
    out: &mut Vec<u8>,
) -> bool {
    let now = Instant::now();
    match request {
        Request::Subscribe { id, .. } => {
            let en1 = {
                let mut s = session.state.borrow_mut();
                s.subscribed = true;
                s.extranonce1
            };
            let sid = format!("{:016x}", session.id);
            subscribe_reply(out, id, &sid, en1.as_slice(), shard.extranonce2_size());
            session.state.borrow_mut().errors_in_row = 0;
            flush_out(session, out);
            shard.prime(session, now);
            true
        }
        Request::Authorize { id, user, .. } => {
            match WorkerName::parse(&user, &shard.worker_rules) {
                Ok(name) => {
                    let first = session.state.borrow().worker.is_none();
                    if first {
                        session.state.borrow_mut().worker =
                            Some(crate::session::state::Account::new(&name));
                        shard
                            .counters
                            .sessions_authorized
                            .set(shard.counters.sessions_authorized.get() + 1);
                        shard.send_event(session, ShareKind::Connected);
                    }
                    // A second authorize for another worker on the same connection is accepted but
                    // shares stay credited to the first one (ViaBTC let every submit move credit).
                    reply_true(out, id);
                    session.state.borrow_mut().errors_in_row = 0;
                    flush_out(session, out);
                    shard.prime(session, now);
                    true
                }
                Err(e) => {
                    reply_error(out, id, StratumError::Unauthorized, &e.to_string());
                    false
                }
            }
        }
        Request::Configure { id, configure } => {
            let mut answer = ConfigureAnswer {
                unknown: &configure.unknown,
                ..ConfigureAnswer::default()
            };
            if let Some(vr) = configure.version_rolling {
                // BIP310 min-bit-count honoured: a mask narrower than the miner needs is refused
                // rather than granted degraded.
                let negotiated = match vr.negotiate(shard.config.version_mask) {
                    VersionRollingAnswer::Granted {
                        meets_min_bit_count: false,
                        ..
                    } => VersionRollingAnswer::Refused,
                    other => other,
                };
                // A refusal withdraws any mask granted before.
                let granted = match negotiated {
                    VersionRollingAnswer::Granted { mask, .. } => mask,
                    VersionRollingAnswer::Refused => 0,
                };
                session.state.borrow_mut().version_mask = granted;
                answer.version_rolling = Some(negotiated);
            }
            let mut changed = None;
            if let Some(md) = configure.minimum_difficulty {
                let accepted = match md.value {
                    Some(v) if v > 0.0 => {
                        changed = session.state.borrow_mut().vardiff.set_minimum(now, v);
                        true
                    }
                    Some(_) => true,
                    None => false,
                };
                answer.minimum_difficulty = Some(accepted);
            }
            if configure.subscribe_extranonce {
                answer.subscribe_extranonce = Some(true);
            }
            configure_reply(out, id, &answer);
            // The reply first, then the difficulty it causes.
            flush_out(session, out);
            if changed.is_some() {
                shard.send_difficulty_after_reply(session);
            }
            true
        }
        Request::SuggestDifficulty { id, difficulty } => {
            let _ = port;
            let changed = session.state.borrow_mut().vardiff.suggest(now, difficulty);
            reply_true(out, id);
            flush_out(session, out);
            if changed.is_some() {
                shard.send_difficulty_after_reply(session);
            }
            true
        }
        Request::ExtranonceSubscribe { id } => {
            reply_true(out, id);
            true
        }
        Request::Submit { id, submit } => {
            let (subscribed, authorized) = {
                let s = session.state.borrow();
                (s.subscribed, s.worker.is_some())
            };
            if !authorized {
                reply_error_default(out, id, StratumError::Unauthorized);
                return false;
            }
            if !subscribed {
                reply_error_default(out, id, StratumError::NotSubscribed);
                return false;
            }
            match PendingShare::check(shard, session, id, &submit, now) {
                Ok(pending) => {
                    shard.validator.push(pending);
                    true
                }
                Err((error, message)) => {
                    count_reject(shard, session, error, submit.job_id);
                    reply_error(out, id, error, &message);
                    false
                }
            }
        }
        Request::Unknown { id, method } => {
            reply_error(
                out,
                id,
                StratumError::Other,
                &format!("unknown method {method}"),
            );
            false
        }
    }
}

/// Counts a rejected share by its code and records it for the accounting.
pub fn count_reject(shard: &Shard, session: &Session, error: StratumError, job_id: u32) {
    shard.send_reject(session, error, job_id);
    let c = &shard.counters;
    let cell = match error {
        StratumError::JobNotFound => &c.shares_stale,
        StratumError::Duplicate => &c.shares_duplicate,
        StratumError::LowDifficulty => &c.shares_low_difficulty,
        _ => &c.shares_invalid,
    };
    cell.set(cell.get() + 1);
}

/// Sends `out` now, so that what the shard sends next (difficulty, job) follows the reply.
fn flush_out(session: &Rc<Session>, out: &mut Vec<u8>) {
    if !out.is_empty() {
        session.send(line(std::mem::take(out)));
    }
}
