//! `loadgen`: many Stratum V1 miners per process, for measuring any pool (ironpool, ckpool,
//! public-pool) from the outside with the public protocol only.
//!
//! One thread runs a monoio runtime (io_uring, or epoll) with one task per miner: connect (from
//! source addresses 127.0.0.x in turn, at a set rate or all at once), `mining.configure`,
//! `mining.subscribe`, `mining.authorize`, then read everything the pool sends. While shares are
//! on, each authorized miner also submits at a set rate a mix of valid shares (really ground
//! against its job and the difficulty the pool set), duplicates, stale and low-difficulty shares.
//!
//! It records (hdrhistogram, microseconds): connect → authorized, submit → reply, and for each new
//! block the time from a trigger to each miner's clean `mining.notify`. Several processes are
//! merged by a harness from their report lines (histograms serialized in them).
//!
//! - [`config`]: [`LoadgenConfig`], [`ShareMix`], [`Driver`];
//! - `runtime`: the thread, the shared state, the commands;
//! - `miner`: one miner's connection and submitting tasks;
//! - [`shares`]: grinding and submit lines; [`notify`]: the parsed notify and its cache;
//! - [`record`]: counters, histograms and report lines; [`trigger`]: making a block happen;
//! - [`clock`]: `CLOCK_MONOTONIC`, shared by every process of the host.

pub mod clock;
pub mod config;
mod connect;
mod miner;
pub mod notify;
pub mod record;
mod runtime;
pub mod shares;
pub mod trigger;

pub use config::{ConfigError, Driver, LoadgenConfig, ShareMix};
pub use record::{FanoutReport, KindCounts, Report};

use runtime::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why the load generator cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot start the load generator: {0}")]
    Start(String),
    /// The runtime thread ended (it panicked, or was stopped).
    #[error("the load generator's runtime is gone")]
    Gone,
    #[error("{0}")]
    Timeout(String),
}

/// A running load generator process part: its runtime thread and the way to talk to it.
pub struct Loadgen {
    commands: mpsc::Sender<Command>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Loadgen {
    /// Starts the runtime thread and every miner.
    ///
    /// # Errors
    ///
    /// A configuration out of range, or a runtime that cannot start (no io_uring, say).
    pub fn start(cfg: LoadgenConfig) -> Result<Loadgen, LoadgenError> {
        cfg.validate()?;
        let (commands, rx) = mpsc::channel();
        let (started_tx, started_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("loadgen".into())
            .spawn(move || runtime::run(cfg, rx, started_tx))
            .map_err(|e| LoadgenError::Start(e.to_string()))?;
        match started_rx.recv() {
            Ok(Ok(())) => Ok(Loadgen {
                commands,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(LoadgenError::Start(e)),
            Err(_) => Err(LoadgenError::Gone),
        }
    }

    /// The counters now; `reset_shares` clears the share counters and submit latencies after.
    pub fn report(&self, reset_shares: bool) -> Result<Report, LoadgenError> {
        let (reply, rx) = mpsc::channel();
        self.commands
            .send(Command::Report {
                reset_shares,
                reply,
            })
            .map_err(|_| LoadgenError::Gone)?;
        rx.recv().map_err(|_| LoadgenError::Gone)
    }

    /// Shares per second per authorized miner from now on (0 stops submitting).
    pub fn set_share_rate(&self, rate: f64) -> Result<(), LoadgenError> {
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(ConfigError(format!("share rate {rate} must be finite and ≥ 0")).into());
        }
        self.commands
            .send(Command::ShareRate(rate))
            .map_err(|_| LoadgenError::Gone)
    }

    /// Waits until `miners` miners are authorized at once.
    pub fn wait_authorized(&self, miners: u64, timeout: Duration) -> Result<Report, LoadgenError> {
        let deadline = Instant::now() + timeout;
        loop {
            let (reply, rx) = mpsc::channel();
            self.commands
                .send(Command::Progress { reply })
                .map_err(|_| LoadgenError::Gone)?;
            let progress = rx.recv().map_err(|_| LoadgenError::Gone)?;
            if progress.authorized_now >= miners {
                return self.report(false);
            }
            if Instant::now() >= deadline {
                return Err(LoadgenError::Timeout(format!(
                    "{} of {miners} miners authorized after {timeout:?} ({} connect failures, {} refused, {} disconnects)",
                    progress.authorized_now,
                    progress.connect_failures,
                    progress.authorize_refused,
                    progress.disconnects
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until every authorized miner received the clean notify for `block` (internal byte
    /// order; `None`: the first new tip after the trigger), or until `timeout`, and reports the
    /// times from `trigger_ns` (`CLOCK_MONOTONIC`) to each arrival.
    pub fn fanout(
        &self,
        trigger_ns: u64,
        block: Option<[u8; 32]>,
        timeout: Duration,
    ) -> Result<FanoutReport, LoadgenError> {
        let (reply, rx) = mpsc::channel();
        self.commands
            .send(Command::Fanout {
                trigger_ns,
                block,
                timeout,
                reply,
            })
            .map_err(|_| LoadgenError::Gone)?;
        rx.recv().map_err(|_| LoadgenError::Gone)
    }

    /// Closes every connection and returns the final counters. Shares still awaiting an answer
    /// are counted unanswered.
    pub fn stop(mut self) -> Result<Report, LoadgenError> {
        let (reply, rx) = mpsc::channel();
        self.commands
            .send(Command::Stop { reply })
            .map_err(|_| LoadgenError::Gone)?;
        let report = rx.recv().map_err(|_| LoadgenError::Gone);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        report
    }
}

impl Drop for Loadgen {
    fn drop(&mut self) {
        // Without stop(): the runtime sees the channel closed, ends every connection and returns.
        if let Some(thread) = self.thread.take() {
            let (dummy, _) = mpsc::channel();
            self.commands = dummy;
            let _ = thread.join();
        }
    }
}
