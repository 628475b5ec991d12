"""A scripted SIP phone on :class:`~drachtio.SipStack`: the far end of an application's calls.

:class:`SipPhone` listens on a loopback port and does real SIP (UDP or TCP)
with a server: it places calls (:meth:`SipPhone.invite`, an
:class:`OutgoingCall`), receives them (:meth:`SipPhone.expect_invite`, an
:class:`IncomingCall`), and sends and answers requests in them. Every wait
has a timeout, so an application that never answers fails the test instead
of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

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

if TYPE_CHECKING:
    from drachtio.server import Server

__all__ = [
    "Call",
    "Headers",
    "IncomingCall",
    "IncomingRequest",
    "OutgoingCall",
    "PhoneFactory",
    "SipPhone",
    "sdp",
]

Headers = Mapping[str, str | list[str]]
"""Extra headers: ``{"X-Account": "42", "P-Asserted-Identity": "<sip:+15551234@example.com>"}``."""

# Headers the phone writes itself: given in ``headers`` they would contradict its dialog state.
_OWN = frozenset(("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"))
_CONTACT = frozenset(("contact", "m"))
_TO = frozenset(("to", "t"))
_T = TypeVar("_T")


def sdp(port: int = 40000, *, host: str = "127.0.0.1", version: int = 1) -> str:
    """A minimal SDP (one PCMU audio stream on ``host:port``), for offers and answers.

    ``version`` is the origin's session version, to tell two offers apart.
    """
    return (
        "v=0\r\n"
        f"o=- 1 {version} IN IP4 {host}\r\n"
        "s=-\r\n"
        f"c=IN IP4 {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
    )


class _Inbox(Generic[_T]):
    """Items as they arrive; :meth:`take` waits, with a timeout, for the first that matches."""

    def __init__(self) -> None:
        self._items: list[_T] = []
        self._arrived = asyncio.Event()
        self._error: BaseException | None = None

    def put(self, item: _T) -> None:
        self._items.append(item)
        self._arrived.set()

    def fail(self, error: BaseException) -> None:
        """Make waits for items not received yet raise ``error``."""
        if self._error is None:
            self._error = error
        self._arrived.set()

    async def take(
        self, match: Callable[[_T], bool], timeout: float, what: str, *, keep: bool = False
    ) -> _T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, item in enumerate(self._items):
                if match(item):
                    if not keep:
                        del self._items[index]
                    return item
            if self._error is not None:
                raise self._error
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{what} within {timeout:g} s")
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)


class _ClientTx:
    """A request the phone sent, and its responses."""

    def __init__(self, request: SipRequest, on_response: Callable[[SipResponse], None] | None):
        self.request = request
        self.responses: _Inbox[SipResponse] = _Inbox()
        self.on_response = on_response

    @property
    def what(self) -> str:
        return f"{self.request.method} {self.request.uri}"


def _header_list(
    headers: Headers | None, allowed: frozenset[str] = _CONTACT
) -> list[tuple[str, str]]:
    """``headers`` as a list; of those the phone writes, only ``allowed`` may be given."""
    out: list[tuple[str, str]] = []
    for name, value in (headers or {}).items():
        if name.lower() in _OWN - allowed:
            raise LocalError(f"the phone writes {name} itself")
        for one in [value] if isinstance(value, str) else value:
            out.append((name, one))
    return out


def _body(headers: list[tuple[str, str]], sdp: str | None, body: str | bytes | None) -> bytes:
    """The body to send; a Content-Type for an SDP unless ``headers`` has one."""
    if sdp is not None and body is not None:
        raise LocalError("give sdp or body, not both")
    if sdp is not None:
        if not any(name.lower() in ("content-type", "c") for name, _ in headers):
            headers.append(("Content-Type", "application/sdp"))
        return sdp.encode()
    if isinstance(body, str):
        return body.encode()
    return body or b""


def _has(headers: list[tuple[str, str]], names: frozenset[str]) -> bool:
    return any(name.lower() in names for name, _ in headers)


def _contact(phone: SipPhone, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The phone's Contact, unless ``headers`` give one."""
    return [] if _has(headers, _CONTACT) else [("Contact", phone.contact)]


def _text(body: bytes) -> str | None:
    return body.decode("utf-8", "replace") if body else None


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
        self._client: dict[int, _ClientTx] = {}
        self._invites_in: dict[int, IncomingCall] = {}
        self._reinvites_in: dict[int, IncomingRequest] = {}
        self._dialogs: dict[tuple[str, str], Call] = {}
        self._invites: _Inbox[IncomingCall] = _Inbox()
        self._requests: _Inbox[IncomingRequest] = _Inbox()

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
        extra = _header_list(headers)
        body = _body(extra, sdp, None)
        call.local_sdp = sdp
        invite = SipRequest(
            "INVITE",
            uri,
            headers=[*call._identity(1, "INVITE"), *_contact(self, extra), *extra],
            body=body,
        )
        call.invite = invite
        self._dialogs[(call.call_id, call.local_tag)] = call
        tx = _ClientTx(invite, call._on_response)
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
        extra = _header_list(headers, _CONTACT | _TO)
        raw = _body(extra, None, body)
        to = [] if _has(extra, _TO) else [("To", f"<{uri}>")]
        request = SipRequest(
            method,
            uri,
            headers=[
                ("From", f"<{self._from_uri()}>;tag={stack.new_tag()}"),
                *to,
                ("Call-ID", f"{uuid.uuid4().hex}@{self.address[1]}"),
                ("CSeq", f"1 {method}"),
                *_contact(self, extra),
                *extra,
            ],
            body=raw,
        )
        tx = _ClientTx(request, None)
        self._send(tx, self._dest(target))
        return await _final(tx, self._limit(timeout))

    def _send(self, tx: _ClientTx, dest: Destination | None) -> int:
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


async def _final(tx: _ClientTx, timeout: float) -> SipResponse:
    return await tx.responses.take(
        lambda r: r.status >= 200, timeout, f"no final response to {tx.what}", keep=True
    )


class Call:
    """A call from the phone's side: its dialog, and what the phone can do in it.

    :class:`OutgoingCall` (the phone called) and :class:`IncomingCall` (the
    phone was called) add what happens before the answer.
    """

    def __init__(self, phone: SipPhone, call_id: str, local_tag: str) -> None:
        self.phone = phone
        """The phone the call is on."""
        self.call_id = call_id
        """The Call-ID."""
        self.local_tag = local_tag
        """The phone's tag (From of an outgoing call, To of an incoming one)."""
        self.remote_tag: str | None = None
        """The other end's tag, once known."""
        self.local_sdp: str | None = None
        """The SDP the phone offered or answered last."""
        self.remote_sdp: str | None = None
        """The SDP the other end offered or answered last."""
        self._local_uri = ""
        self._remote_uri = ""
        self._remote_target = ""
        self._route: list[str] = []
        self._cseq = 0
        self._established = False
        self._ended = False
        self._requests: _Inbox[IncomingRequest] = _Inbox()
        self._byes: _Inbox[SipRequest] = _Inbox()
        self._awaiting_ack: IncomingCall | IncomingRequest | None = None

    def __repr__(self) -> str:
        state = "ended" if self._ended else "established" if self._established else "setting up"
        return f"<{type(self).__name__} {self.call_id} {state}>"

    @property
    def established(self) -> bool:
        """Whether the call was answered 2xx (and may have ended since)."""
        return self._established

    @property
    def ended(self) -> bool:
        """Whether a BYE was sent or received."""
        return self._ended

    # ------------------------------------------------------------ requests in the dialog

    async def request(
        self,
        method: str,
        *,
        headers: Headers | None = None,
        body: str | bytes | None = None,
        sdp: str | None = None,
        timeout: float | None = None,
    ) -> SipResponse:
        """Send ``method`` in the call (INFO, UPDATE, a re-INVITE...); its final response.

        A 2xx to a re-INVITE is acknowledged here. ``sdp`` is a body with its
        Content-Type.

        Raises:
            LocalError: the call is not established, or is over.
            TimeoutError: no final response in time.
        """
        method = method_named(method)
        if method in ("ACK", "CANCEL"):
            raise LocalError(f"{method} is not sent with request()")
        if not self._established or not self._remote_target:
            raise LocalError(f"{self!r} is not established: no {method} in it yet")
        if self._ended:
            raise LocalError(f"{self!r} is over")
        extra = _header_list(headers)
        raw = _body(extra, sdp, body)
        self._cseq += 1
        cseq = self._cseq
        own = [*self._in_dialog(cseq, method)]
        if method in ("INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"):
            own.extend(_contact(self.phone, extra))
        request = SipRequest(method, self._remote_target, headers=[*own, *extra], body=raw)
        if method == "BYE":
            self._ended = True
        tx = _ClientTx(request, None)
        tx_id = self.phone._send(tx, None)
        response = await _final(tx, self.phone._limit(timeout))
        if method == "INVITE":
            if 200 <= response.status < 300:
                if sdp is not None:
                    self.local_sdp = sdp
                if response.body:
                    self.remote_sdp = _text(response.body)
                if response.contacts:
                    self._remote_target = str(response.contacts[0].uri)
                self.phone._stack_or_fail().send_ack(tx_id, self._ack(cseq))
            self.phone._client.pop(tx_id, None)
        return response

    async def reinvite(
        self, sdp: str | None, *, headers: Headers | None = None, timeout: float | None = None
    ) -> SipResponse:
        """A re-INVITE offering ``sdp``; its final response (a 2xx is acknowledged here)."""
        return await self.request("INVITE", headers=headers, sdp=sdp, timeout=timeout)

    async def bye(
        self, *, headers: Headers | None = None, timeout: float | None = None
    ) -> SipResponse:
        """End the call with BYE; the BYE's final response."""
        return await self.request("BYE", headers=headers, timeout=timeout)

    async def expect_request(self, method: str, *, timeout: float | None = None) -> IncomingRequest:
        """The next request of ``method`` the other end sent in the call (a re-INVITE, INFO...),
        for the test to answer with :meth:`IncomingRequest.respond`. BYE is
        answered by the phone: see :meth:`wait_bye`.

        Raises:
            TimeoutError: none came in time.
        """
        method = method_named(method)
        if method == "BYE":
            raise LocalError("the phone answers BYE itself: use wait_bye()")
        return await self._requests.take(
            lambda r: r.request.method == method,
            self.phone._limit(timeout),
            f"{self!r}: no {method} came",
        )

    async def wait_bye(self, *, timeout: float | None = None) -> SipRequest:
        """Wait until the other end hangs up; its BYE (which the phone answered 200).

        Raises:
            TimeoutError: no BYE came in time.
        """
        return await self._byes.take(
            lambda _: True, self.phone._limit(timeout), f"{self!r}: no BYE came", keep=True
        )

    # ------------------------------------------------------------ plumbing

    def _closed(self, error: BaseException) -> None:
        self._requests.fail(error)
        self._byes.fail(error)

    def _identity(self, cseq: int, method: str) -> list[tuple[str, str]]:
        """From, To, Call-ID and CSeq of a request the phone sends in this call."""
        to = f"<{self._remote_uri}>"
        if self.remote_tag is not None:
            to += f";tag={self.remote_tag}"
        return [
            ("From", f"<{self._local_uri}>;tag={self.local_tag}"),
            ("To", to),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]

    def _in_dialog(self, cseq: int, method: str) -> list[tuple[str, str]]:
        return [*self._identity(cseq, method), *(("Route", r) for r in self._route)]

    def _ack(self, cseq: int) -> SipRequest:
        # SipStack.send_ack adds no Max-Forwards (send_request does), and a
        # request without one is dropped by the receiving stack (RFC 3261 §8.1.1).
        headers = [*self._in_dialog(cseq, "ACK"), ("Max-Forwards", "70")]
        return SipRequest("ACK", self._remote_target, headers=headers)

    def _on_request(self, event: RequestEvent) -> None:
        """A request in this call (not ACK, which the stack reports apart)."""
        stack = self.phone._stack_or_fail()
        request = event.request
        if request.method == "BYE":
            self._ended = True
            stack.respond(event.tx_id, SipResponse(200))
            self._byes.put(request)
            return
        if request.method == "INVITE":
            if request.body:
                self.remote_sdp = _text(request.body)
            if request.contacts:
                self._remote_target = str(request.contacts[0].uri)
        incoming = IncomingRequest(self.phone, event, self)
        if request.method == "INVITE":
            self.phone._reinvites_in[event.tx_id] = incoming
        self._requests.put(incoming)


class OutgoingCall(Call):
    """A call the phone placed (:meth:`SipPhone.invite`)."""

    def __init__(self, phone: SipPhone, local_tag: str, uri: str) -> None:
        super().__init__(phone, f"{uuid.uuid4().hex}@{phone.address[1]}", local_tag)
        self._local_uri = phone._from_uri()
        self._remote_uri = uri
        self._remote_target = ""
        self._cseq = 1
        self.invite: SipRequest
        """The INVITE as the phone built it."""
        self._tx: _ClientTx
        self._tx_id = 0

    def _on_response(self, response: SipResponse) -> None:
        """A response to the INVITE, as it comes: a 2xx establishes the call."""
        if not 200 <= response.status < 300 or self.remote_tag is not None:
            return
        to = response.to
        self.remote_tag = to.tag if to is not None else None
        self._established = True
        if response.contacts:
            self._remote_target = str(response.contacts[0].uri)
        self._route = [str(r) for r in reversed(response.record_route)]
        if response.body:
            self.remote_sdp = _text(response.body)

    async def provisional(
        self, status: int | None = None, *, timeout: float | None = None
    ) -> SipResponse:
        """The next provisional response (of ``status``, if given) not returned before.

        Raises:
            TimeoutError: none came in time (a final response came instead, say).
        """
        what = f"no {status or 'provisional'} response to {self._tx.what}"
        return await self._tx.responses.take(
            lambda r: r.status < 200 and (status is None or r.status == status),
            self.phone._limit(timeout),
            what,
        )

    async def final(self, *, timeout: float | None = None) -> SipResponse:
        """The INVITE's final response (a 2xx must then be acknowledged with :meth:`ack`).

        A non-2xx is acknowledged by the phone's transaction layer.

        Raises:
            TimeoutError: none came in time.
        """
        return await _final(self._tx, self.phone._limit(timeout))

    async def ack(self, *, timeout: float | None = None) -> None:
        """Acknowledge the INVITE's 2xx (waiting for it first).

        Raises:
            LocalError: the final response was not a 2xx.
        """
        response = await self.final(timeout=timeout)
        if not 200 <= response.status < 300:
            raise LocalError(f"the INVITE failed with {response.status}: nothing to ACK")
        self.phone._stack_or_fail().send_ack(self._tx_id, self._ack(1))
        self.phone._client.pop(self._tx_id, None)

    async def cancel(self, *, timeout: float | None = None) -> SipResponse:
        """CANCEL the INVITE; the CANCEL's final response (200). The INVITE's own
        final response (487, unless the answer crossed the CANCEL) follows:
        :meth:`final`.

        Raises:
            LocalError: the INVITE already has a final response.
        """
        stack = self.phone._stack_or_fail()
        cancel_id = stack.cancel(self._tx_id)
        tx = _ClientTx(SipRequest("CANCEL", self.invite.uri), None)
        self.phone._client[cancel_id] = tx
        return await _final(tx, self.phone._limit(timeout))


class IncomingCall(Call):
    """A call to the phone (:meth:`SipPhone.expect_invite`), to ring, answer or reject.

    The phone's transaction layer has answered it 100 Trying.
    """

    def __init__(self, phone: SipPhone, event: RequestEvent, local_tag: str) -> None:
        request = event.request
        super().__init__(phone, request.call_id or "", local_tag)
        self.invite = request
        """The INVITE."""
        self.source = event.source
        """Where the INVITE came from: ``(transport, ip, port)``."""
        from_, to = request.from_, request.to
        self.remote_tag = from_.tag if from_ is not None else None
        self._remote_uri = str(from_.uri) if from_ is not None else ""
        self._local_uri = str(to.uri) if to is not None else ""
        self._remote_target = str(request.contacts[0].uri) if request.contacts else ""
        self._route = list(request.header_all("Record-Route"))
        self.remote_sdp = _text(request.body)
        self._tx_id = event.tx_id
        self._acks: _Inbox[SipRequest] = _Inbox()
        self._cancelled: _Inbox[SipRequest] = _Inbox()

    @property
    def cancelled(self) -> bool:
        """Whether the caller cancelled the INVITE (the phone's stack answered it 487)."""
        return bool(self._cancelled._items)

    def _response(
        self,
        status: int,
        reason: str | None,
        sdp: str | None,
        headers: Headers | None,
    ) -> SipResponse:
        extra = _header_list(headers)
        body = _body(extra, sdp, None)
        own = [("To", f"{self.invite.header('To')};tag={self.local_tag}")]
        if status < 300:
            own.extend(_contact(self.phone, extra))
            own.extend(("Record-Route", r) for r in self._route)
        return SipResponse(status, reason, headers=[*own, *extra], body=body)

    async def ringing(
        self,
        status: int = 180,
        *,
        sdp: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Send a provisional response: 180 Ringing, or 183 with ``sdp`` (early media).

        Raises:
            TransactionFinished: the INVITE already has its final response
                (or was cancelled).
        """
        if not 100 < status < 200:
            raise LocalError(f"{status} is not a provisional status")
        self.phone._stack_or_fail().respond(self._tx_id, self._response(status, None, sdp, headers))

    async def answer(
        self,
        *,
        sdp: str | None = None,
        headers: Headers | None = None,
        timeout: float | None = None,
    ) -> SipRequest:
        """Answer 200 (with ``sdp``) and wait for the caller's ACK; the ACK.

        Raises:
            TransactionFinished: the INVITE was cancelled first.
            TimeoutError: no ACK came in time.
        """
        response = self._response(200, None, sdp, headers)
        self.phone._stack_or_fail().respond(self._tx_id, response)
        self._established = True
        self.local_sdp = sdp
        self._awaiting_ack = self
        try:
            return await self._acks.take(
                lambda _: True, self.phone._limit(timeout), f"{self!r}: no ACK for the 200"
            )
        finally:
            self._awaiting_ack = None

    async def reject(
        self, status: int = 486, reason: str | None = None, *, headers: Headers | None = None
    ) -> None:
        """Refuse the call with ``status`` (486 Busy Here by default); the
        phone's transaction layer absorbs the ACK.

        Raises:
            TransactionFinished: the INVITE already has its final response
                (or was cancelled).
        """
        if status < 300:
            raise LocalError(f"{status} does not refuse a call: use answer()")
        self.phone._stack_or_fail().respond(
            self._tx_id, self._response(status, reason, None, headers)
        )
        self.phone._invites_in.pop(self._tx_id, None)

    async def wait_cancel(self, *, timeout: float | None = None) -> SipRequest:
        """Wait until the caller cancels; the CANCEL (the phone's stack answered
        it 200 and the INVITE 487).

        Raises:
            TimeoutError: no CANCEL came in time.
        """
        return await self._cancelled.take(
            lambda _: True, self.phone._limit(timeout), f"{self!r}: no CANCEL came", keep=True
        )


class IncomingRequest:
    """A request the phone received, for the test to answer with :meth:`respond`."""

    def __init__(self, phone: SipPhone, event: RequestEvent, call: Call | None) -> None:
        self.request = event.request
        """The request."""
        self.source = event.source
        """Where it came from: ``(transport, ip, port)``."""
        self.call = call
        """The call it came in, or None."""
        self.response: SipResponse | None = None
        """The final response the test sent, once it has."""
        self._phone = phone
        self._tx_id = event.tx_id
        self._to_tag: str | None = None
        self._acks: _Inbox[SipRequest] = _Inbox()

    def __repr__(self) -> str:
        return f"<IncomingRequest {self.request.method} {self.request.uri}>"

    @property
    def method(self) -> str:
        """The request's method."""
        return self.request.method

    async def respond(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: Headers | None = None,
        body: str | bytes | None = None,
        sdp: str | None = None,
        timeout: float | None = None,
    ) -> SipResponse:
        """Answer the request; a 2xx to a re-INVITE returns once its ACK came.

        Provisional responses (1xx) may come first. The response is returned as built.

        Raises:
            TransactionFinished: it already has a final response.
            TimeoutError: no ACK came in time for a 2xx to a re-INVITE.
        """
        stack = self._phone._stack_or_fail()
        extra = _header_list(headers)
        raw = _body(extra, sdp, body)
        own: list[tuple[str, str]] = []
        to = self.request.header("To") or ""
        if self.call is None and status > 100 and ";tag=" not in to:
            if self._to_tag is None:
                self._to_tag = stack.new_tag()
            own.append(("To", f"{to};tag={self._to_tag}"))
        reinvite = self.call is not None and self.request.method == "INVITE"
        if 200 <= status < 300 and (reinvite or self.request.method in ("SUBSCRIBE", "UPDATE")):
            own.extend(_contact(self._phone, extra))
        response = SipResponse(status, reason, headers=[*own, *extra], body=raw)
        stack.respond(self._tx_id, response)
        if status < 200:
            return response
        self.response = response
        if not (reinvite and status < 300):
            self._phone._reinvites_in.pop(self._tx_id, None)
            return response
        assert self.call is not None
        if sdp is not None:
            self.call.local_sdp = sdp
        self.call._awaiting_ack = self
        try:
            await self._acks.take(
                lambda _: True,
                self._phone._limit(timeout),
                f"{self.call!r}: no ACK for the 2xx to the re-INVITE",
            )
        finally:
            self.call._awaiting_ack = None
        return response
