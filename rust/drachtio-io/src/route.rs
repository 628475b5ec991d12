//! Where messages go (RFC 3261 §8.1.2, §18.1.1, §18.2.1, §18.2.2, RFC 3581)
//! and the Via edits of the transport layer. Pure functions of messages.

use crate::StackError;
use drachtio_sip::transaction::{Target, Transport};
use drachtio_sip::{
    split_list, HeaderName, Headers, Host, NameAddr, Request, Response, Text, Uri, Via,
};
use std::net::SocketAddr;

/// The next hop of a request the UAC sends without a given peer
/// (RFC 3261 §8.1.2): the first Route entry if there is a route set, else
/// the Request-URI; its `maddr`, port and transport ([`Transport::of_uri`],
/// default port [`Transport::default_port`]) name the destination (§18.1.1; NAPTR/SRV of
/// RFC 3263 not done).
pub(crate) fn next_hop(request: &Request) -> Result<(Transport, Target), StackError> {
    let uri = match request.headers.get(&HeaderName::Route) {
        Some(line) => {
            let items = split_list(line);
            let first = items
                .first()
                .ok_or(StackError::NoRoute("empty Route header"))?;
            NameAddr::parse(&line.slice_ref(first))
                .map_err(|_| StackError::NoRoute("malformed Route header"))?
                .uri
        }
        None => request.uri.clone(),
    };
    let Uri::Sip(sip) = uri else {
        return Err(StackError::NoRoute("the next hop is not a SIP URI"));
    };
    let transport = Transport::of_uri(&sip)?;
    let port = sip.port.unwrap_or(transport.default_port());
    let host = match sip.param("maddr").flatten() {
        Some(m) => Host::parse(m).map_err(|_| StackError::NoRoute("malformed maddr"))?,
        None => sip.host.clone(),
    };
    Ok((transport, Target::of(&host, port)))
}

/// The top Via value and its position: (header index, the value text, the
/// parsed first item).
fn top_via(headers: &Headers) -> Option<(Text, Via)> {
    let line = headers.get(&HeaderName::Via)?;
    let items = split_list(line);
    let first = line.slice_ref(items.first()?);
    let via = Via::parse(&first).ok()?;
    Some((line.clone(), via))
}

/// Replaces the first item of the first Via header line by `value`.
fn replace_top_via(headers: &mut Headers, line: &Text, value: String) {
    let items = split_list(line);
    let mut new = value;
    for rest in items.iter().skip(1) {
        new.push_str(", ");
        new.push_str(rest);
    }
    let mut done = false;
    *headers = headers
        .iter()
        .map(|h| {
            let mut h = h.clone();
            if !done && h.name == HeaderName::Via {
                h.value = Text::from(new.as_str());
                done = true;
            }
            h
        })
        .collect();
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
/// one with `rport`. `branch`, when given, is added to a new Via.
pub(crate) fn set_top_via(
    headers: &mut Headers,
    transport: Transport,
    sent_by: &str,
    branch: Option<String>,
) {
    match top_via(headers) {
        Some((line, via)) => {
            let value = via_value(transport, sent_by, Some(&via));
            if line.as_str() != value {
                replace_top_via(headers, &line, value);
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
pub(crate) fn has_branch(headers: &Headers) -> bool {
    top_via(headers).is_some_and(|(_, v)| v.branch().is_some())
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: on a received request, adds
/// `received` when the sent-by host is not the source address (always when
/// `rport` is asked for) and fills `rport` with the source port.
pub(crate) fn stamp_received(request: &mut Request, source: SocketAddr) {
    let Some((line, via)) = top_via(&request.headers) else {
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
    replace_top_via(&mut request.headers, &line, value);
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
    use drachtio_sip::{parse, Message};

    fn req(s: &str) -> Request {
        match parse(s.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    const HEAD: &str = "From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn next_hop_from_uri_and_route() {
        let r = req(&format!("OPTIONS sip:b@192.0.2.5:5070;transport=tcp SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{HEAD}"));
        assert_eq!(
            next_hop(&r).unwrap(),
            (
                Transport::Tcp,
                Target::Addr("192.0.2.5:5070".parse().unwrap())
            )
        );
        let r = req(&format!("OPTIONS sip:b@192.0.2.5 SIP/2.0\r\nRoute: <sip:proxy.example.com;lr>, <sip:192.0.2.9>\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{HEAD}"));
        assert_eq!(
            next_hop(&r).unwrap(),
            (
                Transport::Udp,
                Target::Name("proxy.example.com".into(), 5060)
            )
        );
        let r = req(&format!("OPTIONS sip:b@[2001:db8::1];maddr=192.0.2.7 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{HEAD}"));
        assert_eq!(
            next_hop(&r).unwrap(),
            (
                Transport::Udp,
                Target::Addr("192.0.2.7:5060".parse().unwrap())
            )
        );
        let r = req(&format!(
            "OPTIONS tel:+1555 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{HEAD}"
        ));
        assert!(matches!(next_hop(&r), Err(StackError::NoRoute(_))));
    }

    #[test]
    fn received_and_rport() {
        let mut r = req(&format!("OPTIONS sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP pc.example.com:5070;rport;branch=z9hG4bK1, SIP/2.0/UDP other\r\n{HEAD}"));
        stamp_received(&mut r, "192.0.2.1:40000".parse().unwrap());
        assert_eq!(
            r.headers.get(&HeaderName::Via).unwrap().as_str(),
            "SIP/2.0/UDP pc.example.com:5070;rport=40000;branch=z9hG4bK1;received=192.0.2.1, SIP/2.0/UDP other"
        );
        let mut r = req(&format!(
            "OPTIONS sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1\r\n{HEAD}"
        ));
        stamp_received(&mut r, "192.0.2.1:40000".parse().unwrap());
        assert_eq!(
            r.headers.get(&HeaderName::Via).unwrap().as_str(),
            "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1"
        );
    }

    #[test]
    fn top_via_rewritten_keeping_params() {
        let mut r = req(&format!("OPTIONS sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP placeholder;branch=z9hG4bKx;rport\r\n{HEAD}"));
        set_top_via(&mut r.headers, Transport::Tcp, "192.0.2.4:5060", None);
        assert_eq!(
            r.headers.get(&HeaderName::Via).unwrap().as_str(),
            "SIP/2.0/TCP 192.0.2.4:5060;branch=z9hG4bKx;rport"
        );
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
