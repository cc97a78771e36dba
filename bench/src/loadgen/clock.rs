//! `CLOCK_MONOTONIC` in nanoseconds: the one clock every process on the host shares, so that a
//! trigger timestamped by one process and arrivals timestamped by others can be compared.

/// Nanoseconds of `CLOCK_MONOTONIC`.
pub fn monotonic_ns() -> u64 {
    // std's Instant is CLOCK_MONOTONIC on Linux but opaque; read the clock directly.
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}
