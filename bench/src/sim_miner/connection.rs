//! One simulated miner connection: connect, handshake, follow the pool's messages, submit what the
//! grinder finds, and connect again when the connection ends (after `client.reconnect`, or after
//! [`SimMinerConfig::reconnect_delay`] when it was lost).
//!
//! Handshake: `mining.configure` (if version rolling is on) and `mining.subscribe` are sent at
//! once; on the subscribe result come `mining.suggest_difficulty`, `mining.extranonce.subscribe`
//! (both if configured) and `mining.authorize`. Work is handed to the grinder only once authorized.
//!
//! Rules the miner keeps:
//! - a clean `mining.notify` starts a new epoch: shares found on older epochs are discarded;
//! - a new difficulty applies to work from the next notify on; a *higher* one also applies at once
//!   (the current work is republished with it, and shares found meanwhile that miss it are
//!   discarded), so the miner never submits below what either convention expects;
//! - `mining.set_version_mask` applies at once (BIP310); `mining.set_extranonce` from the next notify;
//! - on stop and on `client.reconnect`, no new submits: the connection waits up to
//!   [`DRAIN_TIMEOUT`] for the replies to the submits in flight, then closes (and for
//!   `client.reconnect` connects again), so every share it sent has its answer counted.

use super::config::SimMinerConfig;
use super::grinder::{Found, Slot, Work};
use super::protocol::{
    parse_configure_result, parse_line, parse_subscribe_result, reply_line, request_line, FromPool,
    PoolError,
};
use super::stats::{Counters, RejectCode, ShareKind};
use super::target::{meets, network_target, share_target};
use super::work::NotifyJob;
use bitcoin::hex::DisplayHex;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, timeout, Instant};

/// The version bits the miner asks to roll (BIP310's usual mask).
pub const REQUESTED_VERSION_MASK: u32 = 0x1fff_e000;
/// Minimum number of rollable bits asked for.
const MIN_BIT_COUNT: u32 = 2;
/// Longest line accepted from a pool.
pub const LINE_MAX: usize = 256 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping connection waits for replies to its submits.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// What `client.get_version` is answered with.
const USER_AGENT: &str = concat!("ironpool-sim-miner/", env!("CARGO_PKG_VERSION"));

/// A connection's task state, kept across sessions.
pub(crate) struct Connection {
    pub index: usize,
    pub cfg: Arc<SimMinerConfig>,
    pub counters: Arc<Counters>,
    pub slot: Arc<Slot>,
    pub found_rx: mpsc::UnboundedReceiver<Found>,
    pub shutdown: watch::Receiver<bool>,
    /// To stop the whole miner (stop_after_blocks).
    pub stop: Arc<watch::Sender<bool>>,
}

/// How a session ended.
enum SessionEnd {
    Shutdown,
    Reconnect {
        host: Option<String>,
        port: Option<u16>,
        wait: Duration,
    },
    Lost(String),
}

impl Connection {
    pub async fn run(mut self) {
        let mut target = self.cfg.addr;
        let mut sessions = 0u64;
        let source = (!self.cfg.source_ips.is_empty())
            .then(|| self.cfg.source_ips[self.index % self.cfg.source_ips.len()]);
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            let connected = tokio::select! {
                r = timeout(CONNECT_TIMEOUT, connect(target, source)) => match r {
                    Ok(Ok(stream)) => Ok(stream),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out".to_owned()),
                },
                () = wait_stop(&mut self.shutdown) => break,
            };
            let stream = match connected {
                Ok(stream) => stream,
                Err(e) => {
                    Counters::bump(&self.counters.connect_failures);
                    self.counters
                        .set_last_error(self.index, format!("connect to {target}: {e}"));
                    if !self.pause(self.cfg.reconnect_delay).await {
                        break;
                    }
                    continue;
                }
            };
            if sessions > 0 {
                Counters::bump(&self.counters.reconnects);
            }
            sessions += 1;
            Counters::bump(&self.counters.connects);
            Counters::bump(&self.counters.open_connections);
            let end = Session::new(&mut self, sessions).run(stream).await;
            self.counters
                .open_connections
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            self.slot.publish(None);
            match end {
                SessionEnd::Shutdown => break,
                SessionEnd::Reconnect { host, port, wait } => {
                    Counters::bump(&self.counters.reconnect_requests);
                    target = self.reconnect_target(target, host, port).await;
                    if !self.pause(wait).await {
                        break;
                    }
                }
                SessionEnd::Lost(e) => {
                    Counters::bump(&self.counters.disconnects);
                    self.counters.set_last_error(self.index, e);
                    if !self.pause(self.cfg.reconnect_delay).await {
                        break;
                    }
                }
            }
        }
    }

    /// Waits `duration`; false when the miner is stopping.
    async fn pause(&mut self, duration: Duration) -> bool {
        tokio::select! {
            () = sleep(duration) => !*self.shutdown.borrow(),
            () = wait_stop(&mut self.shutdown) => false,
        }
    }

    async fn reconnect_target(
        &self,
        current: SocketAddr,
        host: Option<String>,
        port: Option<u16>,
    ) -> SocketAddr {
        let port = port.unwrap_or(current.port());
        let Some(host) = host else {
            return SocketAddr::new(current.ip(), port);
        };
        let resolved = tokio::net::lookup_host((host.as_str(), port)).await;
        match resolved {
            Ok(mut addrs) => addrs
                .find(|a| a.is_ipv4() == current.is_ipv4())
                .unwrap_or(current),
            Err(e) => {
                self.counters.set_last_error(
                    self.index,
                    format!("client.reconnect to {host}:{port}: {e}; staying on {current}"),
                );
                current
            }
        }
    }
}

/// Resolves once the miner is stopping (or its handle is gone).
async fn wait_stop(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}

async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// What a request id is waiting for.
enum Pending {
    Configure,
    Subscribe,
    Authorize,
    /// Replies we do not act on (suggest_difficulty, extranonce.subscribe).
    Ignored,
    Submit(Submitted),
}

struct Submitted {
    kind: ShareKind,
    params: Value,
    epoch: u64,
    is_block: bool,
}

enum Event {
    Read(std::io::Result<usize>),
    Found(Found),
    Stop,
    HandshakeTimeout,
    DrainTimeout,
}

/// One TCP connection's life.
struct Session<'a> {
    conn: &'a mut Connection,
    id: u64,
    writer: Option<OwnedWriteHalf>,
    next_request: u64,
    pending: HashMap<u64, Pending>,
    worker: String,
    subscribed: bool,
    authorized: bool,
    extranonce1: Vec<u8>,
    extranonce2_size: usize,
    difficulty: f64,
    version_mask: u32,
    epoch: u64,
    latest_job: Option<Arc<NotifyJob>>,
    work: Option<Arc<Work>>,
    /// The share held back for the stale fault.
    held: Option<Found>,
    /// No new submits: waiting for the replies to those in flight, then `leaving` (or shutdown).
    draining: bool,
    drain_deadline: Instant,
    leaving: Option<SessionEnd>,
}

impl<'a> Session<'a> {
    fn new(conn: &'a mut Connection, id: u64) -> Self {
        let worker = conn.cfg.worker_name(conn.index);
        Session {
            conn,
            id,
            writer: None,
            next_request: 1,
            pending: HashMap::new(),
            worker,
            subscribed: false,
            authorized: false,
            extranonce1: Vec::new(),
            extranonce2_size: 0,
            difficulty: 1.0,
            version_mask: 0,
            epoch: 0,
            latest_job: None,
            work: None,
            held: None,
            draining: false,
            drain_deadline: Instant::now(),
            leaving: None,
        }
    }

    async fn run(mut self, stream: TcpStream) -> SessionEnd {
        let (mut reader, writer) = stream.into_split();
        self.writer = Some(writer);
        let end = match self.run_inner(&mut reader).await {
            Ok(end) => end,
            Err(e) => SessionEnd::Lost(e),
        };
        self.conn.slot.publish(None);
        for pending in self.pending.values() {
            if let Pending::Submit(s) = pending {
                self.conn.counters.unanswered(s.kind);
            }
        }
        if let Some(mut writer) = self.writer.take() {
            let _ = timeout(Duration::from_secs(1), writer.shutdown()).await;
        }
        end
    }

    async fn run_inner(
        &mut self,
        reader: &mut tokio::net::tcp::OwnedReadHalf,
    ) -> Result<SessionEnd, String> {
        let handshake_deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        if self.conn.cfg.version_rolling {
            let params = json!([
                ["version-rolling"],
                {
                    "version-rolling.mask": format!("{REQUESTED_VERSION_MASK:08x}"),
                    "version-rolling.min-bit-count": MIN_BIT_COUNT
                }
            ]);
            self.request("mining.configure", params, Pending::Configure)
                .await?;
        }
        self.request("mining.subscribe", json!([USER_AGENT]), Pending::Subscribe)
            .await?;
        let mut buffer: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            if !self.draining && *self.conn.shutdown.borrow() {
                self.start_draining(None);
            }
            if self.draining && !self.has_pending_submits() {
                return Ok(self.leave());
            }
            let drain_deadline = self.drain_deadline;
            let event = {
                let conn = &mut *self.conn;
                tokio::select! {
                    r = reader.read(&mut chunk) => Event::Read(r),
                    Some(found) = conn.found_rx.recv() => Event::Found(found),
                    () = wait_stop(&mut conn.shutdown), if !self.draining => Event::Stop,
                    () = tokio::time::sleep_until(handshake_deadline), if !self.authorized => {
                        Event::HandshakeTimeout
                    }
                    () = tokio::time::sleep_until(drain_deadline), if self.draining => {
                        Event::DrainTimeout
                    }
                }
            };
            match event {
                Event::Read(Ok(0)) => {
                    return Ok(if self.draining {
                        self.leave()
                    } else {
                        SessionEnd::Lost("connection closed by the pool".into())
                    });
                }
                Event::Read(Ok(n)) => {
                    buffer.extend_from_slice(&chunk[..n]);
                    if let Some(end) = self.process_lines(&mut buffer).await? {
                        return Ok(end);
                    }
                }
                Event::Read(Err(e)) => return Err(format!("read: {e}")),
                Event::Found(found) => {
                    self.conn.slot.taken();
                    self.on_found(found).await?;
                }
                Event::Stop => {} // handled at the top of the loop
                Event::HandshakeTimeout => {
                    return Err(format!(
                        "not authorized {} s after connecting",
                        HANDSHAKE_TIMEOUT.as_secs()
                    ));
                }
                Event::DrainTimeout => return Ok(self.leave()),
            }
        }
    }

    /// Stops submitting; the session ends with `leaving` (None: shutdown) once the submits in
    /// flight are answered or after [`DRAIN_TIMEOUT`].
    fn start_draining(&mut self, leaving: Option<SessionEnd>) {
        self.draining = true;
        self.drain_deadline = Instant::now() + DRAIN_TIMEOUT;
        self.leaving = leaving;
        self.conn.slot.publish(None);
    }

    fn leave(&mut self) -> SessionEnd {
        self.leaving.take().unwrap_or(SessionEnd::Shutdown)
    }

    fn has_pending_submits(&self) -> bool {
        self.pending
            .values()
            .any(|p| matches!(p, Pending::Submit(_)))
    }

    /// Handles every complete line in `buffer`, keeping the incomplete rest.
    async fn process_lines(&mut self, buffer: &mut Vec<u8>) -> Result<Option<SessionEnd>, String> {
        let mut start = 0;
        while let Some(offset) = buffer[start..].iter().position(|b| *b == b'\n') {
            let end = start + offset;
            let line = String::from_utf8_lossy(&buffer[start..end]).into_owned();
            start = end + 1;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(session_end) = self.on_line(line).await? {
                return Ok(Some(session_end));
            }
        }
        buffer.drain(..start);
        if buffer.len() > LINE_MAX {
            return Err(format!("line longer than {LINE_MAX} bytes from the pool"));
        }
        Ok(None)
    }

    async fn on_line(&mut self, line: &str) -> Result<Option<SessionEnd>, String> {
        let message = match parse_line(line) {
            Ok(message) => message,
            Err(e) => {
                Counters::bump(&self.conn.counters.protocol_errors);
                self.conn
                    .counters
                    .set_last_error(self.conn.index, e.to_string());
                return Ok(None);
            }
        };
        let counters = Arc::clone(&self.conn.counters);
        match message {
            FromPool::Reply { id, result, error } => return self.on_reply(id, result, error).await,
            FromPool::Notify(job) => {
                if job.clean {
                    Counters::bump(&counters.notifies_clean);
                    self.epoch += 1;
                } else {
                    Counters::bump(&counters.notifies_not_clean);
                }
                self.latest_job = Some(Arc::new(job));
                if self.authorized && !self.draining {
                    self.publish();
                }
            }
            FromPool::SetDifficulty(difficulty) => {
                Counters::bump(&counters.difficulty_changes);
                self.difficulty = difficulty;
                let raised = self
                    .work
                    .as_ref()
                    .is_some_and(|w| difficulty > w.difficulty);
                if raised {
                    self.republish(|w| w.difficulty = difficulty);
                }
            }
            FromPool::SetVersionMask(mask) => {
                Counters::bump(&counters.version_mask_changes);
                if self.conn.cfg.version_rolling {
                    self.version_mask = mask & REQUESTED_VERSION_MASK;
                    let granted = self.version_mask;
                    self.republish(|w| w.version_mask = granted);
                }
            }
            FromPool::SetExtranonce {
                extranonce1,
                extranonce2_size,
            } => {
                Counters::bump(&counters.extranonce_changes);
                self.extranonce1 = extranonce1;
                self.extranonce2_size = extranonce2_size;
            }
            FromPool::Reconnect { host, port, wait } => {
                if !self.draining {
                    self.start_draining(Some(SessionEnd::Reconnect { host, port, wait }));
                }
            }
            FromPool::GetVersion { id } => {
                self.send(reply_line(&id, json!(USER_AGENT))).await?;
            }
            FromPool::Other { .. } => {}
        }
        Ok(None)
    }

    async fn on_reply(
        &mut self,
        id: u64,
        result: Value,
        error: Option<PoolError>,
    ) -> Result<Option<SessionEnd>, String> {
        let counters = Arc::clone(&self.conn.counters);
        let Some(pending) = self.pending.remove(&id) else {
            Counters::bump(&counters.protocol_errors);
            counters.set_last_error(self.conn.index, format!("reply to unknown id {id}"));
            return Ok(None);
        };
        match pending {
            Pending::Configure => {
                self.version_mask = if error.is_none() {
                    parse_configure_result(&result).map_or(0, |m| m & REQUESTED_VERSION_MASK)
                } else {
                    0
                };
            }
            Pending::Subscribe => {
                if let Some(e) = error {
                    return Ok(Some(SessionEnd::Lost(format!("subscribe refused: {e}"))));
                }
                let (extranonce1, extranonce2_size) =
                    parse_subscribe_result(&result).map_err(|e| e.to_string())?;
                self.extranonce1 = extranonce1;
                self.extranonce2_size = extranonce2_size;
                self.subscribed = true;
                Counters::bump(&counters.subscribed);
                if let Some(d) = self.conn.cfg.suggest_difficulty {
                    self.request("mining.suggest_difficulty", json!([d]), Pending::Ignored)
                        .await?;
                }
                if self.conn.cfg.extranonce_subscribe {
                    self.request("mining.extranonce.subscribe", json!([]), Pending::Ignored)
                        .await?;
                }
                let params = json!([self.worker, self.conn.cfg.password]);
                self.request("mining.authorize", params, Pending::Authorize)
                    .await?;
            }
            Pending::Authorize => {
                if !(error.is_none() && result.as_bool() == Some(true)) {
                    let why = error.map_or_else(|| result.to_string(), |e| e.to_string());
                    return Ok(Some(SessionEnd::Lost(format!(
                        "authorize {} refused: {why}",
                        self.worker
                    ))));
                }
                self.authorized = true;
                Counters::bump(&counters.authorized);
                if !self.draining {
                    self.publish();
                }
            }
            Pending::Ignored => {}
            Pending::Submit(submitted) => self.on_submit_reply(submitted, &result, error).await?,
        }
        Ok(None)
    }

    async fn on_submit_reply(
        &mut self,
        submitted: Submitted,
        result: &Value,
        error: Option<PoolError>,
    ) -> Result<(), String> {
        let counters = Arc::clone(&self.conn.counters);
        if error.is_none() && result.as_bool() == Some(true) {
            counters.accepted(submitted.kind);
            if submitted.is_block {
                Counters::bump(&counters.blocks_accepted);
            }
            let resubmit = submitted.kind == ShareKind::Valid
                && self.conn.cfg.faults.duplicate
                && submitted.epoch == self.epoch
                && !self.draining;
            if resubmit {
                self.submit_params(
                    ShareKind::Duplicate,
                    submitted.params,
                    submitted.epoch,
                    false,
                )
                .await?;
            }
        } else {
            let code = RejectCode::from_code(error.as_ref().and_then(|e| e.code));
            counters.rejected(submitted.kind, code);
            if submitted.kind == ShareKind::Valid {
                let why = error.map_or_else(|| result.to_string(), |e| e.to_string());
                counters.set_last_error(self.conn.index, format!("share rejected: {why}"));
            }
        }
        Ok(())
    }

    /// Hands the latest job to the grinder with the session's current settings.
    fn publish(&mut self) {
        let Some(job) = self.latest_job.clone() else {
            return;
        };
        let Some(share_target) = share_target(self.difficulty) else {
            return; // unreachable: difficulties are checked when parsed
        };
        let work = Arc::new(Work {
            session: self.id,
            epoch: self.epoch,
            network_target: network_target(job.nbits),
            job,
            extranonce1: self.extranonce1.clone(),
            extranonce2_size: self.extranonce2_size,
            version_mask: self.version_mask,
            difficulty: self.difficulty,
            share_target,
            faults: self.conn.cfg.faults,
        });
        self.work = Some(Arc::clone(&work));
        self.conn.slot.publish(Some(work));
    }

    /// Republishes the current work (same job and extranonce1) with a change.
    fn republish(&mut self, change: impl FnOnce(&mut Work)) {
        let Some(current) = &self.work else {
            return;
        };
        let mut work = (**current).clone();
        change(&mut work);
        if let Some(target) = share_target(work.difficulty) {
            work.share_target = target;
        }
        let work = Arc::new(work);
        self.work = Some(Arc::clone(&work));
        if !self.draining {
            self.conn.slot.publish(Some(work));
        }
    }

    async fn on_found(&mut self, found: Found) -> Result<(), String> {
        let counters = Arc::clone(&self.conn.counters);
        if self.draining {
            return Ok(());
        }
        if found.work.session != self.id || found.work.epoch != self.epoch {
            Counters::bump(&counters.discarded);
            return Ok(());
        }
        let mut is_block = false;
        if found.kind == ShareKind::Valid {
            if self.difficulty > found.work.difficulty {
                let still_meets =
                    share_target(self.difficulty).is_some_and(|t| meets(&found.hash, &t));
                if !still_meets {
                    Counters::bump(&counters.discarded);
                    return Ok(());
                }
            }
            is_block = meets(&found.hash, &found.work.network_target);
            if self.conn.cfg.faults.stale && self.held.is_none() && !is_block {
                self.held = Some(found);
                return Ok(());
            }
        }
        let params = self.share_params(&found);
        self.submit_params(found.kind, params, found.work.epoch, is_block)
            .await?;
        // The stale fault: once a share on a newer epoch is out, the held one is stale for sure.
        if self
            .held
            .as_ref()
            .is_some_and(|h| h.work.epoch < self.epoch)
        {
            if let Some(held) = self.held.take() {
                let params = self.share_params(&held);
                self.submit_params(ShareKind::Stale, params, held.work.epoch, false)
                    .await?;
            }
        }
        Ok(())
    }

    fn share_params(&self, found: &Found) -> Value {
        let work = &found.work;
        let mut params = vec![
            json!(self.worker),
            json!(work.job.job_id),
            json!(found.extranonce2.to_lower_hex_string()),
            json!(format!("{:08x}", found.ntime)),
            json!(format!("{:08x}", found.nonce)),
        ];
        // BIP310: the pool rebuilds (job_version & !mask) | (bits & mask). Bits changed outside
        // the mask are sent too, so the bad-version fault is visible to the pool.
        let bits = (found.version & work.version_mask)
            | ((found.version ^ work.job.version) & !work.version_mask);
        if work.version_mask != 0 || found.kind == ShareKind::BadVersion {
            params.push(json!(format!("{bits:08x}")));
        }
        Value::Array(params)
    }

    async fn submit_params(
        &mut self,
        kind: ShareKind,
        params: Value,
        epoch: u64,
        is_block: bool,
    ) -> Result<(), String> {
        let pending = Pending::Submit(Submitted {
            kind,
            params: params.clone(),
            epoch,
            is_block,
        });
        self.request("mining.submit", params, pending).await?;
        let counters = &self.conn.counters;
        counters.submitted(kind);
        if is_block {
            let blocks = counters
                .blocks_found
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            if self
                .conn
                .cfg
                .stop_after_blocks
                .is_some_and(|limit| blocks >= limit)
            {
                self.conn.stop.send_replace(true);
            }
        }
        Ok(())
    }

    async fn request(
        &mut self,
        method: &str,
        params: Value,
        pending: Pending,
    ) -> Result<(), String> {
        let id = self.next_request;
        self.next_request += 1;
        self.send(request_line(id, method, params)).await?;
        self.pending.insert(id, pending);
        Ok(())
    }

    async fn send(&mut self, line: String) -> Result<(), String> {
        let Some(writer) = self.writer.as_mut() else {
            return Err("connection already closed".into());
        };
        match timeout(WRITE_TIMEOUT, writer.write_all(line.as_bytes())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write: {e}")),
            Err(_) => Err(format!("write blocked for {} s", WRITE_TIMEOUT.as_secs())),
        }
    }
}
