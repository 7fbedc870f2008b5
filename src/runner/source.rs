//! Connections that leave from a given local address (`source_addresses`, as
//! k6's `--local-ips`): one address has one ephemeral port range per
//! destination, so several spread a load past it.

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

/// Connects to `to` from `from`, the kernel choosing the port at connect time
/// (`IP_BIND_ADDRESS_NO_PORT`), so a local port serves every destination it
/// may rather than being held by the bind.
pub async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match from {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    bind_address_no_port(&socket);
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// Best effort: without it, the bind takes a port for every destination.
fn bind_address_no_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads an int of the size given from a live socket.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
