//! What a [`crate::Stack`] listens on and how it behaves.

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
    /// connects to must chain to. Without them the stack opens no TLS
    /// connection (it still accepts them, and answers and sends over them).
    pub ca: Option<PathBuf>,
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
    /// to an unspecified address). `None`: the bound address.
    pub advertise: Option<String>,
}

impl ListenSpec {
    /// A UDP listener on `addr`.
    pub fn udp(addr: SocketAddr) -> ListenSpec {
        ListenSpec {
            transport: Transport::Udp,
            addr,
            advertise: None,
        }
    }

    /// A TCP listener on `addr`.
    pub fn tcp(addr: SocketAddr) -> ListenSpec {
        ListenSpec {
            transport: Transport::Tcp,
            addr,
            advertise: None,
        }
    }

    /// A TLS listener on `addr` (it needs [`TlsConfig`]'s certificate and key).
    pub fn tls(addr: SocketAddr) -> ListenSpec {
        ListenSpec {
            transport: Transport::Tls,
            addr,
            advertise: None,
        }
    }

    /// The same listener, advertising `host_port` in Via.
    pub fn advertise(mut self, host_port: impl Into<String>) -> ListenSpec {
        self.advertise = Some(host_port.into());
        self
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
            nameservers: Vec::new(),
        }
    }
}
