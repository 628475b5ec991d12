//! Stream transports (TCP, TLS): one task per connection, whatever wraps
//! the bytes (framing, keep-alives, idle timeout, the send queue), and
//! sending on a connection, opening one when none is open.

use crate::conns::{Admission, Direction, Registered};
use crate::hub::{lock, Shared};
use crate::nat::Nat;
use crate::send::{not_listening, Failure, Outgoing};
use crate::stats::{Counters, Gauges};
use bytes::Bytes;
use drachtio_sip::transaction::{Peer, Transport};
use drachtio_sip::{parse_bytes, Method, StreamFramer, StreamItem};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A listener of a stream transport (TCP, TLS).
pub(crate) struct StreamEndpoint {
    pub(crate) transport: Transport,
    pub(crate) local: SocketAddr,
    pub(crate) nat: Nat,
}

impl Shared {
    /// Queues `out` on the open connection to `remote` (its transport and
    /// address); gives it back when there is none.
    pub(crate) fn send_on_open_connection(
        &self,
        remote: Peer,
        out: Outgoing,
    ) -> Result<Option<Outgoing>, Failure> {
        let mut conns = lock(&self.conns);
        let Some(conn) = conns.get(&remote) else {
            return Ok(Some(out));
        };
        match conn.sender.try_send(out) {
            Ok(()) => Ok(None),
            Err(mpsc::error::TrySendError::Full(out)) => {
                Err(out.fail("the connection's send queue is full"))
            }
            Err(mpsc::error::TrySendError::Closed(out)) => {
                let id = conn.id;
                conns.remove(&remote, id);
                Ok(Some(out))
            }
        }
    }

    /// Sends on the connection to `dest` (a stream transport and an
    /// address), whoever opened it (connection reuse, RFC 3261 §18.1.1,
    /// §18.2.2); else opens one, if the stack can open one of that
    /// transport and the outbound budget allows.
    pub(crate) fn send_stream(self: &Arc<Self>, dest: Peer, out: Outgoing) -> Result<(), Failure> {
        let Some(out) = self.send_on_open_connection(dest, out)? else {
            return Ok(());
        };
        let cannot = match dest.transport {
            Transport::Tcp => None,
            Transport::Tls => self.tls().cannot_connect().map(str::to_string),
            Transport::Udp | Transport::Ws | Transport::Wss => Some(not_listening(dest.transport)),
        };
        if let Some(reason) = cannot {
            return Err(out.fail(&reason));
        }
        let name = out.name.clone();
        let registered = {
            let mut conns = lock(&self.conns);
            match conns.open_outbound(std::time::Instant::now(), dest) {
                Some(registered) => {
                    if let Some(conn) = conns.get(&dest) {
                        // A new channel has room for one message.
                        let _ = conn.sender.try_send(out);
                    }
                    registered
                }
                None => {
                    drop(conns);
                    Counters::inc(&self.counters.tcp_outbound_rejected);
                    return Err(out.fail("too many outbound TCP connections"));
                }
            }
        };
        self.handle
            .spawn(crate::tcp::connect(self.clone(), dest, name, registered));
        Ok(())
    }

    /// Admits a connection accepted from `remote`, in the place of one not
    /// in use at the bound, or refuses it; counted either way.
    pub(crate) fn accept_conn(&self, remote: Peer) -> Option<Registered> {
        let admission = lock(&self.conns).admit_inbound(std::time::Instant::now(), remote);
        let refused = match admission {
            Admission::Admitted { conn, evicted } => {
                if evicted.is_some() {
                    Counters::inc(&self.counters.tcp_evicted);
                }
                return Some(conn);
            }
            Admission::PerIpLimit => &self.counters.tcp_per_ip_rejected,
            Admission::Full => &self.counters.tcp_connections_rejected,
        };
        Counters::inc(refused);
        None
    }

    /// The stack has connected connection `id` to `remote`: it counts as opened.
    pub(crate) fn connected(&self, remote: Peer, id: u64) {
        lock(&self.conns).connected(&remote, id);
    }

    pub(crate) fn unregister_conn(&self, remote: Peer, id: u64) {
        lock(&self.conns).remove(&remote, id);
    }

    /// The connections, open, opened and closed, for [`crate::Stack::stats`].
    pub(crate) fn conn_gauges(&self) -> Gauges {
        Gauges {
            connections: lock(&self.conns).connections(),
            ..Gauges::default()
        }
    }
}

/// Why a connection ended.
enum End {
    Closed,
    Garbage,
    Failed(String, Option<Outgoing>),
}

/// What a connection waits for besides bytes, each with its deadline (the
/// WebSocket task's too, which never drains).
pub(crate) struct Deadlines {
    /// No bytes either way for `tcp_idle_timeout`.
    pub(crate) idle: Instant,
    /// An inbound connection's first complete message (`tcp_message_timeout`).
    pub(crate) first_message: Option<Instant>,
    /// Set once the peer sent garbage: reading has stopped, and the
    /// connection stays until the requests framed before it are answered.
    pub(crate) draining: Option<Instant>,
}

impl Deadlines {
    /// The earliest of the deadlines that apply now.
    pub(crate) fn next(&self) -> Instant {
        match (self.draining, self.first_message) {
            (Some(d), _) => d,
            (None, Some(f)) => f.min(self.idle),
            (None, None) => self.idle,
        }
    }
}

/// Runs the connection `stream` to `peer`, accepted or opened on `local`,
/// until it closes: frames what it reads (RFC 3261 §18.3) and hands it up,
/// writes what is queued on `conn`. The same for every stream transport:
/// `stream` is the TCP stream itself or the TLS session over it.
pub(crate) async fn run<S>(
    shared: Arc<Shared>,
    mut stream: S,
    peer: Peer,
    local: SocketAddr,
    direction: Direction,
    conn: Registered,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Registered {
        id,
        mut rx,
        activity,
    } = conn;
    let remote = peer.addr;
    let mut framer = StreamFramer::new(shared.config.frame_limits);
    let mut buf = vec![0u8; 64 * 1024];
    let idle = shared.config.tcp_idle_timeout;
    let mut deadlines = Deadlines {
        idle: Instant::now() + idle,
        first_message: (direction == Direction::Inbound)
            .then(|| Instant::now() + shared.config.tcp_message_timeout),
        draining: None,
    };
    // Requests read from this connection and not yet given a final response.
    let mut unanswered: usize = 0;
    let end = loop {
        tokio::select! {
            read = stream.read(&mut buf), if deadlines.draining.is_none() => {
                let n = match read {
                    Ok(0) => break End::Closed,
                    Ok(n) => n,
                    Err(e) => break End::Failed(e.to_string(), None),
                };
                let now = Instant::now();
                deadlines.idle = now + idle;
                framer.feed(&buf[..n]);
                let read = on_bytes(&shared, &mut framer, peer, local);
                if read.messages > 0 {
                    deadlines.first_message = None;
                    activity.message(now.into_std());
                }
                unanswered += read.requests;
                let mut failed = None;
                for reply in read.replies {
                    if let Err(e) = write(&mut stream, &reply).await {
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
                    deadlines.draining = Some(now + shared.config.timers.t1x64());
                }
            }
            out = rx.recv() => {
                let Some(out) = out else { break End::Closed };
                if deadlines.draining.is_some() && out.status.is_none() {
                    // Its response would never be read.
                    shared.pump(vec![out.fail("connection closing: the peer sent garbage")]);
                    continue;
                }
                let now = Instant::now();
                deadlines.idle = now + idle;
                activity.message(now.into_std());
                if let Err(e) = write(&mut stream, &out.bytes).await {
                    break End::Failed(e.to_string(), Some(out));
                }
                shared.counters.sent.add(peer.transport);
                shared.capture(peer.transport, local, peer.addr, &out.bytes);
                if out.status.is_some_and(|s| s >= 200) {
                    unanswered = unanswered.saturating_sub(1);
                    if deadlines.draining.is_some() && unanswered == 0 {
                        break End::Garbage;
                    }
                }
            }
            _ = tokio::time::sleep_until(deadlines.next()) => {
                if deadlines.draining.is_some() {
                    break End::Garbage;
                }
                let counter = if deadlines.first_message.is_some_and(|f| f <= Instant::now()) {
                    &shared.counters.tcp_no_message_closed
                } else {
                    &shared.counters.tcp_idle_closed
                };
                Counters::inc(counter);
                break End::Closed;
            }
        }
    };
    shared.unregister_conn(peer, id);
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

/// Writes `bytes` whole and flushes them: a TLS session holds what it
/// encrypts until flushed.
async fn write<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// What [`on_bytes`] made of the bytes read.
struct Read {
    /// To write back: pongs, answers to malformed requests.
    replies: Vec<Bytes>,
    /// SIP messages framed and parsed (a malformed one, even answered,
    /// does not count toward `tcp_message_timeout`).
    messages: usize,
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
        messages: 0,
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
                shared.counters.received.add(peer.transport);
                shared.capture(peer.transport, peer.addr, local, &data);
                match parse_bytes(data.clone()) {
                    Ok(message) => {
                        read.messages += 1;
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
