//! Connecting from a chosen source address: monoio connects only from the address the system
//! picks, so the socket is made, bound and connected (non-blocking) here, then handed to monoio,
//! which waits until it is writable.

use monoio::net::TcpStream;
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};

/// Connects to `addr`, from `source` (port chosen by the system) when given.
pub async fn connect_from(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect_addr(addr).await;
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(socket.into())?;
    stream.writable(false).await?;
    // A failed connect is writable too: only a connected socket has a peer.
    stream.peer_addr()?;
    Ok(stream)
}
