//! TCP: the listener and outgoing connections, each run by the stream task
//! ([`crate::stream::run`]).

use crate::conns::{Direction, Registered};
use crate::hub::Shared;
use crate::stats::Counters;
use crate::stream::run;
use drachtio_sip::transaction::{Peer, Transport};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Binds a TCP listener: SO_REUSEADDR so a restarted stack can bind a port
/// with connections in TIME_WAIT; IPv6 sockets IPv6-only.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Accepts connections on a TCP listener and runs each admitted one.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let local = listener.local_addr();
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                // Out of descriptors, or a connection reset before accept: retry shortly.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Refused: dropping the stream closes it at once.
        let peer = Peer {
            transport: Transport::Tcp,
            addr: remote,
        };
        let Some(conn) = shared.accept_conn(peer) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let local = stream
            .local_addr()
            .or(local.as_ref().copied())
            .unwrap_or(remote);
        tokio::spawn(run(
            shared.clone(),
            stream,
            peer,
            local,
            Direction::Inbound,
            conn,
        ));
    }
}

/// Opens a TCP connection to `dest` for messages queued on `conn`.
pub(crate) async fn connect(shared: Arc<Shared>, dest: SocketAddr, mut conn: Registered) {
    let peer = Peer {
        transport: Transport::Tcp,
        addr: dest,
    };
    let timeout = shared.config.timers.t1x64();
    let reason = match tokio::time::timeout(timeout, TcpStream::connect(dest)).await {
        Ok(Ok(stream)) => {
            Counters::inc(&shared.counters.tcp_connections_opened);
            let _ = stream.set_nodelay(true);
            let local = stream.local_addr().unwrap_or(dest);
            return run(shared, stream, peer, local, Direction::Outbound, conn).await;
        }
        Ok(Err(e)) => format!("cannot connect to {dest}: {e}"),
        Err(_) => format!("cannot connect to {dest}: timed out"),
    };
    shared.unregister_conn(peer, conn.id);
    conn.rx.close();
    let mut failures = Vec::new();
    while let Ok(out) = conn.rx.try_recv() {
        failures.push(out.fail(&reason));
    }
    shared.pump(failures);
}
