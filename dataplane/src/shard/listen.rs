//! Listening sockets: one per address per shard, all with `SO_REUSEPORT`, so the kernel spreads
//! connections over the shards (and over several gateway processes on one port). IPv6 sockets are
//! `IPV6_V6ONLY`, so `0.0.0.0:p` and `[::]:p` can both be listened on.

use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;

/// Pending connections the kernel queues per listening socket: a connect storm of thousands of
/// miners after a pool restart must not see refusals.
const BACKLOG: i32 = 4096;

/// A bound, listening socket ready for the shard's runtime.
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
