//! The transport's side of routing: the next hop of a request as a
//! [`Destination`] this stack can serve (the rules themselves are in
//! `drachtio_sip::routing`), and the answer to a request that failed to
//! parse.

use crate::rfc3263::Query;
use crate::StackError;
pub(crate) use drachtio_sip::routing::{has_branch, set_top_via, stamp_received};
use drachtio_sip::routing::{Destination, Hop, RouteForm, Target};
use drachtio_sip::transaction::Transport;
use drachtio_sip::{HeaderName, Request, Response};

/// The next hop of a request the UAC sends without a given destination
/// (RFC 3261 §8.1.2), formed as `form` says: the transport its URI names
/// ([`Transport::of_uri`]), its `maddr` or host, its port (by default the
/// transport's, [`Transport::default_port`]).
pub fn next_hop(request: &Request, form: RouteForm) -> Result<Destination, StackError> {
    let hop = drachtio_sip::routing::next_hop(request, form)
        .map_err(|e| StackError::NoRoute(e.as_str()))?;
    destination(&hop)
}

/// [`next_hop`], and for a host name what its URI pins down for RFC 3263
/// (§4.1: an explicit port or `transport` parameter skips lookups).
pub(crate) fn next_hop_query(
    request: &Request,
    form: RouteForm,
) -> Result<(Destination, Option<Query>), StackError> {
    let hop = drachtio_sip::routing::next_hop(request, form)
        .map_err(|e| StackError::NoRoute(e.as_str()))?;
    let dest = destination(&hop)?;
    let query = match &dest.target {
        Target::Addr(_) => None,
        Target::Name(host, _) => Some(Query {
            host: host.clone(),
            secure: hop.uri.secure,
            transport: match hop.uri.param("transport").flatten() {
                Some(_) => Some(dest.transport),
                None => None,
            },
            port: hop.uri.port,
        }),
    };
    Ok((dest, query))
}

fn destination(hop: &Hop) -> Result<Destination, StackError> {
    let transport = Transport::of_uri(&hop.uri)?;
    Ok(Destination {
        transport,
        target: hop.target(transport.default_port()),
    })
}

/// A response to a request that failed to parse, built from its raw bytes
/// (RFC 3261 §8.2.6: Via, From, To, Call-ID and CSeq copied, a To tag
/// added). `None` when the bytes are a response, an ACK (never answered,
/// §17.2.1), or have no Via to route an answer.
pub(crate) fn error_response(data: &[u8], status: u16, tag: &str) -> Option<Response> {
    if data.starts_with(b"SIP/") {
        return None;
    }
    let head_end = memfind(data, b"\r\n\r\n").unwrap_or(data.len());
    let head = String::from_utf8_lossy(&data[..head_end]);
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next()?;
    let method = request_line.split(' ').next()?;
    let is_token = |b: u8| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b);
    if method.is_empty() || !method.bytes().all(is_token) || method == "ACK" {
        return None;
    }
    // Unfold continuation lines (RFC 3261 §7.3.1).
    let mut logical: Vec<String> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = logical.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else if !line.is_empty() {
            logical.push(line.to_string());
        }
    }
    let mut response = Response::new(status);
    for line in &logical {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = HeaderName::new(name.trim());
        let value = value.trim();
        let keep = matches!(
            name,
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq
        );
        if keep {
            response.headers.push(name, value);
        } else if name == HeaderName::To {
            let has_tag = value.to_ascii_lowercase().contains(";tag=");
            let value = if has_tag {
                value.to_string()
            } else {
                format!("{value};tag={tag}")
            };
            response.headers.push(name, value);
        }
    }
    response
        .headers
        .contains(&HeaderName::Via)
        .then_some(response)
}

pub(crate) fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drachtio_sip::TransportError;
    use drachtio_sip::{parse, Message};

    fn req(s: &str) -> Request {
        match parse(s.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    const HEAD: &str = "From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn next_hop_names_transport_and_port() {
        let r = req(&format!("OPTIONS sip:b@192.0.2.5:5070;transport=tcp SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{HEAD}"));
        assert_eq!(
            next_hop(&r, RouteForm::Loose).unwrap(),
            Destination {
                transport: Transport::Tcp,
                target: Target::Addr("192.0.2.5:5070".parse().unwrap())
            }
        );
        let r = req(&format!("OPTIONS sip:b@192.0.2.5 SIP/2.0\r\nRoute: <sip:proxy.example.com;lr>, <sip:192.0.2.9>\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{HEAD}"));
        assert_eq!(
            next_hop(&r, RouteForm::Loose).unwrap(),
            Destination {
                transport: Transport::Udp,
                target: Target::Name("proxy.example.com".into(), 5060)
            }
        );
        let r = req(&format!(
            "OPTIONS tel:+1555 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{HEAD}"
        ));
        assert_eq!(
            next_hop(&r, RouteForm::Loose),
            Err(StackError::NoRoute("the next hop is not a SIP URI"))
        );
        let r = req(&format!(
            "OPTIONS sip:b@192.0.2.5;transport=sctp SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{HEAD}"
        ));
        assert_eq!(
            next_hop(&r, RouteForm::Loose),
            Err(StackError::Transport(TransportError::Unknown(
                "sctp".into()
            )))
        );
    }

    #[test]
    fn next_hop_query_keeps_what_the_uri_pins() {
        let query = |uri: &str| {
            let r = req(&format!(
                "OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{HEAD}"
            ));
            next_hop_query(&r, RouteForm::Loose).unwrap().1
        };
        let q = |secure, transport, port| {
            Some(Query {
                host: "example.com".into(),
                secure,
                transport,
                port,
            })
        };
        assert_eq!(query("sip:b@example.com"), q(false, None, None));
        assert_eq!(query("sip:b@example.com:5070"), q(false, None, Some(5070)));
        assert_eq!(
            query("sip:b@example.com;transport=TCP"),
            q(false, Some(Transport::Tcp), None)
        );
        assert_eq!(query("sips:b@example.com"), q(true, None, None));
        assert_eq!(
            query("sip:b@192.0.2.1;maddr=example.com"),
            q(false, None, None)
        );
        assert_eq!(query("sip:b@192.0.2.1"), None);
    }

    #[test]
    fn error_response_from_raw_bytes() {
        let raw = b"INVITE sip:x SIP/7.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:b@y>\r\n  ;p=1\r\nFrom: <sip:a@x>;tag=9\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nSubject: s\r\n\r\nbody";
        let r = error_response(raw, 505, "t1").unwrap();
        let names: Vec<_> = r.headers.iter().map(|h| h.value.to_string()).collect();
        assert_eq!(
            names,
            [
                "SIP/2.0/UDP h;branch=z9hG4bK1",
                "<sip:b@y> ;p=1;tag=t1",
                "<sip:a@x>;tag=9",
                "c1",
                "1 INVITE"
            ]
        );
        assert_eq!(r.status, 505);
        assert!(
            error_response(b"ACK sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, "t").is_none()
        );
        assert!(
            error_response(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, "t").is_none()
        );
        assert!(error_response(b"\x00\x01garbage\r\n\r\n", 400, "t").is_none());
    }
}
