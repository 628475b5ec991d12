"""``proxy`` from drachtio-srf applications: the command it stands for, and its replies.

drachtio-srf's ``proxy`` message (``req.proxy``, ``srf.proxyRequest``) says
what the JSON protocol's ``proxy`` command says, in tokens: the flags, the
forking mode, the timeouts as ``2s`` or ``500ms``, the destinations, and the
headers to add in a SIP part. :func:`proxy_command` turns it into that
command, for the server's proxy core. :class:`ProxyReplies` keeps, for each
``proxy`` still under way on a connection, the msgId its replies answer:
drachtio-srf asks for every final response of every destination
(``fullResponse``), one ``continue`` reply each, then ``done``
(docs/srf-protocol.md).
"""

from __future__ import annotations

from drachtio._core import SipResponse, Uri
from drachtio.protocol import Later, ProxyRequest, ProxyResult
from drachtio.srfproto import Proxy, command_headers, read_sip_text

__all__ = ["ProxyReplies", "destination_address", "proxy_command", "refused"]


def proxy_command(message: Proxy) -> ProxyRequest:
    """The JSON protocol's ``proxy`` for drachtio-srf's ``message``.

    The headers of its SIP part are added to each forwarded request, but
    for Content-Length (drachtio-srf always writes one).

    Raises:
        LocalProtocolError: what the proxy core refuses: a destination that
            is not a URI, too many of them, a header the proxy writes itself
            (Via, From, To, Call-ID, CSeq, Max-Forwards, Record-Route).
    """
    msg_id = message.msg_id
    headers = command_headers(read_sip_text(message.message, msg_id), msg_id)
    return ProxyRequest(
        message.transaction_id,
        message.destinations,
        record_route=message.record_route,
        forking="parallel" if message.simultaneous else "serial",
        provisional_timeout=message.provisional_seconds,
        final_timeout=message.final_seconds,
        follow_redirects=message.follow_redirects,
        headers=headers,
    )


def refused(result: ProxyResult) -> str:
    """The ``NOK`` reason of a request the proxy core answered itself, at once
    (Max-Forwards used up, a loop, an unsupported extension or scheme)."""
    response = result.final_response
    reason = response.reason if isinstance(response, SipResponse) else ""
    return f"Rejected with {result.final_status} {reason}".rstrip()


def destination_address(destination: str) -> tuple[str, str, int]:
    """The transport, host and port a request to ``destination`` (a SIP URI) goes to,
    as named by the URI (what the ``continue`` replies show of each target)."""
    try:
        uri = Uri(destination)
    except ValueError:  # a destination is a URI: checked by the proxy command
        return "udp", "", 0
    transport = (uri.next_hop_transport or "udp").lower()
    return transport, uri.host or "", uri.next_hop_port or uri.port or 5060


class ProxyReplies:
    """The ``proxy`` messages of one connection still owed replies, by the answer
    the proxy core gave each (a :class:`~drachtio.protocol.Later`)."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: dict[Later, str] = {}

    def __len__(self) -> int:
        return len(self._open)

    def started(self, answer: Later, msg_id: str) -> None:
        """The ``proxy`` message ``msg_id`` was answered ``answer``: replies follow."""
        self._open[answer] = msg_id

    def response(self, answer: Later, status: int) -> tuple[str | None, bool]:
        """A final response of ``status`` for ``answer``: the msgId its ``continue``
        answers (``None`` once ``done`` went), and whether ``done`` follows it now.

        A 2xx ends the operation for drachtio-srf (its result is the last status
        it was shown): the other branches' final responses are not shown.
        """
        if 200 <= status < 300:
            return self._open.pop(answer, None), True
        return self._open.get(answer), False

    def settled(self, answer: Later) -> str | None:
        """The request of ``answer`` is settled: the msgId ``done`` answers, if not sent yet."""
        return self._open.pop(answer, None)
