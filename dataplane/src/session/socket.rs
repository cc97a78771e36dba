//! Non-blocking `send(2)`, `recv(2)` and `shutdown(2)` on a session's socket.
//!
//! Writes go straight to the socket from whoever has a line for the session (the fan-out of a
//! notify, the validator's reply): a 1.5 KB line almost always fits the socket buffer, so the
//! session task is not woken per notify and holds no write state while idle. Only a socket that
//! pushes back gets a writer task (see `Session::send`).

use std::io;
use std::os::fd::RawFd;

/// Sends what the socket takes now; `Ok(0)` when it takes nothing (`EAGAIN`).
pub fn send(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: `bytes` is a valid slice for its length; `fd` is the session's socket, open for as
    // long as its `Session` (which owns the stream) is alive, and the caller holds the session.
    let n = unsafe {
        libc::send(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n >= 0 {
        return Ok(n as usize);
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
        _ => Err(e),
    }
}

/// Reads what is there; `Ok(None)` when nothing is (`EAGAIN`), `Ok(Some(0))` at end of stream.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is a valid, writable slice for its length; `fd` as in `send`.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n >= 0 {
        return Ok(Some(n as usize));
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
        _ => Err(e),
    }
}

/// Ends both directions: the session task's wait for readability returns and it closes the
/// socket. How the shard closes a session it wants gone.
pub fn shutdown(fd: RawFd) {
    // SAFETY: shutdown(2) only changes the state of the socket `fd`, valid as in `send`; an error
    // (already shut down, peer gone) changes nothing we rely on.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}
