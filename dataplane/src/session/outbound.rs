//! What a session still has to send: lines queued by the session itself (replies) and by the
//! shard (notifies, difficulty), bounded in bytes. A session that cannot keep up is dropped, never
//! waited for: the shard must not slow down for one slow reader.

use crate::shard::shared_line::SharedLine;
use crate::shard::signal::LocalSignal;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

/// The outbound queue of one session.
#[derive(Debug)]
pub struct Outbound {
    lines: RefCell<VecDeque<SharedLine>>,
    bytes: Cell<usize>,
    bytes_max: usize,
    /// Set when the queue overflowed or the session must go: the session task closes.
    closing: Cell<Option<CloseReason>>,
    pub signal: LocalSignal,
}

/// Why a session was closed by the shard (counted per reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// More than `send_queue_bytes_max` waiting.
    SendQueueFull,
    /// Not authorized within `authorize_timeout_secs`.
    AuthorizeTimeout,
    /// Too many errors in a row (rejected shares included).
    ErrorsInRow,
}

impl Outbound {
    pub fn new(bytes_max: usize) -> Self {
        Outbound {
            lines: RefCell::new(VecDeque::new()),
            bytes: Cell::new(0),
            bytes_max,
            closing: Cell::new(None),
            signal: LocalSignal::default(),
        }
    }

    /// Queues a line; false (and the session marked for closing) when the queue is over its bound.
    pub fn push(&self, line: SharedLine) -> bool {
        if self.closing.get().is_some() {
            return false;
        }
        let bytes = self.bytes.get() + line.len();
        if bytes > self.bytes_max {
            self.closing.set(Some(CloseReason::SendQueueFull));
            self.lines.borrow_mut().clear();
            self.bytes.set(0);
            self.signal.notify();
            return false;
        }
        self.bytes.set(bytes);
        self.lines.borrow_mut().push_back(line);
        self.signal.notify();
        true
    }

    /// The next line to write.
    pub fn pop(&self) -> Option<SharedLine> {
        let line = self.lines.borrow_mut().pop_front()?;
        self.bytes.set(self.bytes.get().saturating_sub(line.len()));
        Some(line)
    }

    /// Asks the session task to close.
    pub fn close(&self, reason: CloseReason) {
        self.closing.set(Some(reason));
        self.signal.notify();
    }

    pub fn closing(&self) -> Option<CloseReason> {
        self.closing.get()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.borrow().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_marks_the_session_for_closing_and_frees_the_queue() {
        let out = Outbound::new(10);
        assert!(out.push(SharedLine::new(vec![1; 6])));
        assert!(!out.push(SharedLine::new(vec![2; 6])));
        assert_eq!(out.closing(), Some(CloseReason::SendQueueFull));
        assert!(
            out.is_empty(),
            "nothing more is sent to a session being dropped"
        );
        assert!(!out.push(SharedLine::new(vec![3; 1])));
    }

    #[test]
    fn lines_come_out_in_order() {
        let out = Outbound::new(100);
        for i in 0..3u8 {
            assert!(out.push(SharedLine::new(vec![i])));
        }
        let got: Vec<u8> = std::iter::from_fn(|| out.pop()).map(|l| l.0[0]).collect();
        assert_eq!(got, [0, 1, 2]);
    }
}
