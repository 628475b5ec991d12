"""Proxying a request the application received: ``Srf.proxy_request``.

The server proxies (RFC 3261 §16, the ``proxy`` command of the control
protocol): it forwards the request to the destinations, relays their
responses to the caller, and reports when the request is settled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from drachtio._core import SipResponse
from drachtio.app.link import succeeded
from drachtio.app.message import Headers, Request, simple_headers
from drachtio.protocol import BranchReport, ProxyRequest, ProxyResult

__all__ = ["ProxyOutcome", "proxy_request"]


@dataclass(frozen=True, slots=True)
class ProxyOutcome:
    """How a proxied request ended.

    ``final_status`` is the final response the caller got (487 when it
    cancelled), ``final_response`` that response as sent (``None`` after the
    caller's CANCEL), ``branches`` every destination tried, in order, with
    the status and reason of each response it sent.
    """

    final_status: int
    final_response: SipResponse | None
    branches: tuple[BranchReport, ...]

    @property
    def connected(self) -> bool:
        """Whether the caller got a 2xx: the call is up, between the caller and a destination."""
        return 200 <= self.final_status < 300


async def proxy_request(
    req: Request,
    destinations: str | Sequence[str],
    *,
    record_route: bool = False,
    forking: Literal["serial", "parallel"] = "serial",
    provisional_timeout: float | None = None,
    final_timeout: float | None = None,
    follow_redirects: bool = False,
    headers: Headers | None = None,
) -> ProxyOutcome:
    """Have the server proxy ``req`` to ``destinations``; return once it is settled.

    The request is no longer the application's to answer. See
    :class:`~drachtio.protocol.ProxyRequest` for the options.

    Raises:
        RequestFailed: the server refused (the request was answered already,
            or is within a dialog).
        LocalProtocolError: an option is out of range (no destination, a
            header the proxy writes, a line break in a value).
        ConnectionLost: the connection to the server went away.
    """
    if isinstance(destinations, str):
        destinations = (destinations,)
    command = ProxyRequest(
        req.transaction_id,
        tuple(destinations),
        record_route,
        forking,
        provisional_timeout,
        final_timeout,
        follow_redirects,
        simple_headers(headers),
    )
    result = succeeded(await req.link.call(command))
    assert isinstance(result, ProxyResult)
    final = None
    if result.final_response is not None:
        message = req.link.sip_message(result.final_response)
        assert isinstance(message, SipResponse)
        final = message
    return ProxyOutcome(result.final_status, final, result.branches)
