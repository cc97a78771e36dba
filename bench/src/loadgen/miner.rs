//! One simulated miner: a task that connects (at the process's connect rate), handshakes, reads
//! everything the pool sends, and connects again when the connection ends; and, while shares are
//! on, a second task that submits at the configured rate.
//!
//! Only the reading task writes until the miner is authorized (`mining.authorize` follows the
//! subscribe reply); after that only the submitting task writes. A write takes the write half out
//! of its cell for its duration, so two writes can never interleave on the socket.

use super::clock::monotonic_ns;
use super::connect::connect_from;
use super::notify::Notify;
use super::record::record_us;
use super::runtime::Ctx;
use super::shares::{submit_line, Work, HASHES_PER_SHARE_MAX};
use crate::sim_miner::protocol::{
    parse_configure_result, parse_line, parse_subscribe_result, FromPool,
};
use crate::sim_miner::target::{meets, network_target, share_target};
use crate::sim_miner::{RejectCode, ShareKind};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt, OwnedReadHalf, OwnedWriteHalf, Splitable};
use monoio::net::TcpStream;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

/// Longest line accepted from a pool.
const LINE_MAX: usize = 256 * 1024;
/// Bytes asked for per read: a notify with a deep merkle branch fits.
const READ_SIZE: usize = 4096;
const ID_CONFIGURE: u64 = 1;
const ID_SUBSCRIBE: u64 = 2;
const ID_AUTHORIZE: u64 = 3;
const FIRST_SUBMIT_ID: u64 = 10;
/// Most submits of one connection awaiting their answers; beyond it the oldest is given up and
/// counted unanswered (a pool that never answers must not grow this without bound).
pub const PENDING_MAX: usize = 1024;

/// A submit waiting for its answer.
struct Pending {
    id: u64,
    kind: ShareKind,
    sent_ns: u64,
    /// The submit's params, kept for valid shares: once accepted they are what a duplicate resends.
    params: Option<String>,
    prev_hash: [u8; 32],
}

/// One live connection of a miner.
pub struct Conn {
    pub index: usize,
    fd: RawFd,
    writer: RefCell<Option<OwnedWriteHalf<TcpStream>>>,
    worker: String,
    extranonce1: RefCell<Vec<u8>>,
    extranonce2_size: Cell<usize>,
    difficulty: Cell<Option<f64>>,
    previous_difficulty: Cell<Option<f64>>,
    job: RefCell<Option<Rc<Notify>>>,
    /// The last job of the previous tip, for stale shares.
    stale_job: RefCell<Option<Rc<Notify>>>,
    work: RefCell<Option<Work>>,
    stale_work: RefCell<Option<Work>>,
    extranonce2_counter: Cell<u64>,
    /// In submit order: answers usually match the front.
    pending: RefCell<VecDeque<Pending>>,
    /// Params of the last accepted valid share and its tip.
    last_valid: RefCell<Option<(String, [u8; 32])>>,
    next_id: Cell<u64>,
    authorized: Cell<bool>,
    alive: Cell<bool>,
    pub submitting: Cell<bool>,
    last_clean_prev: Cell<Option<[u8; 32]>>,
    rng: Cell<u64>,
}

impl Conn {
    pub fn is_authorized(&self) -> bool {
        self.authorized.get() && self.alive.get()
    }

    /// Ends the connection: the reading task sees end of file. Does nothing once the session
    /// has ended (its descriptor may then be closed and its number reused).
    pub fn shut(&self) {
        if !self.alive.get() {
            return;
        }
        // Shutting the socket down (not closing it) wakes the pending read with 0 bytes.
        let _ = socket2::SockRef::from(&BorrowedSocket(self.fd)).shutdown(std::net::Shutdown::Both);
    }

    fn next_random(&self) -> u64 {
        // xorshift64*: deterministic per miner, good enough to pick share kinds.
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A raw descriptor lent to socket2 for one call.
struct BorrowedSocket(RawFd);

impl std::os::fd::AsFd for BorrowedSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: only called by Conn::shut while `alive` is true: the session's reading half,
        // which owns the descriptor, is dropped only after `alive` is set false, and nothing
        // awaits between the check and this use (one thread).
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.0) }
    }
}

/// How a session ended.
enum End {
    /// The load generator is stopping.
    Stop,
    /// The pool asked to reconnect, or the session reached its lifetime.
    Reconnect(Duration),
    /// Lost, refused, or timed out: counted, retried after the reconnect delay.
    Failed,
}

/// The task of miner `index`, for the life of the process.
pub async fn miner_task(ctx: Rc<Ctx>, index: usize) {
    let source = (!ctx.cfg.source_ips.is_empty())
        .then(|| ctx.cfg.source_ips[index % ctx.cfg.source_ips.len()]);
    let worker = ctx.cfg.worker_name(index);
    loop {
        let wait = ctx.connect_slot();
        if !wait.is_zero() {
            monoio::time::sleep(wait).await;
        }
        if ctx.stopping.get() {
            return;
        }
        let start_ns = monotonic_ns();
        ctx.note_connect_start(start_ns);
        let connected = monoio::time::timeout(
            ctx.cfg.handshake_timeout,
            connect_from(ctx.cfg.addr, source),
        )
        .await;
        let stream = match connected {
            Ok(Ok(stream)) => stream,
            Ok(Err(_)) | Err(_) => {
                ctx.report.borrow_mut().connect_failures += 1;
                monoio::time::sleep(ctx.cfg.reconnect_delay).await;
                continue;
            }
        };
        ctx.report.borrow_mut().connects += 1;
        let end = session(&ctx, index, &worker, stream, start_ns).await;
        match end {
            End::Stop => return,
            End::Reconnect(wait) => monoio::time::sleep(wait).await,
            End::Failed => monoio::time::sleep(ctx.cfg.reconnect_delay).await,
        }
        if ctx.stopping.get() {
            return;
        }
    }
}

async fn session(
    ctx: &Rc<Ctx>,
    index: usize,
    worker: &str,
    stream: TcpStream,
    start_ns: u64,
) -> End {
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    let (mut reader, writer) = stream.into_split();
    let conn = Rc::new(Conn {
        index,
        fd,
        writer: RefCell::new(Some(writer)),
        worker: worker.to_owned(),
        extranonce1: RefCell::new(Vec::new()),
        extranonce2_size: Cell::new(0),
        difficulty: Cell::new(None),
        previous_difficulty: Cell::new(None),
        job: RefCell::new(None),
        stale_job: RefCell::new(None),
        work: RefCell::new(None),
        stale_work: RefCell::new(None),
        extranonce2_counter: Cell::new(0),
        pending: RefCell::new(VecDeque::new()),
        last_valid: RefCell::new(None),
        next_id: Cell::new(FIRST_SUBMIT_ID),
        authorized: Cell::new(false),
        alive: Cell::new(true),
        submitting: Cell::new(false),
        last_clean_prev: Cell::new(None),
        rng: Cell::new((ctx.cfg.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1),
    });
    ctx.register(&conn);
    let end = run_session(ctx, &conn, &mut reader, start_ns).await;
    conn.alive.set(false);
    conn.writer.borrow_mut().take();
    if conn.authorized.get() {
        ctx.report.borrow_mut().authorized_now -= 1;
    }
    let unanswered = std::mem::take(&mut *conn.pending.borrow_mut());
    {
        let mut report = ctx.report.borrow_mut();
        for p in unanswered {
            report.kind_mut(p.kind).unanswered += 1;
        }
        // Failures before authorization are counted where they happen (connect, refusal).
        if matches!(end, End::Failed) && conn.authorized.get() {
            report.disconnects += 1;
        }
    }
    ctx.unregister(&conn);
    end
}

async fn run_session(
    ctx: &Rc<Ctx>,
    conn: &Rc<Conn>,
    reader: &mut OwnedReadHalf<TcpStream>,
    start_ns: u64,
) -> End {
    let mut hello = Vec::new();
    if ctx.cfg.configure {
        hello.extend_from_slice(
            format!(
                "{{\"id\":{ID_CONFIGURE},\"method\":\"mining.configure\",\"params\":[[\"version-rolling\"],{{\"version-rolling.mask\":\"1fffe000\",\"version-rolling.min-bit-count\":2}}]}}\n"
            )
            .as_bytes(),
        );
    }
    hello.extend_from_slice(
        format!("{{\"id\":{ID_SUBSCRIBE},\"method\":\"mining.subscribe\",\"params\":[\"ironpool-loadgen/1\"]}}\n").as_bytes(),
    );
    if !write(conn, hello).await {
        return End::Failed;
    }
    let deadline_ns = start_ns + ctx.cfg.handshake_timeout.as_nanos() as u64;
    let lifetime_end_ns = ctx.cfg.session_lifetime.map(|life| {
        let jitter = 0.75 + 0.5 * (conn.next_random() % 1000) as f64 / 1000.0;
        monotonic_ns() + (life.as_nanos() as f64 * jitter) as u64
    });
    let mut line_buf: Vec<u8> = Vec::new();
    let mut buf = Vec::with_capacity(READ_SIZE);
    loop {
        if ctx.stopping.get() {
            return End::Stop;
        }
        let now = monotonic_ns();
        // Until authorized, reads are bounded by the handshake deadline; after, by the lifetime.
        let limit_ns = if conn.authorized.get() {
            lifetime_end_ns
        } else {
            Some(deadline_ns)
        };
        let (result, back) = match limit_ns {
            Some(limit) => {
                let Ok(done) = monoio::time::timeout(
                    Duration::from_nanos(limit.saturating_sub(now)),
                    reader.read(buf),
                )
                .await
                else {
                    if conn.authorized.get() {
                        conn.shut();
                        return End::Reconnect(Duration::ZERO);
                    }
                    ctx.report.borrow_mut().connect_failures += 1;
                    return End::Failed;
                };
                done
            }
            None => reader.read(buf).await,
        };
        buf = back;
        let n = match result {
            Ok(0) | Err(_) => {
                return if ctx.stopping.get() {
                    End::Stop
                } else {
                    End::Failed
                };
            }
            Ok(n) => n,
        };
        let arrival_ns = monotonic_ns();
        line_buf.extend_from_slice(&buf[..n]);
        buf.clear();
        let mut start = 0;
        while let Some(pos) = line_buf[start..].iter().position(|b| *b == b'\n') {
            let line = &line_buf[start..start + pos];
            start += pos + 1;
            match on_line(ctx, conn, line, arrival_ns) {
                Step::Continue => {}
                Step::Write(bytes) => {
                    if !write(conn, bytes).await {
                        return End::Failed;
                    }
                }
                Step::Authorized if conn.authorized.get() => {
                    // A second "authorized" for the same request: the pool's mistake, counted.
                    ctx.report.borrow_mut().protocol_errors += 1;
                }
                Step::Authorized => {
                    conn.authorized.set(true);
                    let mut report = ctx.report.borrow_mut();
                    report.authorized_now += 1;
                    report.last_authorized_ns = report.last_authorized_ns.max(arrival_ns);
                    record_us(
                        &mut report.connect_to_authorized,
                        arrival_ns.saturating_sub(start_ns) / 1000,
                    );
                    drop(report);
                    ctx.start_submitting(conn);
                }
                Step::End(end) => return end,
            }
        }
        line_buf.drain(..start);
        if line_buf.len() > LINE_MAX {
            ctx.report.borrow_mut().protocol_errors += 1;
            return End::Failed;
        }
    }
}

/// Writes `bytes` whole; false when the connection is gone.
async fn write(conn: &Conn, bytes: Vec<u8>) -> bool {
    let Some(mut writer) = conn.writer.borrow_mut().take() else {
        return false;
    };
    let (result, _) = writer.write_all(bytes).await;
    if result.is_err() || !conn.alive.get() {
        return false;
    }
    *conn.writer.borrow_mut() = Some(writer);
    true
}

/// What the reading task does after a line.
enum Step {
    Continue,
    Write(Vec<u8>),
    Authorized,
    End(End),
}

fn on_line(ctx: &Ctx, conn: &Conn, line: &[u8], arrival_ns: u64) -> Step {
    if let Some(notify) = ctx.notify_cache.get(line) {
        on_notify(ctx, conn, notify, arrival_ns);
        return Step::Continue;
    }
    let Ok(text) = std::str::from_utf8(line) else {
        ctx.report.borrow_mut().protocol_errors += 1;
        return Step::End(End::Failed);
    };
    if text.trim().is_empty() {
        return Step::Continue;
    }
    let message = match parse_line(text) {
        Ok(message) => message,
        Err(_) => {
            ctx.report.borrow_mut().protocol_errors += 1;
            return Step::End(End::Failed);
        }
    };
    match message {
        FromPool::Notify(job) => {
            let notify = Rc::new(Notify {
                job,
                line: line.into(),
            });
            ctx.notify_cache.put(notify.clone());
            on_notify(ctx, conn, notify, arrival_ns);
            Step::Continue
        }
        FromPool::SetDifficulty(d) => {
            conn.previous_difficulty.set(conn.difficulty.get());
            conn.difficulty.set(Some(d));
            Step::Continue
        }
        FromPool::SetExtranonce {
            extranonce1,
            extranonce2_size,
        } => {
            *conn.extranonce1.borrow_mut() = extranonce1;
            conn.extranonce2_size.set(extranonce2_size);
            Step::Continue
        }
        FromPool::Reconnect { wait, .. } => Step::End(End::Reconnect(wait)),
        FromPool::SetVersionMask(_) | FromPool::GetVersion { .. } | FromPool::Other { .. } => {
            Step::Continue
        }
        FromPool::Reply { id, result, error } => match id {
            ID_CONFIGURE => {
                let _ = parse_configure_result(&result);
                Step::Continue
            }
            // Only the submitting task writes once authorized: a late subscribe answer is ignored.
            ID_SUBSCRIBE if conn.authorized.get() => {
                ctx.report.borrow_mut().protocol_errors += 1;
                Step::Continue
            }
            ID_SUBSCRIBE => match parse_subscribe_result(&result) {
                Ok((extranonce1, extranonce2_size)) if error.is_none() => {
                    *conn.extranonce1.borrow_mut() = extranonce1;
                    conn.extranonce2_size.set(extranonce2_size);
                    Step::Write(
                        format!(
                            "{{\"id\":{ID_AUTHORIZE},\"method\":\"mining.authorize\",\"params\":[\"{}\",\"{}\"]}}\n",
                            conn.worker, ctx.cfg.password
                        )
                        .into_bytes(),
                    )
                }
                _ => {
                    ctx.report.borrow_mut().protocol_errors += 1;
                    Step::End(End::Failed)
                }
            },
            ID_AUTHORIZE => {
                if result.as_bool() == Some(true) && error.is_none() {
                    Step::Authorized
                } else {
                    ctx.report.borrow_mut().authorize_refused += 1;
                    Step::End(End::Failed)
                }
            }
            id => {
                on_submit_reply(
                    ctx,
                    conn,
                    id,
                    result.as_bool() == Some(true) && error.is_none(),
                    error.and_then(|e| e.code),
                    arrival_ns,
                );
                Step::Continue
            }
        },
    }
}

fn on_notify(ctx: &Ctx, conn: &Conn, notify: Rc<Notify>, arrival_ns: u64) {
    let mut report = ctx.report.borrow_mut();
    report.notifies += 1;
    let previous = conn.job.replace(Some(notify.clone()));
    let previous_existed = previous.is_some();
    conn.work.borrow_mut().take();
    if notify.job.clean {
        report.clean_notifies += 1;
        drop(report);
        if let Some(previous) = previous.filter(|p| p.job.prev_hash != notify.job.prev_hash) {
            *conn.stale_job.borrow_mut() = Some(previous);
            conn.stale_work.borrow_mut().take();
        }
        // A tip change seen while connected is a fan-out arrival; the first job of a session
        // (a reconnect) is not.
        let seen_before = conn.last_clean_prev.replace(Some(notify.job.prev_hash));
        if previous_existed && seen_before != Some(notify.job.prev_hash) {
            ctx.record_arrival(notify.job.prev_hash, arrival_ns);
        }
    }
}

fn on_submit_reply(
    ctx: &Ctx,
    conn: &Conn,
    id: u64,
    accepted: bool,
    code: Option<i64>,
    arrival_ns: u64,
) {
    let pending = {
        let mut pending = conn.pending.borrow_mut();
        let Some(at) = pending.iter().position(|p| p.id == id) else {
            drop(pending);
            ctx.report.borrow_mut().protocol_errors += 1;
            return;
        };
        match pending.remove(at) {
            Some(p) => p,
            None => return,
        }
    };
    let mut report = ctx.report.borrow_mut();
    record_us(
        &mut report.submit_to_reply,
        arrival_ns.saturating_sub(pending.sent_ns) / 1000,
    );
    let counts = report.kind_mut(pending.kind);
    if accepted {
        counts.accepted += 1;
        if let Some(params) = pending.params {
            *conn.last_valid.borrow_mut() = Some((params, pending.prev_hash));
        }
    } else {
        counts.rejected[RejectCode::from_code(code).index()] += 1;
    }
}

/// The submitting task of one connection: runs while the share rate is above zero.
pub async fn submit_task(ctx: Rc<Ctx>, conn: Rc<Conn>) {
    let rate = ctx.share_rate.get();
    if rate <= 0.0 {
        conn.submitting.set(false);
        return;
    }
    // A random phase spreads the process's submits over the interval.
    let phase = (conn.next_random() % 1_000_000) as f64 / 1_000_000.0;
    // Float to integer casts saturate: a tiny rate gives a far deadline, never an overflow.
    let mut next_ns = monotonic_ns().saturating_add((phase * 1e9 / rate) as u64);
    loop {
        let rate = ctx.share_rate.get();
        if rate <= 0.0 || !conn.alive.get() || ctx.stopping.get() {
            break;
        }
        let now = monotonic_ns();
        if next_ns > now {
            monoio::time::sleep(Duration::from_nanos(next_ns - now)).await;
            continue;
        }
        // Behind by more than a second (the process is saturated): do not burst to catch up.
        next_ns = next_ns
            .max(now.saturating_sub(1_000_000_000))
            .saturating_add((1e9 / rate) as u64);
        let Some(line) = make_share(&ctx, &conn) else {
            continue;
        };
        if !write(&conn, line).await {
            break;
        }
    }
    conn.submitting.set(false);
}

/// The next share's line, recorded as pending; `None` when there is no job or target yet.
fn make_share(ctx: &Ctx, conn: &Conn) -> Option<Vec<u8>> {
    let job = conn.job.borrow().clone()?;
    let difficulty = conn.difficulty.get()?;
    let hardest = difficulty.max(conn.previous_difficulty.get().unwrap_or(difficulty));
    if hardest * 4_294_967_296.0 > HASHES_PER_SHARE_MAX {
        ctx.report.borrow_mut().too_hard += 1;
        return None;
    }
    let easiest = difficulty.min(conn.previous_difficulty.get().unwrap_or(difficulty));
    let mix = ctx.cfg.mix;
    let total = mix.valid + mix.duplicate + mix.stale + mix.low_difficulty;
    let pick = (conn.next_random() >> 11) as f64 / (1u64 << 53) as f64 * total;
    let mut kind = if pick < mix.duplicate {
        ShareKind::Duplicate
    } else if pick < mix.duplicate + mix.stale {
        ShareKind::Stale
    } else if pick < mix.duplicate + mix.stale + mix.low_difficulty {
        ShareKind::LowDifficulty
    } else {
        ShareKind::Valid
    };
    let id = conn.next_id.get();
    conn.next_id.set(id + 1);
    // A duplicate resends an accepted share of the current tip; a stale share needs a job of the
    // previous tip. Without them the share is a valid one.
    if kind == ShareKind::Duplicate {
        let last = conn.last_valid.borrow().clone();
        match last.filter(|(_, prev)| *prev == job.job.prev_hash) {
            Some((params, _)) => {
                return Some(pending(
                    ctx,
                    conn,
                    id,
                    ShareKind::Duplicate,
                    None,
                    job.job.prev_hash,
                    submit_line(id, &params),
                ))
            }
            None => kind = ShareKind::Valid,
        }
    }
    if kind == ShareKind::Stale && conn.stale_job.borrow().is_none() {
        kind = ShareKind::Valid;
    }
    let (slot, on_job) = if kind == ShareKind::Stale {
        (&conn.stale_work, conn.stale_job.borrow().clone()?)
    } else {
        (&conn.work, job)
    };
    let (target, hit) = if kind == ShareKind::LowDifficulty {
        // Below half the easier of the two difficulties in force: low whichever the pool applies.
        (share_target(easiest / 2.0)?, false)
    } else {
        (share_target(hardest)?, true)
    };
    let mut slot = slot.borrow_mut();
    let found = loop {
        let work = match slot.as_mut() {
            Some(work) if !work.exhausted() => work,
            _ => {
                let counter = conn.extranonce2_counter.get();
                conn.extranonce2_counter.set(counter + 1);
                *slot = Some(Work::new(
                    on_job.clone(),
                    &conn.extranonce1.borrow(),
                    conn.extranonce2_size.get(),
                    counter,
                ));
                slot.as_mut()?
            }
        };
        match work.grind(&target, hit) {
            Some(found) => break found,
            None if work.exhausted() => continue,
            None => return None,
        }
    };
    let work = slot.as_ref()?;
    let params = work.submit_params(&conn.worker, found.nonce);
    let line = submit_line(id, &params);
    let is_block = meets(&found.hash, &network_target(work.job.job.nbits));
    drop(slot);
    if is_block && hit {
        ctx.report.borrow_mut().blocks += 1;
    }
    let keep = (kind == ShareKind::Valid).then_some(params);
    Some(pending(
        ctx,
        conn,
        id,
        kind,
        keep,
        on_job.job.prev_hash,
        line,
    ))
}

fn pending(
    ctx: &Ctx,
    conn: &Conn,
    id: u64,
    kind: ShareKind,
    params: Option<String>,
    prev_hash: [u8; 32],
    line: Vec<u8>,
) -> Vec<u8> {
    let evicted = {
        let mut pending = conn.pending.borrow_mut();
        let evicted = (pending.len() >= PENDING_MAX)
            .then(|| pending.pop_front())
            .flatten();
        pending.push_back(Pending {
            id,
            kind,
            sent_ns: monotonic_ns(),
            params,
            prev_hash,
        });
        evicted
    };
    let mut report = ctx.report.borrow_mut();
    if let Some(given_up) = evicted {
        report.kind_mut(given_up.kind).unanswered += 1;
    }
    report.kind_mut(kind).submitted += 1;
    drop(report);
    line
}
