//! SIP over TLS between two stacks on loopback, with certificates made for
//! the test by `openssl`: a request and its answer, a request back over the
//! same connection, the Via of each transport, and the failures (no
//! certificate, an unknown authority, a plaintext peer).

mod util;

use drachtio_io::{ListenSpec, StackConfig, StackEvent, TlsConfig};
use drachtio_sip::transaction::{Peer, Transport, TxEvent};
use drachtio_sip::{HeaderName, Message, Request};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use util::*;

/// A directory of its own for one test's files.
fn scratch() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "drachtio-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test authority `{name}-ca.pem` and a certificate for 127.0.0.1 that it
/// signed, `{name}.pem` with its key `{name}.key`.
fn make_certs(dir: &Path, name: &str) -> TlsConfig {
    make_certs_for(dir, name, "IP:127.0.0.1")
}

/// [`make_certs`] for the subject alternative name `san` (`DNS:localhost`).
fn make_certs_for(dir: &Path, name: &str, san: &str) -> TlsConfig {
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    let (key, csr, cert) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        format!(
            "subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n"
        ),
    )
    .unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        dir,
        &[
            &["req", "-x509", "-nodes", "-days", "1"][..],
            &ec,
            &[
                "-keyout",
                &ca_key,
                "-out",
                &ca,
                "-subj",
                &format!("/CN={name} test CA"),
            ],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req", "-nodes"][..],
            &ec,
            &["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            &cert,
            "-extfile",
            &ext,
        ],
    );
    TlsConfig {
        certificate: Some(dir.join(cert)),
        key: Some(dir.join(key)),
        ca: Some(dir.join(ca)),
        ..TlsConfig::default()
    }
}

fn tls_stack(tls: TlsConfig) -> Harness {
    tls_stack_on("127.0.0.1", tls)
}

/// A stack with UDP and TLS listeners on `ip`.
fn tls_stack_on(ip: &str, tls: TlsConfig) -> Harness {
    let (udp, tls_addr) = (format!("{ip}:0"), format!("{ip}:0"));
    let mut cfg = config(&[(Transport::Udp, &udp), (Transport::Tls, &tls_addr)]);
    cfg.tls = tls;
    Harness::start(cfg)
}

fn options(uri: &str, call_id: &str) -> Request {
    let text = format!(
        "OPTIONS {uri} SIP/2.0\r\nFrom: <sip:a@example.com>;tag=f1\r\nTo: <{uri}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    match msg(&text) {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn top_via(r: &Request) -> String {
    r.headers.get(&HeaderName::Via).unwrap().to_string()
}

async fn transport_error(h: &mut Harness) -> String {
    loop {
        match h.next().await {
            StackEvent::TransportError { reason, .. } => return reason,
            StackEvent::Transaction(TxEvent::TransportError { .. }) => {}
            e => panic!("expected a transport error, got {e:?}"),
        }
    }
}

/// The next request `h` receives, with where it came from.
async fn next_request(h: &mut Harness) -> (drachtio_sip::transaction::ServerTxId, Request, Peer) {
    match h.next().await {
        StackEvent::Transaction(TxEvent::NewRequest {
            id, request, peer, ..
        }) => (id, request, peer),
        e => panic!("expected a new request, got {e:?}"),
    }
}

/// The next response `h` receives: its status and where it came from.
async fn next_response(h: &mut Harness) -> (u16, Peer) {
    match h.next().await {
        StackEvent::Transaction(TxEvent::Response { response, peer, .. }) => {
            (response.status, peer)
        }
        e => panic!("expected a response, got {e:?}"),
    }
}

/// Sends a request from `h` to `uri` (127.0.0.1) and waits for its failure:
/// the peer's certificate refused.
async fn certificate_refused(h: &mut Harness, uri: &str) {
    h.stack.send_request(options(uri, "refused"), None).unwrap();
    let reason = transport_error(h).await;
    assert!(
        reason.starts_with("TLS handshake with 127.0.0.1 failed: invalid peer certificate"),
        "{reason}"
    );
}

/// Answers the next request `h` receives with a 200.
async fn answer_200(h: &mut Harness) {
    let (id, req, _) = next_request(h).await;
    h.stack.respond(id, response_to(&req, 200, "b")).unwrap();
}

#[tokio::test]
async fn a_request_over_tls_is_answered_and_the_connection_carries_requests_back() {
    let certs = make_certs(&scratch(), "shared");
    let mut alice = tls_stack(certs.clone());
    let mut bob = tls_stack(certs);
    let alice_tls = alice.addr(Transport::Tls, false);
    let bob_tls = bob.addr(Transport::Tls, false);

    // sips: means TLS, to the port in the URI.
    let uri = format!("sips:bob@127.0.0.1:{}", bob_tls.port());
    alice
        .stack
        .send_request(options(&uri, "tls-1"), None)
        .unwrap();
    let (id, req, alice_end) = next_request(&mut bob).await;
    assert_eq!(alice_end.transport, Transport::Tls);
    // The Via names Alice's TLS listener, not her UDP one.
    let via = top_via(&req);
    assert!(
        via.starts_with(&format!("SIP/2.0/TLS {alice_tls};")),
        "{via}"
    );
    bob.stack.respond(id, response_to(&req, 200, "b")).unwrap();
    let tls_bob = Peer {
        transport: Transport::Tls,
        addr: bob_tls,
    };
    assert_eq!(next_response(&mut alice).await, (200, tls_bob));

    // Bob's request to Alice goes back over the connection she opened.
    bob.stack
        .send_request(
            options("sip:alice@example.com", "tls-2"),
            Some(alice_end.into()),
        )
        .unwrap();
    let (id, req, source) = next_request(&mut alice).await;
    assert_eq!(source, tls_bob);
    alice
        .stack
        .respond(id, response_to(&req, 200, "a"))
        .unwrap();
    assert_eq!(next_response(&mut bob).await, (200, alice_end));

    let (a, b) = (alice.stack.stats(), bob.stack.stats());
    assert_eq!(
        (
            a.connections.open.inbound[Transport::Tls],
            a.connections.open.outbound[Transport::Tls]
        ),
        (0, 1)
    );
    assert_eq!(
        (
            b.connections.open.inbound[Transport::Tls],
            b.connections.open.outbound[Transport::Tls]
        ),
        (1, 0)
    );
    assert_eq!((a.tls_handshake_failures, b.tls_handshake_failures), (0, 0));
}

#[tokio::test]
async fn a_peer_whose_certificate_no_configured_authority_signed_is_refused() {
    let dir = scratch();
    let mut alice = tls_stack(make_certs(&dir, "alice"));
    let bob = tls_stack(make_certs(&dir, "bob"));
    let bob_tls = bob.addr(Transport::Tls, false);
    let uri = format!("sip:bob@127.0.0.1:{};transport=tls", bob_tls.port());
    certificate_refused(&mut alice, &uri).await;
    assert_eq!(alice.stack.stats().tls_handshake_failures, 1);
    assert_eq!(
        alice.stack.stats().connections.open.outbound[Transport::Tls],
        0
    );
}

#[tokio::test]
async fn a_named_destination_is_verified_against_its_name() {
    // A certificate for the name only: verifying against the address fails.
    let certs = make_certs_for(&scratch(), "named", "DNS:localhost");
    // The address the stack will resolve "localhost" to (its first one).
    let first = tokio::net::lookup_host(("localhost", 0))
        .await
        .unwrap()
        .next()
        .unwrap();
    let mut alice = tls_stack_on(&first.ip().to_string(), certs.clone());
    let mut bob = tls_stack_on(&first.ip().to_string(), certs);
    let port = bob.addr(Transport::Tls, first.is_ipv6()).port();

    let uri = format!("sips:bob@localhost:{port}");
    alice
        .stack
        .send_request(options(&uri, "tls-6"), None)
        .unwrap();
    answer_200(&mut bob).await;
    assert_eq!(next_response(&mut alice).await.0, 200);

    let host = match first.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let uri = format!("sips:bob@{host}:{port}");
    alice
        .stack
        .send_request(options(&uri, "tls-7"), None)
        .unwrap();
    // Connections are known by address: the one opened for "localhost"
    // carries this request too.
    answer_200(&mut bob).await;
    assert_eq!(next_response(&mut alice).await.0, 200);
    assert_eq!(
        alice.stack.stats().connections.open.outbound[Transport::Tls],
        1
    );
}

#[tokio::test]
async fn an_address_is_verified_against_the_address() {
    let certs = make_certs_for(&scratch(), "byname", "DNS:localhost");
    let mut alice = tls_stack(certs.clone());
    let bob = tls_stack(certs);
    let port = bob.addr(Transport::Tls, false).port();
    certificate_refused(&mut alice, &format!("sips:bob@127.0.0.1:{port}")).await;
}

#[tokio::test]
async fn without_authorities_the_stack_opens_no_tls_connection() {
    let dir = scratch();
    let certs = make_certs(&dir, "solo");
    let mut alice = tls_stack(TlsConfig {
        ca: None,
        ..certs.clone()
    });
    let bob = tls_stack(certs);
    let peer = Peer {
        transport: Transport::Tls,
        addr: bob.addr(Transport::Tls, false),
    };
    alice
        .stack
        .send_request(options("sip:bob@127.0.0.1", "tls-4"), Some(peer.into()))
        .unwrap();
    let reason = transport_error(&mut alice).await;
    assert_eq!(
        reason,
        "no TLS certificate authorities configured (tls_ca, tls_system_roots): \
         the stack opens no TLS connection"
    );
}

#[tokio::test]
async fn plaintext_sip_on_a_tls_listener_is_never_read() {
    let bob = tls_stack(make_certs(&scratch(), "plain"));
    let mut peer = TcpPeer::connect(bob.addr(Transport::Tls, false)).await;
    let text = request("OPTIONS", "TLS", "127.0.0.1:9", "z9hG4bKplain", "tls-5", "");
    peer.send(text.as_bytes()).await;
    // The stack answers with a TLS alert, if anything, and closes.
    let mut got = Vec::new();
    let read = tokio::time::timeout(
        WAIT,
        tokio::io::AsyncReadExt::read_to_end(&mut peer.stream, &mut got),
    );
    read.await.expect("the stack closes the connection").ok();
    assert!(!got.starts_with(b"SIP/2.0"), "{got:?}");
    eventually(|| bob.stack.stats().tls_handshake_failures == 1).await;
    assert_eq!(
        bob.stack.stats().connections.open.inbound[Transport::Tls],
        0
    );
    assert!(bob.stack.drain_events(8).is_empty());
}

#[test]
fn tls_settings_are_checked_when_the_stack_starts() {
    let dir = scratch();
    let certs = make_certs(&dir, "start");
    let start = |tls: TlsConfig, listen: Vec<ListenSpec>| {
        let config = StackConfig {
            listen,
            tls,
            ..StackConfig::default()
        };
        drachtio_io::Stack::start(config, std::sync::Arc::new(|| {}))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let tls_listener = || vec![ListenSpec::tls("127.0.0.1:0".parse().unwrap())];
    assert_eq!(
        start(TlsConfig::default(), tls_listener()),
        Err("a TLS listener needs a certificate and its key (tls_certificate, tls_key)".into())
    );
    assert_eq!(
        start(
            TlsConfig {
                key: None,
                ..certs.clone()
            },
            tls_listener()
        ),
        Err("a TLS certificate needs its key (tls_key)".into())
    );
    let missing = dir.join("missing.pem");
    let err = start(
        TlsConfig {
            certificate: Some(missing.clone()),
            ..certs.clone()
        },
        tls_listener(),
    )
    .unwrap_err();
    assert!(
        err.starts_with(&format!("tls_certificate {}: ", missing.display())),
        "{err}"
    );
    // A key that is not the certificate's.
    let other = make_certs(&dir, "other");
    let err = start(
        TlsConfig {
            key: other.key,
            ..certs.clone()
        },
        tls_listener(),
    )
    .unwrap_err();
    assert!(err.contains("and tls_key"), "{err}");
    // A CA file that holds no certificate.
    let err = start(
        TlsConfig {
            ca: certs.key.clone(),
            ..certs.clone()
        },
        tls_listener(),
    )
    .unwrap_err();
    assert!(err.ends_with("no PEM certificate in the file"), "{err}");
    assert_eq!(start(certs, tls_listener()), Ok(()));
}
