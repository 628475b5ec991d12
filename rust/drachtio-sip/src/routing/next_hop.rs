//! The next hop of a request a UAC sends (RFC 3261 §8.1.2): the URI the
//! destination is taken from, given how the request was formed from its
//! route set (§12.2.1.1).

use super::target::Target;
use crate::header::HeaderName;
use crate::message::Request;
use crate::scan::split_list;
use crate::typed::NameAddr;
use crate::uri::{Host, SipUri, Uri};

/// How a request was formed from its route set (RFC 3261 §12.2.1.1).
///
/// The request alone does not tell: with a strict router first, its
/// Request-URI is that router and its first Route may well be a loose
/// router further on. Whoever built the request from the route set knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteForm {
    /// No route set, or one whose first element is a loose router (`lr`):
    /// the request goes to its first Route, else to its Request-URI.
    Loose,
    /// The route set's first element is a strict router (no `lr`): the
    /// Request-URI is that router, the Route the rest of the route set and
    /// the remote target; the request goes to its Request-URI.
    StrictRouter,
}

/// Why a request has no next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A Route header with no value.
    #[error("empty Route header")]
    EmptyRoute,
    /// The first Route value does not parse.
    #[error("malformed Route header")]
    MalformedRoute,
    /// The URI the hop is taken from is not `sip:` or `sips:` (a `tel:`
    /// Request-URI, say).
    #[error("the next hop is not a SIP URI")]
    NotSip,
    /// The hop URI's `maddr` is not a host.
    #[error("malformed maddr")]
    MalformedMaddr,
}

impl RouteError {
    /// The reason, as a static string (what [`std::fmt::Display`] writes).
    pub fn as_str(self) -> &'static str {
        match self {
            RouteError::EmptyRoute => "empty Route header",
            RouteError::MalformedRoute => "malformed Route header",
            RouteError::NotSip => "the next hop is not a SIP URI",
            RouteError::MalformedMaddr => "malformed maddr",
        }
    }
}

/// The next hop: the URI it comes from and the host it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// The first Route's URI or the Request-URI: its `transport` parameter
    /// and scheme choose the transport (§18.1.1, §19.1.2).
    pub uri: SipUri,
    /// The host to send to: the URI's `maddr` if it has one, else its host
    /// (§18.1.1); a name is resolved by the caller (RFC 3263).
    pub host: Host,
}

impl Hop {
    /// The port: the URI's, else `default` (§19.1.2).
    pub fn port(&self, default: u16) -> u16 {
        self.uri.port.unwrap_or(default)
    }

    /// The address, or the name to resolve, at [`Hop::port`].
    pub fn target(&self, default_port: u16) -> Target {
        Target::of(&self.host, self.port(default_port))
    }
}

/// The next hop of `request` (RFC 3261 §8.1.2), formed as `form` says.
pub fn next_hop(request: &Request, form: RouteForm) -> Result<Hop, RouteError> {
    let first_route = match form {
        RouteForm::Loose => request.headers.get(&HeaderName::Route),
        RouteForm::StrictRouter => None,
    };
    let uri = match first_route {
        Some(line) => {
            let items = split_list(line);
            let first = items.first().ok_or(RouteError::EmptyRoute)?;
            NameAddr::parse(&line.slice_ref(first))
                .map_err(|_| RouteError::MalformedRoute)?
                .uri
        }
        None => request.uri.clone(),
    };
    let Uri::Sip(uri) = uri else {
        return Err(RouteError::NotSip);
    };
    let host = match uri.param("maddr").flatten() {
        Some(m) => Host::parse(m).map_err(|_| RouteError::MalformedMaddr)?,
        None => uri.host.clone(),
    };
    Ok(Hop { uri, host })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::parse::parse;
    use crate::routing::DEFAULT_PORT;

    fn request(uri: &str, routes: &[&str]) -> Request {
        let mut text = format!("OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n");
        for r in routes {
            text.push_str(&format!("Route: {r}\r\n"));
        }
        text.push_str("From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
        match parse(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    fn target(r: &Request, form: RouteForm) -> Target {
        next_hop(r, form).unwrap().target(DEFAULT_PORT)
    }

    fn addr(s: &str) -> Target {
        Target::Addr(s.parse().unwrap())
    }

    #[test]
    fn rfc3261_s8_1_2_no_route_set_goes_to_the_request_uri() {
        let r = request("sip:b@192.0.2.5:5070;transport=tcp", &[]);
        let hop = next_hop(&r, RouteForm::Loose).unwrap();
        assert_eq!(hop.uri.transport().as_deref(), Some("tcp"));
        assert_eq!(hop.target(DEFAULT_PORT), addr("192.0.2.5:5070"));
    }

    #[test]
    fn rfc3261_s8_1_2_loose_router_first_goes_to_the_first_route() {
        let r = request(
            "sip:b@192.0.2.5",
            &[
                "<sip:proxy.example.com;lr>, <sip:192.0.2.9>",
                "<sip:192.0.2.10>",
            ],
        );
        assert_eq!(
            target(&r, RouteForm::Loose),
            Target::Name("proxy.example.com".into(), 5060)
        );
    }

    #[test]
    fn rfc3261_s8_1_2_strict_router_first_goes_to_the_request_uri() {
        // §12.2.1.1: the Request-URI is the strict router; the Route holds
        // the rest of the route set (here a loose router) and the remote
        // target. The first Route is not the next hop.
        let r = request(
            "sip:strict@192.0.2.20:5070",
            &["<sip:loose@192.0.2.21;lr>", "<sip:target@192.0.2.22>"],
        );
        assert_eq!(target(&r, RouteForm::StrictRouter), addr("192.0.2.20:5070"));
        assert_eq!(target(&r, RouteForm::Loose), addr("192.0.2.21:5060"));
    }

    #[test]
    fn rfc3261_s8_1_2_strict_router_named_by_host_name_is_a_name_to_resolve() {
        let r = request(
            "sip:strict.example.com;transport=tcp",
            &["<sip:target@192.0.2.22>"],
        );
        let hop = next_hop(&r, RouteForm::StrictRouter).unwrap();
        assert_eq!(hop.uri.transport().as_deref(), Some("tcp"));
        assert_eq!(
            hop.target(DEFAULT_PORT),
            Target::Name("strict.example.com".into(), 5060)
        );
    }

    #[test]
    fn rfc3261_s18_1_1_maddr_overrides_the_host() {
        let r = request("sip:b@[2001:db8::1];maddr=192.0.2.7", &[]);
        assert_eq!(target(&r, RouteForm::Loose), addr("192.0.2.7:5060"));
        let r = request("sip:b@[2001:db8::1]:5080;maddr=[2001:db8::7]", &[]);
        assert_eq!(target(&r, RouteForm::Loose), addr("[2001:db8::7]:5080"));
    }

    #[test]
    fn no_next_hop_is_a_precise_error() {
        let r = request("tel:+1555", &[]);
        assert_eq!(next_hop(&r, RouteForm::Loose), Err(RouteError::NotSip));
        let r = request("sip:b@192.0.2.5", &["<tel:+1555>"]);
        assert_eq!(next_hop(&r, RouteForm::Loose), Err(RouteError::NotSip));
        let r = request("sip:b@192.0.2.5", &["<sip:p;lr"]);
        assert_eq!(
            next_hop(&r, RouteForm::Loose),
            Err(RouteError::MalformedRoute)
        );
        let r = request("sip:b@192.0.2.5;maddr=bad_host!", &[]);
        assert_eq!(
            next_hop(&r, RouteForm::Loose),
            Err(RouteError::MalformedMaddr)
        );
        for e in [
            RouteError::EmptyRoute,
            RouteError::MalformedRoute,
            RouteError::NotSip,
            RouteError::MalformedMaddr,
        ] {
            assert_eq!(e.to_string(), e.as_str());
        }
    }
}
