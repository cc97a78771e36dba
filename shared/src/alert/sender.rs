//! The sender thread: alerts from the channel → frames on one TCP connection to alertcenter.
//!
//! One connection, kept open; on a failure it is dropped and opened again after a backoff of
//! 1 s, doubling to 30 s. Meanwhile alerts wait, encoded, in a queue of [`QUEUE_MAX`] (the oldest
//! is dropped and counted). Its own trouble is logged at WARN, under this module's target, so it
//! never becomes an alert itself.

use super::{Counters, QUEUE_MAX};
use crate::meta::{encode_frame, Alert, FrameKind, PresharedKey};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

pub(super) struct AlertSender {
    address: String,
    key: PresharedKey,
    rx: Receiver<Alert>,
    counters: Arc<Counters>,
    /// Encoded frames not yet written.
    queue: VecDeque<Vec<u8>>,
    stream: Option<TcpStream>,
    next_attempt: Instant,
    backoff: Duration,
    /// An outage is being reported: log its start once and its end once, not every attempt.
    failing: bool,
}

impl AlertSender {
    pub(super) fn new(
        address: String,
        key: PresharedKey,
        rx: Receiver<Alert>,
        counters: Arc<Counters>,
    ) -> AlertSender {
        AlertSender {
            address,
            key,
            rx,
            counters,
            queue: VecDeque::new(),
            stream: None,
            next_attempt: Instant::now(),
            backoff: BACKOFF_MIN,
            failing: false,
        }
    }

    /// Runs until the layer is gone and what is queued is written (or cannot be).
    pub(super) fn run(mut self) {
        let mut open = true;
        loop {
            if open {
                open = self.receive();
            }
            if self.queue.is_empty() {
                if open {
                    continue;
                }
                return;
            }
            if self.stream.is_none() && Instant::now() >= self.next_attempt {
                self.connect();
            }
            self.write_queue();
            if !open && !self.queue.is_empty() && self.stream.is_none() {
                // The layer is gone (its subscriber was dropped, the process is ending): nothing
                // new will come, and the queue gets no further attempt.
                for _ in self.queue.drain(..) {
                    self.counters.settle();
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
    }

    /// Moves alerts from the channel to the queue. Blocks while there is nothing to do; with alerts
    /// waiting for a connection, only until the next attempt is due. Returns whether the channel
    /// is still open.
    fn receive(&mut self) -> bool {
        let first = if self.queue.is_empty() {
            self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            let wait = self.next_attempt.saturating_duration_since(Instant::now());
            self.rx.recv_timeout(wait)
        };
        match first {
            Ok(alert) => self.enqueue(&alert),
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
        loop {
            match self.rx.try_recv() {
                Ok(alert) => self.enqueue(&alert),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn enqueue(&mut self, alert: &Alert) {
        if self.queue.len() >= QUEUE_MAX {
            self.queue.pop_front();
            self.counters.settle();
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.queue
            .push_back(encode_frame(&self.key, FrameKind::Alert, &alert.encode()));
    }

    fn connect(&mut self) {
        match open_stream(&self.address) {
            Ok(stream) => {
                if self.failing {
                    tracing::warn!(
                        address = %self.address,
                        queued = self.queue.len(),
                        "alertcenter reachable again; sending the queued alerts"
                    );
                    self.failing = false;
                }
                self.stream = Some(stream);
            }
            Err(e) => self.failed(&format!("cannot connect: {e}")),
        }
    }

    /// Writes queued frames while the connection lasts.
    fn write_queue(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        // alertcenter never writes to us: readable means it closed the connection (restart,
        // idle cut). Noticing it here, before writing, saves the frame that would otherwise go
        // into a dead socket and be lost.
        if peer_closed(stream) {
            self.failed("connection closed by alertcenter");
            return;
        }
        let mut error = None;
        while let Some(frame) = self.queue.front() {
            match stream.write_all(frame) {
                Ok(()) => {
                    self.queue.pop_front();
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                    self.counters.settle();
                    // A frame went through: the link works, the next outage starts at 1 s again.
                    self.backoff = BACKOFF_MIN;
                }
                Err(e) => {
                    // A frame cut halfway leaves the stream out of step: alertcenter drops the
                    // connection, and the whole frame is sent again on the next one.
                    error = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = error {
            self.failed(&format!("write failed: {e}"));
        }
    }

    /// Drops the connection and schedules the next attempt.
    fn failed(&mut self, what: &str) {
        self.stream = None;
        if !self.failing {
            tracing::warn!(
                address = %self.address,
                queued = self.queue.len(),
                "alertcenter: {what}; alerts are queued (at most {QUEUE_MAX}) and the connection retried"
            );
            self.failing = true;
        }
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }
}

fn open_stream(address: &str) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
                // Alerts are small and rare: send each at once.
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the address resolves to nothing")
    }))
}

/// Whether the peer closed (or reset) the connection, without blocking.
fn peer_closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let closed = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).is_err() || closed
}

#[cfg(test)]
mod tests {
    use super::super::{alert_layer, AlertConfig};
    use crate::meta::{Alert, FrameHeader, FrameKind, PresharedKey, FRAME_HEADER_BYTES};
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;
    use tracing_subscriber::layer::SubscriberExt;

    fn key() -> PresharedKey {
        PresharedKey::new(&[0x5a; 32]).expect("long enough")
    }

    fn read_alert(stream: &mut TcpStream) -> Alert {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        stream.read_exact(&mut header).expect("header");
        let parsed = FrameHeader::parse(&header, 16 * 1024).expect("valid header");
        assert_eq!(parsed.kind, FrameKind::Alert);
        let mut body = vec![0u8; parsed.body_len as usize];
        stream.read_exact(&mut body).expect("body");
        let mut tag = [0u8; 32];
        stream.read_exact(&mut tag).expect("tag");
        key().verify(&header, &body, &tag).expect("tag matches");
        Alert::decode(&body).expect("alert body")
    }

    fn config(address: String) -> AlertConfig {
        AlertConfig {
            address,
            key: key(),
            host: "h1".to_owned(),
            process: "jobmaster".to_owned(),
        }
    }

    #[test]
    fn alerts_arrive_as_authenticated_frames() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        let (layer, handle) = alert_layer(config(address));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "pool", height = 7, "template failed");
            tracing::info!(target: "pool", "fine");
            assert!(handle.flush(Duration::from_secs(10)));
        });
        let (mut stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let alert = read_alert(&mut stream);
        assert_eq!(
            alert,
            Alert {
                host: "h1".to_owned(),
                process: "jobmaster".to_owned(),
                message: "pool: template failed height=7".to_owned(),
            }
        );
        assert_eq!(handle.sent(), 1);
        assert_eq!(handle.dropped(), 0);
    }

    #[test]
    fn alerts_wait_for_alertcenter_and_arrive_in_order() {
        // A port nobody listens on, until the listener is bound again below.
        let address = {
            let probe = TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr")
        };
        let (layer, handle) = alert_layer(config(address.to_string()));
        let subscriber = tracing_subscriber::registry().with(layer);
        let dispatch = tracing::Dispatch::new(subscriber);
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..3 {
                tracing::error!(target: "pool", "outage {i}");
            }
        });
        let listener = TcpListener::bind(address).expect("bind again");
        let (mut stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        for i in 0..3 {
            assert_eq!(read_alert(&mut stream).message, format!("pool: outage {i}"));
        }
        assert!(handle.flush(Duration::from_secs(10)));
        assert_eq!(handle.sent(), 3);
        drop(dispatch);
    }
}
