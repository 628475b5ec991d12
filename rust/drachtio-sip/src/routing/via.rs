//! The Via edits of the transport layer: the sender's top Via (RFC 3261
//! §18.1.1, RFC 3581 §3) and the receiver's `received`/`rport` stamp
//! (RFC 3261 §18.2.1, RFC 3581 §4).

use crate::header::{HeaderName, Headers};
use crate::message::Request;
use crate::scan::split_list;
use crate::text::Text;
use crate::transaction::Transport;
use crate::typed::Via;
use std::net::SocketAddr;

/// The first Via header line and its first value, parsed. `None` when there
/// is no Via or its first value does not parse.
pub(crate) fn top_via(headers: &Headers) -> Option<(Text, Via)> {
    let line = headers.get(&HeaderName::Via)?;
    let items = split_list(line);
    let via = Via::parse(&line.slice_ref(items.first()?)).ok()?;
    Some((line.clone(), via))
}

fn via_value(transport: Transport, sent_by: &str, via: Option<&Via>) -> String {
    let mut v = format!("SIP/2.0/{} {}", transport.as_str(), sent_by);
    match via {
        Some(via) => {
            for p in &via.params {
                v.push(';');
                v.push_str(&p.to_string());
            }
        }
        // RFC 3581 §3: ask for the source port in responses.
        None => v.push_str(";rport"),
    }
    v
}

/// Sets the top Via of an outgoing request to the transport used and our
/// sent-by (RFC 3261 §18.1.1: the Via names the transport actually used),
/// keeping its parameters (the branch above all). A request without Via gets
/// one with `rport` (RFC 3581 §3). `branch`, when given, is added to a new Via.
pub fn set_top_via(
    headers: &mut Headers,
    transport: Transport,
    sent_by: &str,
    branch: Option<String>,
) {
    match top_via(headers) {
        Some((line, via)) => {
            let value = via_value(transport, sent_by, Some(&via));
            if line.as_str() != value {
                headers.replace_first_value(&HeaderName::Via, Some(&value));
            }
        }
        None if !headers.contains(&HeaderName::Via) => {
            let mut value = via_value(transport, sent_by, None);
            if let Some(b) = branch {
                value.push_str(";branch=");
                value.push_str(&b);
            }
            headers.push_front(HeaderName::Via, value);
        }
        // An unparseable Via is left for the transaction layer to refuse.
        None => {}
    }
}

/// Whether the top Via carries a branch.
pub fn has_branch(headers: &Headers) -> bool {
    top_via(headers).is_some_and(|(_, v)| v.branch().is_some())
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: on a received request, adds
/// `received` when the sent-by host is not the source address (always when
/// `rport` is asked for) and fills `rport` with the source port.
pub fn stamp_received(request: &mut Request, source: SocketAddr) {
    let Some((_, via)) = top_via(&request.headers) else {
        return;
    };
    let rport_asked = matches!(via.rport(), Some(None));
    let differs = via.host.ip() != Some(source.ip());
    if !differs && !rport_asked {
        return;
    }
    let mut value = format!(
        "{}/{}/{} {}",
        via.protocol_name, via.protocol_version, via.transport, via.host
    );
    if let Some(p) = via.port {
        value.push_str(&format!(":{p}"));
    }
    for p in &via.params {
        if p.name.eq_ignore_ascii_case("received") {
            continue;
        }
        if rport_asked && p.name.eq_ignore_ascii_case("rport") {
            value.push_str(&format!(";rport={}", source.port()));
        } else {
            value.push(';');
            value.push_str(&p.to_string());
        }
    }
    value.push_str(&format!(";received={}", source.ip()));
    request
        .headers
        .replace_first_value(&HeaderName::Via, Some(&value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::parse::parse;

    const HEAD: &str = "From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    fn with_via(via: &str) -> Request {
        let text = format!("OPTIONS sip:b@y SIP/2.0\r\nVia: {via}\r\n{HEAD}");
        match parse(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    fn via_line(r: &Request) -> &str {
        r.headers.get(&HeaderName::Via).unwrap().as_str()
    }

    /// The Via line of a request with top Via `via` once stamped from `source`.
    fn stamped(via: &str, source: &str) -> String {
        let mut r = with_via(via);
        stamp_received(&mut r, source.parse().unwrap());
        via_line(&r).to_string()
    }

    #[test]
    fn rfc3581_s4_rport_filled_and_received_added_to_the_top_via_only() {
        assert_eq!(
            stamped(
                "SIP/2.0/UDP pc.example.com:5070;rport;branch=z9hG4bK1, SIP/2.0/UDP other",
                "192.0.2.1:40000"
            ),
            "SIP/2.0/UDP pc.example.com:5070;rport=40000;branch=z9hG4bK1;received=192.0.2.1, SIP/2.0/UDP other"
        );
    }

    #[test]
    fn rfc3581_s4_received_added_even_when_the_host_is_the_source() {
        assert_eq!(
            stamped(
                "SIP/2.0/UDP 192.0.2.1:5070;rport;branch=z9hG4bK1",
                "192.0.2.1:40000"
            ),
            "SIP/2.0/UDP 192.0.2.1:5070;rport=40000;branch=z9hG4bK1;received=192.0.2.1"
        );
    }

    #[test]
    fn rfc3261_s18_2_1_received_only_when_the_sent_by_differs() {
        assert_eq!(
            stamped(
                "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1",
                "192.0.2.1:40000"
            ),
            "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1"
        );
        // A stale received is replaced, not repeated.
        assert_eq!(
            stamped(
                "SIP/2.0/UDP pc.example.com;received=192.0.2.9;branch=z9hG4bK1",
                "192.0.2.1:5060"
            ),
            "SIP/2.0/UDP pc.example.com;branch=z9hG4bK1;received=192.0.2.1"
        );
    }

    #[test]
    fn rfc3261_s18_1_1_top_via_names_the_transport_used_keeping_params() {
        let mut r = with_via("SIP/2.0/UDP placeholder;branch=z9hG4bKx;rport");
        set_top_via(&mut r.headers, Transport::Tcp, "192.0.2.4:5060", None);
        assert_eq!(
            via_line(&r),
            "SIP/2.0/TCP 192.0.2.4:5060;branch=z9hG4bKx;rport"
        );
        assert!(has_branch(&r.headers));
    }

    #[test]
    fn rfc3581_s3_a_new_via_asks_for_rport() {
        let mut h = Headers::new();
        set_top_via(
            &mut h,
            Transport::Udp,
            "[::1]:5062",
            Some("z9hG4bKy".into()),
        );
        assert_eq!(
            h.get(&HeaderName::Via).unwrap().as_str(),
            "SIP/2.0/UDP [::1]:5062;rport;branch=z9hG4bKy"
        );
        assert!(!has_branch(&Headers::new()));
    }
}
