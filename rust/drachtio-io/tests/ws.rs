//! SIP over WebSocket (RFC 7118) against a tungstenite client: a request
//! answered over the client's connection and a request back to the name
//! the client gave, pings, the close reported; the upgrade refused without
//! the `sip` subprotocol; a connection with no SIP message in time closed.

mod util;

use drachtio_io::{StackEvent, WS_SUBPROTOCOL};
use drachtio_sip::routing::{Destination, Target};
use drachtio_sip::transaction::{Transport, TxEvent};
use drachtio_sip::{parse, Message};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;
use util::*;

type Client = WebSocketStream<TcpStream>;

const CLIENT: &str = "a8d2k1.invalid";

/// Upgrades a connection to `addr`, offering `subprotocol` if any.
async fn upgrade(addr: SocketAddr, subprotocol: Option<&str>) -> Result<Client, WsError> {
    let mut request = format!("ws://{addr}").into_client_request().unwrap();
    if let Some(p) = subprotocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_str(p).unwrap());
    }
    let stream = TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(request, stream)
        .await
        .map(|(ws, _)| ws)
}

/// The next SIP message the client receives.
async fn receive(ws: &mut Client) -> Message {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("the connection open")
            .expect("no error");
        match next {
            WsMessage::Text(t) => return parse(t.as_bytes()).unwrap(),
            WsMessage::Binary(b) => return parse(&b).unwrap(),
            _ => continue,
        }
    }
}

fn options(call_id: &str) -> String {
    format!(
        "OPTIONS sip:service@example.com SIP/2.0\r\n\
         Via: SIP/2.0/WS {CLIENT};branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:service@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:alice@{CLIENT};transport=ws>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn answered_over_the_connection_and_reached_back_by_the_clients_name() {
    let mut h = Harness::start(config(&[(Transport::Ws, "127.0.0.1:0")]));
    let addr = h.addr(Transport::Ws, false);
    let mut ws = upgrade(addr, Some("chat, sip")).await.unwrap();
    ws.send(WsMessage::text(options("ws-1"))).await.unwrap();
    let (id, req) = h.new_request().await;
    h.stack.respond(id, response_to(&req, 200, "t")).unwrap();
    assert_eq!(status(&receive(&mut ws).await), 200);

    // A ping is answered while nothing else happens.
    ws.send(WsMessage::Ping(b"k".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    assert!(matches!(pong, Ok(Some(Ok(WsMessage::Pong(p)))) if &p[..] == b"k"));

    let uri = format!("sip:alice@{CLIENT};transport=ws");
    let text = format!(
        "OPTIONS {uri} SIP/2.0\r\n\
         From: <sip:service@example.com>;tag=s1\r\n\
         To: <sip:alice@example.com>\r\n\
         Call-ID: ws-back\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let Message::Request(back) = msg(&text) else {
        unreachable!()
    };
    h.stack.send_request(back.clone(), None).unwrap();
    let got = receive(&mut ws).await;
    let via = header(&got, "Via");
    assert!(via.starts_with("SIP/2.0/WS "), "{via}");
    assert_eq!(header(&got, "Call-ID"), "ws-back");

    // Given as an address, the client's own reaches it too.
    let client = ws.get_ref().local_addr().unwrap();
    let dest = Destination {
        transport: Transport::Ws,
        target: Target::Addr(client),
    };
    h.stack.send_request(back.clone(), Some(dest)).unwrap();
    assert_eq!(header(&receive(&mut ws).await, "Call-ID"), "ws-back");

    ws.close(None).await.unwrap();
    loop {
        match h.next().await {
            StackEvent::ConnectionClosed {
                peer,
                local,
                reason,
            } => {
                assert_eq!(
                    (peer.transport, peer.addr, local),
                    (Transport::Ws, client, addr)
                );
                assert_eq!(reason, "closed by the peer");
                break;
            }
            StackEvent::Transaction(TxEvent::Timeout { .. }) => {}
            e => panic!("unexpected {e:?}"),
        }
    }
    assert!(h.stack.send_request(back, None).is_err());
}

#[tokio::test]
async fn an_upgrade_without_the_sip_subprotocol_is_refused() {
    let h = Harness::start(config(&[(Transport::Ws, "127.0.0.1:0")]));
    let addr = h.addr(Transport::Ws, false);
    for offered in [None, Some("chat"), Some("SIP")] {
        match upgrade(addr, offered).await {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status(), 400);
                let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
                assert!(
                    body.contains(&format!("\"{WS_SUBPROTOCOL}\" is required")),
                    "{body}"
                );
            }
            other => panic!("{offered:?}: expected a refusal, got {other:?}"),
        }
    }
    eventually(|| h.stack.stats().ws_handshake_failures == 3).await;
    assert!(upgrade(addr, Some("sip")).await.is_ok());
}

#[tokio::test]
async fn a_connection_without_a_sip_message_in_time_is_closed() {
    let mut cfg = config(&[(Transport::Ws, "127.0.0.1:0")]);
    cfg.tcp_message_timeout = Duration::from_millis(200);
    let mut h = Harness::start(cfg);
    let addr = h.addr(Transport::Ws, false);
    // Upgraded, then silent: closed, and reported.
    let mut ws = upgrade(addr, Some("sip")).await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| f.reason.to_string()),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        end.as_deref(),
        Some("no SIP message within tcp_message_timeout")
    );
    assert!(matches!(
        h.next().await,
        StackEvent::ConnectionClosed { .. }
    ));
    // Never upgraded: closed too, counted as a failed handshake.
    let mut raw = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut raw, &mut buf),
    )
    .await
    .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)));
    eventually(|| h.stack.stats().ws_handshake_failures == 1).await;
    assert_eq!(h.stack.stats().tcp_no_message_closed, 1);
}
