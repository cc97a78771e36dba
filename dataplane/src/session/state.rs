//! What the shard knows about one connection.

use super::outbound::{CloseReason, Outbound};
use super::socket;
use crate::shard::shared_line::SharedLine;
use ironpool_shared::stratum::WorkerName;
use ironpool_shared::vardiff::{Vardiff, VardiffConfig};
use monoio::net::TcpStream;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Send limits, shared by every session of a shard.
#[derive(Debug)]
pub struct SendLimits {
    /// Bytes a session may have waiting before it is dropped.
    pub queue_bytes_max: usize,
    /// How long a socket may refuse bytes before its session is dropped.
    pub timeout: Duration,
}

/// A session's `extranonce1`, held inline (at most 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extranonce1 {
    bytes: [u8; 8],
    len: u8,
}

impl Extranonce1 {
    pub fn new(value: &[u8]) -> Self {
        let mut bytes = [0u8; 8];
        let len = value.len().min(8);
        bytes[..len].copy_from_slice(&value[..len]);
        Extranonce1 {
            bytes,
            len: len as u8,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The authorized `user.worker`, stored compactly (one heap string): every connected session
/// holds one, and the inline form would cost 130 bytes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    joined: Box<str>,
    user_len: u8,
}

impl Account {
    pub fn new(name: &WorkerName) -> Self {
        let (user, worker) = (name.user(), name.worker());
        Account {
            joined: format!("{user}{worker}").into_boxed_str(),
            user_len: user.len() as u8,
        }
    }

    pub fn user(&self) -> &str {
        self.joined
            .get(..usize::from(self.user_len))
            .unwrap_or_default()
    }

    pub fn worker(&self) -> &str {
        self.joined
            .get(usize::from(self.user_len)..)
            .unwrap_or_default()
    }
}

/// A session, shared between its own task, the shard's fan-out and the validator.
#[derive(Debug)]
pub struct Session {
    pub id: u64,
    /// The miner's address, for the connected / disconnected events.
    pub peer: SocketAddr,
    fd: RawFd,
    /// Keeps the socket (and so `fd`) open as long as anyone can still send to this session.
    stream: Rc<TcpStream>,
    limits: Rc<SendLimits>,
    outbound: Outbound,
    /// A writer task is draining `outbound`.
    writer_active: Cell<bool>,
    closing: Cell<Option<CloseReason>>,
    pub state: RefCell<SessionState>,
}

/// Mutable state of a session.
#[derive(Debug)]
pub struct SessionState {
    pub subscribed: bool,
    /// Set by the first successful `mining.authorize`; shares are credited to it.
    pub worker: Option<Account>,
    pub extranonce1: Extranonce1,
    /// Version bits granted by `mining.configure` (0: no rolling).
    pub version_mask: u32,
    pub vardiff: Vardiff<Rc<VardiffConfig>>,
    pub errors_in_row: u32,
    pub connected_at: Instant,
    /// Whether the session has had its first difficulty and job.
    pub primed: bool,
    /// Whether the worker's first accepted share has been checked against the shard's recent
    /// workers (so the check costs one lookup per session, not one per share).
    pub worker_announced: bool,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        peer: SocketAddr,
        stream: Rc<TcpStream>,
        fd: RawFd,
        limits: Rc<SendLimits>,
        extranonce1: &[u8],
        vardiff: Rc<VardiffConfig>,
        now: Instant,
    ) -> Self {
        Session {
            id,
            peer,
            fd,
            stream,
            limits,
            outbound: Outbound::default(),
            writer_active: Cell::new(false),
            closing: Cell::new(None),
            state: RefCell::new(SessionState {
                subscribed: false,
                worker: None,
                extranonce1: Extranonce1::new(extranonce1),
                version_mask: 0,
                vardiff: Vardiff::new(vardiff, now),
                errors_in_row: 0,
                connected_at: now,
                primed: false,
                worker_announced: false,
            }),
        }
    }

    /// Whether the session gets jobs: subscribed and authorized.
    pub fn is_mining(&self) -> bool {
        let s = self.state.borrow();
        s.subscribed && s.worker.is_some()
    }

    /// Sends a line: straight to the socket when nothing is waiting, else after what is. A
    /// socket that pushes back gets a writer task; one that falls too far behind, or refuses
    /// bytes for too long, is closed. Lines go out in the order they were sent.
    pub fn send(self: &Rc<Self>, line: SharedLine) -> bool {
        if self.closing.get().is_some() {
            return false;
        }
        let sent = if self.outbound.is_empty() && !self.writer_active.get() {
            match socket::send(self.fd, &line.0) {
                Ok(n) => n,
                Err(_) => {
                    self.close(CloseReason::Io);
                    return false;
                }
            }
        } else {
            0
        };
        if sent == line.len() {
            return true;
        }
        if !self.outbound.push(line, sent, self.limits.queue_bytes_max) {
            self.close(CloseReason::SendQueueFull);
            return false;
        }
        if !self.writer_active.replace(true) {
            monoio::spawn(write_pending(self.clone()));
        }
        true
    }

    /// Closes the session for `reason`: nothing more is sent, and its task, woken by the
    /// socket's shutdown, ends.
    pub fn close(&self, reason: CloseReason) {
        if self.closing.get().is_none() {
            self.closing.set(Some(reason));
        }
        self.outbound.clear();
        socket::shutdown(self.fd);
    }

    pub fn closing(&self) -> Option<CloseReason> {
        self.closing.get()
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

/// Drains a session's pending lines as its socket takes them.
async fn write_pending(session: Rc<Session>) {
    while session.closing.get().is_none() {
        match monoio::time::timeout(session.limits.timeout, session.stream.writable(false)).await {
            Err(_) => {
                session.close(CloseReason::SendTimeout);
                break;
            }
            Ok(Err(_)) => {
                session.close(CloseReason::Io);
                break;
            }
            Ok(Ok(())) => {}
        }
        match session
            .outbound
            .drain(|bytes| socket::send(session.fd, bytes))
        {
            Ok(true) => break,
            Ok(false) => {}
            Err(_) => {
                session.close(CloseReason::Io);
                break;
            }
        }
    }
    session.writer_active.set(false);
}
