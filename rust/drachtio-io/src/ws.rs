//! SIP over WebSocket (RFC 7118), WS and WSS (over TLS): the server side of
//! the HTTP upgrade, which must agree on the `sip` subprotocol (§4), then
//! one SIP message per WebSocket message, text or binary (§5), with the
//! same bounds as a TCP connection: the largest message, the time to the
//! first message, idleness, and the connection limits (the listener is a
//! TCP listener; [`crate::tcp::accept_loop`] admits the connection).
//!
//! A client's Via sent-by and Contact host are usually unresolvable
//! (`*.invalid`, §5.2): the connection is the only way back. Responses go
//! over the connection the request came on (RFC 3261 §18.2.2), and the
//! names a client gives in its Via and Contact map to its connection while
//! it is open ([`WsNames`]), so a request to such a name (an in-dialog
//! request to the Contact, a request to a registered Contact) goes over
//! it. The stack opens no WebSocket connection itself.

use crate::conns::Registered;
use crate::hub::{lock, Shared};
use crate::stats::Counters;
use crate::stream::Deadlines;
use crate::{StackError, StackEvent};
use bytes::Bytes;
use drachtio_sip::routing::Target;
use drachtio_sip::transaction::{Peer, Transport};
use drachtio_sip::{parse_bytes, Contact, HeaderName, Message, Method, Via};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{
    error::CapacityError, Error as WsError, Message as WsMessage,
};
use tokio_tungstenite::WebSocketStream;

/// The WebSocket subprotocol of SIP (RFC 7118 §4).
pub const SUBPROTOCOL: &str = "sip";

/// Names one connection may map to itself.
const NAMES_PER_CONNECTION: usize = 8;

/// The names WebSocket clients gave in their Via and Contact, each mapped
/// to the connection it came on, by transport.
#[derive(Default)]
pub(crate) struct WsNames {
    by_name: HashMap<(Transport, String), SocketAddr>,
}

/// The key of `target`: a name in lower case with its port, or an address.
fn key(target: &Target) -> String {
    match target {
        Target::Name(host, port) => format!("{}:{port}", host.to_ascii_lowercase()),
        Target::Addr(addr) => addr.to_string(),
    }
}

impl WsNames {
    /// The connection `target` names on `transport`, if one is open.
    fn lookup(&self, transport: Transport, target: &Target) -> Option<SocketAddr> {
        self.by_name.get(&(transport, key(target))).copied()
    }
}

impl Shared {
    /// Where a message for `target` over WS or WSS goes: an open
    /// connection's transport and address (`target` itself when one is
    /// open to it, else the connection whose client gave that name), or an
    /// error. `transport=ws` in a `sip:` URI names WS and WSS alike (RFC
    /// 7118 §7): a WS target may be reached over WSS, not the reverse.
    pub(crate) fn ws_target(
        &self,
        transport: Transport,
        target: Target,
    ) -> Result<(Transport, Target), StackError> {
        let candidates: &[Transport] = match transport {
            Transport::Ws => &[Transport::Ws, Transport::Wss],
            _ => &[transport],
        };
        for &t in candidates {
            if let Target::Addr(addr) = target {
                let peer = Peer { transport: t, addr };
                if lock(&self.conns).get(&peer).is_some() {
                    return Ok((t, target));
                }
            }
            if let Some(addr) = lock(&self.ws_names).lookup(t, &target) {
                return Ok((t, Target::Addr(addr)));
            }
        }
        if !candidates.iter().any(|&t| self.listens_on(t)) {
            return Err(StackError::NotListening(transport));
        }
        Err(StackError::NoRoute(
            "no open WebSocket connection to the target (the stack opens none)",
        ))
    }
}

/// Accepts WebSocket (WSS: TLS, then WebSocket) on the TCP connection
/// `stream` from `peer`, then runs it; the handshakes must end within
/// `tcp_message_timeout`, and so must the first SIP message.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: Peer,
    local: SocketAddr,
    conn: Registered,
) {
    let timeout = shared.config.tcp_message_timeout;
    let deadline = Instant::now() + timeout;
    if peer.transport != Transport::Wss {
        return upgrade(shared, stream, peer, local, conn, deadline).await;
    }
    match shared.tls().accept(stream, timeout).await {
        Ok(tls) => upgrade(shared, tls, peer, local, conn, deadline).await,
        Err(reason) => {
            Counters::inc(&shared.counters.tls_handshake_failures);
            crate::tcp::fail(&shared, peer, conn, reason);
        }
    }
}

/// The HTTP upgrade on `stream` by `deadline`, then the connection.
async fn upgrade<S>(
    shared: Arc<Shared>,
    stream: S,
    peer: Peer,
    local: SocketAddr,
    conn: Registered,
    deadline: Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = shared.config.frame_limits;
    let largest = limits.max_header_bytes + limits.max_body_bytes;
    let config = WebSocketConfig::default()
        .max_message_size(Some(largest))
        .max_frame_size(Some(largest));
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, negotiate, Some(config));
    let reason = match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(ws)) => return run(shared, ws, peer, local, conn, deadline).await,
        Ok(Err(e)) => format!("WebSocket handshake failed: {e}"),
        Err(_) => "WebSocket handshake failed: timed out".to_string(),
    };
    Counters::inc(&shared.counters.ws_handshake_failures);
    crate::tcp::fail(&shared, peer, conn, reason);
}

/// Accepts an upgrade that offers the `sip` subprotocol, and names it in
/// the answer; refuses any other with 400 and the reason (RFC 7118 §4).
#[allow(clippy::result_large_err)] // the signature tungstenite asks for
fn negotiate(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let offered: Vec<&str> = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if offered.contains(&SUBPROTOCOL) {
        response.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        return Ok(response);
    }
    let reason = if offered.is_empty() {
        "the WebSocket subprotocol \"sip\" is required (RFC 7118 section 4): none offered"
            .to_string()
    } else {
        format!(
            "the WebSocket subprotocol \"sip\" is required (RFC 7118 section 4): offered {}",
            offered.join(", ")
        )
    };
    let mut refusal = ErrorResponse::new(Some(reason));
    *refusal.status_mut() = StatusCode::BAD_REQUEST;
    Err(refusal)
}

/// Why a WebSocket connection ended.
enum End {
    /// The peer closed it (a close frame, or the TCP connection).
    Closed,
    /// Nothing for `tcp_idle_timeout`, or no first message in time.
    Timeout(&'static str),
    /// A message over the bound: closed with 1009 (RFC 6455 §7.4.1).
    TooLarge(String),
    Failed(String),
}

/// Runs an upgraded connection until it closes: each WebSocket message is
/// one SIP message for the layer; what is queued on `conn` is sent one
/// message each. Reports the close as [`StackEvent::ConnectionClosed`].
async fn run<S>(
    shared: Arc<Shared>,
    mut ws: WebSocketStream<S>,
    peer: Peer,
    local: SocketAddr,
    conn: Registered,
    first_message: Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Registered {
        id,
        mut rx,
        activity,
    } = conn;
    let idle = shared.config.tcp_idle_timeout;
    let mut deadlines = Deadlines {
        idle: Instant::now() + idle,
        first_message: Some(first_message),
        draining: None,
    };
    let mut names: Vec<(Transport, String)> = Vec::new();
    let end = loop {
        let deadline = deadlines.next();
        tokio::select! {
            read = ws.next() => {
                let data = match read {
                    None | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                        break End::Closed
                    }
                    Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                        break End::TooLarge(format!(
                            "a message of {size} bytes is larger than {max_size}"
                        ));
                    }
                    Some(Err(e)) => break End::Failed(e.to_string()),
                    Some(Ok(WsMessage::Text(text))) => Bytes::from(text),
                    Some(Ok(WsMessage::Binary(data))) => data,
                    // Pings are answered by the next write or read; a close
                    // is answered, then the stream ends.
                    Some(Ok(_)) => continue,
                };
                let now = Instant::now();
                deadlines.idle = now + idle;
                let reply = on_message(&shared, data, peer, local, &mut names);
                if reply.parsed {
                    deadlines.first_message = None;
                    activity.message(now.into_std());
                }
                if let Some(reply) = reply.answer {
                    if let Err(e) = ws.send(outgoing(reply)).await {
                        break End::Failed(e.to_string());
                    }
                }
            }
            out = rx.recv() => {
                let Some(out) = out else { break End::Closed };
                let now = Instant::now();
                deadlines.idle = now + idle;
                activity.message(now.into_std());
                if let Err(e) = ws.send(outgoing(out.bytes.clone())).await {
                    let reason = format!("connection to {} failed: {e}", peer.addr);
                    shared.pump(vec![out.fail(&reason)]);
                    break End::Failed(e.to_string());
                }
                shared.counters.sent.add(peer.transport);
                shared.capture(peer.transport, local, peer.addr, &out.bytes);
            }
            _ = tokio::time::sleep_until(deadline) => {
                if deadlines.first_message.is_some_and(|f| f <= Instant::now()) {
                    Counters::inc(&shared.counters.tcp_no_message_closed);
                    break End::Timeout("no SIP message within tcp_message_timeout");
                }
                Counters::inc(&shared.counters.tcp_idle_closed);
                break End::Timeout("idle for tcp_idle_timeout");
            }
        }
    };
    shared.unregister_conn(peer, id);
    shared.forget_ws_names(peer.addr, &names);
    rx.close();
    let (reason, close_with) = match end {
        End::Closed => ("closed by the peer".to_string(), None),
        End::Timeout(why) => (why.to_string(), Some((CloseCode::Normal, why))),
        End::TooLarge(why) => {
            Counters::inc(&shared.counters.ws_oversized_closed);
            (why, Some((CloseCode::Size, "message too large")))
        }
        End::Failed(e) => (format!("connection failed: {e}"), None),
    };
    let failure = format!("connection to {} closed: {reason}", peer.addr);
    let mut failures = Vec::new();
    while let Ok(out) = rx.try_recv() {
        failures.push(out.fail(&failure));
    }
    if !failures.is_empty() {
        shared.pump(failures);
    }
    shared.push_event(
        StackEvent::ConnectionClosed {
            peer,
            local,
            reason,
        },
        true,
    );
    if let Some((code, why)) = close_with {
        close(&mut ws, code, why).await;
    }
}

/// Sends a close frame with `code`, shuts the connection down for
/// writing, then reads and drops what the peer still sends (the rest of a
/// message too large, its own close) until it closes, for at most
/// [`LINGER`] and [`LINGER_BYTES`]: closing with unread bytes would reset
/// the connection and lose the close frame.
async fn close<S>(ws: &mut WebSocketStream<S>, code: CloseCode, reason: &'static str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let linger = async {
        if ws.close(Some(frame)).await.is_err() {
            return;
        }
        // The server closes the TCP connection first (RFC 6455 §7.1.1): its
        // half now, so that the peer, its close answered, closes its own.
        let stream = ws.get_mut();
        if stream.shutdown().await.is_err() {
            return;
        }
        let mut buf = vec![0u8; 16 * 1024];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, linger).await;
}

/// How long a connection being closed waits for the peer's close.
const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

/// How much a connection being closed reads while it waits.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// A SIP message as a WebSocket message: text when it is UTF-8, else
/// binary (RFC 7118 §5.1).
fn outgoing(bytes: Bytes) -> WsMessage {
    match bytes.clone().try_into() {
        Ok(text) => WsMessage::Text(text),
        Err(_) => WsMessage::Binary(bytes),
    }
}

/// What [`on_message`] made of a WebSocket message.
struct Reply {
    /// It was a SIP message (counts toward `tcp_message_timeout`).
    parsed: bool,
    /// The answer to a malformed request.
    answer: Option<Bytes>,
}

/// Hands one WebSocket message up as a SIP message, recording the names
/// its sender gave for this connection; a malformed one is answered when
/// it can be and the connection stays (its framing is the WebSocket's).
fn on_message(
    shared: &Arc<Shared>,
    data: Bytes,
    peer: Peer,
    local: SocketAddr,
    names: &mut Vec<(Transport, String)>,
) -> Reply {
    shared.counters.received.add(peer.transport);
    shared.capture(peer.transport, peer.addr, local, &data);
    match parse_bytes(data.clone()) {
        Ok(message) => {
            shared.learn_ws_names(peer, &message, names);
            shared.handle_incoming(vec![Shared::incoming(message, peer, local)], true);
            Reply {
                parsed: true,
                answer: None,
            }
        }
        Err(e) => Reply {
            parsed: false,
            answer: shared.on_malformed(&data, e, peer, local),
        },
    }
}

impl Shared {
    /// Maps the names `message` gives for its sender to `peer`'s
    /// connection: a request's top Via sent-by, and the Contact addresses
    /// of a request or response; at most [`NAMES_PER_CONNECTION`].
    fn learn_ws_names(&self, peer: Peer, message: &Message, names: &mut Vec<(Transport, String)>) {
        let default_port = peer.transport.default_port();
        let mut targets = Vec::new();
        let headers = match message {
            Message::Request(r) => {
                if r.method == Method::Ack {
                    return;
                }
                if let Some(via) = r.headers.get(&HeaderName::Via).and_then(|line| {
                    let items = drachtio_sip::split_list(line);
                    let first = items.first()?;
                    Via::parse(&line.slice_ref(first)).ok()
                }) {
                    targets.push(Target::of(&via.host, via.port.unwrap_or(default_port)));
                }
                &r.headers
            }
            Message::Response(r) => &r.headers,
        };
        if let Some(Ok(Contact::Addresses(addresses))) =
            headers.get(&HeaderName::Contact).map(Contact::parse)
        {
            for a in addresses {
                if let drachtio_sip::Uri::Sip(uri) = &a.uri {
                    // The port a request to this URI will name: that of
                    // the transport the URI says (`sip:...;transport=ws`
                    // from a WSS client: WS's).
                    let port = Transport::of_uri(uri).map_or(default_port, Transport::default_port);
                    targets.push(Target::of(&uri.host, uri.port.unwrap_or(port)));
                }
            }
        }
        let mut table = lock(&self.ws_names);
        for target in targets {
            let name = (peer.transport, key(&target));
            if !names.contains(&name) && names.len() >= NAMES_PER_CONNECTION {
                continue;
            }
            table.by_name.insert(name.clone(), peer.addr);
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }

    /// Forgets the names of the connection from `addr` that closed.
    fn forget_ws_names(&self, addr: SocketAddr, names: &[(Transport, String)]) {
        let mut table = lock(&self.ws_names);
        for name in names {
            if table.by_name.get(name) == Some(&addr) {
                table.by_name.remove(name);
            }
        }
    }
}
