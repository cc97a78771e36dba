//! The load generator's thread: one monoio runtime (io_uring or epoll) running every miner of the
//! process, and the commands from its [`Loadgen`](super::Loadgen) handle.

use super::clock::monotonic_ns;
use super::config::{Driver, LoadgenConfig};
use super::miner::{miner_task, submit_task, Conn};
use super::notify::NotifyCache;
use super::record::{new_histogram, record_us, FanoutReport, Progress, Report};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

/// Blocks whose clean-notify arrivals are kept.
const ARRIVAL_BLOCKS: usize = 32;
/// How often the runtime looks for commands.
const COMMAND_POLL: Duration = Duration::from_millis(2);

/// A request from the handle to the runtime.
pub enum Command {
    Report {
        reset_shares: bool,
        reply: mpsc::Sender<Report>,
    },
    /// How far the connections are, without copying the histograms.
    Progress {
        reply: mpsc::Sender<Progress>,
    },
    ShareRate(f64),
    Fanout {
        trigger_ns: u64,
        block: Option<[u8; 32]>,
        timeout: Duration,
        reply: mpsc::Sender<FanoutReport>,
    },
    Stop {
        reply: mpsc::Sender<Report>,
    },
}

/// When the miners of this process first received a clean notify on one previous-block hash.
struct Arrivals {
    prev_hash: [u8; 32],
    first_ns: u64,
    at_ns: Vec<u64>,
}

/// What every task of the process shares.
pub struct Ctx {
    pub cfg: LoadgenConfig,
    pub report: RefCell<Report>,
    pub share_rate: Cell<f64>,
    pub stopping: Cell<bool>,
    pub notify_cache: NotifyCache,
    conns: RefCell<Vec<Option<Rc<Conn>>>>,
    arrivals: RefCell<VecDeque<Arrivals>>,
    next_connect_ns: Cell<u64>,
    tasks_running: Cell<usize>,
}

impl Ctx {
    /// How long a miner waits before its connect, keeping the process's connect rate.
    pub fn connect_slot(&self) -> Duration {
        let rate = self.cfg.connect_rate;
        if rate <= 0.0 {
            return Duration::ZERO;
        }
        let now = monotonic_ns();
        let slot = self.next_connect_ns.get().max(now);
        self.next_connect_ns
            .set(slot.saturating_add((1e9 / rate) as u64));
        Duration::from_nanos(slot - now)
    }

    pub fn note_connect_start(&self, ns: u64) {
        let mut report = self.report.borrow_mut();
        if report.first_connect_ns == 0 {
            report.first_connect_ns = ns;
        }
    }

    pub fn register(&self, conn: &Rc<Conn>) {
        self.conns.borrow_mut()[conn.index] = Some(conn.clone());
    }

    pub fn unregister(&self, conn: &Rc<Conn>) {
        let mut conns = self.conns.borrow_mut();
        if conns[conn.index]
            .as_ref()
            .is_some_and(|c| Rc::ptr_eq(c, conn))
        {
            conns[conn.index] = None;
        }
    }

    /// Starts the submitting task of an authorized connection, when shares are on.
    pub fn start_submitting(self: &Rc<Self>, conn: &Rc<Conn>) {
        if self.share_rate.get() > 0.0 && !conn.submitting.get() {
            conn.submitting.set(true);
            monoio::spawn(submit_task(self.clone(), conn.clone()));
        }
    }

    pub fn record_arrival(&self, prev_hash: [u8; 32], ns: u64) {
        let mut arrivals = self.arrivals.borrow_mut();
        match arrivals.iter_mut().find(|a| a.prev_hash == prev_hash) {
            Some(a) => a.at_ns.push(ns),
            None => {
                if arrivals.len() == ARRIVAL_BLOCKS {
                    arrivals.pop_front();
                }
                arrivals.push_back(Arrivals {
                    prev_hash,
                    first_ns: ns,
                    at_ns: vec![ns],
                });
            }
        }
    }

    /// The arrivals for `block`, or (no block given) for the first new tip after `trigger_ns`.
    fn find_arrivals(
        arrivals: &VecDeque<Arrivals>,
        trigger_ns: u64,
        block: Option<[u8; 32]>,
    ) -> Option<&Arrivals> {
        match block {
            Some(block) => arrivals.iter().find(|a| a.prev_hash == block),
            None => arrivals
                .iter()
                .filter(|a| a.first_ns >= trigger_ns)
                .min_by_key(|a| a.first_ns),
        }
    }

    /// Whether every authorized miner has the block's clean notify: polled while a fan-out is
    /// awaited, so it only counts (the histogram is built once, by [`fanout`](Self::fanout)).
    fn fanout_complete(&self, trigger_ns: u64, block: Option<[u8; 32]>) -> bool {
        let arrivals = self.arrivals.borrow();
        Self::find_arrivals(&arrivals, trigger_ns, block).is_some_and(|a| {
            a.at_ns.iter().filter(|at| **at >= trigger_ns).count() as u64
                >= self.report.borrow().authorized_now
        })
    }

    fn fanout(&self, trigger_ns: u64, block: Option<[u8; 32]>) -> FanoutReport {
        let arrivals = self.arrivals.borrow();
        let found = Self::find_arrivals(&arrivals, trigger_ns, block);
        let mut latency = new_histogram();
        let mut received = 0;
        if let Some(a) = found {
            for at in a.at_ns.iter().filter(|at| **at >= trigger_ns) {
                record_us(&mut latency, (at - trigger_ns) / 1000);
                received += 1;
            }
        }
        FanoutReport {
            block: found.map(|a| a.prev_hash).or(block),
            trigger_ns,
            miners: self.report.borrow().authorized_now,
            received,
            latency,
        }
    }

    fn set_share_rate(self: &Rc<Self>, rate: f64) {
        self.share_rate.set(rate);
        let conns: Vec<Rc<Conn>> = self.conns.borrow().iter().flatten().cloned().collect();
        for conn in conns.iter().filter(|c| c.is_authorized()) {
            self.start_submitting(conn);
        }
    }
}

/// Runs the process's miners until a `Stop` command (or the handle is dropped).
pub fn run(
    cfg: LoadgenConfig,
    commands: mpsc::Receiver<Command>,
    started: mpsc::Sender<Result<(), String>>,
) {
    let driver = cfg.driver;
    let entries = cfg.uring_entries;
    match driver {
        Driver::IoUring => match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(entries)
            .enable_timer()
            .build()
        {
            Ok(mut rt) => rt.block_on(main(cfg, commands, started)),
            Err(e) => {
                let _ = started.send(Err(format!("io_uring runtime: {e}")));
            }
        },
        Driver::Epoll => match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
        {
            Ok(mut rt) => rt.block_on(main(cfg, commands, started)),
            Err(e) => {
                let _ = started.send(Err(format!("epoll runtime: {e}")));
            }
        },
    }
}

async fn main(
    cfg: LoadgenConfig,
    commands: mpsc::Receiver<Command>,
    started: mpsc::Sender<Result<(), String>>,
) {
    let miners = cfg.miners;
    let ctx = Rc::new(Ctx {
        report: RefCell::new(Report::new(miners)),
        share_rate: Cell::new(cfg.share_rate),
        stopping: Cell::new(false),
        notify_cache: NotifyCache::default(),
        conns: RefCell::new(vec![None; miners]),
        arrivals: RefCell::new(VecDeque::new()),
        next_connect_ns: Cell::new(0),
        tasks_running: Cell::new(0),
        cfg,
    });
    let _ = started.send(Ok(()));
    for index in 0..miners {
        let ctx2 = ctx.clone();
        ctx.tasks_running.set(ctx.tasks_running.get() + 1);
        monoio::spawn(async move {
            miner_task(ctx2.clone(), index).await;
            ctx2.tasks_running.set(ctx2.tasks_running.get() - 1);
        });
    }
    loop {
        let command = match commands.try_recv() {
            Ok(command) => command,
            Err(mpsc::TryRecvError::Empty) => {
                monoio::time::sleep(COMMAND_POLL).await;
                continue;
            }
            Err(mpsc::TryRecvError::Disconnected) => {
                stop(&ctx).await;
                return;
            }
        };
        match command {
            Command::Report {
                reset_shares,
                reply,
            } => {
                let mut report = ctx.report.borrow_mut();
                let _ = reply.send(report.clone());
                if reset_shares {
                    report.reset_shares();
                }
            }
            Command::Progress { reply } => {
                let report = ctx.report.borrow();
                let _ = reply.send(Progress {
                    authorized_now: report.authorized_now,
                    connect_failures: report.connect_failures,
                    authorize_refused: report.authorize_refused,
                    disconnects: report.disconnects,
                });
            }
            Command::ShareRate(rate) => ctx.set_share_rate(rate),
            Command::Fanout {
                trigger_ns,
                block,
                timeout,
                reply,
            } => {
                let ctx = ctx.clone();
                monoio::spawn(async move {
                    let deadline = monotonic_ns()
                        .saturating_add(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX));
                    while !ctx.fanout_complete(trigger_ns, block) && monotonic_ns() < deadline {
                        monoio::time::sleep(Duration::from_millis(5)).await;
                    }
                    let _ = reply.send(ctx.fanout(trigger_ns, block));
                });
            }
            Command::Stop { reply } => {
                stop(&ctx).await;
                let _ = reply.send(ctx.report.borrow().clone());
                return;
            }
        }
    }
}

/// Ends every connection and waits (at most 10 s) for the miner tasks to finish.
async fn stop(ctx: &Rc<Ctx>) {
    ctx.stopping.set(true);
    ctx.share_rate.set(0.0);
    let conns: Vec<Rc<Conn>> = ctx.conns.borrow().iter().flatten().cloned().collect();
    for conn in conns {
        conn.shut();
    }
    let deadline = monotonic_ns() + 10_000_000_000;
    while ctx.tasks_running.get() > 0 && monotonic_ns() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
}
