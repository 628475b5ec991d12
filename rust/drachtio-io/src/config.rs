//! What a [`crate::Stack`] listens on and how it behaves.

use crate::capture::CaptureConfig;
use crate::nat::{with_port, Nat, Network};
use drachtio_sip::transaction::{Config as TimerConfig, Transport};
use drachtio_sip::FrameLimits;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The transports a [`crate::Stack`] can listen on.
pub const LISTEN_TRANSPORTS: [Transport; 5] = [
    Transport::Udp,
    Transport::Tcp,
    Transport::Tls,
    Transport::Ws,
    Transport::Wss,
];

/// The TLS settings of a stack: PEM files, read when it starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain TLS listeners present, leaf first. A TLS
    /// listener needs it and `key`.
    pub certificate: Option<PathBuf>,
    /// The private key of `certificate` (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// The certificate authorities the certificate of a peer the stack
    /// connects to must chain to, besides the system's with
    /// `system_roots`. With neither the stack opens no TLS connection (it
    /// still accepts them, and answers and sends over them).
    pub ca: Option<PathBuf>,
    /// Trust the operating system's certificate authorities too when
    /// connecting (the PEM bundle or directory OpenSSL would use).
    pub system_roots: bool,
    /// Mutual TLS: the authorities a peer's client certificate must chain
    /// to. With it, TLS and WSS listeners require a client certificate and
    /// refuse a handshake without one.
    pub client_ca: Option<PathBuf>,
}

/// One listening socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenSpec {
    /// One of [`LISTEN_TRANSPORTS`].
    pub transport: Transport,
    /// The address to bind; port 0 asks the system for a free port.
    pub addr: SocketAddr,
    /// The `host[:port]` written in the Via sent-by of requests sent from
    /// this listener instead of the bound address (behind NAT, or when bound
    /// to an unspecified address); without a port, the bound one. `None`:
    /// the bound address.
    pub advertise: Option<String>,
    /// Destinations in these networks are named the bound address, not
    /// `advertise` (peers on the private side of the NAT).
    pub local_networks: Vec<Network>,
}

impl ListenSpec {
    /// A UDP listener on `addr`.
    pub fn udp(addr: SocketAddr) -> ListenSpec {
        ListenSpec {
            transport: Transport::Udp,
            addr,
            advertise: None,
            local_networks: Vec::new(),
        }
    }

    /// A TCP listener on `addr`.
    pub fn tcp(addr: SocketAddr) -> ListenSpec {
        ListenSpec {
            transport: Transport::Tcp,
            addr,
            advertise: None,
            local_networks: Vec::new(),
        }
    }

    /// A TLS listener on `addr` (it needs [`TlsConfig`]'s certificate and key).
    pub fn tls(addr: SocketAddr) -> ListenSpec {
        ListenSpec {
            transport: Transport::Tls,
            addr,
            advertise: None,
            local_networks: Vec::new(),
        }
    }

    /// The same listener, advertising `host_port` in Via.
    pub fn advertise(mut self, host_port: impl Into<String>) -> ListenSpec {
        self.advertise = Some(host_port.into());
        self
    }

    /// `TRANSPORT:IP:PORT` (`[IPv6]:PORT`), then optional parameters:
    /// `;external=HOST[:PORT]` ([`ListenSpec::advertise`]) and
    /// `;local-net=ADDRESS/PREFIX`, repeatable ([`ListenSpec::local_networks`]):
    /// `udp:10.0.0.5:5060;external=203.0.113.5;local-net=10.0.0.0/8`.
    pub fn parse(spec: &str) -> Result<ListenSpec, String> {
        let mut parts = spec.split(';');
        let base = parts.next().unwrap_or_default();
        let bad = || format!("listen address {spec:?} is not \"<transport>:<ip>:<port>\"");
        let (transport, addr) = base.split_once(':').ok_or_else(bad)?;
        let transport = Transport::parse(transport).map_err(|e| e.to_string())?;
        let addr: SocketAddr = addr.parse().map_err(|_| bad())?;
        let mut listen = ListenSpec {
            transport,
            addr,
            advertise: None,
            local_networks: Vec::new(),
        };
        for param in parts {
            match param.split_once('=') {
                Some(("external", host)) if !host.is_empty() && !host.contains([' ', ',']) => {
                    listen.advertise = Some(host.to_string());
                }
                Some(("local-net", net)) => listen.local_networks.push(
                    net.parse()
                        .map_err(|e| format!("{spec:?}: local-net {e}"))?,
                ),
                _ => {
                    return Err(format!(
                    "{spec:?}: {param:?} is not external=HOST[:PORT] or local-net=ADDRESS/PREFIX"
                ))
                }
            }
        }
        if !listen.local_networks.is_empty() && listen.advertise.is_none() {
            return Err(format!("{spec:?}: local-net needs external=HOST[:PORT]"));
        }
        Ok(listen)
    }

    /// What the listener advertises, once bound to `port`.
    pub(crate) fn nat(&self, port: u16) -> Nat {
        Nat {
            external: self.advertise.as_deref().map(|a| with_port(a, port)),
            local_networks: self.local_networks.clone(),
        }
    }
}

/// Configuration of a [`crate::Stack`]. `listen` must name at least one
/// socket; everything else has a default.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// The sockets to bind.
    pub listen: Vec<ListenSpec>,
    /// T1, T2, T4, supported option tags and the seed of the transaction layer.
    pub timers: TimerConfig,
    /// A TCP connection with no bytes in either direction for this long is
    /// closed. Default 180 s: longer than the usual no-answer time of a
    /// ringing INVITE, so its final response still finds the connection it
    /// came on. Keep-alives (RFC 5626 CRLF pings) count as traffic.
    pub tcp_idle_timeout: Duration,
    /// Most inbound (accepted) TCP connections open at once. Default 1024.
    /// At the bound, a new connection takes the place of one not in use
    /// (see `tcp_message_timeout`), else it is closed at once.
    pub max_tcp_connections: usize,
    /// Most inbound TCP connections from one IP address. Default 64; more
    /// are closed at once.
    pub max_tcp_connections_per_ip: usize,
    /// Most TCP connections the stack opens itself to send requests and
    /// responses, a budget apart from the inbound ones, so that peers
    /// connecting to the stack never leave it unable to send. Default 1024.
    pub max_tcp_outbound: usize,
    /// An inbound TCP connection that has not delivered a complete SIP
    /// message this long after it was accepted is closed (CRLF keep-alives
    /// do not count). A connection that carried no SIP message, either
    /// way, for this long is not in use: at the `max_tcp_connections`
    /// bound it may be evicted for a new one. Default 20 s.
    pub tcp_message_timeout: Duration,
    /// Bounds on one message's header section and body on TCP.
    pub frame_limits: FrameLimits,
    /// Receive buffer asked for each UDP socket (the system may cap it:
    /// `net.core.rmem_max` on Linux). Default 4 MiB.
    pub udp_recv_buffer: usize,
    /// Bound on events waiting for [`crate::Stack::drain_events`]. Default
    /// 10 000. When full, new requests are answered 503 by the stack and
    /// counted; events of transactions already handed up are still queued.
    pub event_queue_capacity: usize,
    /// Which thread reads UDP datagrams and sends what calls down produce.
    /// Default [`UdpReader::StackThread`].
    pub udp_reader: UdpReader,
    /// Certificates and keys for TLS. Default: none (no TLS listener, no
    /// TLS connection opened).
    pub tls: TlsConfig,
    /// Where to send a copy of every SIP message (HEP v3). Default: none.
    pub capture: Option<CaptureConfig>,
    /// The DNS servers that resolve host names (RFC 3263: NAPTR, SRV,
    /// A/AAAA). Default empty: the system's (`/etc/resolv.conf`). The hosts
    /// file is read either way.
    pub nameservers: Vec<SocketAddr>,
}

/// Which thread reads the UDP sockets (`docs/transport.md`, "Threads").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UdpReader {
    /// The stack's own thread reads every socket; a call down (a response,
    /// a request) wakes that thread, which sends. Two threads share the
    /// work: the most throughput.
    #[default]
    StackThread,
    /// The owner watches each UDP socket ([`crate::Stack::udp_sockets`])
    /// and calls [`crate::Stack::receive_udp`] when one is readable, on the
    /// thread that drains the events; calls down send from the calling
    /// thread. The stack's thread keeps timers, retransmissions, TCP and
    /// name resolution. No thread hand-off per message: the least CPU per
    /// message when messages do not come in bursts.
    Caller,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            listen: Vec::new(),
            timers: TimerConfig::default(),
            tcp_idle_timeout: Duration::from_secs(180),
            max_tcp_connections: 1024,
            max_tcp_connections_per_ip: 64,
            max_tcp_outbound: 1024,
            tcp_message_timeout: Duration::from_secs(20),
            frame_limits: FrameLimits::default(),
            udp_recv_buffer: 4 * 1024 * 1024,
            event_queue_capacity: 10_000,
            udp_reader: UdpReader::StackThread,
            tls: TlsConfig::default(),
            capture: None,
            nameservers: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_specs_with_nat_parameters() {
        let spec = ListenSpec::parse(
            "udp:10.0.0.5:5060;external=203.0.113.5;local-net=10.0.0.0/8;local-net=fd00::/8",
        )
        .unwrap();
        assert_eq!(spec.transport, Transport::Udp);
        assert_eq!(spec.addr, "10.0.0.5:5060".parse().unwrap());
        assert_eq!(spec.advertise.as_deref(), Some("203.0.113.5"));
        assert_eq!(spec.local_networks.len(), 2);
        let nat = spec.nat(5060);
        assert_eq!(nat.external.as_deref(), Some("203.0.113.5:5060"));
        let spec = ListenSpec::parse("TCP:[::1]:0;external=[2001:db8::1]:5080").unwrap();
        assert_eq!(spec.transport, Transport::Tcp);
        assert_eq!(
            spec.nat(4000).external.as_deref(),
            Some("[2001:db8::1]:5080")
        );
        assert_eq!(
            ListenSpec::parse("udp:127.0.0.1:5060").unwrap().advertise,
            None
        );
    }

    #[test]
    fn bad_listen_specs_say_what_is_wrong() {
        let err = |s: &str| ListenSpec::parse(s).unwrap_err();
        assert!(err("udp:host:5060").contains("is not \"<transport>:<ip>:<port>\""));
        assert!(err("sctp:127.0.0.1:5060").contains("sctp"));
        assert!(err("udp:127.0.0.1:5060;external=").contains("is not external=HOST[:PORT]"));
        assert!(err("udp:127.0.0.1:5060;nat=1").contains("\"nat=1\""));
        assert!(err("udp:127.0.0.1:5060;external=h;local-net=10.0.0.0/40")
            .contains("local-net \"10.0.0.0/40\" is not a network"));
        assert!(err("udp:127.0.0.1:5060;local-net=10.0.0.0/8").contains("needs external"));
    }
}
