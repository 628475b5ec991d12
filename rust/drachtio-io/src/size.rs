//! Messages too large for a UDP datagram (RFC 3261 §18.1.1, §18.2.2): the
//! limits, and where a response goes over TCP instead.

use bytes::Bytes;
use drachtio_sip::transaction::{response_target, Target};
use drachtio_sip::{parse_bytes, Message};

/// Requests larger than this go over TCP when the stack has a TCP listener
/// (RFC 3261 §18.1.1, the path MTU being unknown).
pub(crate) const MTU_LIMIT: usize = 1300;

/// The largest UDP payload: 65,535 (the largest IPv4 datagram, or IPv6
/// payload) less the 8-byte UDP header and, over IPv4, the 20-byte IP
/// header. A larger datagram cannot be sent (the system answers EMSGSIZE).
pub(crate) fn max_udp_payload(v6: bool) -> usize {
    if v6 {
        65_527
    } else {
        65_507
    }
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
