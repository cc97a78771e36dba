//! The single Redis writer: lines from the outbox → `RPUSH <list> line…` over one long-lived
//! connection (a `ConnectionManager` for one server, a cluster connection for several URLs).
//!
//! ViaBTC opened a new blocking Redis connection per alert (reference §15.4 item 31) inside its
//! event loop. Here one task owns the connection; while Redis is down, lines wait in the bounded
//! outbox (the oldest dropped and counted), the attempt is repeated every second, and the outage
//! is logged once when it starts and once when it ends.

use super::Counters;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Lines per RPUSH (one round trip; atomic per command).
pub const BATCH_MAX: usize = 100;
/// Pause between attempts while Redis fails.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Connect and response timeout of a Redis call: a hung server is an outage like a dead one.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// After this many failed attempts in a row, the connection object is rebuilt from the URLs. The
/// objects reconnect by themselves after I/O errors; this covers what they do not (a cluster
/// whose seed nodes all moved, a connection stuck after a timeout).
const REBUILD_AFTER_FAILURES: u32 = 5;

/// Lines waiting for Redis, bounded; shared by the limiter task (producer) and the writer.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<OutboxState>,
    notify: Notify,
    max: usize,
}

#[derive(Debug, Default)]
struct OutboxState {
    lines: VecDeque<String>,
    closed: bool,
}

impl Outbox {
    pub fn new(max: usize) -> Outbox {
        Outbox {
            state: Mutex::new(OutboxState::default()),
            notify: Notify::new(),
            max: max.max(1),
        }
    }

    /// Queues a line; beyond `max`, drops the oldest and counts it in `dropped`.
    pub fn push(&self, line: String, counters: &Counters) {
        {
            // The lock is only held for queue operations, which cannot panic half-way; a
            // poisoned lock still holds a consistent queue.
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.lines.len() >= self.max {
                state.lines.pop_front();
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            state.lines.push_back(line);
        }
        self.notify.notify_one();
    }

    /// Lines waiting now.
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lines
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// No more lines will come: `take` returns `None` once the queue is empty.
    pub fn close(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.notify.notify_one();
    }

    /// Up to `n` lines, waiting for the first; `None` when closed and empty.
    pub async fn take(&self, n: usize) -> Option<Vec<String>> {
        loop {
            {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if !state.lines.is_empty() {
                    let count = state.lines.len().min(n);
                    return Some(state.lines.drain(..count).collect());
                }
                if state.closed {
                    return None;
                }
            }
            // notify_one stores a permit when nobody waits, so a push between the check above
            // and this await is not missed.
            self.notify.notified().await;
        }
    }
}

/// One long-lived connection to Redis or to a Redis Cluster.
enum Sink {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Sink {
    async fn connect(urls: &[String]) -> redis::RedisResult<Sink> {
        match urls {
            [url] => {
                let client = redis::Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(REDIS_TIMEOUT))
                    .set_response_timeout(Some(REDIS_TIMEOUT))
                    // The writer retries every second itself; the manager's own retries would
                    // only delay the next attempt.
                    .set_number_of_retries(1);
                Ok(Sink::Single(
                    ConnectionManager::new_with_config(client, config).await?,
                ))
            }
            seeds => {
                let client =
                    redis::cluster::ClusterClient::builder(seeds.iter().map(String::as_str))
                        .connection_timeout(REDIS_TIMEOUT)
                        .response_timeout(REDIS_TIMEOUT)
                        .retries(1)
                        .build()?;
                Ok(Sink::Cluster(client.get_async_connection().await?))
            }
        }
    }

    async fn rpush(&mut self, list: &str, lines: &[String]) -> redis::RedisResult<()> {
        let mut command = redis::cmd("RPUSH");
        command.arg(list);
        for line in lines {
            command.arg(line.as_str());
        }
        let _length: i64 = match self {
            Sink::Single(connection) => command.query_async(connection).await?,
            Sink::Cluster(connection) => command.query_async(connection).await?,
        };
        Ok(())
    }
}

/// Connects if needed, then pushes `lines`. The sink is kept for the next call either way.
async fn push(
    sink: &mut Option<Sink>,
    urls: &[String],
    list: &str,
    lines: &[String],
) -> redis::RedisResult<()> {
    let mut connected = match sink.take() {
        Some(s) => s,
        None => Sink::connect(urls).await?,
    };
    let result = connected.rpush(list, lines).await;
    *sink = Some(connected);
    result
}

/// Pushes what the outbox gives until it is closed and empty. Never gives up on Redis: the caller
/// bounds the time it waits at shutdown.
pub async fn run(urls: Vec<String>, list: String, outbox: &Outbox, counters: &Counters) {
    let mut sink: Option<Sink> = None;
    let mut batch: Vec<String> = Vec::new();
    let mut outage_since: Option<Instant> = None;
    let mut failures: u32 = 0;
    loop {
        if batch.is_empty() {
            match outbox.take(BATCH_MAX).await {
                Some(lines) => batch = lines,
                None => return,
            }
        }
        match push(&mut sink, &urls, &list, &batch).await {
            Ok(()) => {
                counters
                    .pushed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                batch.clear();
                failures = 0;
                if let Some(since) = outage_since.take() {
                    tracing::info!(
                        outage_secs = since.elapsed().as_secs(),
                        queued = outbox.len(),
                        dropped_total = counters.dropped.load(Ordering::Relaxed),
                        "redis reachable again; pushing the alerts queued meanwhile"
                    );
                }
            }
            Err(e) => {
                if outage_since.is_none() {
                    tracing::warn!(
                        error = %e,
                        "redis unavailable: alerts are queued and the push retried every second \
                         (logged once per outage)"
                    );
                    outage_since = Some(Instant::now());
                }
                failures += 1;
                if failures.is_multiple_of(REBUILD_AFTER_FAILURES) {
                    sink = None;
                }
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_drops_the_oldest_beyond_its_bound_and_ends_when_closed() {
        let counters = Counters::default();
        let outbox = Outbox::new(3);
        for i in 0..5 {
            outbox.push(format!("l{i}"), &counters);
        }
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(
            outbox.take(2).await,
            Some(vec!["l2".to_owned(), "l3".to_owned()])
        );
        outbox.close();
        assert_eq!(outbox.take(10).await, Some(vec!["l4".to_owned()]));
        assert_eq!(outbox.take(10).await, None);
    }
}
