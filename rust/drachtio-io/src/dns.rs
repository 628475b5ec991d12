//! The DNS side of RFC 3263: NAPTR, SRV and A/AAAA questions asked with
//! hickory-resolver, whose cache keeps each answer for its TTL. What to ask
//! and in which order the answers are tried is decided in `rfc3263.rs`.

use crate::rfc3263::{self, First, Naptr, Query, Srv};
use drachtio_sip::transaction::{Peer, Transport};
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, NameServerConfigGroup, ResolverConfig,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};

/// Answers kept in the resolver's cache (each for its TTL).
const CACHE_SIZE: usize = 4096;

/// A resolver: the system's name servers, or those configured.
pub(crate) struct Dns {
    resolver: TokioResolver,
}

impl Dns {
    /// Asks `nameservers` (over UDP, and TCP for truncated answers), or the
    /// system's (`/etc/resolv.conf`) when empty. The hosts file is read
    /// either way. Must be called inside the stack's runtime.
    pub(crate) fn new(nameservers: &[SocketAddr]) -> Dns {
        let provider = TokioConnectionProvider::default;
        let mut builder = if nameservers.is_empty() {
            TokioResolver::builder_tokio().unwrap_or_else(|_| {
                // No readable system configuration: the hosts file only.
                TokioResolver::builder_with_config(ResolverConfig::new(), provider())
            })
        } else {
            let servers: Vec<NameServerConfig> = nameservers
                .iter()
                .flat_map(|a| {
                    [
                        NameServerConfig::new(*a, Protocol::Udp),
                        NameServerConfig::new(*a, Protocol::Tcp),
                    ]
                })
                .collect();
            let group = NameServerConfigGroup::from(servers);
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), group),
                provider(),
            )
        };
        let options = builder.options_mut();
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        options.cache_size = CACHE_SIZE;
        Dns {
            resolver: builder.build(),
        }
    }

    /// The targets of `q` in the order to try them (RFC 3263 §4): over a
    /// transport of `supported`, to addresses `usable` accepts.
    pub(crate) async fn targets(
        &self,
        q: &Query,
        supported: &[Transport],
        usable: impl Fn(Peer) -> bool,
    ) -> Result<Vec<Peer>, String> {
        let services = match rfc3263::first(q) {
            First::Address(transport, port) => {
                return self
                    .address_targets(&q.host, transport, port, &usable)
                    .await;
            }
            First::Srv(services) => services,
            First::Naptr => {
                let answers = self.naptr(&q.host).await;
                let services = rfc3263::naptr_services(q, &answers, supported);
                if services.is_empty() {
                    rfc3263::fallback_services(q, supported)
                } else {
                    services
                }
            }
        };
        // §4.2: the first service whose SRV answers lead to an address.
        for service in services {
            let answers = self.srv(&service.name).await;
            let mut found = Vec::new();
            for srv in rfc3263::order_srv(answers, random_pick()) {
                for ip in self.ips(&srv.target).await.unwrap_or_default() {
                    let peer = Peer {
                        transport: service.transport,
                        addr: SocketAddr::new(ip, srv.port),
                    };
                    if usable(peer) && !found.contains(&peer) {
                        found.push(peer);
                    }
                }
            }
            if !found.is_empty() {
                return Ok(found);
            }
        }
        // §4.2: no SRV either: A/AAAA at the transport's default port.
        let transport = q.default_transport();
        self.address_targets(&q.host, transport, transport.default_port(), &usable)
            .await
    }

    async fn address_targets(
        &self,
        host: &str,
        transport: Transport,
        port: u16,
        usable: &impl Fn(Peer) -> bool,
    ) -> Result<Vec<Peer>, String> {
        let ips = self
            .ips(host)
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        let peers: Vec<Peer> = ips
            .into_iter()
            .map(|ip| Peer {
                transport,
                addr: SocketAddr::new(ip, port),
            })
            .filter(|p| usable(*p))
            .collect();
        if peers.is_empty() {
            return Err(format!("no usable address for {host}"));
        }
        Ok(peers)
    }

    /// The addresses of `host` (A and AAAA).
    pub(crate) async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        Ok(self.resolver.lookup_ip(fqdn(host)).await?.iter().collect())
    }

    /// The NAPTR answers for `host`; none when there are none or the
    /// question fails (then SRV is asked, §4.1).
    async fn naptr(&self, host: &str) -> Vec<Naptr> {
        let Ok(lookup) = self.resolver.lookup(fqdn(host), RecordType::NAPTR).await else {
            return Vec::new();
        };
        lookup
            .iter()
            .filter_map(|r| match r {
                RData::NAPTR(n) => Some(Naptr {
                    order: n.order(),
                    preference: n.preference(),
                    flags: String::from_utf8_lossy(n.flags()).into_owned(),
                    service: String::from_utf8_lossy(n.services()).into_owned(),
                    replacement: n.replacement().to_ascii(),
                }),
                _ => None,
            })
            .collect()
    }

    /// The SRV answers for `name`; none when there are none or the question fails.
    async fn srv(&self, name: &str) -> Vec<Srv> {
        let Ok(lookup) = self.resolver.srv_lookup(fqdn(name)).await else {
            return Vec::new();
        };
        lookup
            .iter()
            .map(|s| Srv {
                priority: s.priority(),
                weight: s.weight(),
                port: s.port(),
                target: s.target().to_ascii(),
            })
            .collect()
    }
}

/// `host` as a fully qualified name: the names of SIP URIs are never
/// relative (no search domains are tried).
fn fqdn(host: &str) -> String {
    if host.ends_with('.') {
        host.to_string()
    } else {
        format!("{host}.")
    }
}

/// A uniform pick in `0..=total` for RFC 2782's weighted order.
fn random_pick() -> impl FnMut(u32) -> u32 {
    let mut state = RandomState::new().build_hasher().finish();
    move |total| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) % (u64::from(total) + 1)) as u32
    }
}
