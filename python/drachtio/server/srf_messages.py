"""The SIP side of the srf dialect: what drachtio-srf is shown of the server's messages.

The ``source|bytes|protocol|address|port|time`` record of each message
(:func:`record_of`), a message as the text drachtio-srf reads (:func:`text_of`),
the CANCEL it is shown for an INVITE (:func:`cancel_of`), the early dialog a
reliable provisional response names (:func:`early_dialog`), and the outbound
proxy it names as the first Route (:func:`through`). docs/srf-protocol.md
says why each is so.
"""

from __future__ import annotations

import time
from typing import Literal

from drachtio._core import SipMessage, SipRequest, SipResponse
from drachtio.protocol import Source
from drachtio.server.dialog import dialog_id
from drachtio.srfproto import SipMeta, stack_time

__all__ = ["cancel_of", "dialog_of", "early_dialog", "record_of", "text_of", "through"]


def through(headers: dict[str, str | list[str]], proxy: str) -> None:
    """Send a new request through the outbound ``proxy`` (a SIP URI): it becomes
    the first Route, a loose one (RFC 3261 §8.1.2), ahead of any the
    application wrote; the request goes there, its Request-URI unchanged."""
    route = proxy if proxy.startswith("<") else f"<{proxy}>"
    if ";lr" not in route.lower():
        route = f"{route[:-1]};lr>"
    name = next((n for n in headers if n.lower() == "route"), "Route")
    known = headers.get(name)
    if known is None:
        headers[name] = route
    else:
        headers[name] = [route, *([known] if isinstance(known, str) else known)]


def dialog_of(message: SipMessage) -> str | None:
    """The id of the dialog ``message`` is in, by its Call-ID and tags (the UAS's
    To tag, the UAC's From tag); ``None`` without a To tag."""
    from_, to = message.from_, message.to
    if from_ is None or to is None or to.tag is None:
        return None
    return dialog_id(message.call_id or "", from_.tag or "", to.tag)


def early_dialog(response: object) -> str | None:
    """The id of the early dialog a reliable provisional response (RFC 3262: one
    with an RSeq) creates, the one its 2xx confirms; ``None`` for any other."""
    if not isinstance(response, SipResponse) or not 100 < response.status < 200:
        return None
    return None if response.header("RSeq") is None else dialog_of(response)


def record_of(
    source: Literal["network", "application"],
    received_from: Source | None,
    where: tuple[str, str, int] | None = None,
    now: float | None = None,
) -> SipMeta:
    """The ``source|bytes|protocol|address|port|time`` record of a message."""
    if received_from is not None:
        where = (received_from.transport, received_from.address, received_from.port)
    transport, address, port = where if where is not None else ("udp", "0.0.0.0", 0)
    clock = stack_time(time.time() if now is None else now)
    return SipMeta(source, transport, address, port, clock)


def text_of(message: object) -> str:
    """A SIP message as the text drachtio-srf reads."""
    assert isinstance(message, SipMessage)
    return message.to_bytes().decode("utf-8", "replace")


def cancel_of(invite: SipRequest) -> SipRequest:
    """The CANCEL of ``invite`` (RFC 3261 §9.1): its Request-URI, top Via, From,
    To, Call-ID and Route, its CSeq number with the method CANCEL.

    What drachtio-srf is shown; the stack builds the CANCEL it sends itself.
    """
    pairs = [("Via", via) for via in invite.header_all("Via")[:1]]
    pairs += [(name, invite.header(name) or "") for name in ("From", "To", "Call-ID")]
    cseq = invite.cseq
    pairs.append(("CSeq", f"{1 if cseq is None else cseq.seq} CANCEL"))
    pairs += [("Route", route) for route in invite.header_all("Route")]
    pairs += [("Max-Forwards", "70"), ("Content-Length", "0")]
    return SipRequest("CANCEL", invite.uri, pairs)
