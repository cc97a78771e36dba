//! What a session could not send at once, bounded in bytes. A session that cannot keep up is
//! dropped, never waited for: the shard must not slow down for one slow reader.

use crate::shard::shared_line::SharedLine;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

/// The pending lines of one session; the first may be partly sent.
#[derive(Debug, Default)]
pub struct Outbound {
    lines: RefCell<VecDeque<SharedLine>>,
    /// Bytes of the first line already sent.
    front_sent: Cell<usize>,
    bytes: Cell<usize>,
}

/// Why a session was closed by the shard (counted per reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// More than `send_queue_bytes_max` waiting.
    SendQueueFull,
    /// A write blocked past `send_timeout_ms`.
    SendTimeout,
    /// Not authorized within `authorize_timeout_secs`.
    AuthorizeTimeout,
    /// Too many errors in a row (rejected shares included).
    ErrorsInRow,
    /// The socket failed.
    Io,
}

impl Outbound {
    /// Queues the unsent part of `line` (from byte `sent`); false when the queue would go over
    /// `bytes_max`.
    pub fn push(&self, line: SharedLine, sent: usize, bytes_max: usize) -> bool {
        let pending = line.len().saturating_sub(sent);
        let bytes = self.bytes.get() + pending;
        if bytes > bytes_max {
            return false;
        }
        let mut lines = self.lines.borrow_mut();
        if lines.is_empty() {
            self.front_sent.set(sent);
        }
        lines.push_back(line);
        self.bytes.set(bytes);
        true
    }

    /// Sends queued bytes with `send` (which returns how many it took, 0 when the socket is
    /// full); `Ok(true)` once the queue is empty.
    pub fn drain(
        &self,
        mut send: impl FnMut(&[u8]) -> std::io::Result<usize>,
    ) -> std::io::Result<bool> {
        let mut lines = self.lines.borrow_mut();
        while let Some(front) = lines.front() {
            let rest = front.0.get(self.front_sent.get()..).unwrap_or_default();
            let n = send(rest)?;
            self.bytes.set(self.bytes.get().saturating_sub(n));
            if n < rest.len() {
                self.front_sent.set(self.front_sent.get() + n);
                return Ok(false);
            }
            lines.pop_front();
            self.front_sent.set(0);
        }
        Ok(true)
    }

    pub fn clear(&self) {
        self.lines.borrow_mut().clear();
        self.front_sent.set(0);
        self.bytes.set(0);
    }

    pub fn is_empty(&self) -> bool {
        self.lines.borrow().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_bound_is_refused() {
        let out = Outbound::default();
        assert!(out.push(SharedLine::new(vec![1; 6]), 0, 10));
        assert!(!out.push(SharedLine::new(vec![2; 6]), 0, 10));
        assert!(
            out.push(SharedLine::new(vec![3; 6]), 2, 10),
            "only the unsent part counts"
        );
    }

    #[test]
    fn partial_sends_resume_where_they_stopped_and_keep_order() {
        let out = Outbound::default();
        assert!(out.push(SharedLine::new(b"abcdef".to_vec()), 2, 100));
        assert!(out.push(SharedLine::new(b"gh".to_vec()), 0, 100));
        let mut wire = Vec::new();
        // A socket that takes 3 bytes at a time, then nothing.
        let mut budget = 3;
        let done = out
            .drain(|b| {
                let n = b.len().min(budget);
                budget -= n;
                wire.extend_from_slice(&b[..n]);
                Ok(n)
            })
            .expect("drain");
        assert!(!done);
        assert_eq!(wire, b"cde");
        let done = out
            .drain(|b| {
                wire.extend_from_slice(b);
                Ok(b.len())
            })
            .expect("drain");
        assert!(done);
        assert_eq!(wire, b"cdefgh");
        assert!(out.is_empty());
    }
}
