//! UDP: binding with a large receive buffer, and a receive loop that reads
//! every datagram waiting at each wake-up.

use crate::shared::Shared;
use crate::stats::Counters;
use bytes::Bytes;
use drachtio_sip::parse_bytes;
use drachtio_sip::transaction::{Peer, Transport};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;

/// Datagrams read per wake-up before the batch goes to the layer.
const BATCH: usize = 64;

/// Binds a UDP socket. IPv6 sockets are IPv6-only, so an IPv4 listener on
/// the same port is a separate socket. No SO_REUSEADDR: on UDP it would let
/// two sockets share a port silently instead of failing with EADDRINUSE.
pub(crate) fn bind(addr: SocketAddr, recv_buffer: usize) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // The system caps the size (net.core.rmem_max); a smaller buffer still works.
    let _ = socket.set_recv_buffer_size(recv_buffer);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

pub(crate) async fn receive_loop(shared: Arc<Shared>, socket: Arc<UdpSocket>, local: SocketAddr) {
    let mut buf = vec![0u8; 65536];
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        let mut batch = Vec::new();
        while batch.len() < BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((n, from)) => batch.push((Bytes::copy_from_slice(&buf[..n]), from)),
                // WouldBlock ends the batch; other errors (an ICMP error
                // reported on the socket) concern a datagram sent earlier.
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            on_datagrams(&shared, &socket, local, batch);
        }
    }
}

fn on_datagrams(
    shared: &Arc<Shared>,
    socket: &UdpSocket,
    local: SocketAddr,
    batch: Vec<(Bytes, SocketAddr)>,
) {
    let mut incoming = Vec::with_capacity(batch.len());
    for (data, from) in batch {
        Counters::inc(&shared.counters.udp_received);
        let peer = Peer {
            transport: Transport::Udp,
            addr: from,
        };
        if data.iter().all(u8::is_ascii_whitespace) {
            Counters::inc(&shared.counters.keepalives_received);
            continue;
        }
        match parse_bytes(data.clone()) {
            Ok(message) => incoming.push(Shared::incoming(message, peer, local)),
            Err(e) => {
                // Answered to the source address: the Via may be the broken part.
                if let Some(reply) = shared.on_malformed(&data, e, peer, local) {
                    if socket.try_send_to(&reply, from).is_ok() {
                        Counters::inc(&shared.counters.udp_sent);
                    }
                }
            }
        }
    }
    if !incoming.is_empty() {
        shared.handle_incoming(incoming);
    }
}
