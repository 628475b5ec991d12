"""Dialog state and the SIP messages the server builds for applications.

Pure functions over :class:`~drachtio.SipRequest` / :class:`~drachtio.SipResponse`:
no sockets, no asyncio. The server supplies what RFC 3261 makes the UA's
job (tags, Call-ID, CSeq, Contact, route set, remote target) and takes the
rest from the application's ``headers``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar

from drachtio._core import NameAddr, SipMessage, SipRequest, SipResponse, Uri, parse
from drachtio.errors import ParseError
from drachtio.header_names import canonical_name
from drachtio.protocol import SimpleHeaders

__all__ = [
    "DIALOG_METHODS",
    "RESPONSE_MANAGED",
    "SUBSCRIPTION_METHODS",
    "Dialog",
    "EventKey",
    "Listener",
    "app_headers",
    "build_ack",
    "build_in_dialog_request",
    "build_new_request",
    "build_response",
    "check_relied_on",
    "contact_for",
    "dialog_id",
    "event_headers_match",
    "event_key",
    "events_match",
    "synthetic_response",
    "uri_host",
    "websocket_flow",
]

_Owner = TypeVar("_Owner")
_M = TypeVar("_M", SipRequest, SipResponse)

Listener = tuple[str, str, int]
"""A SIP listener: ``(transport, ip, port)``."""

# Headers an application cannot set: the transaction and dialog own them.
RESPONSE_MANAGED = frozenset(
    {"via", "from", "to", "call-id", "cseq", "content-length", "record-route"}
)
"""The headers a response's builder writes whatever the application gave."""
_NEW_REQUEST_MANAGED = frozenset({"via", "content-length"})
_DIALOG_MANAGED = frozenset(
    {"via", "from", "to", "call-id", "cseq", "content-length", "route", "max-forwards"}
)
# Methods whose request or 2xx carries our Contact (RFC 3261 §8.1.1.8, §12.1; RFC 6665 §4.1.2.1).
_TARGET_METHODS = frozenset({"INVITE", "SUBSCRIBE", "NOTIFY", "REFER", "UPDATE", "REGISTER"})
DIALOG_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER"})
# Requests whose 2xx starts a subscription (RFC 6665; REFER's implicit one,
# RFC 3515 §2.4.4); a dialog one of them created ends with its last subscription.
SUBSCRIPTION_METHODS = frozenset({"SUBSCRIBE", "REFER"})
"""Methods whose 2xx creates a dialog (RFC 3261 §12.1, RFC 6665 §4.1.2.1)."""
TARGET_REFRESH_METHODS = frozenset({"INVITE", "SUBSCRIBE", "UPDATE"})
"""Methods that, answered 2xx in a dialog, move its remote target to their
Contact or the 2xx's (RFC 3261 §12.2, RFC 6665 §4.1.2.1, RFC 3311 §5)."""


# Headers the transaction and dialog layers read in every message (RFC 3261
# §8.1.1); the parser validates them, in what we send as in what we receive.
_RELIED_ON = frozenset({"from", "to", "call-id", "cseq", "max-forwards", "contact"})


def app_headers(headers: SimpleHeaders, managed: frozenset[str]) -> list[tuple[str, str]]:
    """The application's headers as ``(name, value)`` pairs, without those in ``managed``."""
    pairs: list[tuple[str, str]] = []
    for name, value in headers.items():
        if canonical_name(name) in managed:
            continue
        if isinstance(value, list):
            pairs.extend((name, item) for item in value)
        else:
            pairs.append((name, value))
    return pairs


def check_relied_on(
    message: _M, headers: SimpleHeaders, builder_writes: frozenset[str] = frozenset()
) -> _M:
    """``message``, checked when the application wrote a header the layers rely on.

    From, To, Call-ID, CSeq, Max-Forwards and Contact must be what the
    parser accepts (the one definition of their syntax), or the peer (and
    this server, for the dialog) could not use them: ``message`` is parsed
    again from its bytes. ``builder_writes`` names (lower case, long form)
    the headers the message's builder writes itself whatever the
    application gave, such as a response's From, To, Call-ID and CSeq,
    copied from the request (:data:`RESPONSE_MANAGED`): the application's
    values of those never reach the message, so they ask for no parse.

    Raises:
        ValueError: naming the header and what is wrong with it.
    """
    relied_on = _RELIED_ON.difference(builder_writes) if builder_writes else _RELIED_ON
    if not any(canonical_name(name) in relied_on for name in headers):
        return message
    data = message.to_bytes()
    try:
        parse(data)
    except ParseError as exc:
        if exc.kind == "cseq_method_mismatch":
            # A rule across the start line and a header: the error is at byte 0.
            name = "CSeq"
        else:
            line = data[: exc.offset].rpartition(b"\r\n")[2]
            name = line.partition(b":")[0].decode("utf-8", "replace").strip()
        raise ValueError(f"malformed {name} header: {exc.detail or exc.kind}") from None
    return message


def _has(pairs: Iterable[tuple[str, str]], name: str) -> bool:
    return any(canonical_name(n) == name for n, _ in pairs)


def uri_host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def contact_for(transport: str, ip: str, port: int) -> str:
    """Our Contact for a listener: ``<sip:ip:port>``, with ``transport=tcp`` when not UDP."""
    param = "" if transport == "udp" else f";transport={transport}"
    return f"<sip:{uri_host(ip)}:{port}{param}>"


def dialog_id(call_id: str, from_tag: str, to_tag: str) -> str:
    """The id of a dialog: ``<Call-ID>;from-tag=<tag>;to-tag=<tag>``.

    The tags are those of the request that created the dialog, so both ends
    of a dialog the server is part of name it the same way.
    """
    return f"{call_id};from-tag={from_tag};to-tag={to_tag}"


def _body(body: str | None) -> bytes:
    return b"" if body is None else body.encode("utf-8")


def _with_length(
    cls: type[_M], first: Any, second: Any, pairs: list[tuple[str, str]], body: bytes
) -> _M:
    # Written out (the serializer would add it anyway) so that the JSON form
    # returned to the application is the message as sent.
    pairs.append(("Content-Length", str(len(body))))
    return cls(first, second, pairs, body)


def build_response(
    request: SipRequest,
    code: int,
    status: str | None,
    headers: SimpleHeaders,
    body: str | None,
    to_tag: str | None,
    contact: str,
) -> SipResponse:
    """A response to ``request`` (RFC 3261 §8.2.6).

    Via, From, Call-ID and CSeq are copied as received; To too, with
    ``to_tag`` added when the request's To has no tag and the response is
    not 100 (§8.2.6.2); a 100 copies the Timestamp (§8.2.6.1). A response
    that creates a dialog (a 2xx, or a 1xx with a tag, to an INVITE or
    SUBSCRIBE outside any dialog) copies every Record-Route value in order
    (§12.1.1). ``contact`` is added to a 2xx, or a 1xx with a tag, to a
    request whose response carries the UA's target, unless the application
    gave one (a 2xx to REGISTER lists the registrar's bindings instead,
    §10.3). Copied values go out byte for byte: any value the parser
    accepted can be written again.
    """
    pairs: list[tuple[str, str]] = [("Via", via) for via in request.header_all("Via")]
    pairs.append(("From", request.header("From") or ""))
    to = request.header("To") or ""
    to_header = request.to
    outside_dialog = to_header is not None and to_header.tag is None
    if code != 100 and to_tag is not None and outside_dialog:
        to = f"{to};tag={to_tag}"
    pairs.append(("To", to))
    pairs.append(("Call-ID", request.header("Call-ID") or ""))
    pairs.append(("CSeq", request.header("CSeq") or ""))
    carries_target = 200 <= code < 300 or (100 < code < 200 and to_tag is not None)
    if code == 100:
        pairs.extend(("Timestamp", value) for value in request.header_all("Timestamp"))
    elif carries_target and outside_dialog and request.method in DIALOG_METHODS:
        pairs.extend(("Record-Route", value) for value in request.header_all("Record-Route"))
    own = app_headers(headers, RESPONSE_MANAGED)
    if (
        request.method in _TARGET_METHODS
        and request.method != "REGISTER"  # its 2xx lists the bindings (§10.3)
        and carries_target
        and not _has(own, "contact")
    ):
        pairs.append(("Contact", contact))
    pairs.extend(own)
    return _with_length(SipResponse, code, status, pairs, _body(body))


def build_new_request(
    method: str,
    uri: str,
    headers: SimpleHeaders,
    body: str | None,
    *,
    from_tag: str,
    listener: Listener,
) -> SipRequest:
    """A request outside any dialog (RFC 3261 §8.1.1).

    From (with ``from_tag`` added when it has none), To and Call-ID come from
    the application when given, else From is the listener's address, To the
    Request-URI and Call-ID a fresh UUID. CSeq is the application's when
    given (a request retried with credentials takes the next one, RFC 3261
    §22.2), else 1. Max-Forwards 70 and Contact are added when absent. There
    is no Via: the stack adds it, with the transport and sent-by it really
    uses and a fresh branch (as for requests within a dialog).
    """
    transport, ip, port = listener
    own = app_headers(headers, _NEW_REQUEST_MANAGED)
    from_value = next((v for n, v in own if canonical_name(n) == "from"), None)
    to_value = next((v for n, v in own if canonical_name(n) == "to"), None)
    call_id = next((v for n, v in own if canonical_name(n) == "call-id"), None)
    cseq = next((v for n, v in own if canonical_name(n) == "cseq"), None)
    rest = [(n, v) for n, v in own if canonical_name(n) not in ("from", "to", "call-id", "cseq")]
    if from_value is None:
        from_value = f"<sip:drachtio@{uri_host(ip)}:{port}>"
    if ";tag=" not in from_value.replace(" ", "").lower():
        from_value = f"{from_value};tag={from_tag}"
    pairs: list[tuple[str, str]] = [
        ("From", from_value),
        ("To", to_value if to_value is not None else f"<{uri}>"),
        ("Call-ID", call_id if call_id is not None else str(uuid.uuid4())),
        ("CSeq", cseq if cseq is not None else f"1 {method}"),
    ]
    if not _has(rest, "max-forwards"):
        pairs.append(("Max-Forwards", "70"))
    if method in _TARGET_METHODS and not _has(rest, "contact"):
        pairs.append(("Contact", contact_for(transport, ip, port)))
    pairs.extend(rest)
    return _with_length(SipRequest, method, uri, pairs, _body(body))


def websocket_flow(transport: str, address: str, port: int) -> tuple[str, str, int] | None:
    """``(transport, address, port)`` of a WebSocket peer (``ws``, ``wss``), else None:
    a WebSocket client is reached over its connection only (RFC 7118 §5.2)."""
    return (transport, address, port) if transport in ("ws", "wss") else None


@dataclass(slots=True)
class Dialog(Generic[_Owner]):
    """One dialog the server is a UA of (RFC 3261 §12).

    ``local_uri`` and ``remote_uri`` are the From and To values of the
    requests we send in it (with the tags). ``owner`` is the application
    session that receives its requests. ``method`` is that of the request
    that created it: ``INVITE`` (a call, ended by BYE), ``SUBSCRIBE`` or
    ``REFER`` (a subscription, RFC 6665 and RFC 3515, ended with the last of
    its subscriptions). ``subscriptions`` are the event packages (type and
    ``id``) subscribed to in it and not terminated yet: a call may carry
    REFER's, a subscription dialog several (RFC 6665 §4.5.2).
    """

    id: str
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str
    route_set: list[str]
    contact: str
    owner: _Owner | None
    local_cseq: int = 0
    remote_cseq: int | None = None
    # INVITE client transaction whose 2xx awaits our ACK, and its CSeq number.
    ack_tx: int | None = None
    ack_cseq: int = 0
    # INVITE server transaction whose 2xx awaits the peer's ACK.
    awaiting_ack: int | None = None
    method: str = "INVITE"
    # The WebSocket connection (transport, address, port) the peer is reached
    # over and only over (RFC 7118 §5.2): the dialog ends when it closes.
    flow: tuple[str, str, int] | None = None
    subscriptions: list[EventKey] = field(default_factory=list)
    # Created by a provisional response to its INVITE, which has no 2xx yet
    # (RFC 3261 §12.1): no call yet, ended by the INVITE's final response.
    early: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        """How a request received in this dialog finds it: Call-ID, local tag, remote tag."""
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def for_uas(
        cls,
        request: SipRequest,
        local_tag: str,
        contact: str,
        owner: _Owner | None,
    ) -> Dialog[_Owner]:
        """The dialog a 2xx (or a provisional response with our tag, an early
        dialog) we sent to ``request`` creates (RFC 3261 §12.1.1)."""
        from_ = request.from_
        assert from_ is not None  # the transaction layer answers 400 without From
        # An RFC 2543 caller may send no From tag: the remote tag is then
        # empty (RFC 3261 §12.1.1, §12.2.2).
        remote_tag = from_.tag or ""
        call_id = request.call_id or ""
        cseq = request.cseq
        return cls(
            id=dialog_id(call_id, remote_tag, local_tag),
            call_id=call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=f"{request.header('To')};tag={local_tag}",
            remote_uri=request.header("From") or "",
            remote_target=_target(request) or str(from_.uri),
            route_set=[str(r) for r in request.record_route],
            contact=contact,
            owner=owner,
            remote_cseq=None if cseq is None else cseq.seq,
            method=request.method,
            subscriptions=_created_subscription(request),
        )

    @classmethod
    def for_uac(
        cls,
        request: SipRequest,
        response: SipResponse,
        contact: str,
        owner: _Owner | None,
    ) -> Dialog[_Owner]:
        """The dialog a 2xx (or a provisional response with a To tag, an early
        dialog) received for our ``request`` creates (RFC 3261 §12.1.2)."""
        from_, to = request.from_, response.to
        assert from_ is not None and from_.tag is not None
        assert to is not None and to.tag is not None
        call_id = request.call_id or ""
        cseq = request.cseq
        return cls(
            id=dialog_id(call_id, from_.tag, to.tag),
            call_id=call_id,
            local_tag=from_.tag,
            remote_tag=to.tag,
            local_uri=request.header("From") or "",
            remote_uri=response.header("To") or "",
            remote_target=_target(response) or str(request.uri),
            route_set=[str(r) for r in reversed(response.record_route)],
            contact=contact,
            owner=owner,
            local_cseq=0 if cseq is None else cseq.seq,
            method=request.method,
            subscriptions=_created_subscription(request),
        )

    @classmethod
    def for_notify(
        cls,
        subscribe: SipRequest,
        notify: SipRequest,
        contact: str,
        owner: _Owner | None,
    ) -> Dialog[_Owner]:
        """The dialog a NOTIFY for our pending ``subscribe`` creates (RFC 6665 §4.1.2.4).

        As the 2xx would (RFC 3261 §12.1.2), with the notifier's side taken
        from the NOTIFY: its From (the remote tag), Contact and Record-Route
        (in order, as for any request received, §12.1.1). Same id as the
        dialog of the 2xx. The NOTIFY's CSeq is left for the caller to record
        as that of any request in the dialog.
        """
        from_, notify_from = subscribe.from_, notify.from_
        assert from_ is not None and from_.tag is not None
        assert notify_from is not None and notify_from.tag is not None
        call_id = subscribe.call_id or ""
        cseq = subscribe.cseq
        return cls(
            id=dialog_id(call_id, from_.tag, notify_from.tag),
            call_id=call_id,
            local_tag=from_.tag,
            remote_tag=notify_from.tag,
            local_uri=subscribe.header("From") or "",
            remote_uri=notify.header("From") or "",
            remote_target=_target(notify) or str(notify_from.uri),
            route_set=[str(r) for r in notify.record_route],
            contact=contact,
            owner=owner,
            local_cseq=0 if cseq is None else cseq.seq,
            method=subscribe.method,
            subscriptions=_created_subscription(subscribe),
        )

    @property
    def strict_routing(self) -> bool:
        """Whether the first hop is a strict router: its URI has no ``lr`` (RFC 3261 §12.2.1.1).

        The requests built in the dialog then carry that URI as Request-URI
        and must be sent to it, not to their first Route (§8.1.2).
        """
        return bool(self.route_set) and not _loose(self.route_set[0])

    def refresh_target(self, message: SipMessage) -> None:
        """A target refresh (re-INVITE, SUBSCRIBE, their 2xx) moves the remote target (§12.2)."""
        target = _target(message)
        if target is not None:
            self.remote_target = target

    def confirm(self, response: SipResponse) -> None:
        """The 2xx to our INVITE confirms this early dialog (RFC 3261 §13.2.2.4).

        Its route set is recomputed from the 2xx's Record-Route, and its
        remote target is the 2xx's Contact.
        """
        self.early = False
        self.route_set = [str(r) for r in reversed(response.record_route)]
        self.refresh_target(response)

    def subscribed(self, request: SipRequest) -> None:
        """A 2xx to ``request`` (a SUBSCRIBE or REFER) sent or received: its subscription is on."""
        key = event_key(request)
        if key is not None and key not in self.subscriptions:
            self.subscriptions.append(key)

    def ended_by(self, request: SipRequest) -> bool:
        """Whether a 2xx to ``request``, sent or received in this dialog, ends it.

        A NOTIFY whose Subscription-State is ``terminated`` ends the
        subscription of its Event (RFC 6665 §4.1.3), and with the last one a
        dialog that a SUBSCRIBE or REFER created. In a call it ends that
        usage only (a REFER's, say), never the call.
        """
        if request.method != "NOTIFY":
            return False
        state = request.header("Subscription-State") or ""
        if state.split(";", 1)[0].strip().lower() != "terminated":
            return False
        key = event_key(request)
        for held in self.subscriptions:
            if key is not None and events_match(held, key):
                self.subscriptions.remove(held)
                break
        return self.method in SUBSCRIPTION_METHODS and not self.subscriptions


EventKey: TypeAlias = tuple[str, str | None]
"""An event package and its ``id`` parameter (``None`` without one)."""


def event_headers_match(subscribe: SipRequest, notify: SipRequest) -> bool:
    """Whether ``notify`` is for ``subscribe``'s subscription (RFC 6665, RFC 3515).

    See :func:`events_match`.
    """
    held, key = event_key(subscribe), event_key(notify)
    return held is not None and key is not None and events_match(held, key)


def events_match(held: EventKey, notify: EventKey) -> bool:
    """Whether a NOTIFY's event is that of the subscription ``held``.

    The event types are compared byte by byte, and so are the ``id``
    parameters, present in both or in neither; other parameters do not
    count. A REFER's subscription is ``("refer", <its CSeq>)``; its NOTIFYs
    carry that id, or none (RFC 3515 §2.4.6 asks for it only from the
    second REFER of a dialog on).
    """
    if held[0] == "refer" == notify[0]:
        return notify[1] is None or notify[1] == held[1]
    return held == notify


def event_key(request: SipRequest) -> EventKey | None:
    """The subscription a SUBSCRIBE, NOTIFY or REFER is about: ``(event, id)``."""
    if request.method == "REFER":
        cseq = request.cseq
        return ("refer", None if cseq is None else str(cseq.seq))
    value = request.header("Event")
    if value is None:
        return None
    event_type, *params = (part.strip() for part in value.split(";"))
    event_id = None
    for param in params:
        name, _, param_value = param.partition("=")
        if name.strip().lower() == "id":
            event_id = param_value.strip()
    return event_type, event_id


def _created_subscription(request: SipRequest) -> list[EventKey]:
    """The subscription a dialog-creating SUBSCRIBE or REFER starts, as a list."""
    key = event_key(request) if request.method in SUBSCRIPTION_METHODS else None
    return [] if key is None else [key]


def _target(message: SipMessage) -> str | None:
    contacts = message.contacts
    return str(contacts[0].uri) if contacts else None


def build_in_dialog_request(
    dialog: Dialog[_Owner], method: str, headers: SimpleHeaders, body: str | None
) -> SipRequest:
    """A request within ``dialog`` (RFC 3261 §12.2.1.1); takes the next local CSeq."""
    dialog.local_cseq += 1
    return _dialog_request(dialog, method, dialog.local_cseq, method, headers, body)


def build_ack(
    dialog: Dialog[_Owner], headers: SimpleHeaders, body: str | None, cseq: int | None = None
) -> SipRequest:
    """The ACK for the 2xx of the dialog's last INVITE (RFC 3261 §13.2.2.4).

    ``cseq``: that of another INVITE (one the server sent on its own).
    """
    seq = dialog.ack_cseq if cseq is None else cseq
    return _dialog_request(dialog, "ACK", seq, "ACK", headers, body)


def _loose(route: str) -> bool:
    return any(name.lower() == "lr" for name, _ in NameAddr(route).uri.params)


def _as_request_uri(uri: Uri) -> str:
    """``uri`` without what a Request-URI may not carry: headers and ``method`` (§19.1.1)."""
    text = str(uri)
    if uri.headers:
        text = text[: text.rindex("?")]
    if any(name.lower() == "method" for name, _ in uri.params):
        user, at, hostpart = text.rpartition("@")
        hostpart = re.sub(r";method(=[^;]*)?", "", hostpart, flags=re.IGNORECASE)
        text = f"{user}{at}{hostpart}"
    return text


def _target_and_routes(dialog: Dialog[_Owner]) -> tuple[str, list[str]]:
    """The Request-URI and Route values of a request in ``dialog`` (RFC 3261 §12.2.1.1).

    With a loose first hop (``lr``) the Request-URI is the remote target and
    the Route the route set. With a strict one the Request-URI is the first
    route's URI, and the Route the rest of the route set followed by the
    remote target.
    """
    if not dialog.strict_routing:
        return _as_request_uri(Uri(dialog.remote_target)), dialog.route_set
    first, rest = dialog.route_set[0], dialog.route_set[1:]
    return _as_request_uri(NameAddr(first).uri), [*rest, f"<{dialog.remote_target}>"]


def _dialog_request(
    dialog: Dialog[_Owner],
    method: str,
    seq: int,
    cseq_method: str,
    headers: SimpleHeaders,
    body: str | None,
) -> SipRequest:
    uri, routes = _target_and_routes(dialog)
    pairs: list[tuple[str, str]] = [
        ("Max-Forwards", "70"),
        ("From", dialog.local_uri),
        ("To", dialog.remote_uri),
        ("Call-ID", dialog.call_id),
        ("CSeq", f"{seq} {cseq_method}"),
    ]
    pairs.extend(("Route", route) for route in routes)
    own = app_headers(headers, _DIALOG_MANAGED)
    if method in _TARGET_METHODS and not _has(own, "contact"):
        pairs.append(("Contact", dialog.contact))
    pairs.extend(own)
    return _with_length(SipRequest, method, uri, pairs, _body(body))


def synthetic_response(request: SipRequest, code: int, reason: str) -> SipResponse:
    """A response the server makes up for a client transaction that got none.

    Used for a timeout (408) or a transport error (503), so the application
    sees its request end like any other (RFC 3261 §8.1.3.1).
    """
    pairs: list[tuple[str, str]] = [("Via", via) for via in request.header_all("Via")[:1]]
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = request.header(name)
        if value is not None:
            pairs.append((name, value))
    return SipResponse(code, reason, pairs)
