//! Waking a shard when the jobmaster publishes: a small thread per shard sleeps on the job ring's
//! futex (a shared-memory futex cannot be awaited by io_uring through monoio) and writes one byte
//! to a socketpair whose other end the shard awaits like any socket. The shard reads the ring
//! itself; the byte only says "look".

use ironpool_shared::ring::{JobRingReader, WaitOutcome};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;
use tracing::{debug, warn};

/// How long the thread sleeps before checking that the ring file is still the same one.
const WAIT: Duration = Duration::from_millis(500);

/// Starts the wake thread for the ring at `path`; returns the shard's end of the socketpair. The
/// thread ends when the shard's end is closed.
pub fn start(path: PathBuf, shard: usize) -> std::io::Result<UnixStream> {
    let (shard_end, mut thread_end) = UnixStream::pair()?;
    shard_end.set_nonblocking(true)?;
    thread_end.set_nonblocking(true)?;
    std::thread::Builder::new().name(format!("job-wake-{shard}")).spawn(move || {
        let mut reader = None;
        loop {
            let Some(r) = reader.as_mut() else {
                match JobRingReader::attach(&path) {
                    Ok(r) => {
                        reader = Some(r);
                        // The ring may already hold the current job: let the shard read it.
                        if !poke(&mut thread_end) {
                            return;
                        }
                    }
                    Err(e) => {
                        debug!(path = %path.display(), error = %e, "job ring not attachable yet");
                        std::thread::sleep(Duration::from_millis(100));
                        if !alive(&thread_end) {
                            return;
                        }
                    }
                }
                continue;
            };
            // Consume what is there so that `wait` sleeps until the next publish.
            loop {
                match r.try_read() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        warn!(path = %path.display(), error = %e, "job ring unreadable; re-attaching");
                        reader = None;
                        break;
                    }
                }
            }
            let Some(r) = reader.as_ref() else { continue };
            match r.wait(WAIT) {
                Ok(WaitOutcome::Ready) => {
                    if !poke(&mut thread_end) {
                        return;
                    }
                }
                Ok(WaitOutcome::TimedOut) => {
                    if !alive(&thread_end) {
                        return;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "job ring wait failed");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    })?;
    Ok(shard_end)
}

/// Writes the wake byte; false once the shard is gone. A full socket means a wake is already
/// pending, which is all that is needed.
fn poke(end: &mut UnixStream) -> bool {
    match end.write(&[1]) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
        Err(_) => false,
    }
}

/// Whether the shard's end is still open: the shard never writes, so a read finds nothing
/// (`WouldBlock`) while it lives and end-of-stream once it has closed.
fn alive(mut end: &UnixStream) -> bool {
    let mut probe = [0u8; 1];
    match end.read(&mut probe) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}
