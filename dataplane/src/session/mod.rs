//! One miner connection: read lines, answer requests, write what the shard queued.
//!
//! An idle session holds no read buffer: it waits for readability, then reads into a buffer
//! borrowed from the shard's pool and returns it (DESIGN.md: monoio "poll" mode).

pub mod outbound;
pub mod requests;
pub mod state;

use crate::shard::shared_line::SharedLine;
use crate::shard::Shard;
use ironpool_shared::stratum::LineBuffer;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use outbound::CloseReason;
use state::Session;
use std::rc::Rc;
use std::time::Instant;
use tracing::debug;

/// Why a session task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    ByPeer,
    LineTooLong,
    NotJson,
    ErrorsInRow,
    SendQueueFull,
    SendTimeout,
    AuthorizeTimeout,
    Io,
}

/// Serves one connection until it ends.
pub async fn run(shard: Rc<Shard>, mut stream: TcpStream, port: usize) {
    let now = Instant::now();
    let session = shard.open_session(port, now);
    let mut lines = LineBuffer::new(shard.config.line_bytes_max);
    let ended = loop {
        let readable = monoio::select! {
            r = stream.readable(false) => Some(r),
            _ = session.outbound.signal.wait() => None,
        };
        if let Some(result) = readable {
            if result.is_err() {
                break Ended::Io;
            }
            // Boxed: the read's state exists only while reading, not in every idle session.
            if let Err(end) = Box::pin(read(&shard, &mut stream, &session, &mut lines, port)).await
            {
                break end;
            }
        }
        if let Some(reason) = session.outbound.closing() {
            break match reason {
                CloseReason::SendQueueFull => Ended::SendQueueFull,
                CloseReason::AuthorizeTimeout => Ended::AuthorizeTimeout,
                CloseReason::ErrorsInRow => Ended::ErrorsInRow,
            };
        }
        if !session.outbound.is_empty() {
            // Boxed for the same reason: writes and their timer are rare next to idle time.
            if let Err(end) = Box::pin(flush(&shard, &mut stream, &session)).await {
                break end;
            }
        }
    };
    debug!(session = session.id, ?ended, "session ended");
    shard.close_session(&session, ended);
}

/// Reads what is there into a pooled buffer and handles the complete lines; a partial line stays
/// in `lines`, whose storage is released once it is empty.
async fn read(
    shard: &Rc<Shard>,
    stream: &mut TcpStream,
    session: &Rc<Session>,
    lines: &mut LineBuffer,
    port: usize,
) -> Result<(), Ended> {
    let buf = shard.take_read_buffer();
    let (result, buf) = stream.read(buf).await;
    let outcome = match result {
        Ok(0) => Err(Ended::ByPeer),
        Ok(n) => {
            lines.push(&buf[..n]);
            match requests::handle_lines(shard, session, lines, port) {
                Some(end) => Err(end),
                None => Ok(()),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
        Err(_) => Err(Ended::Io),
    };
    shard.give_read_buffer(buf);
    if lines.is_empty() {
        drop(lines.take_spare());
    }
    outcome
}

/// Writes everything queued; a write blocked past the send timeout ends the session.
async fn flush(shard: &Shard, stream: &mut TcpStream, session: &Session) -> Result<(), Ended> {
    while let Some(line) = session.outbound.pop() {
        let write = stream.write_all(line);
        match monoio::time::timeout(shard.config.send_timeout, write).await {
            Ok((Ok(_), _)) => {}
            Ok((Err(_), _)) => return Err(Ended::Io),
            Err(_) => return Err(Ended::SendTimeout),
        }
    }
    Ok(())
}

/// A line for this session alone.
pub fn line(bytes: Vec<u8>) -> SharedLine {
    SharedLine::new(bytes)
}
