//! Messages too large for a UDP datagram (RFC 3261 §18.1.1, §18.2.2): the
//! limits, and where a response goes over TCP instead.

use crate::hub::Shared;
use crate::send::{Failure, Outgoing};
use crate::stats::Counters;
use crate::StackError;
use bytes::Bytes;
use drachtio_sip::routing::{response_target, Target};
use drachtio_sip::transaction::Transport;
use drachtio_sip::{parse_bytes, Message, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// Requests larger than this go over TCP when the stack has a TCP listener
/// (RFC 3261 §18.1.1, the path MTU being unknown).
pub(crate) const MTU_LIMIT: usize = 1300;

/// The largest UDP payload: 65,535 (the largest IPv4 datagram, or IPv6
/// payload) less the 8-byte UDP header and, over IPv4, the 20-byte IP
/// header. A larger datagram cannot be sent (the system answers EMSGSIZE).
fn max_udp_payload(v6: bool) -> usize {
    if v6 {
        65_527
    } else {
        65_507
    }
}

/// `Some(limit)` when a message of `len` bytes cannot go in one UDP
/// datagram over IPv6 (`v6`) or IPv4.
pub(crate) fn over_udp_limit(len: usize, v6: bool) -> Option<usize> {
    let limit = max_udp_payload(v6);
    (len > limit).then_some(limit)
}

/// Why `what` (a request, a response) of `len` bytes cannot go over UDP.
pub(crate) fn too_large(what: &str, len: usize, limit: usize) -> String {
    format!("{what} of {len} bytes is too large for UDP (at most {limit} bytes)")
}

/// Where a response too large for UDP goes over TCP: the destination its
/// top Via names for a reliable transport (`maddr`, else the `received` or
/// sent-by address with the sent-by port; RFC 3261 §18.2.2). Read back
/// from the serialized response, which only happens for such rare ones.
pub(crate) fn tcp_target(response: &Bytes) -> Option<Target> {
    match parse_bytes(response.clone()) {
        Ok(Message::Response(r)) => response_target(&r.headers, true),
        _ => None,
    }
}

impl Shared {
    /// A response too large for a datagram, meant for UDP: sent over TCP
    /// to where its Via says (RFC 3261 §18.2.2), counted.
    pub(crate) fn response_over_tcp(
        self: &Arc<Self>,
        mut out: Outgoing,
        local: Option<SocketAddr>,
    ) -> Result<(), Failure> {
        let Some(target) = tcp_target(&out.bytes) else {
            return Err(out.fail("a response too large for UDP has no usable Via"));
        };
        Counters::inc(&self.counters.large_responses_over_tcp);
        out.peer.transport = Transport::Tcp;
        match target {
            Target::Addr(addr) => {
                out.peer.addr = addr;
                self.send_stream(out.peer, out)
            }
            Target::Name(host, port) => {
                self.send_after_resolving(host, port, out, local);
                Ok(())
            }
        }
    }

    /// Refuses a response for UDP that no datagram can carry when the stack
    /// has no TCP listener to send it over instead (with one,
    /// [`Shared::response_over_tcp`] does).
    pub(crate) fn check_response_size(
        &self,
        transport: Transport,
        response: &Response,
        v6: bool,
    ) -> Result<(), StackError> {
        if transport != Transport::Udp || self.listens_on(Transport::Tcp) {
            return Ok(());
        }
        self.fits_udp("response", response.serialized_len(), v6)
    }

    /// Refuses (and counts) a message for UDP over the largest payload.
    pub(crate) fn fits_udp(
        &self,
        what: &'static str,
        len: usize,
        v6: bool,
    ) -> Result<(), StackError> {
        let Some(limit) = over_udp_limit(len, v6) else {
            return Ok(());
        };
        Counters::inc(&self.counters.too_large_for_udp);
        Err(StackError::TooLargeForUdp { what, len, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tcp_target_ignores_rport() {
        let response = Bytes::from_static(
            b"SIP/2.0 200 OK\r\n\
              Via: SIP/2.0/UDP client.example.com:5070;rport=40000;received=192.0.2.1\r\n\
              Content-Length: 0\r\n\r\n",
        );
        assert_eq!(
            tcp_target(&response),
            Some(Target::Addr("192.0.2.1:5070".parse().unwrap()))
        );
        assert_eq!(tcp_target(&Bytes::from_static(b"nonsense")), None);
    }
}
