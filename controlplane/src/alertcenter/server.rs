//! The TCP side: accepts senders, reads authenticated frames, hands alerts to the limiter task.
//!
//! Per connection, a frame that cannot be framed (bad magic, version or reserved bytes: the
//! stream is out of step) closes that connection only; an oversized frame or an unknown kind is
//! skipped (its length is known); a wrong tag or a body that is not an `Alert` is counted and
//! the next frame read. Every case is logged with the peer, at most once per 10 s per kind of
//! error and connection, so a hostile peer cannot flood the log.

use super::limiter::{Limiter, Verdict};
use super::writer::Outbox;
use super::{redis_line, Counters};
use crate::log_throttle::LogThrottle;
use ironpool_shared::meta::{
    Alert, FrameError, FrameHeader, FrameKind, PresharedKey, FRAME_HEADER_BYTES, FRAME_TAG_BYTES,
};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Largest frame body accepted: an alert is at most 8 KiB of message plus two short names.
pub const BODY_MAX: u32 = 16 * 1024;
/// Connections served at once; beyond, new ones are closed at once (senders keep one each).
pub const CONNECTIONS_MAX: usize = 1024;
/// Once a frame has started, the rest of it must come within this time (an idle connection
/// between frames is normal and has no limit).
const FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// A new connection must deliver an authenticated alert within this time; only then may it sit
/// idle. Connections of peers without the key cannot hold the slots of real senders for long.
const FIRST_ALERT_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest refused frame read through (to stay in step); beyond, the connection is closed.
const SKIP_MAX: u32 = 1 << 20;
/// Refused frames in a row after which the connection is closed.
const REFUSED_IN_ROW_MAX: u32 = 16;

/// Accepts connections until the future is dropped (which aborts every connection task).
pub(super) async fn accept(
    listener: TcpListener,
    key: PresharedKey,
    alerts: mpsc::Sender<Alert>,
    counters: Arc<Counters>,
) {
    let key = Arc::new(key);
    let mut connections = JoinSet::new();
    let mut throttle = LogThrottle::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if connections.len() >= CONNECTIONS_MAX {
                        let why = format!("more than {CONNECTIONS_MAX} connections");
                        if throttle.should_log(&why) {
                            tracing::warn!(%peer, "connection refused: {why}");
                        }
                        drop(stream);
                        continue;
                    }
                    connections.spawn(connection(
                        stream,
                        peer,
                        Arc::clone(&key),
                        alerts.clone(),
                        Arc::clone(&counters),
                    ));
                }
                Err(e) => {
                    // Out of descriptors and the like: transient. The pause keeps a full fd
                    // table from spinning the loop.
                    let why = e.to_string();
                    if throttle.should_log(&why) {
                        tracing::warn!(error = %why, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished connections so the count above stays true.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// What a frame read came to.
enum Read {
    /// An alert to offer.
    Alert(Alert),
    /// Counted and logged; read the next frame.
    Skipped,
    /// The connection is over (closed by the peer, or out of step).
    Close,
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    key: Arc<PresharedKey>,
    alerts: mpsc::Sender<Alert>,
    counters: Arc<Counters>,
) {
    tracing::debug!(%peer, "sender connected");
    let mut reader = BufReader::new(stream);
    let mut throttle = LogThrottle::default();
    let mut trusted = false;
    let mut refused_in_row = 0u32;
    loop {
        let read = read_frame(&mut reader, peer, &key, &counters, &mut throttle);
        let read = if trusted {
            read.await
        } else {
            match tokio::time::timeout(FIRST_ALERT_TIMEOUT, read).await {
                Ok(read) => read,
                Err(_) => {
                    counters.bad_frames.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%peer, "no authenticated alert within 60 s; connection closed");
                    return;
                }
            }
        };
        match read {
            Read::Alert(alert) => {
                trusted = true;
                refused_in_row = 0;
                counters.received.fetch_add(1, Ordering::Relaxed);
                if alerts.send(alert).await.is_err() {
                    // The limiter task is gone: shutting down.
                    return;
                }
            }
            Read::Skipped => {
                refused_in_row += 1;
                if refused_in_row >= REFUSED_IN_ROW_MAX {
                    tracing::warn!(%peer, refused_in_row, "refused frames in a row; connection closed");
                    return;
                }
            }
            Read::Close => {
                tracing::debug!(%peer, "sender disconnected");
                return;
            }
        }
    }
}

/// Reads one frame and classifies it; counts and logs what is wrong.
async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    peer: SocketAddr,
    key: &PresharedKey,
    counters: &Counters,
    throttle: &mut LogThrottle,
) -> Read {
    let mut warn = |what: &str, error: &dyn std::fmt::Display| {
        let line = format!("{what}: {error}");
        if throttle.should_log(&line) {
            tracing::warn!(%peer, "{line}");
        }
    };

    let mut header = [0u8; FRAME_HEADER_BYTES];
    // Between frames a connection may wait; once a frame has begun, all of it must come soon.
    if let Err(e) = reader.read_exact(&mut header[..1]).await {
        if e.kind() != std::io::ErrorKind::UnexpectedEof {
            tracing::debug!(%peer, error = %e, "read failed");
        }
        return Read::Close;
    }
    match tokio::time::timeout(FRAME_TIMEOUT, reader.read_exact(&mut header[1..])).await {
        Ok(Ok(_)) => {}
        _ => {
            counters.bad_frames.fetch_add(1, Ordering::Relaxed);
            warn(
                "frame incomplete, connection closed",
                &"header not complete within 30 s",
            );
            return Read::Close;
        }
    }
    let parsed = match FrameHeader::parse(&header, BODY_MAX) {
        Ok(parsed) => parsed,
        Err(e @ (FrameError::Oversize { .. } | FrameError::Kind { .. })) => {
            counters.bad_frames.fetch_add(1, Ordering::Relaxed);
            warn("frame skipped", &e);
            // Magic and version were right, so the length can be trusted to skip by, up to a
            // bound: reading through gigabytes for a peer is not worth it.
            let Some(body_len) = FrameHeader::skippable_len(&header).filter(|l| *l <= SKIP_MAX)
            else {
                return Read::Close;
            };
            let skip = u64::from(body_len) + FRAME_TAG_BYTES as u64;
            let skipped = tokio::time::timeout(
                FRAME_TIMEOUT,
                tokio::io::copy(&mut (&mut *reader).take(skip), &mut tokio::io::sink()),
            )
            .await;
            return match skipped {
                Ok(Ok(n)) if n == skip => Read::Skipped,
                _ => Read::Close,
            };
        }
        Err(e) => {
            // Bad magic, version or reserved bytes: nothing says where the next frame starts.
            counters.bad_frames.fetch_add(1, Ordering::Relaxed);
            warn("bad frame, connection closed", &e);
            return Read::Close;
        }
    };

    // Bounded by BODY_MAX, checked above before anything is allocated.
    let mut body = vec![0u8; parsed.body_len as usize];
    let mut tag = [0u8; FRAME_TAG_BYTES];
    let rest = tokio::time::timeout(FRAME_TIMEOUT, async {
        reader.read_exact(&mut body).await?;
        reader.read_exact(&mut tag).await
    })
    .await;
    match rest {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "connection ended inside a frame");
            return Read::Close;
        }
        Err(_) => {
            counters.bad_frames.fetch_add(1, Ordering::Relaxed);
            warn("frame incomplete, connection closed", &"no data for 30 s");
            return Read::Close;
        }
    }

    if let Err(e) = key.verify(&header, &body, &tag) {
        counters.bad_tags.fetch_add(1, Ordering::Relaxed);
        warn("frame refused", &e);
        return Read::Skipped;
    }
    if parsed.kind != FrameKind::Alert {
        counters.bad_frames.fetch_add(1, Ordering::Relaxed);
        warn(
            "frame refused",
            &format!("kind {:?} is not an alert", parsed.kind),
        );
        return Read::Skipped;
    }
    match Alert::decode(&body) {
        Ok(alert) => Read::Alert(alert),
        Err(e) => {
            counters.bad_frames.fetch_add(1, Ordering::Relaxed);
            warn("alert body refused", &e);
            Read::Skipped
        }
    }
}

/// Offers each received alert to the limiter, queues what it lets through, and ticks it every
/// second. Ends when every connection is gone and the receiver closed.
pub(super) async fn limit(
    mut alerts: mpsc::Receiver<Alert>,
    mut limiter: Limiter,
    outbox: Arc<Outbox>,
    counters: Arc<Counters>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = alerts.recv() => {
                let Some(alert) = received else { return };
                match limiter.offer(alert, Instant::now()) {
                    Verdict::Push(alert) => outbox.push(redis_line(&alert), &counters),
                    Verdict::Deduplicated => {
                        counters.deduplicated.fetch_add(1, Ordering::Relaxed);
                    }
                    Verdict::RateLimited => {
                        counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ = tick.tick() => {
                for alert in limiter.tick(Instant::now()) {
                    outbox.push(redis_line(&alert), &counters);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpool_shared::meta::encode_frame;

    fn key() -> PresharedKey {
        PresharedKey::new(&[3u8; 32]).expect("key")
    }

    fn alert(message: &str) -> Alert {
        Alert {
            host: "h".to_owned(),
            process: "p".to_owned(),
            message: message.to_owned(),
        }
    }

    async fn read_all(bytes: Vec<u8>) -> (Vec<String>, Counters) {
        let counters = Counters::default();
        let mut throttle = LogThrottle::default();
        let peer: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let mut reader = &bytes[..];
        let mut messages = Vec::new();
        loop {
            match read_frame(&mut reader, peer, &key(), &counters, &mut throttle).await {
                Read::Alert(a) => messages.push(a.message),
                Read::Skipped => {}
                Read::Close => return (messages, counters),
            }
        }
    }

    #[tokio::test]
    async fn bad_frames_are_skipped_and_the_stream_stays_in_step() {
        let good = |m: &str| encode_frame(&key(), FrameKind::Alert, &alert(m).encode());
        let mut stream = Vec::new();
        stream.extend(good("one"));
        let wrong_key = PresharedKey::new(&[4u8; 32]).expect("key");
        stream.extend(encode_frame(
            &wrong_key,
            FrameKind::Alert,
            &alert("forged").encode(),
        ));
        stream.extend(good("two"));
        stream.extend(encode_frame(
            &key(),
            FrameKind::Alert,
            &vec![b'x'; BODY_MAX as usize + 1],
        ));
        stream.extend(good("three"));
        let mut unknown_kind = good("unknown kind");
        unknown_kind[5] = 99;
        stream.extend(unknown_kind);
        stream.extend(encode_frame(&key(), FrameKind::Ack, &[0u8; 17]));
        stream.extend(encode_frame(&key(), FrameKind::Alert, b"\x05"));
        stream.extend(good("four"));
        let (messages, counters) = read_all(stream).await;
        assert_eq!(messages, ["one", "two", "three", "four"]);
        assert_eq!(counters.bad_tags.load(Ordering::Relaxed), 1);
        // Oversize, unknown kind, an Ack, an undecodable body.
        assert_eq!(counters.bad_frames.load(Ordering::Relaxed), 4);
    }

    #[tokio::test]
    async fn garbage_closes_the_connection() {
        let mut stream = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        stream.extend(encode_frame(
            &key(),
            FrameKind::Alert,
            &alert("after").encode(),
        ));
        let (messages, counters) = read_all(stream).await;
        assert!(messages.is_empty());
        assert_eq!(counters.bad_frames.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_truncated_frame_ends_the_connection_quietly() {
        let frame = encode_frame(&key(), FrameKind::Alert, &alert("cut").encode());
        let (messages, counters) = read_all(frame[..frame.len() - 5].to_vec()).await;
        assert!(messages.is_empty());
        assert_eq!(counters.bad_frames.load(Ordering::Relaxed), 0);
    }
}
