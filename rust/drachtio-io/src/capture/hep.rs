//! HEP version 3 (also called EEP), the encoding of the copies.
//!
//! A packet is the four bytes `HEP3`, its total length (16 bits, network
//! order), then chunks, each `vendor (16) | type (16) | length (16)`
//! (the length counts the 6 bytes of the chunk header) and a value. The
//! chunks written here are the generic ones (vendor 0): IP family (1),
//! IP protocol (2), IPv4 or IPv6 source (3, 5) and destination (4, 6),
//! source port (7), destination port (8), seconds (9) and microseconds
//! (10) of the time, protocol type (11, 1 = SIP), capture agent id (12),
//! authentication key (14) and the message itself (15).

use drachtio_sip::transaction::Transport;
use std::net::{IpAddr, SocketAddr};

/// One message to copy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Packet<'a> {
    pub(crate) transport: Transport,
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    /// Seconds and microseconds since the Unix epoch.
    pub(crate) time: (u32, u32),
    pub(crate) agent_id: u32,
    pub(crate) password: Option<&'a str>,
    pub(crate) payload: &'a [u8],
}

const IP_FAMILY_V4: u8 = 2;
const IP_FAMILY_V6: u8 = 10;
const IP_PROTO_TCP: u8 = 6;
const IP_PROTO_UDP: u8 = 17;
const PROTO_SIP: u8 = 1;

/// The largest packet a UDP datagram carries; a longer message is cut to fit.
const MAX_PACKET: usize = 65_507;

fn chunk(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&((value.len() + 6) as u16).to_be_bytes());
    out.extend_from_slice(value);
}

/// Both addresses in one family: IPv6 (an IPv4 one mapped) when either is.
fn same_family(src: IpAddr, dst: IpAddr) -> (IpAddr, IpAddr) {
    let v6 = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        v6 => v6,
    };
    if src.is_ipv6() || dst.is_ipv6() {
        (v6(src), v6(dst))
    } else {
        (src, dst)
    }
}

/// Appends the HEP3 packet of `p` to `out`; a payload too long for one
/// datagram is cut.
pub(crate) fn encode_into(out: &mut Vec<u8>, p: &Packet<'_>) {
    let start = out.len();
    out.extend_from_slice(b"HEP3\0\0");
    let (src, dst) = same_family(p.src.ip(), p.dst.ip());
    let ip_proto = if p.transport.is_reliable() {
        IP_PROTO_TCP
    } else {
        IP_PROTO_UDP
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            chunk(out, 1, &[IP_FAMILY_V4]);
            chunk(out, 2, &[ip_proto]);
            chunk(out, 3, &s.octets());
            chunk(out, 4, &d.octets());
        }
        (s, d) => {
            let octets = |ip: IpAddr| match ip {
                IpAddr::V6(v6) => v6.octets(),
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            };
            chunk(out, 1, &[IP_FAMILY_V6]);
            chunk(out, 2, &[ip_proto]);
            chunk(out, 5, &octets(s));
            chunk(out, 6, &octets(d));
        }
    }
    chunk(out, 7, &p.src.port().to_be_bytes());
    chunk(out, 8, &p.dst.port().to_be_bytes());
    chunk(out, 9, &p.time.0.to_be_bytes());
    chunk(out, 10, &p.time.1.to_be_bytes());
    chunk(out, 11, &[PROTO_SIP]);
    chunk(out, 12, &p.agent_id.to_be_bytes());
    if let Some(password) = p.password {
        chunk(out, 14, password.as_bytes());
    }
    let room = MAX_PACKET - (out.len() - start) - 6;
    chunk(out, 15, &p.payload[..p.payload.len().min(room)]);
    let total = (out.len() - start) as u16;
    out[start + 4..start + 6].copy_from_slice(&total.to_be_bytes());
}

/// For tests: the chunks of a packet, (type, value), each checked for
/// vendor 0 and the packet for its total length.
#[cfg(test)]
pub(crate) fn chunks(packet: &[u8]) -> Vec<(u16, Vec<u8>)> {
    assert_eq!(&packet[..4], b"HEP3");
    assert_eq!(
        usize::from(u16::from_be_bytes([packet[4], packet[5]])),
        packet.len()
    );
    let mut rest = &packet[6..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        assert_eq!(&rest[..2], &[0, 0], "vendor 0");
        let kind = u16::from_be_bytes([rest[2], rest[3]]);
        let len = usize::from(u16::from_be_bytes([rest[4], rest[5]]));
        out.push((kind, rest[6..len].to_vec()));
        rest = &rest[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(p: &Packet<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(&mut out, p);
        out
    }

    fn packet(src: &str, dst: &str, transport: Transport, payload: &[u8]) -> Vec<u8> {
        encode(&Packet {
            transport,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            time: (1_700_000_000, 123_456),
            agent_id: 2002,
            password: None,
            payload,
        })
    }

    #[test]
    fn an_ipv4_udp_message_has_every_chunk_in_network_order() {
        let got = chunks(&packet(
            "192.0.2.1:5060",
            "198.51.100.2:5070",
            Transport::Udp,
            b"OPTIONS sip:a SIP/2.0\r\n\r\n",
        ));
        let want: Vec<(u16, Vec<u8>)> = vec![
            (1, vec![2]),
            (2, vec![17]),
            (3, vec![192, 0, 2, 1]),
            (4, vec![198, 51, 100, 2]),
            (7, 5060u16.to_be_bytes().to_vec()),
            (8, 5070u16.to_be_bytes().to_vec()),
            (9, 1_700_000_000u32.to_be_bytes().to_vec()),
            (10, 123_456u32.to_be_bytes().to_vec()),
            (11, vec![1]),
            (12, 2002u32.to_be_bytes().to_vec()),
            (15, b"OPTIONS sip:a SIP/2.0\r\n\r\n".to_vec()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn stream_transports_are_tcp_and_a_mixed_pair_is_ipv6() {
        for transport in [
            Transport::Tcp,
            Transport::Tls,
            Transport::Ws,
            Transport::Wss,
        ] {
            let got = chunks(&packet(
                "[2001:db8::1]:5061",
                "127.0.0.1:5062",
                transport,
                b"x",
            ));
            assert_eq!(got[0], (1, vec![10]));
            assert_eq!(got[1], (2, vec![6]));
            assert_eq!(got[2].0, 5);
            assert_eq!(
                got[3],
                (
                    6,
                    "::ffff:127.0.0.1"
                        .parse::<std::net::Ipv6Addr>()
                        .unwrap()
                        .octets()
                        .to_vec()
                )
            );
        }
    }

    #[test]
    fn the_password_is_its_own_chunk() {
        let p = encode(&Packet {
            transport: Transport::Udp,
            src: "127.0.0.1:1".parse().unwrap(),
            dst: "127.0.0.1:2".parse().unwrap(),
            time: (0, 0),
            agent_id: 1,
            password: Some("homer"),
            payload: b"x",
        });
        assert!(chunks(&p).contains(&(14, b"homer".to_vec())));
    }

    #[test]
    fn a_message_too_long_for_a_datagram_is_cut_to_fit() {
        let big = vec![b'a'; 70_000];
        let p = packet("127.0.0.1:1", "127.0.0.1:2", Transport::Tcp, &big);
        assert_eq!(p.len(), MAX_PACKET);
        let (kind, value) = chunks(&p).pop().unwrap();
        assert_eq!(kind, 15);
        assert!(value.iter().all(|&b| b == b'a'));
    }

    #[test]
    fn packets_appended_to_one_buffer_each_carry_their_own_length() {
        let mut out = Vec::new();
        let first = Packet {
            transport: Transport::Udp,
            src: "127.0.0.1:1".parse().unwrap(),
            dst: "127.0.0.1:2".parse().unwrap(),
            time: (0, 0),
            agent_id: 1,
            password: None,
            payload: b"first",
        };
        encode_into(&mut out, &first);
        let split = out.len();
        encode_into(
            &mut out,
            &Packet {
                payload: b"second",
                ..first
            },
        );
        assert_eq!(chunks(&out[..split]).pop().unwrap().1, b"first");
        assert_eq!(chunks(&out[split..]).pop().unwrap().1, b"second");
    }
}
