"""The application side: SIP applications on asyncio that drive drachtio servers.

``Srf`` holds the handlers and the links to servers; handlers get a
:class:`Request` and its :class:`Response`; calls are :class:`Dialog` objects.
"""

from __future__ import annotations

from drachtio.app.dialog import DEFAULT_ANSWERS, Dialog, DialogEvent
from drachtio.app.early import OnEarly
from drachtio.app.link import AuthenticationFailed, RemoteLink
from drachtio.app.message import Request, Response
from drachtio.app.proxy import ProxyOutcome
from drachtio.app.srf import Credentials, Handler, Middleware, Srf

__all__ = [
    "DEFAULT_ANSWERS",
    "AuthenticationFailed",
    "Credentials",
    "Dialog",
    "DialogEvent",
    "Handler",
    "Middleware",
    "OnEarly",
    "ProxyOutcome",
    "RemoteLink",
    "Request",
    "Response",
    "Srf",
]
