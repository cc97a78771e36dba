//! Linux futex wait and wake on a 32-bit word inside a shared mapping.
//!
//! The rings are mapped `MAP_SHARED` by several processes, so the futexes must be the *shared*
//! kind: `FUTEX_WAIT`/`FUTEX_WAKE` without `FUTEX_PRIVATE_FLAG`. The kernel then keys the waiters by
//! (inode, offset), which every process mapping the file agrees on. `FUTEX_WAIT` only reads the word,
//! so it works on a read-only mapping.

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

/// Why a ring `wait` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Something changed (a publish, a push, a retirement): read now.
    Ready,
    /// The timeout passed with no change.
    TimedOut,
}

/// The instant `timeout` from now; a timeout too large to represent means "a year from now",
/// which callers treat as forever.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

/// Sleeps while `*word == expected`, at most `timeout`.
///
/// Returns `Ok(())` when woken, when the word already differed (`EAGAIN`), on timeout and on a
/// signal (`EINTR`): callers re-check their condition and their deadline in a loop.
///
/// # Errors
///
/// Any other failure of the system call (`ENOSYS` under a seccomp filter, say), so that a caller
/// does not silently turn its wait into a busy loop.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) -> io::Result<()> {
    let timespec = libc::timespec {
        // A timeout beyond i64::MAX seconds is clamped: it is forever either way.
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    // SAFETY: `word.as_ptr()` points at a live, 4-byte aligned u32 for the duration of the call (it
    // is borrowed), `timespec` lives on this stack frame, and FUTEX_WAIT ignores the last two
    // arguments. The kernel only reads the word.
    let result = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &raw const timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if result == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN | libc::ETIMEDOUT | libc::EINTR) => Ok(()),
        _ => Err(error),
    }
}

/// Wakes every process and thread sleeping in [`wait`] on `word`; returns how many woke.
///
/// # Errors
///
/// A failure of the system call. With a valid mapped word none is expected.
pub(crate) fn wake_all(word: &AtomicU32) -> io::Result<usize> {
    // SAFETY: `word.as_ptr()` points at a live, aligned u32 for the duration of the call;
    // FUTEX_WAKE does not dereference the remaining arguments.
    let result = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    // The kernel returns a non-negative count of woken waiters, at most i32::MAX.
    Ok(usize::try_from(result).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn wait_times_out_when_nobody_wakes() {
        let word = AtomicU32::new(7);
        let start = Instant::now();
        wait(&word, 7, Duration::from_millis(30)).expect("futex wait");
        assert!(
            start.elapsed() >= Duration::from_millis(25),
            "returned after {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn wait_returns_at_once_when_the_word_differs() {
        let word = AtomicU32::new(8);
        let start = Instant::now();
        wait(&word, 7, Duration::from_secs(5)).expect("futex wait");
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn wake_releases_a_waiter() {
        let word = Arc::new(AtomicU32::new(0));
        let waiter = {
            let word = Arc::clone(&word);
            std::thread::spawn(move || {
                let start = Instant::now();
                while word.load(Ordering::Acquire) == 0 {
                    wait(&word, 0, Duration::from_secs(10)).expect("futex wait");
                }
                start.elapsed()
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        word.store(1, Ordering::Release);
        wake_all(&word).expect("futex wake");
        let waited = waiter.join().expect("waiter thread");
        assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    }
}
