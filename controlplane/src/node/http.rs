//! A minimal HTTP/1.1 client: one POST at a time per connection, on a tokio `TcpStream`.
//!
//! Just what a Bitcoin node's RPC server needs (libevent's `evhttp` in Bitcoin Core and its
//! descendants): a request with `Content-Length`, and a response framed by `Content-Length`,
//! `Transfer-Encoding: chunked`, or the end of the connection.
//!
//! Bounds: a status or header line is at most [`MAX_LINE_BYTES`], a head at most
//! [`MAX_HEADER_LINES`] lines, and a body at most the caller's `max_body` bytes. A declared
//! `Content-Length` or chunk size is checked against `max_body` before anything is allocated for
//! it, and the body buffer never grows past `max_body`.
//!
//! Keep-alive: the client keeps at most one idle connection (the slot in [`HttpClient`]). A call
//! takes it, or opens a new connection when it is empty or busy, so concurrent calls never wait
//! for each other; a finished exchange puts its connection back only if the response left it in a
//! clean state and the slot is empty. A node closes idle connections (Core: `-rpcservertimeout`,
//! 30 s), so a reused connection that turns out closed before the first response byte is retried
//! once on a fresh connection (see [`HttpClient::post`]).
//!
//! Does not do: TLS, redirects, proxies, compression, pipelining, `Expect: 100-continue`. Time
//! limits are the caller's: every future here may be dropped at any point, and a dropped exchange
//! drops its connection (it is never put back half-read).

use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use super::auth::AuthHeader;

/// Longest status, header or chunk-size line accepted, CRLF included. evhttp's own lines are
/// short; 8 KiB is what most servers allow for a request line.
pub(crate) const MAX_LINE_BYTES: usize = 8 * 1024;

/// Most header (or trailer) lines accepted in one response head; Core sends about five.
pub(crate) const MAX_HEADER_LINES: usize = 64;

/// Interim (1xx) responses skipped before the real one. We never send `Expect`, so a server has
/// no reason to send any; the bound keeps a misbehaving peer from looping us.
const MAX_INTERIM_RESPONSES: usize = 4;

/// Read buffer of a connection: large answers (`getblocktemplate`) arrive in fewer reads.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// How many bytes of an unrecognised line an error message quotes.
const QUOTE_BYTES: usize = 64;

/// Where requests go: parsed once from `http://host:port/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpTarget {
    /// Host name or IP address, without IPv6 brackets (what `connect` wants).
    host: String,
    port: u16,
    /// `host:port` as in the URL, brackets kept: the `Host` header and error messages.
    authority: String,
    /// Request target, starting with `/`.
    path: String,
}

impl HttpTarget {
    /// Parses `http://host:port/path`; the port is required.
    ///
    /// # Errors
    ///
    /// A lower-case description of the problem: not `http://`, credentials in the URL, a missing
    /// or zero port, whitespace or control characters (they would end up in the request line).
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("contains whitespace or control characters".into());
        }
        let scheme_end = url.find("://").ok_or("expected http://host:port/")?;
        let (scheme, rest) = (
            url.get(..scheme_end).unwrap_or(""),
            url.get(scheme_end + 3..).unwrap_or(""),
        );
        if scheme.eq_ignore_ascii_case("https") {
            return Err(
                "https is not supported: nodes speak plain http (use a tunnel or a tls proxy)"
                    .into(),
            );
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!(
                "unsupported scheme {scheme:?}, expected http://host:port/"
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => (
                rest.get(..slash).unwrap_or(""),
                rest.get(slash..).unwrap_or("/"),
            ),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err("credentials belong in the node's auth setting, not in the url".into());
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or("unclosed '[' in ipv6 address")?;
            (host, after.strip_prefix(':').ok_or("missing port")?)
        } else {
            let (host, port) = authority.rsplit_once(':').ok_or(
                "missing port (bitcoin core rpc ports: 8332 mainnet, 18332 testnet, 18443 regtest)",
            )?;
            if host.contains(':') {
                return Err(
                    "ipv6 addresses must be written in brackets: http://[::1]:8332/".into(),
                );
            }
            (host, port)
        };
        if host.is_empty() {
            return Err("missing host".into());
        }
        let port = match port.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("invalid port {port:?}")),
            Ok(port) => port,
        };
        Ok(HttpTarget {
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// Why an exchange failed; the caller adds the node and the method.
#[derive(Debug)]
pub(crate) enum HttpError {
    /// The TCP connection could not be opened.
    Connect { addr: String, source: io::Error },
    /// Reading or writing failed, or the peer closed the connection too early.
    Io(io::Error),
    /// The peer's bytes are not an HTTP/1.x response.
    Garbage(String),
    /// The body is larger than the caller's limit.
    TooLarge { limit: usize },
}

/// An exchange failure, and whether it happened on a connection the peer had already closed
/// before it read our request (then a retry on a fresh connection is safe).
struct Failure {
    error: HttpError,
    stale: bool,
}

/// One open connection with its read buffer.
struct Connection {
    reader: BufReader<TcpStream>,
}

/// HTTP client for one target, holding at most one idle keep-alive connection.
pub(crate) struct HttpClient {
    target: HttpTarget,
    idle: Mutex<Option<Connection>>,
}

impl HttpClient {
    pub(crate) fn new(target: HttpTarget) -> Self {
        HttpClient {
            target,
            idle: Mutex::new(None),
        }
    }

    /// POSTs `body` as JSON and returns the response, whatever its status.
    ///
    /// Retries once, on a fresh connection, only when a reused idle connection was closed by the
    /// peer before the first response byte (write failed, or EOF/reset while waiting): the node
    /// closed it while it sat idle, so the request was not processed. A fresh connection is never
    /// retried, so a node that closes without answering is reported, not called twice.
    ///
    /// # Errors
    ///
    /// [`HttpError`]: connect, I/O (including early close), garbage, body over `max_body`.
    pub(crate) async fn post(
        &self,
        auth: &AuthHeader,
        body: &[u8],
        max_body: usize,
    ) -> Result<HttpResponse, HttpError> {
        let request = self.request_bytes(auth, body);
        if let Some(mut conn) = self.take_idle() {
            match exchange(&mut conn, &request, max_body).await {
                Ok((response, reusable)) => {
                    if reusable {
                        self.put_idle(conn);
                    }
                    return Ok(response);
                }
                Err(Failure { error, stale: true }) => {
                    tracing::debug!(target_addr = %self.target.authority, ?error, "idle connection was closed by the node, reconnecting");
                }
                Err(Failure {
                    error,
                    stale: false,
                }) => return Err(error),
            }
        }
        let mut conn = self.connect().await?;
        let (response, reusable) = exchange(&mut conn, &request, max_body)
            .await
            .map_err(|f| f.error)?;
        if reusable {
            self.put_idle(conn);
        }
        Ok(response)
    }

    fn request_bytes(&self, auth: &AuthHeader, body: &[u8]) -> Vec<u8> {
        // One buffer and one write: with TCP_NODELAY, separate head and body writes could leave
        // as separate segments.
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.target.path,
            self.target.authority,
            auth.as_str(),
            body.len()
        );
        let mut request = Vec::with_capacity(head.len() + body.len());
        request.extend_from_slice(head.as_bytes());
        request.extend_from_slice(body);
        request
    }

    async fn connect(&self) -> Result<Connection, HttpError> {
        let stream = TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .map_err(|source| HttpError::Connect {
                addr: self.target.authority.clone(),
                source,
            })?;
        // Requests are written in one piece and answered before the next, so Nagle only adds
        // delay. Failing to set it costs latency, not correctness.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(target_addr = %self.target.authority, %err, "cannot set TCP_NODELAY");
        }
        Ok(Connection {
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, stream),
        })
    }

    fn slot(&self) -> MutexGuard<'_, Option<Connection>> {
        // The guarded value is a plain Option that no code path leaves half-updated, so a panic
        // elsewhere while holding the lock does not make it unusable.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the idle connection if it still looks open.
    fn take_idle(&self) -> Option<Connection> {
        let conn = self.slot().take()?;
        if !conn.reader.buffer().is_empty() {
            return None;
        }
        // A non-blocking read tells a connection the node has closed (EOF) from a live, quiet
        // one (WouldBlock). It can miss a close that is still in flight; `post` retries that case.
        let mut probe = [0u8; 1];
        match conn.reader.get_ref().try_read(&mut probe) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Some(conn),
            _ => None,
        }
    }

    fn put_idle(&self, conn: Connection) {
        let mut slot = self.slot();
        if slot.is_none() {
            *slot = Some(conn);
        }
    }
}

/// Sends one request on `conn` and reads the response; the bool says whether the connection can
/// carry another request.
async fn exchange(
    conn: &mut Connection,
    request: &[u8],
    max_body: usize,
) -> Result<(HttpResponse, bool), Failure> {
    if let Err(err) = conn.reader.get_mut().write_all(request).await {
        return Err(Failure {
            stale: is_closed_by_peer(&err),
            error: HttpError::Io(err),
        });
    }
    // Wait for the first response byte on its own, to tell "closed before answering" (maybe a
    // stale keep-alive connection) from a failure in the middle of a response.
    match conn.reader.fill_buf().await {
        Ok([]) => {
            let err = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before any response byte",
            );
            return Err(Failure {
                stale: true,
                error: HttpError::Io(err),
            });
        }
        Ok(_) => {}
        Err(err) => {
            return Err(Failure {
                stale: is_closed_by_peer(&err),
                error: HttpError::Io(err),
            })
        }
    }
    read_response(&mut conn.reader, max_body)
        .await
        .map_err(|error| Failure {
            error,
            stale: false,
        })
}

fn is_closed_by_peer(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

/// What the head of a response says about its body and connection.
struct Head {
    status: u16,
    http_11: bool,
    content_length: Option<u64>,
    chunked: bool,
    connection_close: bool,
    connection_keep_alive: bool,
}

/// Reads one response (head and body) from `reader`.
async fn read_response(
    reader: &mut BufReader<TcpStream>,
    max_body: usize,
) -> Result<(HttpResponse, bool), HttpError> {
    let mut line = Vec::with_capacity(256);
    let mut head = read_head(reader, &mut line).await?;
    let mut interim = 0;
    while (100..200).contains(&head.status) {
        interim += 1;
        if interim > MAX_INTERIM_RESPONSES {
            return Err(HttpError::Garbage(format!(
                "more than {MAX_INTERIM_RESPONSES} interim 1xx responses"
            )));
        }
        head = read_head(reader, &mut line).await?;
    }
    let mut body = Vec::new();
    let framed = if head.status == 204 || head.status == 304 {
        true
    } else if head.chunked {
        read_chunked(reader, &mut line, &mut body, max_body).await?;
        true
    } else if let Some(length) = head.content_length {
        let length = usize::try_from(length)
            .ok()
            .filter(|&length| length <= max_body)
            .ok_or(HttpError::TooLarge { limit: max_body })?;
        // Allocated only after the check above; the pages are touched only as bytes arrive.
        body.reserve_exact(length);
        read_exact_into(reader, &mut body, length).await?;
        true
    } else {
        read_to_eof(reader, &mut body, max_body).await?;
        false
    };
    let keep_alive = if head.http_11 {
        !head.connection_close
    } else {
        head.connection_keep_alive
    };
    // Leftover bytes would be the start of an answer nobody asked for: do not reuse.
    let reusable = framed && keep_alive && reader.buffer().is_empty();
    Ok((
        HttpResponse {
            status: head.status,
            body,
        },
        reusable,
    ))
}

/// Reads a status line and headers, up to the empty line.
async fn read_head(
    reader: &mut BufReader<TcpStream>,
    line: &mut Vec<u8>,
) -> Result<Head, HttpError> {
    read_line(reader, line, "status line").await?;
    let (http_11, status) = parse_status_line(line)?;
    let mut head = Head {
        status,
        http_11,
        content_length: None,
        chunked: false,
        connection_close: false,
        connection_keep_alive: false,
    };
    for _ in 0..MAX_HEADER_LINES {
        read_line(reader, line, "response headers").await?;
        if line.is_empty() {
            return Ok(head);
        }
        parse_header(line, &mut head)?;
    }
    Err(HttpError::Garbage(format!(
        "more than {MAX_HEADER_LINES} header lines"
    )))
}

/// `HTTP/1.1 200 OK` → (true, 200). The reason phrase is ignored.
fn parse_status_line(line: &[u8]) -> Result<(bool, u16), HttpError> {
    let not_http = || HttpError::Garbage(format!("not an http status line: \"{}\"", quote(line)));
    let (http_11, rest) = if let Some(rest) = line.strip_prefix(b"HTTP/1.1 ") {
        (true, rest)
    } else if let Some(rest) = line.strip_prefix(b"HTTP/1.0 ") {
        (false, rest)
    } else {
        return Err(not_http());
    };
    let code = rest.get(..3).ok_or_else(not_http)?;
    if !code.iter().all(u8::is_ascii_digit) || rest.get(3).is_some_and(|&b| b != b' ') {
        return Err(not_http());
    }
    let status = code
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    if status < 100 {
        return Err(not_http());
    }
    Ok((http_11, status))
}

/// Records the headers that frame the body or decide keep-alive; ignores the rest.
fn parse_header(line: &[u8], head: &mut Head) -> Result<(), HttpError> {
    let garbage = |what: &str| HttpError::Garbage(format!("{what}: \"{}\"", quote(line)));
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| garbage("header line without ':'"))?;
    let (name, value) = (
        line.get(..colon).unwrap_or(b""),
        line.get(colon + 1..).unwrap_or(b""),
    );
    let value = value.trim_ascii();
    if name.eq_ignore_ascii_case(b"content-length") {
        let length = parse_decimal(value).ok_or_else(|| garbage("invalid content-length"))?;
        // Two different lengths make the framing ambiguous (a request-smuggling classic).
        if head.content_length.is_some_and(|seen| seen != length) {
            return Err(garbage("conflicting content-length"));
        }
        head.content_length = Some(length);
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        // We send no Accept-Encoding or TE, so "chunked" is the only coding a server may use.
        if !value.eq_ignore_ascii_case(b"chunked") {
            return Err(garbage("unsupported transfer-encoding"));
        }
        head.chunked = true;
    } else if name.eq_ignore_ascii_case(b"connection") {
        for token in value.split(|&b| b == b',') {
            let token = token.trim_ascii();
            head.connection_close |= token.eq_ignore_ascii_case(b"close");
            head.connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    Ok(())
}

/// Digits only (no sign, no spaces), at most 19 of them so it fits a u64.
fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        text.iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0')),
    )
}

/// Hex digits only, at most 15 of them (a chunk over 2^60 bytes is over any limit anyway).
fn parse_hex(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 15 {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &d| {
        let digit = char::from(d).to_digit(16)?;
        Some(acc * 16 + u64::from(digit))
    })
}

/// Reads a `Transfer-Encoding: chunked` body (RFC 9112 §7.1): size lines, data, trailers.
async fn read_chunked(
    reader: &mut BufReader<TcpStream>,
    line: &mut Vec<u8>,
    body: &mut Vec<u8>,
    max_body: usize,
) -> Result<(), HttpError> {
    loop {
        read_line(reader, line, "chunk size").await?;
        // Chunk extensions (";name=value") are allowed and meaningless to us.
        let size_text = line
            .split(|&b| b == b';')
            .next()
            .unwrap_or(b"")
            .trim_ascii();
        let size = parse_hex(size_text).ok_or_else(|| {
            HttpError::Garbage(format!("invalid chunk size line: \"{}\"", quote(line)))
        })?;
        if size == 0 {
            break;
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|&size| size <= max_body.saturating_sub(body.len()))
            .ok_or(HttpError::TooLarge { limit: max_body })?;
        reserve_capped(body, size, max_body);
        read_exact_into(reader, body, size).await?;
        read_line(reader, line, "chunk end").await?;
        if !line.is_empty() {
            return Err(HttpError::Garbage(format!(
                "chunk data not followed by CRLF: \"{}\"",
                quote(line)
            )));
        }
    }
    for _ in 0..MAX_HEADER_LINES {
        read_line(reader, line, "chunked trailer").await?;
        if line.is_empty() {
            return Ok(());
        }
    }
    Err(HttpError::Garbage(format!(
        "more than {MAX_HEADER_LINES} trailer lines"
    )))
}

/// Reads until the peer closes: a response with neither length nor chunking.
async fn read_to_eof(
    reader: &mut BufReader<TcpStream>,
    body: &mut Vec<u8>,
    max_body: usize,
) -> Result<(), HttpError> {
    loop {
        let available = reader.fill_buf().await.map_err(HttpError::Io)?;
        if available.is_empty() {
            return Ok(());
        }
        let n = available.len();
        if n > max_body.saturating_sub(body.len()) {
            return Err(HttpError::TooLarge { limit: max_body });
        }
        reserve_capped(body, n, max_body);
        body.extend_from_slice(available);
        reader.consume(n);
    }
}

/// Appends exactly `n` bytes to `body`; EOF first is an `UnexpectedEof` with the counts.
async fn read_exact_into(
    reader: &mut BufReader<TcpStream>,
    body: &mut Vec<u8>,
    n: usize,
) -> Result<(), HttpError> {
    let mut missing = n;
    while missing > 0 {
        let available = reader.fill_buf().await.map_err(HttpError::Io)?;
        if available.is_empty() {
            let err = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed after {} of {n} bytes of a body part",
                    n - missing
                ),
            );
            return Err(HttpError::Io(err));
        }
        let take = available.len().min(missing);
        body.extend_from_slice(available.get(..take).unwrap_or(available));
        reader.consume(take);
        missing -= take;
    }
    Ok(())
}

/// Makes room for `additional` bytes, doubling as `Vec` does, but never past `max_body` (the
/// caller has checked that `body.len() + additional <= max_body`).
fn reserve_capped(body: &mut Vec<u8>, additional: usize, max_body: usize) {
    let needed = body.len().saturating_add(additional);
    if needed <= body.capacity() {
        return;
    }
    let target = body
        .capacity()
        .saturating_mul(2)
        .max(needed)
        .min(max_body.max(needed));
    body.reserve_exact(target - body.len());
}

/// Reads one line into `line` without its CRLF (or bare LF), refusing lines longer than
/// [`MAX_LINE_BYTES`]. `what` names the line in the EOF error.
async fn read_line(
    reader: &mut BufReader<TcpStream>,
    line: &mut Vec<u8>,
    what: &str,
) -> Result<(), HttpError> {
    line.clear();
    loop {
        let available = reader.fill_buf().await.map_err(HttpError::Io)?;
        if available.is_empty() {
            let err = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed in the {what}"),
            );
            return Err(HttpError::Io(err));
        }
        let (part, done) = match available.iter().position(|&b| b == b'\n') {
            Some(newline) => (available.get(..=newline).unwrap_or(available), true),
            None => (available, false),
        };
        if line.len() + part.len() > MAX_LINE_BYTES {
            return Err(HttpError::Garbage(format!(
                "{what} line longer than {MAX_LINE_BYTES} bytes: \"{}\"",
                quote(line)
            )));
        }
        line.extend_from_slice(part);
        let consumed = part.len();
        reader.consume(consumed);
        if done {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(());
        }
    }
}

/// An escaped prefix of peer bytes for error messages (the peer controls them: no raw control
/// characters into our logs).
pub(crate) fn quote(bytes: &[u8]) -> String {
    let end = bytes.len().min(QUOTE_BYTES);
    let mut text = bytes.get(..end).unwrap_or(bytes).escape_ascii().to_string();
    if bytes.len() > end {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = HttpTarget::parse("http://127.0.0.1:18443/").unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.authority.as_str(),
                t.path.as_str()
            ),
            ("127.0.0.1", 18443, "127.0.0.1:18443", "/")
        );
        let t = HttpTarget::parse("HTTP://node.example:8332").unwrap();
        assert_eq!((t.host.as_str(), t.path.as_str()), ("node.example", "/"));
        let t = HttpTarget::parse("http://[::1]:8332/wallet/w").unwrap();
        assert_eq!(
            (t.host.as_str(), t.authority.as_str(), t.path.as_str()),
            ("::1", "[::1]:8332", "/wallet/w")
        );
        for bad in [
            "https://h:1/",
            "ftp://h:1/",
            "h:1",
            "http://h/",
            "http://h:0/",
            "http://h:99999/",
            "http://:1/",
            "http://u:p@h:1/",
            "http://::1:8332/",
            "http://h:1/a b",
            "http://h:1/\r\nX: y",
            "http://[::1/",
        ] {
            assert!(HttpTarget::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 OK").ok(),
            Some((true, 200))
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.0 401 Unauthorized").ok(),
            Some((false, 401))
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 500").ok(), Some((true, 500)));
        for bad in [
            &b"HTTP/1.1 20 OK"[..],
            b"HTTP/1.1 2000",
            b"HTTP/2 200",
            b"\x00\xff",
            b"",
            b"HTTP/1.1 099 x",
        ] {
            assert!(parse_status_line(bad).is_err());
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), None);
        assert_eq!(
            parse_decimal(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(parse_decimal(b"+5"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_hex(b"1aF"), Some(0x1af));
        assert_eq!(parse_hex(b"+1"), None);
        assert_eq!(parse_hex(b"fffffffffffffff"), Some(0x0fff_ffff_ffff_ffff));
        assert_eq!(parse_hex(b"1000000000000000"), None);
    }

    #[test]
    fn reserve_never_passes_the_cap() {
        let mut body = Vec::new();
        reserve_capped(&mut body, 10, 15);
        assert!(body.capacity() >= 10);
        body.extend_from_slice(&[0; 10]);
        reserve_capped(&mut body, 5, 15);
        assert_eq!(body.capacity(), 15);
    }

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote(b"a\r\n\xff"), "a\\r\\n\\xff");
        assert!(quote(&[b'x'; 100]).ends_with("..."));
    }
}
