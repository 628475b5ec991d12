"""The request handler's question about a new request, and what its answer means.

When ``request_handler`` is configured, the server asks an HTTP service
where each new request outside a dialog should go, as the drachtio server
does (docs/srf-protocol.md, "Outbound connections"). This module is the
sans-IO part: :func:`query_url` words the question, :func:`read_action`
reads the answer into one :data:`Action`, or raises :class:`HandlerError`
saying precisely what is wrong with it. A ``tcp://HOST:PORT`` handler asks
nothing: :func:`fixed_action` is its constant answer (likewise ``tls://``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias
from urllib.parse import quote, urlsplit

import orjson

from drachtio._core import NameAddr, SipRequest
from drachtio.errors import DrachtioError
from drachtio.protocol import LocalProtocolError, ProxyRequest, Source
from drachtio.server.http_client import HttpResponse
from drachtio.tags import is_tag

__all__ = [
    "Action",
    "ConnectTo",
    "HandlerError",
    "ProxyTo",
    "Redirect",
    "Reject",
    "ToTag",
    "check_handler_url",
    "fixed_action",
    "parse_action",
    "parse_duration",
    "query_url",
    "read_action",
]

_DURATION = re.compile(r"([0-9]{1,9})(ms|s)")
# host:port with an optional ;transport=tcp|tls (the drachtio server's form).
_TARGET = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:;\[\]\s]+):(?P<port>[0-9]{1,5})(?P<rest>;.*)?"
)
_MAX_DESTINATIONS = 32


class HandlerError(Exception):
    """The request handler's answer cannot be carried out; ``str`` says why."""


@dataclass(frozen=True, slots=True)
class Reject:
    """``reject``: answer the request ``status`` (300-699), with ``reason`` if given."""

    status: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Redirect:
    """``redirect``: answer 302 with these Contacts."""

    contacts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProxyTo:
    """``proxy``: proxy the request to ``destinations`` (the server's own proxy)."""

    destinations: tuple[str, ...]
    record_route: bool = False
    follow_redirects: bool = True
    simultaneous: bool = False
    provisional_timeout: float = 5.0
    final_timeout: float = 60.0

    def command(self, transaction_id: str) -> ProxyRequest:
        """The ``proxy`` command that carries this out for ``transaction_id``."""
        return ProxyRequest(
            transaction_id,
            self.destinations,
            record_route=self.record_route,
            forking="parallel" if self.simultaneous else "serial",
            provisional_timeout=self.provisional_timeout,
            final_timeout=self.final_timeout,
            follow_redirects=self.follow_redirects,
        )


@dataclass(frozen=True, slots=True)
class ConnectTo:
    """``route`` with a ``uri``: connect to the application listening there, over TCP or TLS."""

    host: str
    port: int
    transport: Literal["tcp", "tls"] = "tcp"


@dataclass(frozen=True, slots=True)
class ToTag:
    """``route`` with a ``tag``: a connected application that declared it takes the request."""

    tag: str


Action: TypeAlias = Reject | Redirect | ProxyTo | ConnectTo | ToTag
"""What to do with a new request."""


def check_handler_url(url: str) -> str:
    """``url`` if it can be a request handler: ``http(s)://...``, ``tcp://`` or ``tls://HOST:PORT``.

    Raises:
        HandlerError: naming what is wrong.
    """
    if not isinstance(url, str):
        raise HandlerError(f"must be a URL, got {url!r}")
    if fixed_action(url) is not None:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HandlerError(f"{url!r} is not an http://, https://, tcp:// or tls:// URL")
    if any(c in url for c in " \r\n\t"):
        raise HandlerError(f"{url!r} holds white space")
    try:
        _ = parts.port
    except ValueError:
        raise HandlerError(f"{url!r}: the port is not a number 0-65535") from None
    return url


def fixed_action(url: str) -> ConnectTo | None:
    """The action of a ``tcp://`` or ``tls://HOST:PORT`` handler (every request
    goes there), else ``None``.

    Raises:
        HandlerError: such a URL whose address is not ``HOST:PORT``.
    """
    for transport in ("tcp", "tls"):
        if url.startswith(f"{transport}://"):
            address = url[len(transport) + 3 :]
            if ";" in address:
                raise HandlerError(f"{url!r}: {transport}://HOST:PORT takes no parameters")
            return replace(parse_target(address), transport=transport)
    return None


def query_url(base: str, request: SipRequest, source: Source) -> str:
    """The URL that asks ``base`` where ``request`` (received from ``source``) goes.

    As the drachtio server words it: ``/`` after the configured URL's path,
    then the parameters ``method``, ``domain`` (the Request-URI's host),
    ``protocol``, ``source_address``, ``fromUser``, ``toUser``, ``uriUser``,
    ``contentType``, ``uri``, then each Request-URI parameter as its own,
    every value percent-encoded.
    """
    uri = request.uri
    from_, to = request.from_, request.to
    params: list[tuple[str, str]] = [
        ("method", request.method),
        ("domain", uri.host or ""),
        ("protocol", source.transport),
        ("source_address", source.address),
        ("fromUser", (from_.uri.user if from_ is not None else None) or ""),
        ("toUser", (to.uri.user if to is not None else None) or ""),
        ("uriUser", uri.user or ""),
        ("contentType", _media_type(request.header("Content-Type"))),
        ("uri", str(uri)),
    ]
    params += [(name, value or "") for name, value in uri.params]
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params)
    parts = urlsplit(base)
    path = parts.path if parts.path.endswith("/") else f"{parts.path}/"
    joined = parts._replace(path=path, query=f"{parts.query}&{query}" if parts.query else query)
    return joined.geturl()


def _media_type(value: str | None) -> str:
    """The type/subtype of a Content-Type, without its parameters."""
    return "" if value is None else value.partition(";")[0].strip()


def read_action(response: HttpResponse) -> Action:
    """What a request handler's HTTP answer says to do.

    Raises:
        HandlerError: a status other than 2xx, or a body :func:`parse_action` refuses.
    """
    if not 200 <= response.status < 300:
        raise HandlerError(f"the request handler answered HTTP {response.status}")
    return parse_action(response.body)


def parse_action(body: bytes) -> Action:
    """The action of a JSON answer ``{"action": ..., "data": {...}}``.

    Raises:
        HandlerError: not such an object, an unknown action, or a ``data``
            member missing or of the wrong type (the message names it).
    """
    try:
        root = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HandlerError(f"the answer is not JSON: {exc}") from None
    if not isinstance(root, dict):
        raise HandlerError(f"the answer must be a JSON object, got {_kind(root)}")
    action, data = root.get("action"), root.get("data")
    if not isinstance(action, str):
        raise HandlerError(f"action: must be a string, got {_kind(action)}")
    if not isinstance(data, dict):
        raise HandlerError(f"data: must be an object, got {_kind(data)}")
    if action == "reject":
        return _reject(data)
    if action == "redirect":
        return Redirect(_strings(data.get("contact"), "data.contact", _check_contact))
    if action == "proxy":
        return _proxy(data)
    if action == "route":
        return _route(data)
    raise HandlerError(
        f"action: {action[:40]!r} is not one of 'reject', 'redirect', 'proxy', 'route'"
    )


def _reject(data: dict[str, object]) -> Reject:
    status, reason = data.get("status"), data.get("reason")
    if isinstance(status, bool) or not isinstance(status, int):
        raise HandlerError(f"data.status: must be a number, got {_kind(status)}")
    if not 300 <= status <= 699:
        raise HandlerError(f"data.status: must be a final status 300-699, got {status}")
    if reason is not None and not (isinstance(reason, str) and _one_line(reason)):
        raise HandlerError("data.reason: must be a string on one line")
    return Reject(status, reason or None)


def _proxy(data: dict[str, object]) -> ProxyTo:
    destinations = _strings(data.get("destination"), "data.destination", _check_uri)
    if len(destinations) > _MAX_DESTINATIONS:
        raise HandlerError(f"data.destination: at most {_MAX_DESTINATIONS} destinations")
    flags: dict[str, bool] = {}
    for name, default in (
        ("recordRoute", False),
        ("followRedirects", True),
        ("simultaneous", False),
    ):
        value = data.get(name, default)
        if not isinstance(value, bool):
            raise HandlerError(f"data.{name}: must be true or false, got {_kind(value)}")
        flags[name] = value
    timeouts: dict[str, float] = {}
    for name, written in (("provisionalTimeout", "5s"), ("finalTimeout", "60s")):
        text = data.get(name, written)
        if not isinstance(text, str):
            raise HandlerError(f"data.{name}: must be a string such as '5s', got {_kind(text)}")
        timeouts[name] = parse_duration(text, f"data.{name}")
    proxy = ProxyTo(
        destinations,
        flags["recordRoute"],
        flags["followRedirects"],
        flags["simultaneous"],
        timeouts["provisionalTimeout"],
        timeouts["finalTimeout"],
    )
    try:
        proxy.command("check")
    except LocalProtocolError as exc:
        raise HandlerError(exc.message) from None
    return proxy


def _route(data: dict[str, object]) -> ConnectTo | ToTag:
    uri, tag = data.get("uri"), data.get("tag")
    if isinstance(uri, str):
        return parse_target(uri)
    if isinstance(tag, str):
        if not is_tag(tag):
            raise HandlerError(f"data.tag: {tag[:40]!r} is not a tag")
        return ToTag(tag)
    raise HandlerError("data: route needs 'uri' (HOST:PORT) or 'tag', a string")


def parse_target(text: str) -> ConnectTo:
    """``HOST:PORT`` with an optional ``;transport=tcp`` or ``;transport=tls``:
    where an application listens.

    Raises:
        HandlerError: not of that form, a port out of range, or another transport.
    """
    match = _TARGET.fullmatch(text.strip())
    if match is None:
        raise HandlerError(f"{text[:80]!r} is not HOST:PORT[;transport=tcp|tls]")
    port = int(match["port"])
    if not 0 < port <= 65535:
        raise HandlerError(f"{text[:80]!r}: port {port} is out of range")
    rest = (match["rest"] or "").lower()
    host = match["host"].strip("[]")
    if rest in ("", ";transport=tcp"):
        return ConnectTo(host, port)
    if rest == ";transport=tls":
        return ConnectTo(host, port, "tls")
    raise HandlerError(f"{text[:80]!r}: the transport must be tcp or tls")


def parse_duration(text: str, what: str) -> float:
    """Seconds of a duration written ``<digits>s`` or ``<digits>ms`` (``5s``, ``500ms``).

    Raises:
        HandlerError: another form, or zero.
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise HandlerError(f"{what}: {text[:20]!r} is not a duration such as '5s' or '500ms'")
    value = int(match[1]) / (1000 if match[2] == "ms" else 1)
    if value <= 0:
        raise HandlerError(f"{what}: must be more than zero")
    return value


def _strings(value: object, what: str, check: Callable[[str, str], None]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise HandlerError(f"{what}: must be a string or a non-empty array of strings")
    for index, item in enumerate(items):
        where = what if isinstance(value, str) else f"{what}[{index}]"
        if not isinstance(item, str):
            raise HandlerError(f"{where}: must be a string, got {_kind(item)}")
        check(item, where)
    return tuple(items)


def _check_contact(value: str, where: str) -> None:
    if not _one_line(value):
        raise HandlerError(f"{where}: must be on one line")
    try:
        NameAddr(value)
    except (DrachtioError, ValueError):
        raise HandlerError(f"{where}: {value[:80]!r} is not a Contact value") from None


def _check_uri(value: str, where: str) -> None:
    _check_contact(value if value.startswith("<") else f"<{value}>", where)


def _one_line(text: str) -> bool:
    return not any(c in text for c in "\r\n\0")


def _kind(value: object) -> str:
    """How a JSON value is named in an error."""
    if value is None:
        return "null or nothing"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), "an array" if isinstance(value, list) else "an object"
    )
