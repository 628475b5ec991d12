"""What the server counts, as Prometheus metrics.

:class:`ServerCollector` reads :attr:`Server.stats <drachtio.Server.stats>`
(the server's own counts and the SIP stack's counters) and the server's
application sessions each time it is scraped; nothing is counted twice and
the server is not slowed down between scrapes. Every name ``Server.stats``
may hold maps to exactly one sample below, or is listed in
:data:`NOT_EXPORTED` with the reason; ``docs/metrics.md`` explains each metric.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from drachtio.server.session import ControlSession

if TYPE_CHECKING:
    from drachtio.server.server import Server

__all__ = [
    "FAMILIES",
    "LATENCY_FAMILIES",
    "MESSAGE_FAMILIES",
    "NOT_EXPORTED",
    "Family",
    "ServerCollector",
    "new_registry",
]


@dataclass(frozen=True, slots=True)
class Family:
    """One metric, and the ``Server.stats`` names its samples come from.

    ``samples`` maps a stats name to the values of ``labels`` its sample
    carries (an empty tuple for a metric without labels).
    """

    name: str
    counter: bool
    help: str
    samples: Mapping[str, tuple[str, ...]]
    labels: tuple[str, ...] = ()


def _one(stat: str) -> dict[str, tuple[str, ...]]:
    return {stat: ()}


_TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
_STREAM_TRANSPORTS = _TRANSPORTS[1:]
_DIRECTIONS = ("inbound", "outbound")


def _by_transport(suffix: str) -> dict[str, tuple[str, ...]]:
    """``udp_received``... for ``suffix`` ``received``: the stats of each transport."""
    return {f"{t}_{suffix}": (t,) for t in _TRANSPORTS}


def _by_connection(suffix: str) -> dict[str, tuple[str, ...]]:
    """``tcp_inbound_open``... for ``suffix`` ``open``: each stream transport, each direction."""
    return {f"{t}_{d}_{suffix}": (t, d) for t in _STREAM_TRANSPORTS for d in _DIRECTIONS}


FAMILIES: tuple[Family, ...] = (
    # ---------------------------------------------------------------- transport
    Family(
        "drachtio_sip_messages_received",
        True,
        "SIP messages received by transport: UDP datagrams, messages framed from TCP and TLS "
        "connections, WebSocket messages.",
        _by_transport("received"),
        ("transport",),
    ),
    Family(
        "drachtio_sip_messages_sent",
        True,
        "SIP messages sent by transport, retransmissions included.",
        _by_transport("sent"),
        ("transport",),
    ),
    Family(
        "drachtio_sip_malformed_messages",
        True,
        "Unparsable SIP messages by what the stack did: answered 400/505/513, or dropped.",
        {"malformed_answered": ("answered",), "malformed_dropped": ("dropped",)},
        ("outcome",),
    ),
    Family(
        "drachtio_sip_udp_keepalives_received",
        True,
        "UDP datagrams holding only whitespace (keep-alives), ignored.",
        _one("keepalives_received"),
    ),
    Family(
        "drachtio_sip_tcp_pings_answered",
        True,
        "CRLFCRLF keep-alive pings answered on TCP and TLS connections (RFC 5626).",
        _one("tcp_pings_answered"),
    ),
    Family(
        "drachtio_sip_requests_rejected",
        True,
        "New SIP requests answered by the stack itself with an error, by reason.",
        {
            "rejected_overload": ("overload",),
            "rejected_closing": ("closing",),
            "rejected_missing_header": ("missing_header",),
            "rejected_unsupported_scheme": ("unsupported_scheme",),
            "rejected_bad_extension": ("bad_extension",),
            "rejected_merged": ("merged",),
        },
        ("reason",),
    ),
    Family(
        "drachtio_stack_events_dropped",
        True,
        "Stack events dropped because the queue to the server was full.",
        _one("events_dropped"),
    ),
    Family(
        "drachtio_stack_events_queued",
        False,
        "Stack events waiting for the server's loop to take them (requests, responses, notices).",
        _one("events_queued"),
    ),
    Family(
        "drachtio_sip_connections_opened",
        True,
        "Stream connections (TCP, TLS, WS, WSS) accepted from peers (inbound) or connected "
        "by the stack (outbound).",
        _by_connection("opened"),
        ("transport", "direction"),
    ),
    Family(
        "drachtio_sip_connections_closed",
        True,
        "Stream connections closed, by either side for whatever reason.",
        _by_connection("closed"),
        ("transport", "direction"),
    ),
    Family(
        "drachtio_sip_connections",
        False,
        "Stream connections open now.",
        _by_connection("open"),
        ("transport", "direction"),
    ),
    Family(
        "drachtio_sip_connections_refused",
        True,
        "Stream connections refused at a bound, by bound.",
        {
            "tcp_connections_rejected": ("max_tcp_connections",),
            "tcp_per_ip_rejected": ("max_tcp_connections_per_ip",),
            "tcp_outbound_rejected": ("max_tcp_outbound",),
        },
        ("limit",),
    ),
    Family(
        "drachtio_sip_connections_closed_by_stack",
        True,
        "Stream connections the stack closed, by reason (peers' closes are not counted).",
        {
            "tcp_evicted": ("evicted",),
            "tcp_no_message_closed": ("no_message",),
            "tcp_garbage_disconnects": ("garbage",),
            "tcp_idle_closed": ("idle",),
            "tls_handshake_failures": ("tls_handshake",),
            "ws_handshake_failures": ("ws_handshake",),
            "ws_oversized_closed": ("ws_message_too_large",),
        },
        ("reason",),
    ),
    Family(
        "drachtio_sip_capture_copies",
        True,
        "Copies of SIP messages for the HEP collector: sent, or dropped because the "
        "system could not take them at once.",
        {"capture_sent": ("sent",), "capture_failed": ("dropped",)},
        ("outcome",),
    ),
    Family(
        "drachtio_sip_send_errors",
        True,
        "SIP messages that could not be sent.",
        _one("send_errors"),
    ),
    Family(
        "drachtio_sip_sent_over_tcp_instead_of_udp",
        True,
        "SIP messages meant for UDP sent over TCP: requests over 1300 bytes, large responses.",
        {"mtu_tcp_switches": ("request",), "large_responses_over_tcp": ("response",)},
        ("message",),
    ),
    Family(
        "drachtio_sip_too_large_for_udp",
        True,
        "SIP messages larger than a datagram that could not be sent over TCP instead.",
        _one("too_large_for_udp"),
    ),
    Family(
        "drachtio_sip_dns_failovers",
        True,
        "SIP requests sent to the next DNS target after the one before failed unanswered.",
        _one("dns_failovers"),
    ),
    # ---------------------------------------------------------------- transactions
    Family(
        "drachtio_sip_retransmissions_absorbed",
        True,
        "Retransmitted SIP messages a transaction absorbed, by kind.",
        {
            "request_retransmissions_absorbed": ("request",),
            "response_retransmissions_absorbed": ("response",),
        },
        ("message",),
    ),
    Family(
        "drachtio_sip_retransmissions_sent",
        True,
        "SIP requests and responses sent again, by a timer or for a retransmission received.",
        _one("retransmissions_sent"),
    ),
    Family(
        "drachtio_sip_messages_dropped",
        True,
        "SIP messages the transaction layer dropped, by reason.",
        {
            "dropped_without_via": ("request_without_via",),
            "dropped_acks": ("ack_unmatched_or_malformed",),
            "dropped_responses": ("response_unmatched_or_malformed",),
        },
        ("reason",),
    ),
    Family(
        "drachtio_sip_acks_without_transaction",
        True,
        "ACKs passed up without a matching transaction (ACKs for 2xx).",
        _one("acks_without_transaction"),
    ),
    Family(
        "drachtio_sip_cancels",
        True,
        "CANCEL requests received, by whether they matched an INVITE (487) or not (481).",
        {"cancels_matched": ("matched",), "cancels_unmatched": ("unmatched",)},
        ("outcome",),
    ),
    Family(
        "drachtio_sip_transaction_timeouts",
        True,
        "SIP transactions ended by Timer B, F or H, or the CANCEL wait.",
        _one("timeouts"),
    ),
    Family(
        "drachtio_sip_ack_timeouts",
        True,
        "2xx responses to INVITE never acknowledged within 64*T1.",
        _one("ack_timeouts"),
    ),
    # ---------------------------------------------------------------- the server
    Family(
        "drachtio_transactions",
        False,
        "Transactions the server holds for applications now, server side or client side.",
        {"server_transactions": ("server",), "client_transactions": ("client",)},
        ("role",),
    ),
    Family("drachtio_dialogs", False, "Dialogs the server holds now.", _one("dialogs")),
    Family(
        "drachtio_control_connections",
        False,
        "Control connections open now, authenticated or not (embedded applications included).",
        _one("sessions"),
    ),
    Family(
        "drachtio_control_unauthenticated_connections",
        False,
        "Control connections open now that have not authenticated yet.",
        _one("control_unauthenticated"),
    ),
    Family(
        "drachtio_control_unauthenticated_dropped",
        True,
        "Unauthenticated control connections dropped at the max_unauthenticated bound.",
        _one("control_unauthenticated_dropped"),
    ),
    # ---------------------------------------------------------------- request handler
    Family(
        "drachtio_request_handler_lookups",
        True,
        "New requests the request handler was asked about, by outcome: answered with an "
        "action, failed (answered 500), or refused at request_handler_max_pending (503).",
        {
            "request_handler_answered": ("answered",),
            "request_handler_failed": ("failed",),
            "request_handler_busy": ("busy",),
        },
        ("outcome",),
    ),
    Family(
        "drachtio_outbound_connections",
        True,
        "Connections the server opened to listening applications, by outcome: connected "
        "and authenticated, or failed (the request answered 480).",
        {"outbound_connected": ("connected",), "outbound_failed": ("failed",)},
        ("outcome",),
    ),
    Family(
        "drachtio_outbound_connections_closed",
        True,
        "Connections the server opened to listening applications that it closed, by "
        "reason: idle (nothing in use and nothing passed for outbound_idle_timeout).",
        {"outbound_idle_closed": ("idle",)},
        ("reason",),
    ),
    Family(
        "drachtio_requests_being_routed",
        False,
        "New requests the request handler is routing now.",
        _one("requests_being_routed"),
    ),
)
"""Every metric read from ``Server.stats``."""

NOT_EXPORTED: Mapping[str, str] = {
    "connections_open": "the sum of drachtio_sip_connections over its transports and directions",
    "requests_received": "the sum of drachtio_sip_requests_received_total over its methods",
    "responses_received": "the sum of drachtio_sip_responses_received_total over its statuses",
    "parse_errors": "the sum of drachtio_sip_parse_errors_total over its kinds",
}
"""``Server.stats`` names that are not exported, with the reason."""

MESSAGE_FAMILIES: Mapping[str, tuple[str, str, str]] = {
    "requests_received": (
        "drachtio_sip_requests_received",
        "SIP requests passed to the transaction layer, retransmissions included, by method.",
        "method",
    ),
    "requests_sent": (
        "drachtio_sip_requests_sent",
        "SIP requests sent, retransmissions included, by method.",
        "method",
    ),
    "responses_received": (
        "drachtio_sip_responses_received",
        "SIP responses passed to the transaction layer, retransmissions included, by status.",
        "status",
    ),
    "responses_sent": (
        "drachtio_sip_responses_sent",
        "SIP responses sent, retransmissions included, by status.",
        "status",
    ),
    "parse_errors": (
        "drachtio_sip_parse_errors",
        "Received SIP messages that failed to parse, by what was wrong.",
        "kind",
    ),
}
"""``Server.message_counts`` keys: the metric, its help and its one label."""

LATENCY_FAMILIES: Mapping[str, tuple[str, str]] = {
    "app_response_time": (
        "drachtio_app_response_seconds",
        "Time from a request reaching the server to its application's first response.",
    ),
    "post_dial_delay": (
        "drachtio_post_dial_delay_seconds",
        "Time from an application's INVITE leaving to its first response other than 100.",
    ),
}
"""``Server.latencies`` keys: the histogram and its help."""

_APP_CONNECTIONS = "drachtio_app_connections"
_APP_PENDING = "drachtio_app_pending_requests"


class ServerCollector(Collector):
    """Reads a server's counts on each scrape (on the server's loop: nothing is locked)."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def collect(self) -> Iterator[Metric]:
        """Yield every metric of :data:`FAMILIES`, then the applications' ones."""
        stats = self._server.stats
        for family in FAMILIES:
            samples = [
                (labels, stats[name]) for name, labels in family.samples.items() if name in stats
            ]
            if not samples:
                continue  # the stack's counters before it has started
            metric: CounterMetricFamily | GaugeMetricFamily
            if family.counter:
                metric = CounterMetricFamily(family.name, family.help, labels=family.labels)
            else:
                metric = GaugeMetricFamily(family.name, family.help, labels=family.labels)
            for labels, value in samples:
                metric.add_metric(list(labels), value)
            yield metric
        yield from self._messages()
        yield from self._latencies()
        yield from self._applications()

    def _messages(self) -> Iterator[Metric]:
        counts = self._server.message_counts
        if not counts:
            return  # before the stack has started
        for key, (name, help, label) in MESSAGE_FAMILIES.items():
            metric = CounterMetricFamily(name, help, labels=(label,))
            for value, n in counts[key].items():
                metric.add_metric([value], n)
            yield metric

    def _latencies(self) -> Iterator[Metric]:
        latencies = self._server.latencies
        for key, (name, help) in LATENCY_FAMILIES.items():
            histogram = latencies[key]
            buckets = [(_le(b), n) for b, n in histogram.cumulative()]
            yield HistogramMetricFamily(name, help, buckets=buckets, sum_value=histogram.sum)

    def _applications(self) -> Iterator[Metric]:
        connections: dict[str, int] = {}
        pending: dict[str, int] = {}
        # The server's sessions as it holds them; read only.
        for session in self._server._sessions:
            if not session.authenticated:
                continue
            app = getattr(session, "app_name", None) or ""
            connections[app] = connections.get(app, 0) + 1
            if isinstance(session, ControlSession):
                pending[app] = pending.get(app, 0) + session.connection.pending_count
        yield _by_app(
            _APP_CONNECTIONS,
            "Authenticated applications connected now, by the appName they gave.",
            connections,
        )
        yield _by_app(
            _APP_PENDING,
            "Requests the server sent to remote applications that they have not answered yet.",
            pending,
        )


def _le(bound: float) -> str:
    """A bucket's ``le`` label: ``+Inf`` for the last."""
    return "+Inf" if bound == float("inf") else repr(bound)


def _by_app(name: str, help: str, counts: Mapping[str, int]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, help, labels=("app",))
    for app, count in sorted(counts.items()):
        gauge.add_metric([app], count)
    return gauge


def new_registry(server: Server) -> CollectorRegistry:
    """A registry of its own for ``server``: its metrics and the process's (CPU, memory, fds)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(server))
    ProcessCollector(registry=registry)
    return registry
