//! The TCP server of batches: every frame is checked (header, size, authentication tag, body),
//! a valid batch is handed to the store and answered with an ack once it is durable; anything
//! else gets a refusal with the reason, is logged and counted, and the link goes on. Only a
//! header that is not ours (wrong magic or version: the stream cannot be followed any more)
//! closes the connection.

use super::counters::LinkCounters;
use ironpool_shared::meta::{
    encode_frame, Ack, AckOutcome, Batch, FrameError, FrameHeader, FrameKind, Nack, NackCode,
    PresharedKey, FRAME_HEADER_BYTES, FRAME_TAG_BYTES,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// A batch for the store, and where to answer.
pub type StoreRequest = (
    Batch,
    oneshot::Sender<Result<AckOutcome, (NackCode, String)>>,
);

/// A frame's body must arrive within this once its header has.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Refused frames in a row after which the connection is closed (someone without the key).
const REFUSED_IN_ROW_MAX: u32 = 64;
/// Connections served at once; beyond, new ones are closed (a relay or site keeps one).
pub const CONNECTIONS_MAX: usize = 1024;
/// A new connection must send an authenticated frame within this time; only then may it sit
/// idle between batches. Peers without the key cannot hold connections for long.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest refused frame read through to stay in step; beyond, the connection is closed.
const SKIP_MAX: u64 = 64 << 20;

/// Binds `address` and serves batches there (frames up to `max_body`); the store requests come
/// out of the returned receiver, one per valid batch.
///
/// # Errors
///
/// The address cannot be bound; the error names the config key.
pub async fn listen(
    address: SocketAddr,
    key: PresharedKey,
    max_body: u32,
    counters: Arc<LinkCounters>,
) -> Result<mpsc::Receiver<StoreRequest>, String> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| format!("listen.address {address}: {e}"))?;
    info!(%address, "taking batches");
    let (requests, receiver) = mpsc::channel::<StoreRequest>(256);
    tokio::spawn(serve(listener, key, max_body, requests, counters));
    Ok(receiver)
}

/// Accepts connections on `listener` until the process stops.
pub async fn serve(
    listener: TcpListener,
    key: PresharedKey,
    max_body: u32,
    store: mpsc::Sender<StoreRequest>,
    counters: Arc<LinkCounters>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    LinkCounters::add(&counters.refused_connections, 1);
                    warn!(%peer, "more than {CONNECTIONS_MAX} batch links; connection refused");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                LinkCounters::add(&counters.connections, 1);
                let (key, store, counters) = (key.clone(), store.clone(), counters.clone());
                tokio::spawn(async move {
                    let reason = connection(stream, peer, &key, max_body, &store, &counters).await;
                    info!(%peer, reason, "batch link closed");
                    drop(slot);
                });
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn reply(
    stream: &mut TcpStream,
    key: &PresharedKey,
    kind: FrameKind,
    body: &[u8],
) -> Result<(), String> {
    stream
        .write_all(&encode_frame(key, kind, body))
        .await
        .map_err(|e| format!("write: {e}"))
}

async fn nack(
    stream: &mut TcpStream,
    key: &PresharedKey,
    origin: u64,
    seq: u64,
    code: NackCode,
    reason: String,
) -> Result<(), String> {
    let body = Nack {
        origin,
        seq,
        code,
        reason,
    }
    .encode();
    reply(stream, key, FrameKind::Nack, &body).await
}

/// Reads and discards `n` bytes, all within `BODY_TIMEOUT`.
async fn skip(stream: &mut TcpStream, n: u64) -> Result<(), String> {
    if n > SKIP_MAX {
        return Err(format!(
            "refused frame of {n} bytes is too large to read through"
        ));
    }
    let copied = tokio::time::timeout(
        BODY_TIMEOUT,
        tokio::io::copy(&mut (&mut *stream).take(n), &mut tokio::io::sink()),
    )
    .await
    .map_err(|_| "body timed out".to_owned())?
    .map_err(|e| format!("read: {e}"))?;
    if copied < n {
        return Err("closed in the middle of a frame".to_owned());
    }
    Ok(())
}

/// Reads a frame's header: the first byte may wait (an idle link), the rest must follow soon.
async fn read_header(
    stream: &mut TcpStream,
    header: &mut [u8; FRAME_HEADER_BYTES],
) -> Result<(), String> {
    match stream.read_exact(&mut header[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err("closed by peer".to_owned())
        }
        Err(e) => return Err(format!("read: {e}")),
    }
    match tokio::time::timeout(BODY_TIMEOUT, stream.read_exact(&mut header[1..])).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Err(_) => Err("header timed out".to_owned()),
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    key: &PresharedKey,
    max_body: u32,
    store: &mpsc::Sender<StoreRequest>,
    counters: &LinkCounters,
) -> String {
    let mut refused_in_row = 0u32;
    let mut trusted = false;
    loop {
        if refused_in_row >= REFUSED_IN_ROW_MAX {
            return format!("{refused_in_row} refused frames in a row");
        }
        let mut header = [0u8; FRAME_HEADER_BYTES];
        let read = if trusted {
            read_header(&mut stream, &mut header).await
        } else {
            tokio::time::timeout(FIRST_FRAME_TIMEOUT, read_header(&mut stream, &mut header))
                .await
                .unwrap_or_else(|_| Err("no authenticated frame within 60 s".to_owned()))
        };
        if let Err(reason) = read {
            return reason;
        }
        let parsed = match FrameHeader::parse(&header, max_body) {
            Ok(parsed) => parsed,
            Err(error @ (FrameError::Oversize { .. } | FrameError::Kind { .. })) => {
                let counter = if matches!(error, FrameError::Oversize { .. }) {
                    &counters.oversize
                } else {
                    &counters.unexpected_kind
                };
                LinkCounters::add(counter, 1);
                warn!(%peer, %error, "frame refused; skipped");
                refused_in_row += 1;
                let len = FrameHeader::skippable_len(&header).unwrap_or(0);
                if let Err(e) = skip(&mut stream, u64::from(len) + FRAME_TAG_BYTES as u64).await {
                    return e;
                }
                let code = if matches!(error, FrameError::Oversize { .. }) {
                    NackCode::Oversize
                } else {
                    NackCode::UnexpectedKind
                };
                if let Err(e) = nack(&mut stream, key, 0, 0, code, error.to_string()).await {
                    return e;
                }
                continue;
            }
            Err(error) => {
                LinkCounters::add(&counters.bad_headers, 1);
                warn!(%peer, %error, "not an ironpool frame; closing the connection");
                return format!("bad header: {error}");
            }
        };
        // Grown as bytes arrive: a peer announcing a large frame and sending nothing costs
        // nothing.
        let want = u64::from(parsed.body_len) + FRAME_TAG_BYTES as u64;
        let mut rest = Vec::new();
        match tokio::time::timeout(
            BODY_TIMEOUT,
            (&mut stream).take(want).read_to_end(&mut rest),
        )
        .await
        {
            Ok(Ok(n)) if n as u64 == want => {}
            Ok(Ok(_)) => return "closed in the middle of a frame".to_owned(),
            Ok(Err(e)) => return format!("read: {e}"),
            Err(_) => return "body timed out".to_owned(),
        }
        let (body, tag) = rest.split_at(parsed.body_len as usize);
        if let Err(error) = key.verify(&header, body, tag) {
            LinkCounters::add(&counters.bad_tags, 1);
            warn!(%peer, %error, "frame refused");
            refused_in_row += 1;
            if let Err(e) = nack(
                &mut stream,
                key,
                0,
                0,
                NackCode::Authentication,
                error.to_string(),
            )
            .await
            {
                return e;
            }
            continue;
        }
        // The peer holds the key: it may keep the link idle from now on.
        trusted = true;
        if parsed.kind != FrameKind::Batch {
            LinkCounters::add(&counters.unexpected_kind, 1);
            warn!(%peer, kind = ?parsed.kind, "only batches are taken here");
            refused_in_row += 1;
            if let Err(e) = nack(
                &mut stream,
                key,
                0,
                0,
                NackCode::UnexpectedKind,
                format!("{:?} frames are not taken here", parsed.kind),
            )
            .await
            {
                return e;
            }
            continue;
        }
        let batch = match Batch::decode(body) {
            Ok(batch) => batch,
            Err(error) => {
                LinkCounters::add(&counters.malformed, 1);
                warn!(%peer, %error, "malformed batch refused");
                refused_in_row += 1;
                if let Err(e) = nack(
                    &mut stream,
                    key,
                    0,
                    0,
                    NackCode::Malformed,
                    error.to_string(),
                )
                .await
                {
                    return e;
                }
                continue;
            }
        };
        let (origin, seq, records) = (batch.origin, batch.seq, batch.records.len() as u64);
        let (answer, answered) = oneshot::channel();
        if store.send((batch, answer)).await.is_err() {
            return "store stopped".to_owned();
        }
        let outcome = answered
            .await
            .unwrap_or_else(|_| Err((NackCode::Unavailable, "store stopped".to_owned())));
        let sent = match outcome {
            Ok(outcome) => {
                refused_in_row = 0;
                if outcome == AckOutcome::Duplicate {
                    LinkCounters::add(&counters.batches_duplicate, 1);
                } else {
                    LinkCounters::add(&counters.batches_stored, 1);
                    LinkCounters::add(&counters.records_stored, records);
                }
                let body = Ack {
                    origin,
                    seq,
                    outcome,
                }
                .encode();
                reply(&mut stream, key, FrameKind::Ack, &body).await
            }
            Err((code, reason)) => {
                let counter = match code {
                    NackCode::UnknownCoin => &counters.unknown_coin,
                    NackCode::Unavailable => &counters.store_failures,
                    _ => &counters.malformed,
                };
                LinkCounters::add(counter, 1);
                warn!(%peer, origin, seq, ?code, %reason, "batch refused");
                if !code.is_retryable() {
                    refused_in_row += 1;
                }
                nack(&mut stream, key, origin, seq, code, reason).await
            }
        };
        if let Err(e) = sent {
            return e;
        }
    }
}
