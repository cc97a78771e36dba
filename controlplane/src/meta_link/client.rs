//! Sends batches to a metawriter or metarelay and reads the answer (blocking, one batch at a
//! time: the answer says whether the batch is durable there).

use ironpool_shared::meta::{
    encode_frame, Ack, Batch, FrameHeader, FrameKind, Nack, PresharedKey, FRAME_HEADER_BYTES,
    FRAME_TAG_BYTES,
};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The receiver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ack(Ack),
    Nack(Nack),
}

/// A connection to a batch receiver.
pub struct BatchClient {
    stream: TcpStream,
    key: PresharedKey,
}

/// Largest answer accepted (a refusal with its reason).
const REPLY_BYTES_MAX: u32 = 4_096;

impl BatchClient {
    /// # Errors
    ///
    /// The address does not resolve or the connection fails within `timeout`.
    pub fn connect(
        address: &str,
        key: PresharedKey,
        timeout: Duration,
    ) -> Result<BatchClient, String> {
        let addr = address
            .to_socket_addrs()
            .map_err(|e| format!("{address}: {e}"))?
            .next()
            .ok_or_else(|| format!("{address}: no address"))?;
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("connect {address}: {e}"))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .map_err(|e| format!("{address}: {e}"))?;
        Ok(BatchClient { stream, key })
    }

    /// Sends raw bytes (tests: garbage, frames signed with another key).
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("write: {e}"))
    }

    /// Sends `batch` and waits for the answer.
    ///
    /// # Errors
    ///
    /// The connection fails, or the answer is not a valid frame with our key.
    pub fn send(&mut self, batch: &Batch) -> Result<Reply, String> {
        let frame = encode_frame(&self.key, FrameKind::Batch, &batch.encode());
        self.send_raw(&frame)?;
        self.read_reply()
    }

    /// Reads one answer.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn read_reply(&mut self) -> Result<Reply, String> {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        self.stream
            .read_exact(&mut header)
            .map_err(|e| format!("read: {e}"))?;
        let parsed =
            FrameHeader::parse(&header, REPLY_BYTES_MAX).map_err(|e| format!("answer: {e}"))?;
        let mut rest = vec![0u8; parsed.body_len as usize + FRAME_TAG_BYTES];
        self.stream
            .read_exact(&mut rest)
            .map_err(|e| format!("read: {e}"))?;
        let (body, tag) = rest.split_at(parsed.body_len as usize);
        self.key
            .verify(&header, body, tag)
            .map_err(|e| format!("answer: {e}"))?;
        match parsed.kind {
            FrameKind::Ack => Ack::decode(body)
                .map(Reply::Ack)
                .map_err(|e| format!("ack: {e}")),
            FrameKind::Nack => Nack::decode(body)
                .map(Reply::Nack)
                .map_err(|e| format!("nack: {e}")),
            other => Err(format!("answer is a {other:?} frame")),
        }
    }
}
