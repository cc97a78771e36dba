//! A simulated Stratum V1 miner: real TCP, real sha256d, many connections, exact counters.
//!
//! It is a client written from the protocol, not from the pool's code (it shares no codec with the
//! gateway), so tests and the demo check the pool from the outside. Layout:
//!
//! - [`config`]: [`SimMinerConfig`] and the deliberate [`Faults`];
//! - [`protocol`]: parsing what the pool sends (`serde_json::Value`) and building requests;
//! - [`work`]: `mining.notify` fields and the cgminer-style header built from them;
//! - [`target`]: share targets from fractional difficulties, network targets from nbits;
//! - `grinder`: the one thread that hashes for every connection, rate-limited;
//! - [`connection`]: one task per connection (handshake, messages, submits, reconnects);
//! - [`stats`]: the counters, their snapshot and the `RESULT` line.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ironpool_bench::sim_miner::{SimMiner, SimMinerConfig};
//! let mut cfg = SimMinerConfig::new("127.0.0.1:3333".parse()?);
//! cfg.connections = 10;
//! cfg.hashrate_per_connection = 50_000.0;
//! let miner = SimMiner::start(cfg)?;
//! tokio::time::sleep(std::time::Duration::from_secs(10)).await;
//! println!("{:?}", miner.stats().shares);
//! let report = miner.stop().await;
//! println!("{}", report.result_line());
//! # Ok(()) }
//! ```

pub mod config;
pub mod connection;
pub(crate) mod grinder;
pub mod protocol;
pub mod stats;
pub mod target;
pub mod work;

pub use config::{ConfigError, Faults, SimMinerConfig};
pub use stats::{RejectCode, RejectCounts, ShareCounts, ShareKind, SimMinerReport, SimMinerStats};

use connection::Connection;
use grinder::Slot;
use stats::Counters;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts simulated miners.
pub struct SimMiner;

impl SimMiner {
    /// Starts the connections (tokio tasks on the current runtime) and the grinding thread.
    ///
    /// # Errors
    ///
    /// When the configuration is out of range, when called outside a tokio runtime, or when the
    /// grinding thread cannot be started.
    pub fn start(cfg: SimMinerConfig) -> Result<SimMinerHandle, ConfigError> {
        cfg.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let cfg = Arc::new(cfg);
        let counters = Arc::new(Counters::new(cfg.connections));
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        let mut slots = Vec::with_capacity(cfg.connections);
        let mut receivers = Vec::with_capacity(cfg.connections);
        for _ in 0..cfg.connections {
            let (slot, found_rx) = Slot::new();
            slots.push(slot);
            receivers.push(found_rx);
        }
        let grinder_stop = Arc::new(AtomicBool::new(false));
        let grinder = grinder::spawn(
            slots.clone(),
            cfg.hashrate_per_connection,
            Arc::clone(&counters),
            Arc::clone(&grinder_stop),
        )
        .map_err(ConfigError::Thread)?;
        let tasks = slots
            .into_iter()
            .zip(receivers)
            .enumerate()
            .map(|(index, (slot, found_rx))| {
                let connection = Connection {
                    index,
                    cfg: Arc::clone(&cfg),
                    counters: Arc::clone(&counters),
                    slot,
                    found_rx,
                    shutdown: stop_rx.clone(),
                    stop: Arc::clone(&stop_tx),
                };
                runtime.spawn(connection.run())
            })
            .collect();
        let timer = cfg.duration.map(|duration| {
            let stop_tx = Arc::clone(&stop_tx);
            runtime.spawn(async move {
                tokio::time::sleep(duration).await;
                stop_tx.send_replace(true);
            })
        });
        Ok(SimMinerHandle {
            counters,
            stop_tx,
            tasks,
            timer,
            grinder: Some(grinder),
            grinder_stop,
        })
    }
}

/// A running simulated miner.
pub struct SimMinerHandle {
    counters: Arc<Counters>,
    stop_tx: Arc<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
    timer: Option<JoinHandle<()>>,
    grinder: Option<std::thread::JoinHandle<()>>,
    grinder_stop: Arc<AtomicBool>,
}

impl SimMinerHandle {
    /// The counters now.
    pub fn stats(&self) -> SimMinerStats {
        self.counters.snapshot()
    }

    /// Whether the miner is stopping: its duration ran out, it found its blocks, or
    /// [`stop`](Self::stop) was called.
    pub fn is_stopping(&self) -> bool {
        *self.stop_tx.borrow()
    }

    /// Resolves when the miner decides to stop by itself (duration, blocks). Never resolves
    /// when neither is configured, until [`stop`](Self::stop).
    pub async fn stopping(&self) {
        let mut rx = self.stop_tx.subscribe();
        let _ = rx.wait_for(|stopping| *stopping).await;
    }

    /// Stops: no new submits, replies to those in flight awaited (at most
    /// [`connection::DRAIN_TIMEOUT`]), connections closed, grinding thread joined.
    pub async fn stop(mut self) -> SimMinerReport {
        self.stop_tx.send_replace(true);
        for task in self.tasks.drain(..) {
            // A connection task that panicked has nothing left to count.
            let _ = task.await;
        }
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        self.stop_grinder().await;
        SimMinerReport {
            stats: self.counters.snapshot(),
        }
    }

    async fn stop_grinder(&mut self) {
        self.grinder_stop.store(true, Ordering::Relaxed);
        if let Some(grinder) = self.grinder.take() {
            grinder.thread().unpark();
            let _ = tokio::task::spawn_blocking(move || grinder.join()).await;
        }
    }
}

impl Drop for SimMinerHandle {
    fn drop(&mut self) {
        // Dropped without stop(): end the tasks and the thread without waiting for them.
        self.stop_tx.send_replace(true);
        self.grinder_stop.store(true, Ordering::Relaxed);
        for task in &self.tasks {
            task.abort();
        }
        if let Some(timer) = &self.timer {
            timer.abort();
        }
    }
}
