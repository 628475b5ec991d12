//! Locating a SIP server (RFC 3263 §4), sans-IO: what to look up for a
//! host name, and the ordered targets that the answers give. `dns.rs` asks
//! the questions; everything that decides is here, and tested alone.

use drachtio_sip::transaction::Transport;

/// A destination named by a host name, with what its URI pins down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Query {
    /// The host (or `maddr`) to resolve; never an IP address.
    pub(crate) host: String,
    /// A `sips:` URI: only TLS (`_sips._tcp`).
    pub(crate) secure: bool,
    /// The transport the URI names (its `transport` parameter, mapped by
    /// `Transport::of_uri`), if it names one.
    pub(crate) transport: Option<Transport>,
    /// The URI's explicit port, if it has one.
    pub(crate) port: Option<u16>,
}

impl Query {
    /// A destination given as transport, host and port: only A/AAAA.
    pub(crate) fn pinned(host: String, transport: Transport, port: u16) -> Query {
        Query {
            host,
            secure: transport.is_secure(),
            transport: Some(transport),
            port: Some(port),
        }
    }

    /// The transport when DNS chooses none (§4.1): the named one, else UDP
    /// for `sip:` and TLS for `sips:`.
    pub(crate) fn default_transport(&self) -> Transport {
        self.transport.unwrap_or(if self.secure {
            Transport::Tls
        } else {
            Transport::Udp
        })
    }
}

/// The first question for a [`Query`] (§4.1, §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum First {
    /// An explicit port: A/AAAA of the host at that port, on this transport.
    Address(Transport, u16),
    /// A transport but no port: SRV of these services.
    Srv(Vec<Service>),
    /// Neither: NAPTR of the host.
    Naptr,
}

/// An SRV service name and the transport it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Service {
    pub(crate) transport: Transport,
    pub(crate) name: String,
}

/// One NAPTR answer, as far as SIP reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Naptr {
    pub(crate) order: u16,
    pub(crate) preference: u16,
    pub(crate) flags: String,
    pub(crate) service: String,
    pub(crate) replacement: String,
}

/// One SRV answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Srv {
    pub(crate) priority: u16,
    pub(crate) weight: u16,
    pub(crate) port: u16,
    pub(crate) target: String,
}

/// The SRV service name of `transport` for `host` (§4.2): `_sip._udp`,
/// `_sip._tcp`, `_sips._tcp` (TLS); `None` for WebSocket, which the stack
/// never opens.
fn srv_name(transport: Transport, host: &str) -> Option<String> {
    let label = match transport {
        Transport::Udp => "_sip._udp",
        Transport::Tcp => "_sip._tcp",
        Transport::Tls => "_sips._tcp",
        Transport::Ws | Transport::Wss => return None,
    };
    Some(format!("{label}.{}", host.trim_end_matches('.')))
}

/// The first question for `q` (§4.1: numeric hosts never get here).
pub(crate) fn first(q: &Query) -> First {
    if let Some(port) = q.port {
        return First::Address(q.default_transport(), port);
    }
    match q.transport {
        Some(t) => First::Srv(
            srv_name(t, &q.host)
                .map(|name| Service { transport: t, name })
                .into_iter()
                .collect(),
        ),
        None => First::Naptr,
    }
}

/// The transport a NAPTR service field names (RFC 3263 §4.1, RFC 7118 §6
/// for `D2W`), or `None` for one SIP does not use here (SCTP...).
fn naptr_transport(service: &str) -> Option<Transport> {
    match service.to_ascii_uppercase().as_str() {
        "SIP+D2U" => Some(Transport::Udp),
        "SIP+D2T" => Some(Transport::Tcp),
        "SIPS+D2T" => Some(Transport::Tls),
        _ => None,
    }
}

/// The SRV services the NAPTR answers point to, most preferred first
/// (§4.1): only `s`-flagged records of a transport in `supported`, only
/// `SIPS+` ones for a `sips:` URI; by order, then preference.
pub(crate) fn naptr_services(
    q: &Query,
    answers: &[Naptr],
    supported: &[Transport],
) -> Vec<Service> {
    let mut usable: Vec<&Naptr> = answers
        .iter()
        .filter(|n| n.flags.eq_ignore_ascii_case("s"))
        .filter(|n| {
            naptr_transport(&n.service)
                .is_some_and(|t| supported.contains(&t) && (!q.secure || t.is_secure()))
        })
        .collect();
    usable.sort_by_key(|n| (n.order, n.preference));
    usable
        .into_iter()
        .filter_map(|n| {
            Some(Service {
                transport: naptr_transport(&n.service)?,
                name: n.replacement.trim_end_matches('.').to_string(),
            })
        })
        .collect()
}

/// Without NAPTR answers (§4.1): an SRV query for each transport the
/// stack supports, in its order of preference (UDP, TCP, TLS; only TLS
/// for `sips:`).
pub(crate) fn fallback_services(q: &Query, supported: &[Transport]) -> Vec<Service> {
    [Transport::Udp, Transport::Tcp, Transport::Tls]
        .into_iter()
        .filter(|t| supported.contains(t) && (!q.secure || t.is_secure()))
        .filter_map(|t| srv_name(t, &q.host).map(|name| Service { transport: t, name }))
        .collect()
}

/// SRV answers in the order to try them (RFC 2782): by priority, lowest
/// first; within a priority, a weighted random order, `pick(total)`
/// giving a number in `0..=total`. A lone `.` target means the service is
/// not offered: no answers at all.
pub(crate) fn order_srv(mut answers: Vec<Srv>, mut pick: impl FnMut(u32) -> u32) -> Vec<Srv> {
    if answers.len() == 1 && answers[0].target.trim_end_matches('.').is_empty() {
        return Vec::new();
    }
    answers.sort_by_key(|s| (s.priority, s.weight));
    let mut ordered = Vec::with_capacity(answers.len());
    while !answers.is_empty() {
        let priority = answers[0].priority;
        let end = answers
            .iter()
            .position(|s| s.priority != priority)
            .unwrap_or(answers.len());
        let mut group: Vec<Srv> = answers.drain(..end).collect();
        // Zero weights first, as RFC 2782 says, so that they get a small
        // chance when others have weight.
        group.sort_by_key(|s| s.weight);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|s| u32::from(s.weight)).sum();
            let chosen = pick(total).min(total);
            let mut running = 0;
            let index = group
                .iter()
                .position(|s| {
                    running += u32::from(s.weight);
                    running >= chosen
                })
                .unwrap_or(0);
            ordered.push(group.remove(index));
        }
    }
    ordered
        .into_iter()
        .filter(|s| !s.target.trim_end_matches('.').is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(host: &str, secure: bool, transport: Option<Transport>, port: Option<u16>) -> Query {
        Query {
            host: host.into(),
            secure,
            transport,
            port,
        }
    }

    fn naptr(order: u16, pref: u16, flags: &str, service: &str, repl: &str) -> Naptr {
        Naptr {
            order,
            preference: pref,
            flags: flags.into(),
            service: service.into(),
            replacement: repl.into(),
        }
    }

    fn srv(priority: u16, weight: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port: 5060,
            target: target.into(),
        }
    }

    const ALL: [Transport; 3] = [Transport::Udp, Transport::Tcp, Transport::Tls];

    #[test]
    fn explicit_port_or_transport_skips_lookups() {
        assert_eq!(
            first(&q("example.com", false, None, Some(5070))),
            First::Address(Transport::Udp, 5070)
        );
        assert_eq!(
            first(&q("example.com", true, None, Some(5071))),
            First::Address(Transport::Tls, 5071)
        );
        assert_eq!(
            first(&q("example.com", false, Some(Transport::Tcp), None)),
            First::Srv(vec![Service {
                transport: Transport::Tcp,
                name: "_sip._tcp.example.com".into()
            }])
        );
        assert_eq!(
            first(&q("example.com.", true, Some(Transport::Tls), None)),
            First::Srv(vec![Service {
                transport: Transport::Tls,
                name: "_sips._tcp.example.com".into()
            }])
        );
        assert_eq!(first(&q("example.com", false, None, None)), First::Naptr);
        assert_eq!(
            first(&q("example.com", false, Some(Transport::Ws), None)),
            First::Srv(vec![])
        );
    }

    #[test]
    fn naptr_by_order_then_preference_of_supported_transports() {
        let answers = [
            naptr(20, 10, "s", "SIP+D2U", "_sip._udp.example.com."),
            naptr(10, 20, "S", "SIP+D2T", "_sip._tcp.example.com."),
            naptr(10, 10, "s", "SIPS+D2T", "_sips._tcp.example.com."),
            naptr(5, 10, "s", "SIP+D2S", "_sip._sctp.example.com."),
            naptr(1, 1, "a", "SIP+D2U", "example.com."),
        ];
        let names = |v: Vec<Service>| v.into_iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(
            names(naptr_services(
                &q("example.com", false, None, None),
                &answers,
                &ALL
            )),
            [
                "_sips._tcp.example.com",
                "_sip._tcp.example.com",
                "_sip._udp.example.com"
            ]
        );
        // A stack without TLS skips the TLS record.
        assert_eq!(
            names(naptr_services(
                &q("example.com", false, None, None),
                &answers,
                &[Transport::Udp, Transport::Tcp]
            )),
            ["_sip._tcp.example.com", "_sip._udp.example.com"]
        );
        // sips: only the secure service.
        assert_eq!(
            names(naptr_services(
                &q("example.com", true, None, None),
                &answers,
                &ALL
            )),
            ["_sips._tcp.example.com"]
        );
    }

    #[test]
    fn without_naptr_each_supported_transport_is_asked() {
        let t = |v: Vec<Service>| v.into_iter().map(|s| s.transport).collect::<Vec<_>>();
        assert_eq!(t(fallback_services(&q("h", false, None, None), &ALL)), ALL);
        assert_eq!(
            t(fallback_services(
                &q("h", false, None, None),
                &[Transport::Tcp]
            )),
            [Transport::Tcp]
        );
        assert_eq!(
            t(fallback_services(&q("h", true, None, None), &ALL)),
            [Transport::Tls]
        );
        assert_eq!(q("h", true, None, None).default_transport(), Transport::Tls);
    }

    #[test]
    fn srv_by_priority_then_weight() {
        let answers = vec![
            srv(20, 0, "c."),
            srv(10, 60, "a."),
            srv(10, 40, "b."),
            srv(30, 0, "d."),
        ];
        let order = |answers: Vec<Srv>, picks: &[u32]| {
            let mut picks = picks.iter().copied();
            order_srv(answers, |_| picks.next().unwrap_or(0))
                .into_iter()
                .map(|s| s.target)
                .collect::<Vec<_>>()
        };
        // Running sums in the group of priority 10: b (40), a (100).
        assert_eq!(
            order(answers.clone(), &[100, 0, 0, 0]),
            ["a.", "b.", "c.", "d."]
        );
        assert_eq!(
            order(answers.clone(), &[40, 0, 0, 0]),
            ["b.", "a.", "c.", "d."]
        );
        assert_eq!(
            order(answers.clone(), &[41, 0, 0, 0]),
            ["a.", "b.", "c.", "d."]
        );
        // Weight 0 beside weighted ones: chosen only by a pick of 0.
        let zero = vec![srv(1, 0, "z."), srv(1, 10, "w.")];
        assert_eq!(order(zero.clone(), &[0, 0]), ["z.", "w."]);
        assert_eq!(order(zero, &[5, 0]), ["w.", "z."]);
        // "." alone: the service is not offered.
        assert!(order(vec![srv(0, 0, ".")], &[]).is_empty());
    }

    #[test]
    fn every_weight_is_drawn_in_proportion() {
        // With every pick in 0..=total, the first choice of a (weight 3)
        // over b (weight 1) happens for picks 2..=4 of 0..=4.
        let answers = vec![srv(1, 1, "b."), srv(1, 3, "a.")];
        let mut firsts = Vec::new();
        for p in 0..=4 {
            let first = order_srv(answers.clone(), |_| p).remove(0).target;
            firsts.push(first);
        }
        assert_eq!(firsts, ["b.", "b.", "a.", "a.", "a."]);
    }
}
