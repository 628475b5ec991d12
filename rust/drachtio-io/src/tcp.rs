//! TCP: the listener, one task per connection (framing, keep-alives, idle
//! timeout, the send queue) and outgoing connections.

use crate::shared::{Failure, Outgoing, Shared};
use crate::stats::Counters;
use bytes::Bytes;
use drachtio_sip::transaction::{Peer, Transport};
use drachtio_sip::{parse_bytes, Method, StreamFramer, StreamItem};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

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

pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                // Out of descriptors, or a connection reset before accept: retry shortly.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let open = shared.counters.tcp_connections_open.load(Ordering::Relaxed);
        if open as usize >= shared.config.max_tcp_connections {
            Counters::inc(&shared.counters.tcp_connections_rejected);
            drop(stream);
            continue;
        }
        Counters::inc(&shared.counters.tcp_connections_accepted);
        let _ = stream.set_nodelay(true);
        let (id, rx) = shared.register_conn(remote);
        tokio::spawn(run(shared.clone(), stream, remote, id, rx));
    }
}

/// Opens a connection to `dest` for messages queued on `rx`.
pub(crate) async fn connect(
    shared: Arc<Shared>,
    dest: SocketAddr,
    id: u64,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    let timeout = shared.config.timers.t1x64();
    let reason = match tokio::time::timeout(timeout, TcpStream::connect(dest)).await {
        Ok(Ok(stream)) => {
            Counters::inc(&shared.counters.tcp_connections_opened);
            let _ = stream.set_nodelay(true);
            return run(shared, stream, dest, id, rx).await;
        }
        Ok(Err(e)) => format!("cannot connect to {dest}: {e}"),
        Err(_) => format!("cannot connect to {dest}: timed out"),
    };
    shared.unregister_conn(dest, id);
    rx.close();
    let mut failures = Vec::new();
    while let Ok(out) = rx.try_recv() {
        failures.push(out.fail(&reason));
    }
    shared.pump(failures);
}

/// Why a connection ended.
enum End {
    Closed,
    Garbage,
    Failed(String, Option<Outgoing>),
}

async fn run(
    shared: Arc<Shared>,
    stream: TcpStream,
    remote: SocketAddr,
    id: u64,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    let local = stream.local_addr().unwrap_or(remote);
    let peer = Peer {
        transport: Transport::Tcp,
        addr: remote,
    };
    let (mut rd, mut wr) = stream.into_split();
    let mut framer = StreamFramer::new(shared.config.frame_limits);
    let mut buf = vec![0u8; 64 * 1024];
    let idle = shared.config.tcp_idle_timeout;
    let mut idle_at = Instant::now() + idle;
    // Requests read from this connection and not yet given a final response.
    let mut unanswered: usize = 0;
    // Set once the peer sent garbage: reading has stopped, and the
    // connection stays until the requests framed before it are answered.
    let mut draining: Option<Instant> = None;
    let end = loop {
        let deadline = draining.unwrap_or(idle_at);
        tokio::select! {
            read = rd.read(&mut buf), if draining.is_none() => {
                let n = match read {
                    Ok(0) => break End::Closed,
                    Ok(n) => n,
                    Err(e) => break End::Failed(e.to_string(), None),
                };
                idle_at = Instant::now() + idle;
                framer.feed(&buf[..n]);
                let read = on_bytes(&shared, &mut framer, peer, local);
                unanswered += read.requests;
                let mut failed = None;
                for reply in read.replies {
                    if let Err(e) = wr.write_all(&reply).await {
                        failed = Some(e.to_string());
                        break;
                    }
                }
                if let Some(e) = failed {
                    break End::Failed(e, None);
                }
                if read.garbage {
                    if unanswered == 0 {
                        break End::Garbage;
                    }
                    draining = Some(Instant::now() + shared.config.timers.t1x64());
                }
            }
            out = rx.recv() => {
                let Some(out) = out else { break End::Closed };
                if draining.is_some() && out.status.is_none() {
                    // Its response would never be read.
                    shared.pump(vec![out.fail("connection closing: the peer sent garbage")]);
                    continue;
                }
                idle_at = Instant::now() + idle;
                if let Err(e) = wr.write_all(&out.bytes).await {
                    break End::Failed(e.to_string(), Some(out));
                }
                Counters::inc(&shared.counters.tcp_sent);
                if out.status.is_some_and(|s| s >= 200) {
                    unanswered = unanswered.saturating_sub(1);
                    if draining.is_some() && unanswered == 0 {
                        break End::Garbage;
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                if draining.is_some() {
                    break End::Garbage;
                }
                Counters::inc(&shared.counters.tcp_idle_closed);
                break End::Closed;
            }
        }
    };
    shared.unregister_conn(remote, id);
    rx.close();
    let (reason, first) = match end {
        End::Closed => ("connection closed".to_string(), None),
        End::Garbage => {
            Counters::inc(&shared.counters.tcp_garbage_disconnects);
            ("connection closed: the peer sent garbage".to_string(), None)
        }
        End::Failed(e, out) => (format!("connection to {remote} failed: {e}"), out),
    };
    let mut failures: Vec<Failure> = first.into_iter().map(|o| o.fail(&reason)).collect();
    while let Ok(out) = rx.try_recv() {
        failures.push(out.fail(&reason));
    }
    if !failures.is_empty() {
        shared.pump(failures);
    }
}

/// What [`on_bytes`] made of the bytes read.
struct Read {
    /// To write back: pongs, answers to malformed requests.
    replies: Vec<Bytes>,
    /// Requests handed to the layer (ACKs aside): each awaits a final response.
    requests: usize,
    /// The framer lost the message boundaries, or a message could not be
    /// parsed and is no request that can be answered: read no more.
    garbage: bool,
}

/// Frames and hands up what was read, in order: the messages framed before
/// a malformed one reach the layer before its notice.
fn on_bytes(
    shared: &Arc<Shared>,
    framer: &mut StreamFramer,
    peer: Peer,
    local: SocketAddr,
) -> Read {
    let mut read = Read {
        replies: Vec::new(),
        requests: 0,
        garbage: false,
    };
    let mut incoming = Vec::new();
    let flush = |incoming: &mut Vec<_>| {
        if !incoming.is_empty() {
            shared.handle_incoming(std::mem::take(incoming), true);
        }
    };
    loop {
        match framer.next_item() {
            Ok(None) => break,
            Ok(Some(StreamItem::Message(data))) => {
                Counters::inc(&shared.counters.tcp_received);
                match parse_bytes(data.clone()) {
                    Ok(message) => {
                        if message
                            .as_request()
                            .is_some_and(|r| r.method != Method::Ack)
                        {
                            read.requests += 1;
                        }
                        incoming.push(Shared::incoming(message, peer, local));
                    }
                    Err(e) => {
                        flush(&mut incoming);
                        match shared.on_malformed(&data, e, peer, local) {
                            Some(reply) => read.replies.push(reply),
                            None if data.starts_with(b"SIP/") => {}
                            None => {
                                read.garbage = true;
                                break;
                            }
                        }
                    }
                }
            }
            Ok(Some(StreamItem::Ping)) => {
                // RFC 5626 §3.5.1: a CRLFCRLF ping is answered with CRLF.
                Counters::inc(&shared.counters.tcp_pings_answered);
                read.replies.push(Bytes::from_static(b"\r\n"));
            }
            Ok(Some(StreamItem::Pong)) => {}
            Err(e) => {
                flush(&mut incoming);
                Counters::inc(&shared.counters.parse_errors);
                Counters::inc(&shared.counters.malformed_dropped);
                shared.push_event(
                    crate::StackEvent::Malformed {
                        peer,
                        local,
                        error: e,
                        answered: None,
                    },
                    true,
                );
                read.garbage = true;
                break;
            }
        }
    }
    flush(&mut incoming);
    read
}
