//! Newline-delimited lines from a stratum server, each at most [`LINE_BYTES_MAX`] bytes.
//!
//! The server is not ours: a line without an end would otherwise grow a buffer until the process
//! runs out of memory. Past the cap the reader stops and reports how far it got; the caller
//! drops the connection (the stream cannot be resynchronised in the middle of a JSON value).

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

/// Longest line accepted, without its `\n`: a notify with a large coinbase and a merkle branch of
/// a dozen hashes is a few KiB.
pub const LINE_BYTES_MAX: usize = 64 * 1024;

/// Why no line was read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// More than [`LINE_BYTES_MAX`] bytes without a newline.
    #[error("line longer than {max} bytes ({read} read without a newline)")]
    TooLong { read: usize, max: usize },
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads lines from `R`, each into the same buffer.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: BufReader<R>,
    line: Vec<u8>,
    max: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Lines of at most [`LINE_BYTES_MAX`] bytes from `inner`.
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, LINE_BYTES_MAX)
    }

    /// Lines of at most `max` bytes (tests use small ones).
    pub fn with_max(inner: R, max: usize) -> Self {
        LineReader {
            inner: BufReader::new(inner),
            line: Vec::new(),
            max,
        }
    }

    /// The next line without its `\n` (nor a `\r` before it); `None` at the end of the stream.
    /// A last line without `\n` is returned as a line.
    ///
    /// # Errors
    ///
    /// A read error, or a line longer than the maximum.
    pub async fn next_line(&mut self) -> Result<Option<&[u8]>, LineError> {
        self.line.clear();
        // One byte over the maximum tells a full-length line from a longer one.
        let limit = self.max as u64 + 1;
        let read = (&mut self.inner)
            .take(limit)
            .read_until(b'\n', &mut self.line)
            .await?;
        if read == 0 {
            return Ok(None);
        }
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
        } else if read as u64 == limit {
            return Err(LineError::TooLong {
                read,
                max: self.max,
            });
        }
        Ok(Some(&self.line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8], max: usize) -> (Vec<Vec<u8>>, Option<LineError>) {
        let mut reader = LineReader::with_max(input, max);
        let mut lines = Vec::new();
        loop {
            match reader.next_line().await {
                Ok(Some(line)) => lines.push(line.to_vec()),
                Ok(None) => return (lines, None),
                Err(e) => return (lines, Some(e)),
            }
        }
    }

    #[tokio::test]
    async fn lines_come_without_their_ends() {
        let (lines, error) = all(b"one\ntwo\r\n\nlast", 16).await;
        assert!(error.is_none());
        assert_eq!(
            lines,
            vec![b"one".to_vec(), b"two".to_vec(), vec![], b"last".to_vec()]
        );
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_maximum_passes_and_one_more_byte_does_not() {
        let (lines, error) = all(b"12345678\nabc\n", 8).await;
        assert!(error.is_none());
        assert_eq!(lines.len(), 2);

        let (lines, error) = all(b"ok\n123456789\nnever\n", 8).await;
        assert_eq!(lines, vec![b"ok".to_vec()]);
        match error {
            Some(LineError::TooLong { read: 9, max: 8 }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn the_default_maximum_is_64_kib() {
        let mut input = vec![b'x'; LINE_BYTES_MAX];
        input.push(b'\n');
        input.extend(vec![b'y'; LINE_BYTES_MAX + 10]);
        let (lines, error) = all(&input, LINE_BYTES_MAX).await;
        assert_eq!(lines.len(), 1);
        assert!(matches!(error, Some(LineError::TooLong { .. })));
    }
}
