//! Sending: each transmit of the transaction layer to the transport it
//! names, by one exhaustive match; and the Via a request is sent with
//! (sent-by per transport, RFC 3261 §18.1.1 size rule).

use crate::hub::{lock, Shared};
use crate::nat::Nat;
use crate::route;
use crate::size;
use crate::stats::Counters;
use crate::StackError;
use bytes::Bytes;
use drachtio_sip::transaction::{Outbound, Peer, Target, Transmit, Transport, TxId};
use drachtio_sip::Request;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, PoisonError};

/// A message that could not be sent.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) tx: Option<TxId>,
    pub(crate) peer: Peer,
    pub(crate) reason: String,
}

/// Bytes for a socket, with what to report if they cannot be written.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) bytes: Bytes,
    pub(crate) tx: Option<TxId>,
    pub(crate) peer: Peer,
    /// The status of a response; `None` for a request.
    pub(crate) status: Option<u16>,
    /// The host name the destination was resolved from, if it was named:
    /// a TLS connection opened for the message verifies the peer's
    /// certificate against it (else against the address).
    pub(crate) name: Option<Arc<str>>,
}

impl Outgoing {
    pub(crate) fn fail(self, reason: &str) -> Failure {
        Failure {
            tx: self.tx,
            peer: self.peer,
            reason: reason.to_string(),
        }
    }
}

impl Shared {
    /// Sends `t` over its transport, once its destination is known.
    pub(crate) fn dispatch(self: &Arc<Self>, t: Transmit) -> Result<(), Failure> {
        let Some((t, name)) = self.resolved(t)? else {
            return Ok(());
        };
        let Transmit {
            tx,
            peer,
            local,
            bytes,
            kind,
        } = t;
        let (status, response_target) = match kind {
            Outbound::Response(status, target) => (Some(status), Some(target)),
            Outbound::Request(_) => (None, None),
        };
        let out = Outgoing {
            bytes,
            tx,
            peer,
            status,
            name,
        };
        match peer.transport {
            Transport::Udp => {
                let v6 = local.map_or(peer.addr.is_ipv6(), |l| l.is_ipv6());
                if status.is_some()
                    && size::over_udp_limit(out.bytes.len(), v6).is_some()
                    && self.listens_on(Transport::Tcp)
                {
                    return self.response_over_tcp(out, local);
                }
                let dest = match response_target.flatten() {
                    Some(Target::Addr(a)) => a,
                    Some(Target::Name(host, port)) => {
                        self.send_after_resolving(host, port, out, local);
                        return Ok(());
                    }
                    None => peer.addr,
                };
                self.send_udp(local, dest, out)
            }
            Transport::Tcp | Transport::Tls => {
                let Some(target) = response_target else {
                    return self.send_stream(peer, out);
                };
                // §18.2.2: over the connection the request came on while it is open.
                let Some(out) = self.send_on_open_connection(peer, out)? else {
                    return Ok(());
                };
                match target {
                    Some(Target::Addr(addr)) => self.send_stream(Peer { addr, ..peer }, out),
                    Some(Target::Name(host, port)) => {
                        self.send_after_resolving(host, port, out, local);
                        Ok(())
                    }
                    None => self.send_stream(peer, out),
                }
            }
            // RFC 7118 §5.2: only over the client's connection; `peer` is
            // one (Shared::ws_target), or the one a request came on.
            Transport::Ws | Transport::Wss => match self.send_on_open_connection(peer, out)? {
                None => Ok(()),
                Some(out) => Err(out.fail(&format!(
                    "no open {} connection to {} (the stack opens none)",
                    peer.transport, peer.addr
                ))),
            },
        }
    }

    /// Whether the stack has a listener of `transport`.
    pub(crate) fn listens_on(&self, transport: Transport) -> bool {
        match transport {
            Transport::Udp => !self
                .udp
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty(),
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                self.streams.iter().any(|e| e.transport == transport)
            }
        }
    }

    /// The sent-by we write in Via for `transport` toward `dest`
    /// ([`Shared::sent_by_from`] the listener the stack chooses).
    pub(crate) fn sent_by(&self, transport: Transport, dest: Option<IpAddr>) -> String {
        self.sent_by_from(transport, None, dest)
    }

    /// The sent-by for `transport` toward `dest` from the listener bound to
    /// `local`, else from a listener of that transport (of `dest`'s family
    /// if there is one): its external address unless `dest` is in one of
    /// its local networks (NAT), else its bound address, else (bound to an
    /// unspecified address) the address of the interface the system would
    /// send from. TCP without a TCP listener takes the UDP listener's (RFC
    /// 3261 §18: a UA sends over both); a secure transport only ever names
    /// its own listener.
    pub(crate) fn sent_by_from(
        &self,
        transport: Transport,
        local: Option<SocketAddr>,
        dest: Option<IpAddr>,
    ) -> String {
        let v6 = dest.is_some_and(|ip| ip.is_ipv6());
        let udp = self.udp.read().unwrap_or_else(PoisonError::into_inner);
        let udp_candidates = || udp.iter().map(|e| (e.local, &e.nat)).collect::<Vec<_>>();
        let stream_candidates = |t: Transport| {
            self.streams
                .iter()
                .filter(|e| e.transport == t)
                .map(|e| (e.local, &e.nat))
                .collect::<Vec<_>>()
        };
        let candidates: Vec<(SocketAddr, &Nat)> = match transport {
            Transport::Udp => udp_candidates(),
            Transport::Tcp => {
                let tcp = stream_candidates(Transport::Tcp);
                if tcp.is_empty() {
                    udp_candidates()
                } else {
                    tcp
                }
            }
            Transport::Tls | Transport::Ws | Transport::Wss => stream_candidates(transport),
        };
        let chosen = candidates
            .iter()
            .find(|(l, _)| Some(*l) == local)
            .or_else(|| candidates.iter().find(|(l, _)| l.is_ipv6() == v6))
            .or(candidates.first());
        let Some(&(local, nat)) = chosen else {
            return "invalid".to_string();
        };
        if let Some(external) = nat.external_for(dest) {
            return external.to_string();
        }
        if !local.ip().is_unspecified() {
            return local.to_string();
        }
        SocketAddr::new(self.route_source(dest, local.is_ipv6()), local.port()).to_string()
    }

    fn route_source(&self, dest: Option<IpAddr>, v6: bool) -> IpAddr {
        // Documentation addresses (RFC 5737, RFC 3849): a route lookup only.
        let dest = dest.unwrap_or(if v6 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))
        } else {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
        });
        if let Some(ip) = lock(&self.route_cache).get(&dest) {
            return *ip;
        }
        let unspecified: IpAddr = if dest.is_ipv6() {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        // Connecting a UDP socket sends nothing; it makes the system pick the
        // source address of the route to `dest`.
        let ip = std::net::UdpSocket::bind((unspecified, 0))
            .and_then(|s| s.connect((dest, 9)).map(|_| s))
            .and_then(|s| s.local_addr())
            .map(|a| a.ip())
            .unwrap_or(unspecified);
        let mut cache = lock(&self.route_cache);
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(dest, ip);
        ip
    }

    /// Sets the top Via for sending over `transport` to `dest`, and applies
    /// RFC 3261 §18.1.1: a request over 1300 bytes meant for UDP goes over
    /// TCP, for this request only, when the stack has a TCP listener; else
    /// one larger than a datagram can be is refused. Returns the transport
    /// to use.
    pub(crate) fn prepare_request(
        &self,
        request: &mut Request,
        transport: Transport,
        dest: Option<IpAddr>,
        branch: Option<String>,
    ) -> Result<Transport, StackError> {
        let sent_by = self.sent_by(transport, dest);
        route::set_top_via(&mut request.headers, transport, &sent_by, branch.clone());
        if transport != Transport::Udp {
            return Ok(transport);
        }
        // The layer adds `;branch=z9hG4bK` and 16 hex digits when missing.
        let extra = if route::has_branch(&request.headers) {
            0
        } else {
            31
        };
        let len = request.serialized_len() + extra;
        if len <= size::MTU_LIMIT {
            return Ok(transport);
        }
        if !self.listens_on(Transport::Tcp) {
            // The family is not known before a name is resolved: the
            // smaller (IPv4) limit.
            self.fits_udp("request", len, dest.is_some_and(|ip| ip.is_ipv6()))?;
            return Ok(transport);
        }
        Counters::inc(&self.counters.mtu_tcp_switches);
        let sent_by = self.sent_by(Transport::Tcp, dest);
        route::set_top_via(&mut request.headers, Transport::Tcp, &sent_by, branch);
        Ok(Transport::Tcp)
    }
}

/// Why nothing can be sent over `transport`.
pub(crate) fn not_listening(transport: Transport) -> String {
    StackError::NotListening(transport).to_string()
}
