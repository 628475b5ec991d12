//! Addressing behind NAT, sans-IO: a listener's public address, the local
//! networks that see its private one instead, and which of the two a
//! message toward a destination names (Via sent-by, and the Contact and
//! Record-Route the layers above build from [`crate::Stack::advertised`]).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network: an address and a prefix length (`10.0.0.0/8`,
/// `fd00::/8`); a bare address is a network of that one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` is in the network (an IPv4 address is never in an IPv6
    /// network, nor the reverse).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Network, String> {
        let bad = || format!("{s:?} is not a network (ADDRESS/PREFIX, e.g. 10.0.0.0/8)");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(Network { addr, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What a listener advertises: its public `host:port`, unless the
/// destination is in one of its local networks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Nat {
    /// `host:port`, the port filled in from the bound one when not given.
    pub(crate) external: Option<String>,
    pub(crate) local_networks: Vec<Network>,
}

impl Nat {
    /// The external address to name toward `dest`, or `None` when the
    /// listener's own address is to be named: no external address, or a
    /// destination in a local network. An unknown destination (a name not
    /// yet resolved) gets the external address.
    pub(crate) fn external_for(&self, dest: Option<IpAddr>) -> Option<&str> {
        let external = self.external.as_deref()?;
        match dest {
            Some(ip) if self.local_networks.iter().any(|n| n.contains(ip)) => None,
            _ => Some(external),
        }
    }
}

/// `host[:port]` with `port` added when it has none (`[v6]` keeps its brackets;
/// a bare IPv6 address gets them).
pub(crate) fn with_port(host_port: &str, port: u16) -> String {
    if let Some(rest) = host_port.strip_prefix('[') {
        if rest.ends_with(']') {
            return format!("{host_port}:{port}");
        }
        return host_port.to_string();
    }
    if host_port.parse::<std::net::Ipv6Addr>().is_ok() {
        return format!("[{host_port}]:{port}");
    }
    match host_port.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() => host_port.to_string(),
        _ => format!("{host_port}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses() {
        let n: Network = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.1.2.3")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(!n.contains(ip("::ffff:10.0.0.1")));
        let one: Network = "192.168.1.7".parse().unwrap();
        assert!(one.contains(ip("192.168.1.7")));
        assert!(!one.contains(ip("192.168.1.8")));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let v6: Network = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert_eq!(v6.to_string(), "fd00::/8");
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/",
            "",
        ] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_external_address_unless_the_destination_is_local() {
        let nat = Nat {
            external: Some("203.0.113.5:5060".into()),
            local_networks: vec!["10.0.0.0/8".parse().unwrap()],
        };
        assert_eq!(
            nat.external_for(Some(ip("198.51.100.1"))),
            Some("203.0.113.5:5060")
        );
        assert_eq!(nat.external_for(Some(ip("10.9.8.7"))), None);
        assert_eq!(nat.external_for(None), Some("203.0.113.5:5060"));
        assert_eq!(Nat::default().external_for(Some(ip("198.51.100.1"))), None);
    }

    #[test]
    fn a_port_is_added_when_missing() {
        assert_eq!(with_port("203.0.113.5", 5070), "203.0.113.5:5070");
        assert_eq!(with_port("203.0.113.5:5080", 5070), "203.0.113.5:5080");
        assert_eq!(with_port("sip.example.com", 5070), "sip.example.com:5070");
        assert_eq!(with_port("[2001:db8::1]", 5070), "[2001:db8::1]:5070");
        assert_eq!(with_port("2001:db8::1", 5070), "[2001:db8::1]:5070");
        assert_eq!(with_port("[2001:db8::1]:5080", 5070), "[2001:db8::1]:5080");
    }
}
