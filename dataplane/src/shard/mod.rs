//! A shard: one thread, one monoio runtime, its own listeners, sessions, jobs, duplicate set and
//! share ring. Nothing is shared with other shards: no locks, no cross-thread queues.

pub mod events;
pub mod job_wake;
pub mod jobs;
pub mod listen;
pub mod shared_line;
pub mod signal;
pub mod validator;

use crate::config::{Driver, Gateway};
use crate::counters::{CounterSnapshot, Counters};
use crate::extranonce::ExtranonceAllocator;
use crate::session::outbound::CloseReason;
use crate::session::state::{SendLimits, Session};
use crate::session::{self, Ended};
use ironpool_shared::ring::{
    block_ring_path, job_ring_path, share_ring_path, JobRingReader, ShareProducer, ShareRingConfig,
    ShareSender, ShareSenderConfig,
};
use ironpool_shared::ring::{EncodedShare, SendError, ShareKind, ShareRecord};
use ironpool_shared::stratum::{reconnect_line, set_difficulty_line, WorkerNameRules};
use ironpool_shared::vardiff::VardiffConfig;
use ironpool_shared::work::JobRecord;
use jobs::{ShardJob, ShardJobs};
use monoio::io::AsyncReadRent;
use shared_line::SharedLine;
use signal::LocalSignal;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};
use validator::Validator;

/// Read buffers kept per shard for sessions to borrow (sessions do not own one while idle).
const READ_BUFFER_BYTES: usize = 4096;
const READ_POOL_MAX: usize = 64;

/// Why a shard stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("shard {shard}: io_uring unavailable ({source}); set gateway.driver = \"epoll\" to run on epoll instead")]
    IoUring {
        shard: usize,
        source: std::io::Error,
    },
    #[error("shard {shard}: cannot build the runtime: {source}")]
    Runtime {
        shard: usize,
        source: std::io::Error,
    },
    #[error("shard {shard}: share ring: {message}")]
    ShareRing { shard: usize, message: String },
    #[error("shard {shard}: job wake-up: {source}")]
    JobWake {
        shard: usize,
        source: std::io::Error,
    },
    #[error("shard {shard}: cannot listen on {addr}: {source}")]
    Listen {
        shard: usize,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Slots of a block ring: blocks are rare, and the sender's backlog and spool take any burst.
const BLOCK_RING_RECORDS: u32 = 64;

/// The two rings a shard writes.
struct Senders {
    shares: ShareSender,
    blocks: ShareSender,
}

/// Everything one shard owns.
pub struct Shard {
    pub index: usize,
    pub ring_id: u16,
    pub config: Arc<Gateway>,
    pub counters: Counters,
    pub jobs: RefCell<ShardJobs>,
    sessions: RefCell<HashMap<u64, Rc<Session>>>,
    next_session: Cell<u64>,
    extranonce: RefCell<ExtranonceAllocator>,
    extranonce1_size: Cell<usize>,
    extranonce2_size: Cell<usize>,
    /// `None` once the shard has stopped (the sender was shut down and its backlog spooled).
    sender: RefCell<Option<ShareSender>>,
    /// Block candidates for the jobmaster, on their own ring (same lifecycle as `sender`).
    block_sender: RefCell<Option<ShareSender>>,
    pub validator: Validator,
    pub worker_rules: WorkerNameRules,
    vardiff: Vec<Rc<VardiffConfig>>,
    read_pool: RefCell<Vec<Vec<u8>>>,
    send_limits: Rc<SendLimits>,
    /// Set when the shard stops: no more connections are accepted.
    stopping: Cell<bool>,
    /// Workers whose first share was announced within the hour, and when the sampling minute
    /// last changed (see `events`).
    pub events: events::EventState,
}

/// What the shards publish for whoever watches the process (tests, status): each shard's
/// counters, refreshed every second, and the stop request.
#[derive(Debug, Default)]
pub struct GatewayControl {
    /// Set to stop every shard: sessions are dropped and queued shares spooled to disk.
    pub stop: AtomicBool,
    pub counters: Mutex<Vec<CounterSnapshot>>,
}

impl GatewayControl {
    /// The sum over shards.
    pub fn totals(&self) -> CounterSnapshot {
        let mut total = CounterSnapshot::default();
        for c in self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            total += *c;
        }
        total
    }
}

/// Starts every shard on its own thread; returns their handles.
pub fn start(
    config: Arc<Gateway>,
    control: Arc<GatewayControl>,
) -> Vec<std::thread::JoinHandle<Result<(), ShardError>>> {
    *control
        .counters
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        vec![CounterSnapshot::default(); config.shards];
    (0..config.shards)
        .map(|index| {
            let (config, control) = (config.clone(), control.clone());
            std::thread::Builder::new()
                .name(format!("shard-{index}"))
                .spawn(move || run_thread(config, control, index))
                .expect("spawning a shard thread at start-up")
        })
        .collect()
}

fn run_thread(
    config: Arc<Gateway>,
    control: Arc<GatewayControl>,
    index: usize,
) -> Result<(), ShardError> {
    if config.pin_cores {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        if let Err(e) = monoio::utils::bind_to_cpu_set([index % cores]) {
            warn!(shard = index, error = ?e, "cannot pin shard to its core");
        }
    }
    let ring_id = config.shard_ring_id(index);
    let share_ring = share_ring_path(&config.ring_dir, ring_id);
    let producer = ShareProducer::open(
        &share_ring,
        &ShareRingConfig {
            capacity: config.share_ring_records,
            reserved_for_blocks: 8,
        },
    )
    .map_err(|e| ShardError::ShareRing {
        shard: index,
        message: e.to_string(),
    })?;
    std::fs::create_dir_all(&config.spool_dir).map_err(|e| ShardError::ShareRing {
        shard: index,
        message: format!("spool dir {}: {e}", config.spool_dir.display()),
    })?;
    let sender =
        ShareSender::new(producer, &ShareSenderConfig::new(&config.spool_dir)).map_err(|e| {
            ShardError::ShareRing {
                shard: index,
                message: e.to_string(),
            }
        })?;
    let block_producer = ShareProducer::open(
        block_ring_path(&config.ring_dir, ring_id),
        &ShareRingConfig {
            capacity: BLOCK_RING_RECORDS,
            reserved_for_blocks: 0,
        },
    )
    .map_err(|e| ShardError::ShareRing {
        shard: index,
        message: e.to_string(),
    })?;
    let block_sender = ShareSender::new(block_producer, &ShareSenderConfig::new(&config.spool_dir))
        .map_err(|e| ShardError::ShareRing {
            shard: index,
            message: e.to_string(),
        })?;
    let senders = Senders {
        shares: sender,
        blocks: block_sender,
    };
    let wake = job_wake::start(job_ring_path(&config.ring_dir), index).map_err(|source| {
        ShardError::JobWake {
            shard: index,
            source,
        }
    })?;
    match config.driver {
        Driver::IoUring => {
            let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                .with_entries(config.uring_entries)
                .enable_timer()
                .build()
                .map_err(|source| ShardError::IoUring {
                    shard: index,
                    source,
                })?;
            rt.block_on(shard_main(config, control, index, ring_id, senders, wake))
        }
        Driver::Epoll => {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .map_err(|source| ShardError::Runtime {
                    shard: index,
                    source,
                })?;
            rt.block_on(shard_main(config, control, index, ring_id, senders, wake))
        }
    }
}

async fn shard_main(
    config: Arc<Gateway>,
    control: Arc<GatewayControl>,
    index: usize,
    ring_id: u16,
    senders: Senders,
    wake: std::os::unix::net::UnixStream,
) -> Result<(), ShardError> {
    let vardiff = config
        .ports
        .iter()
        .map(|p| {
            Rc::new(VardiffConfig {
                target_interval: config.vardiff_target_interval,
                retarget_every: config.vardiff_retarget,
                min: p.min_difficulty,
                max: p.max_difficulty,
                initial: p.difficulty,
                hysteresis: config.vardiff_hysteresis,
                grace: config.difficulty_grace,
                ..VardiffConfig::default()
            })
        })
        .collect();
    let shard = Rc::new(Shard {
        index,
        ring_id,
        extranonce: RefCell::new(ExtranonceAllocator::new(
            config.host_id,
            config.process_id,
            index as u16,
            4,
        )),
        config: config.clone(),
        counters: Counters::default(),
        jobs: RefCell::new(ShardJobs::default()),
        sessions: RefCell::new(HashMap::new()),
        next_session: Cell::new(1),
        extranonce1_size: Cell::new(4),
        extranonce2_size: Cell::new(8),
        sender: RefCell::new(Some(senders.shares)),
        block_sender: RefCell::new(Some(senders.blocks)),
        validator: Validator::default(),
        worker_rules: config.worker_rules.clone(),
        vardiff,
        read_pool: RefCell::new(Vec::new()),
        stopping: Cell::new(false),
        events: events::EventState::starting_now(),
        send_limits: Rc::new(SendLimits {
            queue_bytes_max: config.send_queue_bytes_max,
            timeout: config.send_timeout,
        }),
    });

    let mut wake =
        monoio::net::UnixStream::from_std(wake).map_err(|source| ShardError::JobWake {
            shard: index,
            source,
        })?;
    let mut reader = loop {
        match JobRingReader::attach(job_ring_path(&config.ring_dir)) {
            Ok(r) => break r,
            Err(_) => monoio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    // No listener before the first job: a miner connecting earlier would get no work, and the
    // job says how long extranonce1 is.
    while shard.jobs.borrow().latest().is_none() {
        wait_wake(&mut wake).await;
        read_jobs(&shard, &mut reader);
    }
    for (port, p) in config.ports.iter().enumerate() {
        for addr in &p.addrs {
            let std_listener = listen::bind(*addr).map_err(|source| ShardError::Listen {
                shard: index,
                addr: *addr,
                source,
            })?;
            let listener = monoio::net::TcpListener::from_std(std_listener).map_err(|source| {
                ShardError::Listen {
                    shard: index,
                    addr: *addr,
                    source,
                }
            })?;
            info!(shard = index, %addr, "listening");
            monoio::spawn(accept_loop(shard.clone(), listener, port));
        }
    }
    monoio::spawn(validator::run(shard.clone()));
    let stopping = Rc::new(LocalSignal::default());
    monoio::spawn(timer(shard.clone(), control, stopping.clone()));
    loop {
        let stop = monoio::select! {
            _ = wait_wake(&mut wake) => false,
            _ = stopping.wait() => true,
        };
        if stop {
            break;
        }
        read_jobs(&shard, &mut reader);
    }
    // Shares (and blocks) submitted in the last turn are judged and stored before anything closes.
    shard.stopping.set(true);
    validator::process_queue(&shard);
    // Miners are told where to go, then every session is closed.
    let sessions: Vec<Rc<Session>> = shard.sessions.borrow().values().cloned().collect();
    if let Some((host, port)) = &config.stop_reconnect_to {
        let mut line = Vec::with_capacity(96);
        reconnect_line(&mut line, host, *port, 0);
        let line = SharedLine::new(line);
        for session in &sessions {
            session.send(line.clone());
        }
        info!(shard = index, sessions = sessions.len(), %host, port, "sessions sent client.reconnect");
        // Let the writers that had to wait deliver it.
        monoio::time::sleep(Duration::from_millis(500)).await;
    }
    for session in &sessions {
        session.close(CloseReason::Io);
        // Recorded now, while the rings are still there: the session's task may never run again.
        shard.close_session(session, Ended::Io);
    }
    // Accepted shares still queued in memory go to the spool file: nothing accepted is lost.
    let sender = shard.sender.borrow_mut().take();
    if let Some(sender) = sender {
        match sender.shutdown() {
            Ok(counters) => info!(shard = index, ?counters, "shard stopped"),
            Err(e) => error!(shard = index, error = %e, "shares could not be spooled at stop"),
        }
    }
    let block_sender = shard.block_sender.borrow_mut().take();
    if let Some(sender) = block_sender {
        if let Err(e) = sender.shutdown() {
            error!(shard = index, error = %e, "block candidates could not be spooled at stop");
        }
    }
    Ok(())
}

/// Waits for the wake thread's byte and drains whatever is there.
async fn wait_wake(wake: &mut monoio::net::UnixStream) {
    if wake.readable(false).await.is_err() {
        monoio::time::sleep(Duration::from_millis(100)).await;
        return;
    }
    let (result, _) = wake.read(vec![0u8; 64]).await;
    if matches!(result, Ok(0)) {
        // The wake thread is gone; keep polling the ring slowly rather than spin.
        monoio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn read_jobs(shard: &Rc<Shard>, reader: &mut JobRingReader) {
    loop {
        let (record, resync) = match reader.try_read() {
            Ok(Some(read)) => match JobRecord::decode(read.payload) {
                Ok(record) => (record, read.resync),
                Err(e) => {
                    error!(shard = shard.index, error = %e, "job record undecodable; skipped");
                    continue;
                }
            },
            Ok(None) => return,
            Err(e) => {
                error!(shard = shard.index, error = %e, "job ring unreadable");
                return;
            }
        };
        shard
            .counters
            .jobs_received
            .set(shard.counters.jobs_received.get() + 1);
        shard.new_job(record, resync);
    }
}

async fn accept_loop(shard: Rc<Shard>, listener: monoio::net::TcpListener, port: usize) {
    loop {
        let accepted = listener.accept().await;
        if shard.stopping.get() {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                monoio::spawn(session::run(shard.clone(), stream, port, peer));
            }
            Err(e) => {
                shard
                    .counters
                    .accept_errors
                    .set(shard.counters.accept_errors.get() + 1);
                // EMFILE and friends: back off briefly; pending connections wait in the backlog.
                warn!(shard = shard.index, error = %e, "accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Once a second: vardiff without shares, authorize deadlines, share ring backlog, counters for
/// the process, the stop request; every 10 s a counter line in the log.
async fn timer(shard: Rc<Shard>, control: Arc<GatewayControl>, stopping: Rc<LocalSignal>) {
    let mut tick = monoio::time::interval(Duration::from_secs(1));
    let mut ticks = 0u64;
    loop {
        tick.tick().await;
        ticks += 1;
        let now = Instant::now();
        let sessions: Vec<Rc<Session>> = shard.sessions.borrow().values().cloned().collect();
        for session in sessions {
            // Subscribed and authorized in time, or gone: a session that never gets work holds a
            // socket for nothing.
            let (authorized, connected_at) = {
                let s = session.state.borrow();
                (s.worker.is_some() && s.subscribed, s.connected_at)
            };
            if !authorized && now.duration_since(connected_at) > shard.config.authorize_timeout {
                shard
                    .counters
                    .closed_authorize_timeout
                    .set(shard.counters.closed_authorize_timeout.get() + 1);
                session.close(CloseReason::AuthorizeTimeout);
                continue;
            }
            let changed = session.state.borrow_mut().vardiff.on_timer(now);
            if changed.is_some() {
                shard.send_difficulty_after_reply(&session);
            }
        }
        if let Some(sender) = shard.sender.borrow_mut().as_mut() {
            if let Err(e) = sender.flush() {
                error!(shard = shard.index, error = %e, "share ring flush failed");
            }
        }
        if let Some(sender) = shard.block_sender.borrow_mut().as_mut() {
            if let Err(e) = sender.flush() {
                error!(shard = shard.index, error = %e, "block ring flush failed");
            }
        }
        if let Some(slot) = control
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(shard.index)
        {
            *slot = shard.counters.snapshot();
        }
        shard.sample_connections();
        if control.stop.load(Ordering::Relaxed) {
            stopping.notify();
            return;
        }
        if ticks.is_multiple_of(10) {
            let c = shard.counters.snapshot();
            info!(
                shard = shard.index,
                open = c.connections_open,
                accepted = c.shares_accepted,
                blocks = c.blocks_found,
                jobs = c.jobs_received,
                "shard counters"
            );
        }
    }
}

impl Shard {
    /// Hands a record to the share ring; a block candidate goes to the block ring first, for the
    /// jobmaster, then to the share ring, for the accounting. `Err` only when the record was
    /// refused (it does not fit the format) or the shard has stopped: a ring or spool failure
    /// leaves the record held in memory, to be stored by a later flush, and is logged.
    pub fn send_record(&self, record: &ShareRecord) -> Result<(), String> {
        let encoded = record.encode().map_err(|e| e.to_string())?;
        let block = if record.kind == ShareKind::BlockCandidate {
            Self::hand(&self.block_sender, encoded.clone(), "block ring")
        } else {
            Ok(())
        };
        // Both rings get their copy whatever happened to the other.
        let share = Self::hand(&self.sender, encoded, "share ring");
        block.and(share)
    }

    fn hand(
        sender: &RefCell<Option<ShareSender>>,
        record: EncodedShare,
        ring: &str,
    ) -> Result<(), String> {
        let mut sender = sender.borrow_mut();
        let Some(sender) = sender.as_mut() else {
            return Err("shard stopped".to_owned());
        };
        match sender.send_encoded(record) {
            Ok(_) => Ok(()),
            Err(SendError::Encode(e)) => Err(e.to_string()),
            Err(e) => {
                error!(ring, error = %e, "record held in memory: its ring or spool failed; it is stored by a later flush");
                Ok(())
            }
        }
    }

    /// The extranonce2 size of the current jobs.
    pub fn extranonce2_size(&self) -> usize {
        self.extranonce2_size.get()
    }

    /// Registers a new connection.
    pub fn open_session(
        &self,
        port: usize,
        now: Instant,
        stream: Rc<monoio::net::TcpStream>,
        fd: std::os::fd::RawFd,
        peer: std::net::SocketAddr,
    ) -> Rc<Session> {
        let id = self.next_session.get();
        self.next_session.set(id + 1);
        let extranonce1 = self.extranonce.borrow_mut().allocate();
        let vardiff = self
            .vardiff
            .get(port)
            .or_else(|| self.vardiff.first())
            .cloned()
            .unwrap_or_default();
        let session = Rc::new(Session::new(
            id,
            peer,
            stream,
            fd,
            self.send_limits.clone(),
            &extranonce1,
            vardiff,
            now,
        ));
        self.sessions.borrow_mut().insert(id, session.clone());
        self.counters
            .connections_accepted
            .set(self.counters.connections_accepted.get() + 1);
        self.counters
            .connections_open
            .set(self.counters.connections_open.get() + 1);
        session
    }

    /// Forgets a connection and counts why it ended.
    /// Forgets a session once (its task and the shard's stop may both call this).
    pub fn close_session(&self, session: &Session, ended: Ended) {
        if self.sessions.borrow_mut().remove(&session.id).is_none() {
            return;
        }
        self.send_event(session, ShareKind::Disconnected);
        let extranonce1 = session.state.borrow().extranonce1;
        self.extranonce.borrow_mut().release(extranonce1.as_slice());
        self.counters
            .connections_open
            .set(self.counters.connections_open.get().saturating_sub(1));
        let c = &self.counters;
        let cell = match ended {
            Ended::ByPeer | Ended::Io => Some(&c.closed_by_peer),
            // Counted here: they are found by the session's writer.
            Ended::SendQueueFull => Some(&c.closed_send_queue_full),
            Ended::SendTimeout => Some(&c.closed_send_timeout),
            // Counted where they were detected.
            Ended::LineTooLong | Ended::NotJson | Ended::ErrorsInRow | Ended::AuthorizeTimeout => {
                None
            }
        };
        if let Some(cell) = cell {
            cell.set(cell.get() + 1);
        }
    }

    /// Sessions that have authorized a worker.
    pub fn authorized_sessions(&self) -> u64 {
        self.sessions
            .borrow()
            .values()
            .filter(|s| s.state.borrow().worker.is_some())
            .count() as u64
    }

    /// A buffer of `READ_BUFFER_BYTES` to read into, from the shard's pool.
    pub fn take_read_buffer(&self) -> Vec<u8> {
        self.read_pool
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| vec![0; READ_BUFFER_BYTES])
    }

    pub fn give_read_buffer(&self, buf: Vec<u8>) {
        let mut pool = self.read_pool.borrow_mut();
        if pool.len() < READ_POOL_MAX {
            pool.push(buf);
        }
    }

    /// First difficulty and job for a session that just became subscribed and authorized.
    pub fn prime(&self, session: &Rc<Session>, _now: Instant) {
        if !session.is_mining() || session.state.borrow().primed {
            return;
        }
        session.state.borrow_mut().primed = true;
        self.queue_difficulty(session);
        let latest = self.jobs.borrow().latest();
        if let Some(job) = latest {
            session.send(job.notify_clean.clone());
            self.counters
                .notifies_sent
                .set(self.counters.notifies_sent.get() + 1);
        }
    }

    /// A new difficulty, then the latest job again, so the difficulty applies from that job on.
    pub fn send_difficulty_after_reply(&self, session: &Rc<Session>) {
        if !session.state.borrow().primed {
            return;
        }
        self.queue_difficulty(session);
        let latest = self.jobs.borrow().latest();
        if let Some(job) = latest {
            session.send(job.notify.clone());
            self.counters
                .notifies_sent
                .set(self.counters.notifies_sent.get() + 1);
        }
    }

    fn queue_difficulty(&self, session: &Rc<Session>) {
        let difficulty = session.state.borrow().vardiff.current();
        let mut line = Vec::with_capacity(64);
        if set_difficulty_line(&mut line, difficulty).is_ok() {
            session.send(SharedLine::new(line));
        }
    }

    /// A job from the ring: kept, and its notify queued to every mining session (one buffer).
    fn new_job(&self, record: JobRecord, resync: bool) {
        self.extranonce2_size.set(record.extranonce.extranonce2);
        let size = record.extranonce.extranonce1;
        if size != self.extranonce1_size.get() {
            // Sessions made before keep their value; new ones get the jobs' size.
            info!(shard = self.index, size, "extranonce1 size set by the jobs");
            self.extranonce1_size.set(size);
            self.extranonce.borrow_mut().set_size(size);
        }
        let job = Rc::new(ShardJob::new(record));
        let clean = self.jobs.borrow_mut().insert(job.clone(), resync);
        let line = if clean {
            job.notify_clean.clone()
        } else {
            job.notify.clone()
        };
        let sessions: Vec<Rc<Session>> = self.sessions.borrow().values().cloned().collect();
        let mut sent = 0u64;
        for session in sessions {
            if session.state.borrow().primed && session.send(line.clone()) {
                sent += 1;
            }
        }
        self.counters
            .notifies_sent
            .set(self.counters.notifies_sent.get() + sent);
    }
}
