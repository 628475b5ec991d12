"""A scripted SIP phone on :class:`~drachtio.SipStack`: the far end of an application's calls.

:class:`SipPhone` listens on a loopback port and does real SIP (UDP or TCP)
with a server: it places calls (:meth:`SipPhone.invite`, an
:class:`OutgoingCall`), receives them (:meth:`SipPhone.expect_invite`, an
:class:`IncomingCall`), and sends and answers requests in them. Every wait
has a timeout, so an application that never answers fails the test instead
of hanging it.

This module holds the phone: its address, the requests it sends and the
events of its stack, handed to the call or request they belong to. The
calls are in :mod:`drachtio.testing.calls`, the requests it received in
:mod:`drachtio.testing.incoming`, what it waits for in
:mod:`drachtio.testing.inbox` and the building of its messages in
:mod:`drachtio.testing.messages`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from drachtio._core import (
    AckEvent,
    AckTimeoutEvent,
    CancelEvent,
    ClosedEvent,
    RequestEvent,
    ResponseEvent,
    SipRequest,
    SipResponse,
    TimeoutEvent,
    TransportErrorEvent,
)
from drachtio.errors import LocalError
from drachtio.protocol import method_named
from drachtio.stack import Destination, SipStack, StackEvent
from drachtio.testing.calls import Call, IncomingCall, OutgoingCall
from drachtio.testing.inbox import ClientTx, Inbox, final_response
from drachtio.testing.incoming import IncomingRequest
from drachtio.testing.messages import (
    CONTACT_NAMES,
    TO_NAMES,
    Headers,
    encode_body,
    has_header,
    header_list,
    own_contact,
)

if TYPE_CHECKING:
    from drachtio.server import Server

__all__ = ["PhoneFactory", "SipPhone"]


class SipPhone:
    """A SIP user agent on its own :class:`~drachtio.SipStack`, listening on loopback.

    Start one with :meth:`start` and stop it with :meth:`close` (the
    ``sip_phone`` fixtures do both). It places calls to a server
    (:meth:`invite`), receives the calls and requests a server sends to
    :attr:`uri` (:meth:`expect_invite`, :meth:`expect_request`), and sends
    requests outside a dialog (:meth:`request`). Requests nobody expects wait
    in a queue, unanswered, except BYE, which the phone answers 200 at once.
    """

    def __init__(self, *, user: str, timeout: float) -> None:
        """Use :meth:`start`."""
        self.user = user
        """The user part of the phone's address (From, Contact)."""
        self.timeout = timeout
        """The default of every wait's ``timeout``, in seconds."""
        self._stack: SipStack | None = None
        self._client: dict[int, ClientTx] = {}
        self._invites_in: dict[int, IncomingCall] = {}
        self._reinvites_in: dict[int, IncomingRequest] = {}
        self._dialogs: dict[tuple[str, str], Call] = {}
        self._invites: Inbox[IncomingCall] = Inbox()
        self._requests: Inbox[IncomingRequest] = Inbox()

    @classmethod
    async def start(
        cls,
        transport: str = "udp",
        *,
        user: str = "phone",
        host: str = "127.0.0.1",
        port: int = 0,
        t1: float = 0.05,
        timeout: float = 5.0,
    ) -> SipPhone:
        """Listen on ``transport:host:port`` (port 0: a free one) and return the phone.

        ``t1`` is the RFC 3261 timer (retransmissions, transaction timeouts);
        ``timeout`` the default limit of every wait, in seconds.

        Raises:
            OSError: the address could not be bound.
        """
        if transport not in ("udp", "tcp"):
            raise LocalError(f"transport is udp or tcp, not {transport!r}")
        listen = f"{transport}:[{host}]:{port}" if ":" in host else f"{transport}:{host}:{port}"
        phone = cls(user=user, timeout=timeout)
        phone._stack = await SipStack.start([listen], phone._on_event, t1=t1)
        return phone

    # ------------------------------------------------------------ where it is

    @property
    def address(self) -> Destination:
        """``(transport, ip, port)``: where the phone listens."""
        transport, ip, port = self._stack_or_fail().local_addresses[0]
        return transport, ip, port

    @property
    def transport(self) -> str:
        """``"udp"`` or ``"tcp"``."""
        return self.address[0]

    @property
    def uri(self) -> str:
        """The phone's contact URI, for an application to call: ``sip:phone@127.0.0.1:5062``
        (with ``;transport=tcp`` over TCP)."""
        return self.uri_of(self.user)

    def uri_of(self, user: str) -> str:
        """A URI of another ``user`` at this phone (a second line): calls to it arrive here too."""
        transport, ip, port = self.address
        host = f"[{ip}]" if ":" in ip else ip
        suffix = ";transport=tcp" if transport == "tcp" else ""
        return f"sip:{user}@{host}:{port}{suffix}"

    @property
    def contact(self) -> str:
        """The Contact header value the phone sends."""
        return f"<{self.uri}>"

    def _from_uri(self) -> str:
        _, ip, _ = self.address
        return f"sip:{self.user}@{f'[{ip}]' if ':' in ip else ip}"

    def _dest(self, target: Server | tuple[str, int]) -> Destination:
        transport = self.transport
        if isinstance(target, tuple):
            return transport, target[0], target[1]
        for t, ip, port in target.sip_addresses:
            if t == transport:
                return t, ip, port
        raise LocalError(f"the server has no {transport} listener: {target.sip_addresses}")

    def _stack_or_fail(self) -> SipStack:
        if self._stack is None:
            raise LocalError("the phone is not started")
        return self._stack

    # ------------------------------------------------------------ calls and requests out

    async def invite(
        self,
        target: Server | tuple[str, int],
        uri: str,
        *,
        sdp: str | None = None,
        headers: Headers | None = None,
    ) -> OutgoingCall:
        """Call ``uri`` through ``target``: send an INVITE (offering ``sdp``) and return the call.

        It returns as soon as the INVITE is sent; follow it with
        :meth:`OutgoingCall.final` (and :meth:`OutgoingCall.ack` after a 2xx),
        :meth:`OutgoingCall.provisional` or :meth:`OutgoingCall.cancel`.
        ``headers`` are added to the INVITE (not From, To, Call-ID, CSeq,
        Via, which the phone writes; a Contact replaces the phone's).
        """
        stack = self._stack_or_fail()
        call = OutgoingCall(self, stack.new_tag(), uri)
        extra = header_list(headers)
        body = encode_body(extra, sdp, None)
        call.local_sdp = sdp
        invite = SipRequest(
            "INVITE",
            uri,
            headers=[*call._identity(1, "INVITE"), *own_contact(self, extra), *extra],
            body=body,
        )
        call.invite = invite
        self._dialogs[(call.call_id, call.local_tag)] = call
        tx = ClientTx(invite, call._on_response)
        call._tx_id = self._send(tx, self._dest(target))
        call._tx = tx
        return call

    async def request(
        self,
        target: Server | tuple[str, int],
        method: str,
        uri: str,
        *,
        headers: Headers | None = None,
        body: str | bytes | None = None,
        timeout: float | None = None,
    ) -> SipResponse:
        """Send ``method`` outside any dialog (OPTIONS, REGISTER, MESSAGE...); its final response.

        ``headers`` are added; a To (a REGISTER's address of record) or a
        Contact given there replaces the phone's (``<uri>``, :attr:`contact`).

        Raises:
            TimeoutError: no final response in time.
            ConnectionError: the request could not be sent.
        """
        method = method_named(method)
        if method in ("INVITE", "ACK", "CANCEL", "BYE"):
            raise LocalError(f"{method} is not sent with request(): use invite() and its call")
        stack = self._stack_or_fail()
        extra = header_list(headers, CONTACT_NAMES | TO_NAMES)
        raw = encode_body(extra, None, body)
        to = [] if has_header(extra, TO_NAMES) else [("To", f"<{uri}>")]
        request = SipRequest(
            method,
            uri,
            headers=[
                ("From", f"<{self._from_uri()}>;tag={stack.new_tag()}"),
                *to,
                ("Call-ID", f"{uuid.uuid4().hex}@{self.address[1]}"),
                ("CSeq", f"1 {method}"),
                *own_contact(self, extra),
                *extra,
            ],
            body=raw,
        )
        tx = ClientTx(request, None)
        self._send(tx, self._dest(target))
        return await final_response(tx, self._limit(timeout))

    def _send(self, tx: ClientTx, dest: Destination | None) -> int:
        tx_id = self._stack_or_fail().send_request(tx.request, dest)
        self._client[tx_id] = tx
        return tx_id

    def _limit(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    # ------------------------------------------------------------ calls and requests in

    async def expect_invite(self, *, timeout: float | None = None) -> IncomingCall:
        """The next new call to this phone (an INVITE outside any dialog).

        Raises:
            TimeoutError: none came in time.
        """
        limit = self._limit(timeout)
        return await self._invites.take(lambda _: True, limit, f"{self.uri}: no INVITE came")

    async def expect_request(self, method: str, *, timeout: float | None = None) -> IncomingRequest:
        """The next request of ``method`` outside any dialog (OPTIONS, MESSAGE, NOTIFY...),
        for the test to answer with :meth:`IncomingRequest.respond`.

        Raises:
            TimeoutError: none came in time.
        """
        method = method_named(method)
        return await self._requests.take(
            lambda r: r.request.method == method,
            self._limit(timeout),
            f"{self.uri}: no {method} came",
        )

    # ------------------------------------------------------------ the stack's events

    def _on_event(self, event: StackEvent) -> None:
        if isinstance(event, ResponseEvent):
            self._on_response(event)
        elif isinstance(event, RequestEvent):
            self._on_request(event)
        elif isinstance(event, AckEvent):
            self._on_ack(event)
        elif isinstance(event, CancelEvent):
            incoming = self._invites_in.pop(event.tx_id, None)
            if incoming is not None:
                incoming._cancelled.put(event.request)
        elif isinstance(event, (TimeoutEvent, TransportErrorEvent, AckTimeoutEvent)):
            self._on_failure(event)
        elif isinstance(event, ClosedEvent):
            closed = ConnectionError("the phone is closed")
            for tx in self._client.values():
                tx.responses.fail(closed)
            for call in self._dialogs.values():
                call._closed(closed)
            self._invites.fail(closed)
            self._requests.fail(closed)

    def _on_response(self, event: ResponseEvent) -> None:
        tx = self._client.get(event.tx_id)
        if tx is None:
            return
        response = event.response
        if tx.on_response is not None:
            tx.on_response(response)
        tx.responses.put(response)
        if response.status >= 300 or (response.status >= 200 and tx.request.method != "INVITE"):
            # A 2xx to an INVITE waits for its ACK (the phone's or the test's).
            del self._client[event.tx_id]

    def _on_failure(self, event: TimeoutEvent | TransportErrorEvent | AckTimeoutEvent) -> None:
        tx_id = event.tx_id
        if tx_id is None:
            return
        tx = self._client.pop(tx_id, None)
        if tx is not None:
            if isinstance(event, TransportErrorEvent):
                tx.responses.fail(ConnectionError(f"{tx.what}: {event.reason}"))
            else:
                tx.responses.fail(TimeoutError(f"{tx.what}: no final response (timed out)"))
            return
        incoming = self._invites_in.pop(tx_id, None) or self._reinvites_in.pop(tx_id, None)
        if incoming is not None and isinstance(event, AckTimeoutEvent):
            incoming._acks.fail(TimeoutError("no ACK came for the 2xx"))

    def _on_request(self, event: RequestEvent) -> None:
        stack = self._stack_or_fail()
        request = event.request
        to = request.to
        if to is not None and to.tag is not None:
            call = self._dialogs.get((request.call_id or "", to.tag))
            if call is None:
                stack.respond(event.tx_id, SipResponse(481))
                return
            call._on_request(event)
            return
        if request.method == "INVITE":
            incoming = IncomingCall(self, event, stack.new_tag())
            self._invites_in[event.tx_id] = incoming
            self._dialogs[(incoming.call_id, incoming.local_tag)] = incoming
            self._invites.put(incoming)
        else:
            self._requests.put(IncomingRequest(self, event, None))

    def _on_ack(self, event: AckEvent) -> None:
        tx_id = event.tx_id
        waiting: IncomingCall | IncomingRequest | None = None
        if tx_id is not None:
            waiting = self._invites_in.pop(tx_id, None) or self._reinvites_in.pop(tx_id, None)
        if waiting is None:
            # The 2xx's transaction is over: find the dialog; its answer waits for this ACK.
            request = event.request
            to = request.to
            call = self._dialogs.get((request.call_id or "", to.tag if to and to.tag else ""))
            if call is None:
                return
            waiting = call._awaiting_ack
        if waiting is not None:
            waiting._acks.put(event.request)

    # ------------------------------------------------------------ closing

    async def close(self) -> None:
        """Stop the phone: its sockets are closed at once (transactions still open are dropped)."""
        if self._stack is not None:
            await self._stack.close(grace=0)

    async def __aenter__(self) -> SipPhone:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        where = self.uri if self._stack is not None and not self._stack.is_closed else "closed"
        return f"<SipPhone {where}>"


class PhoneFactory(Protocol):
    """What the ``sip_phone_factory`` fixture gives: ``await make("alice", transport="tcp")``."""

    def __call__(
        self, user: str = "phone", *, transport: str | None = None, timeout: float | None = None
    ) -> Awaitable[SipPhone]:
        """A started phone for ``user``, on ``transport`` (default: the ``sip_transport`` fixture),
        closed after the test."""
        ...
