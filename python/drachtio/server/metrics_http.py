"""The metrics endpoint: Prometheus metrics and a health check over HTTP, on the server's loop.

A small HTTP/1.1 server on :func:`asyncio.start_server`, no thread of its
own: ``GET /metrics`` is the text of :mod:`drachtio.server.metrics` (the
Prometheus text format, or OpenMetrics when the scraper asks for it),
``GET /health`` a small JSON document, 200 while the SIP stack and the
control listener are up and 503 otherwise. One request per connection
(``Connection: close``); a request head over :data:`MAX_HEAD` bytes or not
complete within :data:`HEAD_TIMEOUT` seconds is answered with an error and
the connection closed. See ``docs/metrics.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import orjson
from prometheus_client.exposition import choose_encoder

from drachtio.server.metrics import new_registry

if TYPE_CHECKING:
    from drachtio.server.server import Server

__all__ = ["HEAD_TIMEOUT", "MAX_HEAD", "MetricsEndpoint", "health"]

log = logging.getLogger("drachtio.server")

MAX_HEAD = 8192
"""The largest request head (request line and headers) read; a larger one is answered 431."""
HEAD_TIMEOUT = 10.0
"""Seconds within which a request head must be complete; else 408."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def health(server: Server) -> tuple[int, dict[str, object]]:
    """The status and the JSON body of ``/health``: 200 when SIP and control are both up."""
    # Read from the server as it is held; nothing is changed.
    stack = server._stack
    control = server._control
    sip_up = stack is not None and not stack.is_closed
    control_up = control is not None and control.is_serving()
    up = sip_up and control_up
    body: dict[str, object] = {
        "status": "ok" if up else "unavailable",
        "sip": server.hostport if sip_up else [],
        "control": control_up,
    }
    return (200 if up else 503), body


class MetricsEndpoint:
    """The HTTP listener of ``/metrics`` and ``/health`` for one server."""

    def __init__(self, server: Server, listener: asyncio.Server, head_timeout: float) -> None:
        """Use :meth:`start`."""
        self._server = server
        self._head_timeout = head_timeout
        self._listener = listener
        self._registry = new_registry(server)
        self._handlers: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(
        cls, server: Server, host: str, port: int, *, head_timeout: float = HEAD_TIMEOUT
    ) -> MetricsEndpoint:
        """Listen on ``host:port`` (port 0: a free one, see :attr:`address`).

        A request head not complete within ``head_timeout`` seconds is answered 408.

        Raises:
            OSError: the address could not be bound.
        """
        endpoint: MetricsEndpoint | None = None

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            assert endpoint is not None
            task = asyncio.current_task()
            assert task is not None
            endpoint._handlers.add(task)
            try:
                await endpoint._serve(reader, writer)
            finally:
                endpoint._handlers.discard(task)

        listener = await asyncio.start_server(handle, host, port, limit=MAX_HEAD)
        endpoint = cls(server, listener, head_timeout)
        name = listener.sockets[0].getsockname()
        log.info("metrics listening on %s:%d", name[0], name[1])
        return endpoint

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` listened on, the real port for port 0."""
        name = self._listener.sockets[0].getsockname()
        return name[0], name[1]

    async def close(self) -> None:
        """Stop listening and end the requests in progress."""
        self._listener.close()
        for task in list(self._handlers):
            task.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._listener.wait_closed(), 1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._head_timeout)
        except asyncio.TimeoutError:
            await _reply(writer, 408, b"no complete request in time\n")
            return
        except asyncio.LimitOverrunError:
            await _reply(writer, 431, f"request head over {MAX_HEAD} bytes\n".encode())
            return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        status, content_type, body = self._answer(head)
        # HEAD: the same head, without the body.
        await _reply(writer, status, body, content_type, send_body=not head.startswith(b"HEAD "))

    def _answer(self, head: bytes) -> tuple[int, str, bytes]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, _TEXT, b"not an HTTP/1.x request line\n"
        method, target, _ = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if line and not sep:
                return 400, _TEXT, b"a header line without a colon\n"
            headers[name.strip().lower()] = value.strip()
        if method not in ("GET", "HEAD"):
            return 405, _TEXT, b"only GET and HEAD\n"
        path = target.partition("?")[0]
        if path == "/metrics":
            encoder, content_type = choose_encoder(headers.get("accept", ""))
            return 200, content_type, encoder(self._registry)
        if path == "/health":
            status, body = health(self._server)
            return status, "application/json", orjson.dumps(body) + b"\n"
        return 404, _TEXT, b"not found: /metrics and /health are served\n"


_TEXT = "text/plain; charset=utf-8"


async def _reply(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str = _TEXT,
    *,
    send_body: bool = True,
) -> None:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
    )
    if status == 405:
        head += "Allow: GET, HEAD\r\n"
    writer.write(head.encode("latin-1") + b"\r\n" + (body if send_body else b""))
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()
