//! Line framing: stratum V1 is one JSON object per `\n`-terminated line.
//!
//! [`LineBuffer`] holds the bytes of a session that do not yet form a whole line. The caller reads
//! from the socket into any buffer it likes, [`push`](LineBuffer::push)es what it read, then calls
//! [`next_line`](LineBuffer::next_line) until it returns `Ok(None)` ("need more bytes", which is not
//! an error). A line longer than the limit is [`LineError::TooLong`], whether or not its `\n` has
//! arrived: the session is then closed.
//!
//! Memory: the buffer allocates nothing until the first push and holds at most the unterminated
//! tail (< limit) plus the last pushed chunk, provided the caller drains lines after each push.
//! When [`is_empty`](LineBuffer::is_empty), [`take_spare`](LineBuffer::take_spare) hands the
//! allocation back (for a pool, or to drop it), so an idle session holds no buffer at all.

use super::error::LineError;

/// Default for the longest line a session may send, in bytes before its `\n`.
pub const LINE_BYTES_MAX_DEFAULT: usize = 16 * 1024;

/// Bytes received from one peer that do not yet form a whole line.
#[derive(Debug)]
pub struct LineBuffer {
    /// Received bytes; `buf[start..]` is not yet returned.
    buf: Vec<u8>,
    /// First byte not yet returned as (part of) a line.
    start: usize,
    /// Bytes from `start` known to hold no `\n`, so that a line arriving in many small pieces is
    /// scanned once, not once per piece.
    scanned: usize,
    /// The longest line accepted, in bytes before its `\n` (a `\r` counts).
    line_bytes_max: usize,
}

impl Default for LineBuffer {
    fn default() -> Self {
        LineBuffer::new(LINE_BYTES_MAX_DEFAULT)
    }
}

impl LineBuffer {
    /// An empty buffer accepting lines of at most `line_bytes_max` bytes. Allocates nothing.
    pub fn new(line_bytes_max: usize) -> Self {
        LineBuffer {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            line_bytes_max,
        }
    }

    /// The longest line accepted, in bytes before its `\n`.
    pub fn line_bytes_max(&self) -> usize {
        self.line_bytes_max
    }

    /// Appends bytes read from the peer. Drain with [`next_line`](Self::next_line) before the next
    /// push to keep memory bounded.
    pub fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.start > 0 {
            // Only the unterminated tail moves, and it is shorter than the limit.
            self.buf.drain(..self.start.min(self.buf.len()));
            self.start = 0;
        }
        if self.buf.capacity() == 0 {
            // A first allocation sized for the usual stratum read, not grown byte by byte.
            self.buf.reserve(bytes.len().max(512));
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line without its `\n` or `\r\n`, skipping blank lines; `Ok(None)` when no
    /// whole line is buffered.
    ///
    /// # Errors
    ///
    /// [`LineError::TooLong`] when a line, or the unterminated tail, exceeds the limit. The error
    /// is returned again on every later call: the session is expected to close.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, LineError> {
        loop {
            let pending = self.buf.get(self.start..).unwrap_or(&[]);
            let unscanned = pending.get(self.scanned..).unwrap_or(&[]);
            let Some(found) = unscanned.iter().position(|&b| b == b'\n') else {
                self.scanned = pending.len();
                if pending.len() > self.line_bytes_max {
                    return Err(LineError::TooLong {
                        limit: self.line_bytes_max,
                        seen: pending.len(),
                    });
                }
                if pending.is_empty() && !self.buf.is_empty() {
                    // Everything was consumed: keep the allocation, forget the bytes.
                    self.buf.clear();
                    self.start = 0;
                    self.scanned = 0;
                }
                return Ok(None);
            };
            // Lengths below are bounded by `pending.len()`: no overflow.
            let line_len = self.scanned.saturating_add(found);
            if line_len > self.line_bytes_max {
                return Err(LineError::TooLong {
                    limit: self.line_bytes_max,
                    seen: line_len,
                });
            }
            let line_start = self.start;
            let mut line_end = line_start.saturating_add(line_len);
            self.start = line_end.saturating_add(1);
            self.scanned = 0;
            let line = self.buf.get(line_start..line_end).unwrap_or(&[]);
            if line.last() == Some(&b'\r') {
                line_end = line_end.saturating_sub(1);
            }
            let line = self.buf.get(line_start..line_end).unwrap_or(&[]);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(self.buf.get(line_start..line_end));
        }
    }

    /// Whether no byte is waiting (no partial line, no unread line).
    pub fn is_empty(&self) -> bool {
        self.start >= self.buf.len()
    }

    /// Bytes waiting: a partial line and any unread lines.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// Bytes currently allocated (what an idle session costs).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// When nothing is waiting, hands back the allocation (cleared), leaving the buffer with none;
    /// `None` when bytes are waiting or nothing is allocated. For idle sessions: return the `Vec`
    /// to a pool, or drop it.
    pub fn take_spare(&mut self) -> Option<Vec<u8>> {
        if !self.is_empty() || self.buf.capacity() == 0 {
            return None;
        }
        let mut spare = std::mem::take(&mut self.buf);
        spare.clear();
        self.start = 0;
        self.scanned = 0;
        Some(spare)
    }

    /// Gives the buffer an allocation to use (from a pool), if it holds none and nothing waits.
    /// Hands `storage` back when the buffer already has one.
    pub fn give_storage(&mut self, mut storage: Vec<u8>) -> Result<(), Vec<u8>> {
        if self.buf.capacity() != 0 || !self.is_empty() {
            return Err(storage);
        }
        storage.clear();
        self.buf = storage;
        self.start = 0;
        self.scanned = 0;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn drain(buf: &mut LineBuffer) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        while let Some(line) = buf.next_line().unwrap() {
            lines.push(line.to_vec());
        }
        lines
    }

    #[test]
    fn splits_lines_strips_terminators_and_skips_blank_lines() {
        let mut buf = LineBuffer::default();
        buf.push(b"{\"a\":1}\n\r\n  \n{\"b\":2}\r\n{\"c\"");
        assert_eq!(
            drain(&mut buf),
            vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]
        );
        assert!(!buf.is_empty());
        assert_eq!(buf.pending_bytes(), 4);
        buf.push(b":3}\n");
        assert_eq!(drain(&mut buf), vec![b"{\"c\":3}".to_vec()]);
        assert!(buf.is_empty());
        assert_eq!(buf.pending_bytes(), 0);
    }

    #[test]
    fn every_split_point_gives_the_same_lines() {
        let stream = b"{\"id\":1}\n{\"id\":2}\r\n\n{\"id\":3}\n";
        let expected = vec![
            b"{\"id\":1}".to_vec(),
            b"{\"id\":2}".to_vec(),
            b"{\"id\":3}".to_vec(),
        ];
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let mut buf = LineBuffer::new(64);
                let mut lines = Vec::new();
                for chunk in [&stream[..i], &stream[i..j], &stream[j..]] {
                    buf.push(chunk);
                    lines.extend(drain(&mut buf));
                }
                assert_eq!(lines, expected, "split at {i}, {j}");
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn a_line_at_the_limit_passes_and_one_byte_more_is_too_long() {
        let mut buf = LineBuffer::new(8);
        buf.push(b"12345678\n");
        assert_eq!(buf.next_line().unwrap(), Some(&b"12345678"[..]));
        buf.push(b"123456789\n");
        assert_eq!(
            buf.next_line(),
            Err(LineError::TooLong { limit: 8, seen: 9 })
        );
        // The error sticks: the session is closing.
        assert_eq!(
            buf.next_line(),
            Err(LineError::TooLong { limit: 8, seen: 9 })
        );
    }

    #[test]
    fn an_unterminated_tail_over_the_limit_is_too_long_before_its_newline() {
        let mut buf = LineBuffer::new(16);
        buf.push(b"ok\n0123456789");
        assert_eq!(buf.next_line().unwrap(), Some(&b"ok"[..]));
        assert_eq!(buf.next_line().unwrap(), None);
        buf.push(b"0123456");
        assert_eq!(
            buf.next_line(),
            Err(LineError::TooLong {
                limit: 16,
                seen: 17
            })
        );
    }

    #[test]
    fn sixteen_kib_without_a_newline_is_refused_at_the_default_limit() {
        let mut buf = LineBuffer::default();
        let chunk = [b'x'; 4096];
        for _ in 0..4 {
            buf.push(&chunk);
            assert_eq!(buf.next_line().unwrap(), None);
        }
        buf.push(b"x");
        assert_eq!(
            buf.next_line(),
            Err(LineError::TooLong {
                limit: LINE_BYTES_MAX_DEFAULT,
                seen: LINE_BYTES_MAX_DEFAULT + 1
            })
        );
        // Memory stayed near the data size, not some multiple of it.
        assert!(buf.capacity() < 2 * LINE_BYTES_MAX_DEFAULT + 4096);
    }

    #[test]
    fn idle_buffers_give_their_memory_back() {
        let mut buf = LineBuffer::default();
        assert_eq!(buf.capacity(), 0);
        assert!(buf.take_spare().is_none());
        buf.push(b"{\"id\":1}\n{\"id\"");
        assert_eq!(drain(&mut buf).len(), 1);
        assert!(buf.take_spare().is_none(), "a partial line is waiting");
        buf.push(b":2}\n");
        assert_eq!(drain(&mut buf).len(), 1);
        let spare = buf.take_spare().unwrap();
        assert!(spare.is_empty() && spare.capacity() > 0);
        assert_eq!(buf.capacity(), 0);
        // The pooled allocation is taken back and used.
        let cap = spare.capacity();
        buf.give_storage(spare).unwrap();
        assert_eq!(buf.capacity(), cap);
        assert!(buf.give_storage(Vec::with_capacity(8)).is_err());
        buf.push(b"{\"id\":3}\n");
        assert_eq!(drain(&mut buf), vec![b"{\"id\":3}".to_vec()]);
    }

    #[test]
    fn consumed_bytes_are_released_on_the_next_push() {
        let mut buf = LineBuffer::new(64);
        for i in 0..10_000 {
            buf.push(format!("{{\"id\":{i}}}\n{{\"id\"").as_bytes());
            assert_eq!(drain(&mut buf).len(), 1);
            buf.push(b":0}\n");
            assert_eq!(drain(&mut buf).len(), 1);
        }
        assert!(buf.capacity() <= 1024, "capacity {}", buf.capacity());
    }
}
