//! UDP: binding with a large receive buffer, and a receive loop that reads
//! every datagram waiting at each wake-up.

use crate::hub::{lock, Shared};
use crate::icmp;
use crate::nat::Nat;
use crate::send::{Failure, Outgoing};
use crate::size;
use crate::stats::Counters;
use bytes::Bytes;
use drachtio_sip::parse_bytes;
use drachtio_sip::transaction::{Peer, Transport};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

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
    // ICMP errors (port or host unreachable) of datagrams sent to any
    // address come back on the error queue, with the address: a DNS
    // target with nobody listening fails over at once. Best effort.
    let _ = icmp::enable(&socket, addr.is_ipv6());
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The stack thread's reader ([`crate::UdpReader::StackThread`]): waits for
/// the socket to be readable or to hold an ICMP error (the only readiness
/// the runtime watches it for), then reads what it holds.
pub(crate) async fn receive_loop(shared: Arc<Shared>, socket: Arc<UdpSocket>, local: SocketAddr) {
    // ERROR: the error queue (ICMP, `icmp.rs`), whose readiness is not
    // READABLE's once a send has reported the error.
    let interest = Interest::READABLE.add(Interest::ERROR);
    let readable = match watch(socket.clone(), interest) {
        Ok(r) => r,
        Err(e) => {
            shared.push_event(
                crate::StackEvent::TransportError {
                    tx: None,
                    peer: None,
                    reason: format!("UDP {local}: cannot watch the socket: {e}"),
                },
                false,
            );
            return;
        }
    };
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok(mut guard) = readable.ready(interest).await else {
            return;
        };
        let (batch, drained, unreachable) = read_batch(&socket, &mut buf);
        if drained {
            guard.clear_ready();
        }
        drop(guard);
        if !unreachable.is_empty() {
            shared.unreachable(&unreachable);
        }
        if !batch.is_empty() {
            on_datagrams(&shared, &socket, local, batch, true);
        }
    }
}

/// Registers `socket` with the runtime for `interest` only.
#[allow(unsafe_code)]
pub(crate) fn watch(
    socket: Arc<UdpSocket>,
    interest: Interest,
) -> std::io::Result<AsyncFd<Arc<UdpSocket>>> {
    // SAFETY: the AsyncFd owns a reference to the socket, which owns its
    // descriptor: the descriptor stays open and the same until the AsyncFd
    // is dropped.
    unsafe { AsyncFd::register_with_interest(socket, interest) }.map_err(|e| e.into_parts().1)
}

/// Reads what `socket` holds, up to [`BATCH`] datagrams, hands it to the
/// layer and sends what that produces, on the calling thread
/// ([`crate::UdpReader::Caller`]). Events are queued without `notify`.
/// Returns the number of datagrams read.
pub(crate) fn receive_now(shared: &Arc<Shared>, socket: &UdpSocket, local: SocketAddr) -> usize {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 65536]);
    }
    let (batch, _, unreachable) = BUF.with(|buf| read_batch(socket, &mut buf.borrow_mut()));
    if !unreachable.is_empty() {
        shared.unreachable(&unreachable);
    }
    let n = batch.len();
    if n > 0 {
        on_datagrams(shared, socket, local, batch, false);
    }
    n
}

/// What one wake-up read: datagrams, whether the socket was found empty
/// (or kept failing: the next readiness tries again, instead of a busy
/// loop), and the destinations ICMP said are unreachable.
type Read = (Vec<(Bytes, SocketAddr)>, bool, Vec<SocketAddr>);

/// Up to [`BATCH`] reads.
fn read_batch(socket: &UdpSocket, buf: &mut [u8]) -> Read {
    let mut batch = Vec::new();
    let mut unreachable = Vec::new();
    let mut errors = 0;
    for read in 0..BATCH {
        match socket.recv_from(buf) {
            Ok((n, from)) => batch.push((Bytes::copy_from_slice(&buf[..n]), from)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if read == 0 {
                    // Woken with nothing to read: the error queue, whose
                    // error a send has already reported.
                    unreachable.extend(icmp::take_unreachable(socket));
                }
                return (batch, true, unreachable);
            }
            // Other errors (an ICMP error reported on the socket) concern a
            // datagram sent earlier: its destination is on the error queue.
            Err(_) => {
                unreachable.extend(icmp::take_unreachable(socket));
                errors += 1;
                if errors == 8 {
                    return (batch, true, unreachable);
                }
            }
        }
    }
    (batch, false, unreachable)
}

fn on_datagrams(
    shared: &Arc<Shared>,
    socket: &UdpSocket,
    local: SocketAddr,
    batch: Vec<(Bytes, SocketAddr)>,
    notify_consumer: bool,
) {
    let mut incoming = Vec::with_capacity(batch.len());
    for (data, from) in batch {
        shared.counters.received.add(Transport::Udp);
        let peer = Peer {
            transport: Transport::Udp,
            addr: from,
        };
        if data.iter().all(u8::is_ascii_whitespace) {
            Counters::inc(&shared.counters.keepalives_received);
            continue;
        }
        shared.capture(Transport::Udp, from, local, &data);
        match parse_bytes(data.clone()) {
            Ok(message) => incoming.push(Shared::incoming(message, peer, local)),
            Err(e) => {
                // Answered to the source address: the Via may be the broken part.
                if let Some(reply) = shared.on_malformed(&data, e, peer, local) {
                    if icmp::send_to(socket, &reply, from).is_ok() {
                        shared.counters.sent.add(Transport::Udp);
                        shared.capture(Transport::Udp, local, from, &reply);
                    }
                }
            }
        }
    }
    if !incoming.is_empty() {
        shared.handle_incoming(incoming, notify_consumer);
    }
}

pub(crate) struct UdpEndpoint {
    pub(crate) local: SocketAddr,
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) nat: Nat,
    /// Datagrams waiting for the socket to become writable, in send order.
    pub(crate) backlog: Arc<Mutex<UdpBacklog>>,
}

/// The datagrams of one UDP socket that could not be sent at once. While it
/// is not empty every new datagram joins its end, so that datagrams leave in
/// the order they were queued; one task drains it.
#[derive(Default)]
pub(crate) struct UdpBacklog {
    queue: std::collections::VecDeque<(Outgoing, SocketAddr)>,
    draining: bool,
}

/// Datagrams a UDP socket may hold back before further sends fail.
const UDP_BACKLOG_LIMIT: usize = 16_384;

impl Shared {
    pub(crate) fn send_udp(
        self: &Arc<Self>,
        local: Option<SocketAddr>,
        dest: SocketAddr,
        out: Outgoing,
    ) -> Result<(), Failure> {
        let (socket, backlog, local) = {
            let udp = self.udp.read().unwrap_or_else(PoisonError::into_inner);
            let ep = local
                .and_then(|l| udp.iter().find(|e| e.local == l))
                .or_else(|| udp.iter().find(|e| e.local.is_ipv6() == dest.is_ipv6()));
            match ep {
                Some(ep) => (ep.socket.clone(), ep.backlog.clone(), ep.local),
                None => return Err(out.fail("no UDP socket for this address family")),
            }
        };
        // The calls down refuse such messages first; whatever still gets
        // here fails with a reason naming its size, not the system's.
        if let Some(limit) = size::over_udp_limit(out.bytes.len(), local.is_ipv6()) {
            Counters::inc(&self.counters.too_large_for_udp);
            let what = if out.status.is_some() {
                "response"
            } else {
                "request"
            };
            let reason = size::too_large(what, out.bytes.len(), limit);
            return Err(out.fail(&reason));
        }
        let mut queued = lock(&backlog);
        // Straight to the socket only when nothing is held back, including
        // the datagram the drain task may be holding while it waits.
        if queued.queue.is_empty() && !queued.draining {
            match icmp::send_to(&socket, &out.bytes, dest) {
                Ok(_) => {
                    self.counters.sent.add(Transport::Udp);
                    self.capture(Transport::Udp, local, dest, &out.bytes);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(out.fail(&e.to_string())),
            }
        }
        if queued.queue.len() >= UDP_BACKLOG_LIMIT {
            return Err(out.fail("UDP send queue full"));
        }
        queued.queue.push_back((out, dest));
        if !queued.draining {
            queued.draining = true;
            let shared = self.clone();
            let backlog = backlog.clone();
            self.handle
                .spawn(async move { shared.drain_udp(socket, local, backlog).await });
        }
        Ok(())
    }

    /// Sends a socket's held-back datagrams in order, waiting for it to be
    /// writable; ends when the backlog is empty. Only this task watches the
    /// socket for writability (through a duplicate descriptor, registered
    /// while it runs): otherwise every datagram sent would wake the stack's
    /// thread when its buffer is freed.
    async fn drain_udp(
        self: Arc<Self>,
        socket: Arc<UdpSocket>,
        local: SocketAddr,
        backlog: Arc<Mutex<UdpBacklog>>,
    ) {
        let writable = socket
            .try_clone()
            .and_then(|dup| crate::udp::watch(Arc::new(dup), Interest::WRITABLE));
        loop {
            let next = {
                let mut queued = lock(&backlog);
                match queued.queue.pop_front() {
                    Some(item) => item,
                    None => {
                        queued.draining = false;
                        return;
                    }
                }
            };
            let (out, dest) = next;
            let sent = match &writable {
                Ok(fd) => loop {
                    match fd.writable().await {
                        Ok(mut guard) => {
                            match guard.try_io(|fd| icmp::send_to(fd.get_ref(), &out.bytes, dest)) {
                                Ok(result) => break result,
                                Err(_would_block) => continue,
                            }
                        }
                        Err(e) => break Err(e),
                    }
                },
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            match sent {
                Ok(_) => {
                    self.counters.sent.add(Transport::Udp);
                    self.capture(Transport::Udp, local, dest, &out.bytes);
                }
                Err(e) => {
                    let reason = e.to_string();
                    self.pump(vec![out.fail(&reason)]);
                }
            }
        }
    }
}
