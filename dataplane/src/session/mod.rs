//! One miner connection: read lines, answer requests.
//!
//! An idle session is a task waiting for its socket to become readable, and nothing else: no read
//! buffer (it borrows one from the shard's pool for each read), no write state (lines go straight
//! to the socket, see [`state::Session::send`]), no timer. The shard closes a session by shutting
//! its socket down, which ends that wait.

pub mod outbound;
pub mod requests;
pub mod socket;
pub mod state;

use crate::shard::shared_line::SharedLine;
use crate::shard::Shard;
use ironpool_shared::stratum::LineBuffer;
use monoio::net::TcpStream;
use outbound::CloseReason;
use state::Session;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Instant;
use tracing::debug;

/// Reads per wake-up before the task lets the others run.
const READS_PER_WAKE: usize = 16;

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

impl From<CloseReason> for Ended {
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::SendQueueFull => Ended::SendQueueFull,
            CloseReason::SendTimeout => Ended::SendTimeout,
            CloseReason::AuthorizeTimeout => Ended::AuthorizeTimeout,
            CloseReason::ErrorsInRow => Ended::ErrorsInRow,
            CloseReason::Io => Ended::Io,
        }
    }
}

/// Serves one connection until it ends.
pub async fn run(shard: Rc<Shard>, stream: TcpStream, port: usize, peer: std::net::SocketAddr) {
    let fd = stream.as_raw_fd();
    let stream = Rc::new(stream);
    let session = shard.open_session(port, Instant::now(), stream.clone(), fd, peer);
    // Boxed, and only while a partial line waits: most of the time there is none.
    let mut lines: Option<Box<LineBuffer>> = None;
    let ended = loop {
        if stream.readable(false).await.is_err() {
            break Ended::Io;
        }
        if let Some(reason) = session.closing() {
            break reason.into();
        }
        if let Err(end) = read(&shard, &session, &mut lines, port) {
            break session.closing().map(Ended::from).unwrap_or(end);
        }
        if let Some(reason) = session.closing() {
            break reason.into();
        }
    };
    debug!(session = session.id, ?ended, "session ended");
    // Shut the socket now: writers or shares in flight may hold the session a little longer.
    session.close(CloseReason::Io);
    shard.close_session(&session, ended);
}

/// Reads what is there into a pooled buffer and handles the complete lines; a partial line stays
/// in `lines`, whose storage is released once it is empty.
fn read(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    pending: &mut Option<Box<LineBuffer>>,
    port: usize,
) -> Result<(), Ended> {
    let lines =
        pending.get_or_insert_with(|| Box::new(LineBuffer::new(shard.config.line_bytes_max)));
    let mut buf = shard.take_read_buffer();
    let mut outcome = Ok(());
    for _ in 0..READS_PER_WAKE {
        match socket::recv(session.fd(), &mut buf) {
            Ok(Some(0)) => {
                outcome = Err(Ended::ByPeer);
                break;
            }
            Ok(Some(n)) => {
                lines.push(&buf[..n]);
                if let Some(end) = requests::handle_lines(shard, session, lines, port) {
                    outcome = Err(end);
                    break;
                }
            }
            Ok(None) => break,
            Err(_) => {
                outcome = Err(Ended::Io);
                break;
            }
        }
    }
    shard.give_read_buffer(buf);
    if lines.is_empty() {
        *pending = None;
    }
    outcome
}

/// A line for this session alone.
pub fn line(bytes: Vec<u8>) -> SharedLine {
    SharedLine::new(bytes)
}
