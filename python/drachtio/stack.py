"""The SIP stack on an asyncio loop.

:class:`SipStack` runs the Rust transport (sockets, parsing, transactions,
retransmissions) on a thread of its own and delivers its events to a callback
on the loop that started it. Calls down (``respond``, ``send_request``...) are
synchronous and never wait on the network. See ``docs/bridge.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import Callable, Sequence
from typing import TypeAlias

from drachtio._core import (
    AckEvent,
    AckTimeoutEvent,
    CancelEvent,
    ClosedEvent,
    ConnectionClosedEvent,
    MalformedEvent,
    PrackTimeoutEvent,
    RequestEvent,
    ResponseEvent,
    SipMessage,
    SipRequest,
    SipResponse,
    TimeoutEvent,
    TransportErrorEvent,
    _SipStack,
)

__all__ = ["ConnectionClosedEvent", "Destination", "SipStack", "StackEvent"]

StackEvent: TypeAlias = (
    RequestEvent
    | ResponseEvent
    | AckEvent
    | CancelEvent
    | TimeoutEvent
    | AckTimeoutEvent
    | PrackTimeoutEvent
    | TransportErrorEvent
    | MalformedEvent
    | ConnectionClosedEvent
    | ClosedEvent
)
"""Everything :class:`SipStack` delivers to ``on_event``."""

Destination: TypeAlias = tuple[str, str, int]
"""``(transport, host, port)``, transport a lower-case name such as ``"udp"`` or
``"tcp"``; the host an IP address or a name the stack resolves before sending."""

# Events converted per call into Rust, and batches handled per loop
# iteration before yielding to other callbacks (the rest is taken on the
# next iteration, so a flood of events cannot starve the loop).
_BATCH = 64
_BATCHES_PER_ITERATION = 16


class SipStack:
    """A SIP stack listening on UDP, TCP and TLS, driven from one asyncio loop.

    Create it with :meth:`start` on a running loop; stop it with :meth:`close`.
    Every event is passed to ``on_event`` on the loop's thread, in the order the
    stack produced it; the last one is a :class:`~drachtio.ClosedEvent`.
    """

    def __init__(
        self,
        core: _SipStack,
        loop: asyncio.AbstractEventLoop,
        on_event: Callable[[StackEvent], object],
    ) -> None:
        """Use :meth:`start`, which binds the sockets and attaches the stack to the loop."""
        self._core = core
        self._loop = loop
        self._on_event = on_event
        self._fd = core.wakeup_fd
        self._closed: asyncio.Future[None] = loop.create_future()
        self._more_scheduled = False
        # Duplicated UDP descriptors the loop watches (receive_on_loop).
        self._udp_watched: list[int] = []

    @classmethod
    async def start(
        cls,
        listen: Sequence[str],
        on_event: Callable[[StackEvent], object],
        *,
        t1: float = 0.5,
        t2: float = 4.0,
        t4: float = 5.0,
        tcp_idle_timeout: float = 180.0,
        max_tcp_connections: int = 1024,
        max_tcp_connections_per_ip: int = 64,
        max_tcp_outbound: int = 1024,
        tcp_message_timeout: float = 20.0,
        event_queue_capacity: int = 10_000,
        udp_recv_buffer: int = 4 * 1024 * 1024,
        supported: Sequence[str] = (),
        receive_on_loop: bool = False,
        tls_certificate: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_client_ca: str | os.PathLike[str] | None = None,
        tls_system_roots: bool = False,
        capture: tuple[str, int] | None = None,
        capture_id: int = 0,
        capture_password: str | None = None,
        nameservers: Sequence[str] = (),
    ) -> SipStack:
        """Bind every listener and start the stack on the running loop.

        Args:
            listen: addresses as ``"udp:127.0.0.1:5060"``, ``"tcp:[::1]:5060"``,
                ``"tls:127.0.0.1:5061"``, ``"ws:127.0.0.1:8080"``,
                ``"wss:127.0.0.1:8443"`` (SIP over WebSocket, RFC 7118: see
                ``docs/transport.md``); port 0 picks a free port (see
                :attr:`local_addresses`).
            on_event: called on the loop's thread with each event, in order.
                An exception it raises goes to the loop's exception handler
                and the next event is still delivered.
            t1, t2, t4: the RFC 3261 timers, in seconds.
            tcp_idle_timeout: seconds after which a silent TCP connection is closed.
            max_tcp_connections: bound on inbound (accepted) TCP connections;
                at the bound a new one takes the place of one not in use
                (see ``tcp_message_timeout``), else it is refused.
            max_tcp_connections_per_ip: bound on inbound TCP connections from
                one IP address.
            max_tcp_outbound: bound on the TCP connections the stack opens to
                send, apart from the inbound ones (they cannot use it up).
            tcp_message_timeout: seconds within which an inbound TCP
                connection must deliver a complete SIP message (keep-alives do
                not count), else it is closed; a connection without a SIP
                message either way for this long is not in use.
            event_queue_capacity: events waiting for the loop; past it new
                requests are answered 503 by the stack.
            udp_recv_buffer: ``SO_RCVBUF`` asked for each UDP socket.
            supported: option tags this UA supports (others in Require get 420).
            receive_on_loop: read UDP datagrams on the loop's thread (each
                socket watched with ``loop.add_reader``) and send what calls
                down produce from it, instead of handing both to the stack's
                thread: no thread hand-off per message, so less CPU per call
                at moderate rates, but one core does all the SIP work. The
                stack's thread keeps timers, retransmissions and TCP. See
                ``docs/bridge.md``.
            tls_certificate: PEM certificate chain of the TLS and WSS
                listeners, leaf first; either needs it and ``tls_key``.
            tls_key: PEM private key of ``tls_certificate``.
            tls_ca: PEM certificates of the authorities a peer's certificate
                must chain to when the stack opens a TLS connection; without
                it the stack opens none (it still accepts them, and answers
                and sends over them).
            tls_client_ca: PEM certificates of the authorities a peer's
                client certificate must chain to: with it, TLS and WSS
                listeners require a client certificate (mutual TLS). The
                stack presents ``tls_certificate`` as its own client
                certificate when it connects.
            tls_system_roots: trust the system's certificate authorities too
                when connecting (with or without ``tls_ca``).
            capture: ``(host, port)`` of a Homer collector: a copy of every
                SIP message received and sent goes there as HEP version 3
                over UDP, never waiting (a copy the system cannot take at
                once is dropped and counted as ``capture_failed``).
            capture_id: the capture agent id each copy carries.
            capture_password: the collector's password, sent with each copy.
            nameservers: the DNS servers that resolve host names (RFC 3263:
                NAPTR, SRV, A/AAAA), each ``"IP"`` (port 53) or ``"IP:PORT"``
                (``"[IPv6]:PORT"``); empty: the system's. See
                ``docs/transport.md``.

        Raises:
            OSError: a listener could not be bound (e.g. the port is in use),
                or a TLS file could not be read or used (the message names it).
            ValueError: a malformed listen address or timer value.
        """
        loop = asyncio.get_running_loop()
        core = _SipStack(
            list(listen),
            t1=t1,
            t2=t2,
            t4=t4,
            tcp_idle_timeout=tcp_idle_timeout,
            max_tcp_connections=max_tcp_connections,
            max_tcp_connections_per_ip=max_tcp_connections_per_ip,
            max_tcp_outbound=max_tcp_outbound,
            tcp_message_timeout=tcp_message_timeout,
            event_queue_capacity=event_queue_capacity,
            udp_recv_buffer=udp_recv_buffer,
            supported=list(supported),
            receive_on_loop=receive_on_loop,
            tls_certificate=tls_certificate,
            tls_key=tls_key,
            tls_ca=tls_ca,
            tls_client_ca=tls_client_ca,
            tls_system_roots=tls_system_roots,
            capture=capture,
            capture_id=capture_id,
            capture_password=capture_password,
            nameservers=list(nameservers),
        )
        stack = cls(core, loop, on_event)
        loop.add_reader(stack._fd, stack._on_wakeup)
        if receive_on_loop:
            # Duplicates: the stack closes its sockets on its own thread,
            # and the loop must never watch a descriptor number reused since.
            for index, fd in enumerate(core._udp_fds()):
                watched = os.dup(fd)
                stack._udp_watched.append(watched)
                loop.add_reader(watched, stack._on_udp_readable, index)
            # Closed with ClosedEvent; if the stack is dropped unclosed (its
            # loop gone first), here, so that no port stays bound.
            weakref.finalize(stack, _close_all, stack._udp_watched)
        return stack

    @property
    def local_addresses(self) -> list[tuple[str, str, int]]:
        """Every listener as ``(transport, ip, port)``, with the real port for port 0."""
        return self._core.local_addresses

    def advertised(
        self, transport: str, local: tuple[str, int] | None = None, dest: str | None = None
    ) -> tuple[str, int]:
        """The ``(host, port)`` the stack names itself with toward ``dest``.

        As the Via sent-by of its requests over ``transport``: from the
        listener bound to ``local`` (else the one of that transport the
        stack sends from), its ``external`` address unless ``dest`` (an IP
        address; ``None`` or a host name: unknown) is in one of its
        ``local-net`` networks, else its bound address (for one bound to
        ``0.0.0.0``/``::``, the address of the interface toward ``dest``).
        The server builds its Contact from it. See ``docs/transport.md``, "NAT".
        """
        return self._core.advertised(transport, local, dest)

    @property
    def is_closed(self) -> bool:
        """Whether the stack has stopped (its sockets are closed)."""
        return self._core.is_closed

    def respond(self, tx_id: int, response: SipResponse) -> None:
        """Send ``response`` in server transaction ``tx_id``: provisional ones, then one final.

        Via, From, To, Call-ID and CSeq are copied from the request when the
        response has no header of that name; the To tag is the one written.

        Raises:
            UnknownTransaction: no such server transaction (it may have ended).
            TransactionFinished: a final response was already sent (or the
                request was cancelled and answered 487).
            StackClosed: the stack has stopped.
        """
        self._core.respond(tx_id, response)

    def send_request(
        self, request: SipRequest, dest: Destination | None = None, *, proxy: bool = False
    ) -> int:
        """Start a client transaction and return its id; responses come as ``ResponseEvent``.

        Without ``dest`` the next hop is the first Route or the Request-URI
        (RFC 3261 §8.1.2); the stack sets the top Via's transport and sent-by
        and adds a branch if it has none. With ``proxy`` the transaction is
        the proxy core's (RFC 6026 §7.2): every 2xx of an INVITE is reported,
        retransmissions and other forks' included, and none is acknowledged.

        Raises:
            LocalError: a mandatory header is missing or malformed, or no route.
            StackClosed: the stack is closing.
        """
        return self._core.send_request(request, dest, proxy=proxy)

    def answer_as_proxy(self, tx_id: int) -> None:
        """Server transaction ``tx_id`` is answered by the proxy core from now on.

        It retransmits no 2xx of its own (the UAS behind does) and sends every
        2xx it is given (RFC 6026 §7.1).

        Raises:
            UnknownTransaction: no such server transaction.
            TransactionFinished: it has its final response already.
        """
        self._core.answer_as_proxy(tx_id)

    def cancel(self, tx_id: int) -> int:
        """CANCEL INVITE client transaction ``tx_id`` (RFC 3261 §9.1); return the CANCEL's id.

        Raises:
            UnknownTransaction: no such client transaction.
            LocalError: it is not an INVITE without a final response, or is
                already being cancelled.
        """
        return self._core.cancel(tx_id)

    def send_ack(self, tx_id: int, ack: SipRequest, dest: Destination | None = None) -> None:
        """Send the ACK for a 2xx received in INVITE client transaction ``tx_id``.

        The stack sends it again for each retransmission of that 2xx (RFC 3261 §13.2.2.4).
        """
        self._core.send_ack(tx_id, ack, dest)

    def send_stateless(self, message: SipMessage, dest: Destination | None = None) -> None:
        """Send a request or response outside any transaction (e.g. a relayed ACK).

        Without ``dest`` a request goes to its next hop and a response to its top Via.
        """
        self._core.send_stateless(message, dest)

    def prack(self, tx_id: int, rseq: int) -> bool:
        """A PRACK acknowledged reliable provisional response ``rseq`` of INVITE
        server transaction ``tx_id`` (RFC 3262 §3): its retransmission stops.

        Returns whether it was the one awaiting a PRACK (a retransmitted or
        stray PRACK acknowledges nothing).
        """
        return self._core.prack(tx_id, rseq)

    def new_tag(self) -> str:
        """A fresh random tag for a From or To header."""
        return self._core.new_tag()

    def stats(self) -> dict[str, int]:
        """The counters of the transport and the transaction layer, by name."""
        return self._core.stats()

    def reload_tls(
        self,
        tls_certificate: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_client_ca: str | os.PathLike[str] | None = None,
        tls_system_roots: bool = False,
    ) -> None:
        """Load the TLS files again (renewed certificates) for the handshakes from now on.

        Connections already open keep their certificates. The arguments mean
        what they mean for :meth:`start`.

        Raises:
            OSError: a file could not be read or used, or a TLS or WSS
                listener would be left without a certificate; nothing changed.
        """
        self._core.reload_tls(tls_certificate, tls_key, tls_ca, tls_client_ca, tls_system_roots)

    def message_counts(self) -> dict[str, dict[str, int]]:
        """The messages the transaction layer received and sent, retransmissions included.

        ``requests_received`` and ``requests_sent`` map a method (``"other"``
        for every extension method together) to its count;
        ``responses_received`` and ``responses_sent`` map a status code, as a
        string, to its count; ``parse_errors`` maps what was wrong with a
        message that failed to parse (a :class:`~drachtio.errors.ParseError`
        kind, e.g. ``"bad_via"``) to its count. Only labels counted at least
        once appear.
        """
        return self._core.message_counts()

    async def close(self, grace: float = 5.0) -> None:
        """Stop the stack gracefully and wait until it has stopped.

        New requests are answered 503 and TCP listeners stop accepting;
        pending transactions finish or time out, for at most ``grace``
        seconds; then the sockets are closed and ``ClosedEvent`` is delivered.
        Idempotent: later calls wait for the same end.
        """
        if not self._closed.done():
            self._core.begin_close(grace)
        await asyncio.shield(self._closed)

    def _on_wakeup(self) -> None:
        self._core._clear_wakeup()
        self._drain()

    def _on_udp_readable(self, index: int) -> None:
        if self._core._receive_udp(index) is None:
            self._unwatch_udp()  # the stack has closed its sockets
        self._drain()

    def _unwatch_udp(self) -> None:
        for fd in self._udp_watched:
            self._loop.remove_reader(fd)
            os.close(fd)
        self._udp_watched.clear()

    def _drain_more(self) -> None:
        self._more_scheduled = False
        self._drain()

    def _drain(self) -> None:
        core = self._core
        for _ in range(_BATCHES_PER_ITERATION):
            batch = core._drain(_BATCH)
            for event in batch:
                self._deliver(event)
            # The wake-up fires again only after the queue was seen empty,
            # which a short batch proves.
            if len(batch) < _BATCH:
                return
        if not self._more_scheduled:
            self._more_scheduled = True
            self._loop.call_soon(self._drain_more)

    def _deliver(self, event: StackEvent) -> None:
        if isinstance(event, ClosedEvent):
            self._loop.remove_reader(self._fd)
            self._unwatch_udp()
        try:
            self._on_event(event)
        except Exception as exc:
            self._loop.call_exception_handler(
                {
                    "message": f"SipStack on_event raised on {event!r}",
                    "exception": exc,
                }
            )
        if isinstance(event, ClosedEvent) and not self._closed.done():
            self._closed.set_result(None)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()
