//! Readings of the machine and of processes from `/proc`: resident memory, CPU time, kernel slab
//! and TCP buffer memory.

use std::fs;

/// Resident set size of `pid` in bytes (0 when it cannot be read).
pub fn rss_bytes(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// User + system CPU seconds used by `pid` so far (all its threads).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) as f64 / hz
}

/// Kernel memory that sockets use: slab (kmalloc'd socket structures) and TCP buffers.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelMemory {
    /// `Slab:` of /proc/meminfo, bytes.
    pub slab: u64,
    /// `TCP: ... mem` of /proc/net/sockstat (pages), in bytes.
    pub tcp_buffers: u64,
    /// `TCP: inuse` of /proc/net/sockstat.
    pub tcp_sockets: u64,
}

impl KernelMemory {
    pub fn read() -> KernelMemory {
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let slab = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("Slab:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        let sockstat = fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
        let tcp: Vec<&str> = sockstat
            .lines()
            .find(|l| l.starts_with("TCP:"))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        let value = |name: &str| {
            tcp.iter()
                .position(|w| *w == name)
                .and_then(|i| tcp.get(i + 1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
        KernelMemory {
            slab,
            tcp_buffers: value("mem") * page,
            tcp_sockets: value("inuse"),
        }
    }
}
