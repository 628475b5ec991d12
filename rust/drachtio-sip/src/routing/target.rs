//! Where a message goes: an address, or a host name still to be resolved;
//! and where a response goes by its top Via (RFC 3261 §18.2.2, RFC 3581 §4).

use super::via::top_via;
use crate::header::Headers;
use crate::transaction::Peer;
use crate::transport::Transport;
use crate::typed::Via;
use crate::uri::Host;
use std::net::{IpAddr, SocketAddr};

/// The default SIP port for UDP and TCP (RFC 3261 §19.1.2).
pub const DEFAULT_PORT: u16 = 5060;

/// A destination: an address, or a name still to be resolved (A/AAAA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An address.
    Addr(SocketAddr),
    /// A host name and port.
    Name(String, u16),
}

impl Target {
    /// The destination `host:port`: an address when the host is one.
    pub fn of(host: &Host, port: u16) -> Target {
        match host.ip() {
            Some(ip) => Target::Addr(SocketAddr::new(ip, port)),
            None => Target::Name(host.text.to_string(), port),
        }
    }
}

/// Where to send a message: the transport and the [`Target`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The transport.
    pub transport: Transport,
    /// The address, or the name to resolve.
    pub target: Target,
}

impl From<Peer> for Destination {
    fn from(peer: Peer) -> Destination {
        Destination {
            transport: peer.transport,
            target: Target::Addr(peer.addr),
        }
    }
}

/// The port a Via without one means: its transport's default (RFC 3261
/// §18.2.2), 5060 for a transport this stack does not know.
fn via_default_port(via: &Via) -> u16 {
    Transport::parse(&via.transport).map_or(DEFAULT_PORT, Transport::default_port)
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Where a response with these headers goes (RFC 3261 §18.2.2, RFC 3581
/// §4), from its top Via: `maddr`; on an unreliable transport the
/// `received` address and `rport` port when rport is filled; the `received`
/// address and sent-by port; else the sent-by. `None` when there is no
/// usable Via.
///
/// Over a reliable transport the response goes first over the connection
/// the request came on, while it is open: that is the I/O layer's part
/// (`Outbound::Response` carries both); this is where it goes otherwise.
pub fn response_target(headers: &Headers, reliable: bool) -> Option<Target> {
    let (_, via) = top_via(headers)?;
    let port = via.port.unwrap_or_else(|| via_default_port(&via));
    if let Some(maddr) = via.maddr() {
        let host = Host::parse(maddr).ok()?;
        return Some(Target::of(&host, port));
    }
    let received = via.received().and_then(|r| parse_ip(r));
    if !reliable {
        if let Some(Some(rport)) = via.rport() {
            let ip = received.or_else(|| via.host.ip())?;
            return Some(Target::Addr(SocketAddr::new(ip, rport)));
        }
    }
    match received {
        Some(ip) => Some(Target::Addr(SocketAddr::new(ip, port))),
        None => Some(Target::of(&via.host, port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::HeaderName;

    fn headers(via: &str) -> Headers {
        let mut h = Headers::new();
        h.push(HeaderName::Via, via);
        h
    }

    fn addr(s: &str) -> Option<Target> {
        Some(Target::Addr(s.parse().unwrap()))
    }

    #[test]
    fn rfc3581_s4_unreliable_goes_to_received_and_rport() {
        let h = headers("SIP/2.0/UDP pc.example.com:5070;rport=40000;received=192.0.2.1");
        assert_eq!(response_target(&h, false), addr("192.0.2.1:40000"));
        // rport without received: the sent-by address, the source port.
        let h = headers("SIP/2.0/UDP 192.0.2.8:5070;rport=40001");
        assert_eq!(response_target(&h, false), addr("192.0.2.8:40001"));
    }

    #[test]
    fn rfc3261_s18_2_2_reliable_goes_to_received_and_sent_by_port() {
        let h = headers("SIP/2.0/UDP pc.example.com:5070;rport=40000;received=192.0.2.1");
        assert_eq!(response_target(&h, true), addr("192.0.2.1:5070"));
    }

    #[test]
    fn rfc3261_s18_2_2_maddr_wins() {
        assert_eq!(
            response_target(&headers("SIP/2.0/UDP h:5080;maddr=192.0.2.3"), false),
            addr("192.0.2.3:5080")
        );
    }

    #[test]
    fn rfc3261_s18_2_2_sent_by_with_default_port_else() {
        assert_eq!(
            response_target(&headers("SIP/2.0/UDP [2001:db8::2]"), false),
            addr("[2001:db8::2]:5060")
        );
        assert_eq!(
            response_target(&headers("SIP/2.0/TCP pc.example.com"), true),
            Some(Target::Name("pc.example.com".into(), 5060))
        );
    }

    #[test]
    fn no_via_no_target() {
        assert_eq!(response_target(&Headers::new(), false), None);
        assert_eq!(response_target(&headers("garbage"), false), None);
    }

    #[test]
    fn a_via_without_a_port_means_its_transports_default() {
        let target = |via: &str| {
            let mut h = Headers::new();
            h.push(HeaderName::Via, via);
            response_target(&h, true)
        };
        let a = |s: &str| Some(Target::Addr(s.parse().unwrap()));
        assert_eq!(target("SIP/2.0/TLS 192.0.2.1"), a("192.0.2.1:5061"));
        assert_eq!(target("SIP/2.0/WSS 192.0.2.1"), a("192.0.2.1:443"));
        assert_eq!(target("SIP/2.0/SCTP 192.0.2.1"), a("192.0.2.1:5060"));
    }
}
