//! TCP, and TLS over it: the listeners and the connections the stack
//! opens, each run by the stream task ([`crate::stream::run`]) once its
//! TLS handshake, if any, is done; WebSocket listeners (WS, WSS) accept
//! here too and hand each connection to [`crate::ws::serve`].

use crate::conns::{Direction, Registered};
use crate::hub::Shared;
use crate::send::not_listening;
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

/// Accepts connections on a listener of `transport` (TCP or TLS) and runs
/// each one admitted.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, transport: Transport) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                // Out of descriptors, or a connection reset before accept: retry shortly.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let peer = Peer {
            transport,
            addr: remote,
        };
        // Refused: dropping the stream closes it at once.
        let Some(conn) = shared.accept_conn(peer) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(remote);
        tokio::spawn(serve(
            shared.clone(),
            stream,
            peer,
            local,
            Direction::Inbound,
            None,
            conn,
        ));
    }
}

/// Opens a connection to `dest` (TCP, or TLS over TCP) for the messages
/// queued on `conn`; `name` is the host name `dest` was resolved from.
pub(crate) async fn connect(
    shared: Arc<Shared>,
    dest: Peer,
    name: Option<Arc<str>>,
    conn: Registered,
) {
    let addr = dest.addr;
    let timeout = shared.config.timers.t1x64();
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            shared.connected(dest, conn.id);
            let _ = stream.set_nodelay(true);
            let local = stream.local_addr().unwrap_or(addr);
            serve(shared, stream, dest, local, Direction::Outbound, name, conn).await;
        }
        Ok(Err(e)) => fail(
            &shared,
            dest,
            conn,
            format!("cannot connect to {addr}: {e}"),
        ),
        Err(_) => fail(
            &shared,
            dest,
            conn,
            format!("cannot connect to {addr}: timed out"),
        ),
    }
}

/// Runs a TCP connection as its transport: as it is for TCP; for TLS once
/// the handshake (within `tcp_message_timeout`) has succeeded, verifying an
/// outbound connection's peer against `name`, else its address.
async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: Peer,
    local: SocketAddr,
    direction: Direction,
    name: Option<Arc<str>>,
    conn: Registered,
) {
    match peer.transport {
        Transport::Tcp => run(shared, stream, peer, local, direction, conn).await,
        Transport::Tls => {
            let timeout = shared.config.tcp_message_timeout;
            let handshake = match direction {
                Direction::Inbound => shared.tls().accept(stream, timeout).await,
                Direction::Outbound => {
                    let ip = peer.addr.ip();
                    shared
                        .tls()
                        .connect(stream, ip, name.as_deref(), timeout)
                        .await
                }
            };
            match handshake {
                Ok(tls) => run(shared, tls, peer, local, direction, conn).await,
                Err(reason) => {
                    Counters::inc(&shared.counters.tls_handshake_failures);
                    fail(&shared, peer, conn, reason);
                }
            }
        }
        Transport::Ws | Transport::Wss if direction == Direction::Inbound => {
            crate::ws::serve(shared, stream, peer, local, conn).await;
        }
        Transport::Udp | Transport::Ws | Transport::Wss => {
            fail(&shared, peer, conn, not_listening(peer.transport));
        }
    }
}

/// Ends connection `conn` to `peer` before it ran: what was queued on it
/// fails with `reason`.
pub(crate) fn fail(shared: &Arc<Shared>, peer: Peer, mut conn: Registered, reason: String) {
    shared.unregister_conn(peer, conn.id);
    conn.rx.close();
    let mut failures = Vec::new();
    while let Ok(out) = conn.rx.try_recv() {
        failures.push(out.fail(&reason));
    }
    shared.pump(failures);
}
