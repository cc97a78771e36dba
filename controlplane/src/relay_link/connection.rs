//! One relay connection: a reader that checks and decodes frames, a writer that drains the
//! link's queue.

use super::hub::{HubInner, Inbound, LinkId};
use super::{FIRST_FRAME_TIMEOUT, FRAME_TIMEOUT};
use ironpool_shared::meta::{
    encode_frame, FrameHeader, FrameKind, PresharedKey, FRAME_HEADER_BYTES, FRAME_TAG_BYTES,
};
use ironpool_shared::relay::RelayMessage;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// The hello a connecting side sends first, so that the other side knows it holds the key.
pub(super) fn hello_frame(key: &PresharedKey) -> Vec<u8> {
    // An empty relay body is not a message: the reader takes it as the hello and nothing else.
    encode_frame(key, FrameKind::Relay, &[])
}

/// Runs the link until either side fails; returns why it ended.
pub(super) async fn run(
    hub: Arc<HubInner>,
    id: LinkId,
    peer: String,
    stream: TcpStream,
    outbound: mpsc::Receiver<Arc<Vec<u8>>>,
) -> String {
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    let mut write_task = tokio::spawn(write_loop(writer, outbound));
    let reason = tokio::select! {
        reason = read_loop(&hub, id, &peer, reader) => reason,
        result = &mut write_task => match result {
            Ok(reason) => reason,
            Err(e) => format!("writer failed: {e}"),
        },
    };
    write_task.abort();
    reason
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut outbound: mpsc::Receiver<Arc<Vec<u8>>>,
) -> String {
    while let Some(frame) = outbound.recv().await {
        if let Err(e) = writer.write_all(&frame).await {
            return format!("write: {e}");
        }
    }
    "link closed by this side".to_owned()
}

async fn read_header(
    reader: &mut OwnedReadHalf,
    header: &mut [u8; FRAME_HEADER_BYTES],
) -> Result<(), String> {
    match reader.read_exact(&mut header[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err("closed by peer".to_owned())
        }
        Err(e) => return Err(format!("read: {e}")),
    }
    match tokio::time::timeout(FRAME_TIMEOUT, reader.read_exact(&mut header[1..])).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Err(_) => Err("frame header timed out".to_owned()),
    }
}

async fn read_loop(hub: &HubInner, id: LinkId, peer: &str, mut reader: OwnedReadHalf) -> String {
    let mut trusted = false;
    loop {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        let read = if trusted {
            read_header(&mut reader, &mut header).await
        } else {
            tokio::time::timeout(FIRST_FRAME_TIMEOUT, read_header(&mut reader, &mut header))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "no authenticated frame within {} s",
                        FIRST_FRAME_TIMEOUT.as_secs()
                    ))
                })
        };
        if let Err(reason) = read {
            return reason;
        }
        let parsed = match FrameHeader::parse(&header, hub.max_body) {
            Ok(parsed) if parsed.kind == FrameKind::Relay => parsed,
            Ok(parsed) => {
                hub.counters.refused.fetch_add(1, Ordering::Relaxed);
                return format!("frame of kind {:?} on a relay link", parsed.kind);
            }
            Err(e) => {
                hub.counters.refused.fetch_add(1, Ordering::Relaxed);
                return format!("bad frame header: {e}");
            }
        };
        // Grown as bytes arrive: announcing a large frame and sending nothing costs nothing.
        let want = u64::from(parsed.body_len) + FRAME_TAG_BYTES as u64;
        let mut rest = Vec::new();
        match tokio::time::timeout(
            FRAME_TIMEOUT,
            (&mut reader).take(want).read_to_end(&mut rest),
        )
        .await
        {
            Ok(Ok(n)) if n as u64 == want => {}
            Ok(Ok(_)) => return "closed in the middle of a frame".to_owned(),
            Ok(Err(e)) => return format!("read: {e}"),
            Err(_) => return "frame body timed out".to_owned(),
        }
        let (body, tag) = rest.split_at(parsed.body_len as usize);
        if let Err(e) = hub.key.verify(&header, body, tag) {
            hub.counters.refused.fetch_add(1, Ordering::Relaxed);
            return format!("frame refused: {e}");
        }
        trusted = true;
        if body.is_empty() {
            // The hello.
            continue;
        }
        match RelayMessage::decode(body) {
            Ok(message) => {
                hub.counters.received.fetch_add(1, Ordering::Relaxed);
                debug!(
                    peer,
                    message = message.name(),
                    bytes = body.len(),
                    "relay message in"
                );
                let inbound = Inbound {
                    link: id,
                    peer: peer.to_owned(),
                    message,
                };
                if hub.inbound.send(inbound).await.is_err() {
                    return "hub stopped".to_owned();
                }
            }
            Err(e) => {
                // The peer holds the key: a newer or broken sender. Its other frames may be fine.
                hub.counters.undecodable.fetch_add(1, Ordering::Relaxed);
                warn!(peer, error = %e, bytes = body.len(), "relay message ignored");
            }
        }
    }
}
