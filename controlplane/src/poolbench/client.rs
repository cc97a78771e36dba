//! One watched pool: a stratum V1 client that connects, subscribes, authorizes and reads jobs,
//! and reconnects after every failure, for the life of the process.
//!
//! Each job is booked in the shared [`Bench`]; when it shows a tip above every tip seen so far and
//! the pool is a `notify` pool, the tip goes to every relay link at once (before any logging).
//! A bad line is counted and skipped: one broken message must not cost the next job. Only what
//! makes the stream unusable ends the connection: a line over 64 KiB, a refused subscribe, a
//! read error, the pool closing, or [`silence`](crate::config::poolbench::Poolbench) for too long.

use super::bench::{lock, tip_announcement, SharedBench};
use super::leaderboard::{Observation, PoolIndex};
use super::lines::{LineError, LineReader};
use super::message::{authorize_line, parse_line, subscribe_line, BadLine, ServerLine};
use super::notify::Notify;
use crate::config::poolbench::WatchedPool;
use crate::log_throttle::LogThrottle;
use crate::relay_link::RelayHub;
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use ironpool_shared::relay::RelayMessage;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

/// How long a TCP connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first reconnection delay; doubled after each failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest reconnection delay: a pool that is down is tried every 10 s.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Now, unix microseconds (0 if the clock is before 1970).
pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// What a pool task needs.
#[derive(Clone)]
pub struct PoolTask {
    pub index: PoolIndex,
    pub pool: WatchedPool,
    pub bench: SharedBench,
    pub hub: RelayHub,
    /// A connection with no line for this long is dropped and made again.
    pub silence: Duration,
}

/// Watches the pool forever.
pub async fn watch(task: PoolTask) {
    let mut backoff = BACKOFF_MIN;
    let mut failures = LogThrottle::default();
    let mut bad_lines = LogThrottle::default();
    loop {
        let mut healthy = false;
        let reason = session(&task, &mut bad_lines, &mut healthy).await;
        {
            let mut bench = lock(&task.bench);
            if let Some(state) = bench.pools.get_mut(task.index) {
                state.connected = false;
                state.authorized = false;
                state.disconnects += 1;
            }
        }
        if healthy {
            // The pool sent jobs: this failure is news, and the next attempt is immediate-ish.
            backoff = BACKOFF_MIN;
            failures.clear();
        }
        if failures.should_log(&reason) {
            warn!(
                pool = %task.pool.name,
                host = %task.pool.host,
                port = task.pool.port,
                %reason,
                retry_ms = backoff.as_millis() as u64,
                "pool connection lost; reconnecting"
            );
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection, until it fails; returns why. `healthy` is set once the pool sent a job.
async fn session(task: &PoolTask, bad_lines: &mut LogThrottle, healthy: &mut bool) -> String {
    let pool = &task.pool;
    // A name is resolved at each attempt: a pool moving its endpoint is followed.
    let stream = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((pool.host.as_str(), pool.port)),
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return format!("connect: {e}"),
        Err(_) => return format!("connect timed out after {} s", CONNECT_TIMEOUT.as_secs()),
    };
    // Jobs are small and latency is the point; a failure here only costs a few milliseconds.
    if let Err(e) = stream.set_nodelay(true) {
        debug!(pool = %pool.name, error = %e, "TCP_NODELAY not set");
    }
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let (reader, mut writer) = stream.into_split();
    if let Err(e) = writer.write_all(&subscribe_line()).await {
        return format!("send mining.subscribe: {e}");
    }
    if let Some(state) = lock(&task.bench).pools.get_mut(task.index) {
        state.connected = true;
    }
    info!(pool = %pool.name, %peer, "connected; subscribing");

    let mut lines = LineReader::new(reader);
    loop {
        let line = match tokio::time::timeout(task.silence, lines.next_line()).await {
            Err(_) => return format!("silent for {} s", task.silence.as_secs()),
            Ok(Ok(None)) => return "closed by the pool".to_owned(),
            Ok(Err(LineError::TooLong { read, max })) => {
                warn!(pool = %pool.name, length = read, max, "line without a newline over the maximum; disconnecting");
                return format!("line longer than {max} bytes");
            }
            Ok(Err(LineError::Io(e))) => return format!("read: {e}"),
            Ok(Ok(Some(line))) => line,
        };
        let received_us = unix_us();
        match parse_line(line) {
            Ok(ServerLine::Notify(notify)) => {
                *healthy = true;
                on_job(task, &notify, received_us);
            }
            Ok(ServerLine::Subscribed(Ok(()))) => {
                debug!(pool = %pool.name, "subscribed; authorizing");
                if let Err(e) = writer
                    .write_all(&authorize_line(&pool.user, &pool.password))
                    .await
                {
                    return format!("send mining.authorize: {e}");
                }
            }
            Ok(ServerLine::Subscribed(Err(answer))) => {
                return format!("mining.subscribe refused: {answer}");
            }
            Ok(ServerLine::Authorized(Ok(()))) => {
                if let Some(state) = lock(&task.bench).pools.get_mut(task.index) {
                    state.authorized = true;
                }
                info!(pool = %pool.name, user = %pool.user, "authorized");
            }
            Ok(ServerLine::Authorized(Err(answer))) => {
                // Some pools send jobs to anyone subscribed: stay and read them.
                warn!(pool = %pool.name, user = %pool.user, %answer, "mining.authorize refused; still reading jobs");
            }
            Ok(ServerLine::Other) => {}
            Err(bad) => on_bad_line(task, bad_lines, &bad),
        }
    }
}

fn on_bad_line(task: &PoolTask, throttle: &mut LogThrottle, bad: &BadLine) {
    let count = {
        let mut bench = lock(&task.bench);
        bench.pools.get_mut(task.index).map_or(0, |state| {
            state.bad_messages += 1;
            state.bad_messages
        })
    };
    if throttle.should_log(&bad.kind()) {
        warn!(
            pool = %task.pool.name,
            field = bad.field,
            value = %bad.value,
            expected = %bad.expected,
            bad_messages = count,
            "bad line from the pool ignored"
        );
    }
}

fn on_job(task: &PoolTask, notify: &Notify, received_us: u64) {
    let pool = &task.pool;
    let outcome = lock(&task.bench).on_job(task.index, notify, received_us / 1_000);
    let hash = BlockHash::from_byte_array(notify.prev_hash);
    let height = notify.tip_height();
    match outcome.observation {
        Observation::NewBest if pool.notify => {
            let tip = tip_announcement(&pool.name, notify, received_us);
            let links = task.hub.broadcast(&RelayMessage::Tip(tip));
            {
                let mut bench = lock(&task.bench);
                bench.tips_announced += 1;
                if links == 0 {
                    bench.tips_unheard += 1;
                }
            }
            if links == 0 {
                warn!(pool = %pool.name, height, %hash, "pool first at a new height; no jobmaster connected to hear it");
            } else {
                info!(pool = %pool.name, height, %hash, links, "pool first at a new height; tip announced");
            }
        }
        Observation::NewBest => {
            info!(pool = %pool.name, height, %hash, "pool first at a new height (not a notify pool)");
        }
        Observation::Competing { first } => {
            let (first_name, first_hash) = {
                let bench = lock(&task.bench);
                let first_hash = bench
                    .board
                    .best()
                    .map(|(_, h, _)| BlockHash::from_byte_array(h).to_string());
                (bench.name(first).to_owned(), first_hash)
            };
            info!(
                pool = %pool.name,
                height,
                %hash,
                first = %first_name,
                first_hash = first_hash.as_deref().unwrap_or("?"),
                "competing tip: another block at the best height"
            );
        }
        Observation::Followed => {
            debug!(pool = %pool.name, height, %hash, "pool followed");
        }
        Observation::Unchanged => {}
    }
    if let Some(spv) = outcome.spv {
        info!(pool = %pool.name, height = spv.height, ms = spv.ms, "spv mining time");
    }
}
