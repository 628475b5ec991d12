//! The SIP transports by name: the one parser of their names, and what each
//! implies (reliability, security, default port).

use crate::uri::SipUri;
use std::fmt;
use std::str::FromStr;

/// A transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// UDP (unreliable).
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket.
    Wss,
}

/// A transport name that is none of `udp`, `tcp`, `tls`, `ws`, `wss`, or a
/// transport a URI cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The name is not a transport's.
    #[error("unknown transport {0:?}: expected one of udp, tcp, tls, ws, wss")]
    Unknown(String),
    /// A `sips:` URI asks for a transport that is not secured by TLS
    /// (RFC 5630 §3.1.3: sips means TLS on every hop).
    #[error("a sips URI cannot use transport {0}")]
    NotSecure(&'static str),
}

impl Transport {
    /// Every transport, in declaration order.
    pub const ALL: [Transport; 5] = [
        Transport::Udp,
        Transport::Tcp,
        Transport::Tls,
        Transport::Ws,
        Transport::Wss,
    ];

    /// Parses a transport name, in any case (`udp`, `TCP`, `Tls`...): the
    /// `transport` URI parameter, the transport of a Via, of a listen
    /// spec, of a destination.
    pub fn parse(name: &str) -> Result<Transport, TransportError> {
        Transport::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| TransportError::Unknown(name.to_string()))
    }

    /// The transport a request to `uri` uses (RFC 3261 §18.1.1, §19.1.2;
    /// RFC 5630 §3.1.3): its `transport` parameter, by default UDP for
    /// `sip:` and TLS for `sips:`. Under `sips:`, `tcp` means TLS (the
    /// deprecated form of RFC 3261 §26.2.2) and `ws` means WSS; `udp` is
    /// refused.
    pub fn of_uri(uri: &SipUri) -> Result<Transport, TransportError> {
        let named = match uri.param("transport").flatten() {
            Some(name) => Some(Transport::parse(name)?),
            None => None,
        };
        if !uri.secure {
            return Ok(named.unwrap_or(Transport::Udp));
        }
        match named {
            None | Some(Transport::Tcp | Transport::Tls) => Ok(Transport::Tls),
            Some(Transport::Ws | Transport::Wss) => Ok(Transport::Wss),
            Some(Transport::Udp) => Err(TransportError::NotSecure("UDP")),
        }
    }

    /// Whether the transport is reliable: retransmission timers A, E and G
    /// do not run and Timers D, I, J, K are zero (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Whether the transport runs over a byte stream (every one but UDP):
    /// messages are framed by Content-Length, and a connection carries them.
    pub fn is_stream(self) -> bool {
        self.is_reliable()
    }

    /// Whether the transport encrypts (TLS, WSS).
    pub fn is_secure(self) -> bool {
        matches!(self, Transport::Tls | Transport::Wss)
    }

    /// The port a destination without one is reached on: 5060 for UDP and
    /// TCP, 5061 for TLS (RFC 3261 §19.1.2); 80 and 443 for WS and WSS,
    /// the ports of `ws:` and `wss:` URIs (RFC 6455 §3), since RFC 7118
    /// names none of its own.
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Udp | Transport::Tcp => 5060,
            Transport::Tls => 5061,
            Transport::Ws => 80,
            Transport::Wss => 443,
        }
    }

    /// The name used in Via (`UDP`, `TCP`, `TLS`, `WS`, `WSS`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }

    /// The name in lower case, as in a `transport` URI parameter, a listen
    /// spec or a destination (`udp`, `tcp`, `tls`, `ws`, `wss`).
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }
}

impl FromStr for Transport {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<Transport, TransportError> {
        Transport::parse(s)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Uri;

    fn of(uri: &str) -> Result<Transport, TransportError> {
        match Uri::parse_str(uri).unwrap() {
            Uri::Sip(sip) => Transport::of_uri(&sip),
            other => panic!("not a SIP URI: {other:?}"),
        }
    }

    #[test]
    fn every_name_parses_in_any_case_and_round_trips() {
        for t in Transport::ALL {
            assert_eq!(Transport::parse(t.as_str()), Ok(t));
            assert_eq!(Transport::parse(t.name()), Ok(t));
            assert_eq!(t.to_string().parse::<Transport>(), Ok(t));
        }
        assert_eq!(Transport::parse("Tls"), Ok(Transport::Tls));
    }

    #[test]
    fn an_unknown_name_is_refused_by_name() {
        for bad in ["", "sctp", "udp ", "tcp:", "websocket"] {
            let err = Transport::parse(bad).unwrap_err();
            assert_eq!(err, TransportError::Unknown(bad.to_string()));
            assert!(err
                .to_string()
                .contains("expected one of udp, tcp, tls, ws, wss"));
        }
    }

    #[test]
    fn default_ports_follow_the_transport() {
        let ports: Vec<u16> = Transport::ALL.iter().map(|t| t.default_port()).collect();
        assert_eq!(ports, [5060, 5060, 5061, 80, 443]);
    }

    #[test]
    fn a_uri_names_its_transport_and_sips_means_tls() {
        assert_eq!(of("sip:a@example.com"), Ok(Transport::Udp));
        assert_eq!(of("sip:a@example.com;transport=TCP"), Ok(Transport::Tcp));
        assert_eq!(of("sip:a@example.com;transport=ws"), Ok(Transport::Ws));
        assert_eq!(of("sips:a@example.com"), Ok(Transport::Tls));
        assert_eq!(of("sips:a@example.com;transport=tcp"), Ok(Transport::Tls));
        assert_eq!(of("sips:a@example.com;transport=ws"), Ok(Transport::Wss));
        assert_eq!(
            of("sips:a@example.com;transport=udp"),
            Err(TransportError::NotSecure("UDP"))
        );
        assert_eq!(
            of("sip:a@example.com;transport=sctp"),
            Err(TransportError::Unknown("sctp".into()))
        );
    }

    #[test]
    fn only_udp_is_unreliable_and_only_tls_and_wss_are_secure() {
        for t in Transport::ALL {
            assert_eq!(t.is_reliable(), t != Transport::Udp);
            assert_eq!(t.is_stream(), t.is_reliable());
            assert_eq!(t.is_secure(), matches!(t, Transport::Tls | Transport::Wss));
        }
    }
}
