"""A small HTTP/1.1 client for the server's request handler: one request per connection.

The server has no HTTP client among its dependencies, and asks one question
per new SIP request: a GET (or a POST of the request's text) whose answer is
a small JSON object. So this is the least that does it well: asyncio
streams, connections kept for the next request (HTTP/1.1 keep-alive), one
bounded answer, TLS for ``https`` URLs (the certificate checked by the
context the caller gives, for the host named).

:class:`ResponseReader` is sans-IO: it is fed the bytes the connection
brings and tells when the response is complete (by ``Content-Length``, by
chunks, or by the end of the connection); it refuses a response larger than
its bound or not HTTP/1.x, each with its own :class:`HttpError`.
:class:`HttpClient` runs it over its connections within a deadline.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import urlsplit

__all__ = ["MAX_RESPONSE_SIZE", "HttpClient", "HttpError", "HttpResponse", "ResponseReader"]

MAX_RESPONSE_SIZE = 65536
"""The largest answer read, head and body together; one byte more is an error."""

_READ_SIZE = 16384


class HttpError(Exception):
    """The request could not be made, or its answer cannot be read; ``str`` says which."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete answer: its status and its body (the headers are not kept)."""

    status: int
    body: bytes
    content_type: str | None = None


class ResponseReader:
    """The response to one request, from the bytes of its connection (sans-IO).

    :meth:`receive` takes what each read brought and returns the response
    once it is complete; :meth:`receive_eof` ends a body read to the end of
    the connection. Both raise :class:`HttpError` on an answer that is not
    HTTP/1.x, malformed, or larger than ``max_size``.
    """

    __slots__ = (
        "_body_end",
        "_buffer",
        "_chunked",
        "_content_type",
        "_head_end",
        "_keep",
        "_max_size",
        "_reusable",
        "_status",
    )

    def __init__(self, max_size: int = MAX_RESPONSE_SIZE) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        self._status: int | None = None
        self._content_type: str | None = None
        self._head_end = 0
        # The body's end (Content-Length), None until the end of the connection.
        self._body_end: int | None = None
        self._chunked = False
        self._keep = False
        self._reusable = False

    @property
    def empty(self) -> bool:
        """Whether nothing has been received yet."""
        return not self._buffer

    @property
    def reusable(self) -> bool:
        """Whether the connection may carry another request once the response
        is complete: HTTP/1.1, a body framed by length or chunks, no
        ``Connection: close``, and nothing received past the response."""
        return self._reusable

    def receive(self, data: bytes) -> HttpResponse | None:
        """Add ``data``; the response once complete, else ``None``."""
        self._buffer += data
        if len(self._buffer) > self._max_size:
            raise HttpError(f"the answer is larger than {self._max_size} bytes")
        if self._status is None and not self._read_head():
            return None
        if self._chunked:
            return self._dechunked()
        if self._body_end is not None and len(self._buffer) >= self._body_end:
            self._reusable = self._keep and len(self._buffer) == self._body_end
            return self._response(bytes(self._buffer[self._head_end : self._body_end]))
        return None

    def receive_eof(self) -> HttpResponse:
        """The connection ended: the response if it is complete."""
        if self._status is None:
            raise HttpError("the connection closed before a complete answer")
        if self._chunked or self._body_end is not None:
            raise HttpError("the connection closed in the middle of the body")
        return self._response(bytes(self._buffer[self._head_end :]))

    def _response(self, body: bytes) -> HttpResponse:
        assert self._status is not None
        return HttpResponse(self._status, body, self._content_type)

    def _read_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise HttpError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        self._head_end = end + 4
        self._keep = version == "HTTP/1.1"
        length: int | None = None
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpError(f"a header line without ':': {line[:80]!r}")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                if not value.isdigit():
                    raise HttpError(f"Content-Length {value[:20]!r} is not a number")
                length = int(value)
            elif name == "transfer-encoding" and value.lower() == "chunked":
                self._chunked = True
            elif name == "content-type":
                self._content_type = value
            elif name == "connection" and "close" in value.lower():
                self._keep = False
        status = int(code)
        if status in (204, 304) or 100 <= status < 200:
            length = 0
        if length is not None and not self._chunked:
            self._body_end = self._head_end + length
            if self._body_end > self._max_size:
                raise HttpError(f"the answer is larger than {self._max_size} bytes")
        self._status = status
        return True

    def _dechunked(self) -> HttpResponse | None:
        """The body of a chunked answer once its last chunk came (RFC 9112 §7.1)."""
        body = bytearray()
        at = self._head_end
        data = self._buffer
        while True:
            line_end = data.find(b"\r\n", at)
            if line_end < 0:
                return None
            size_text = bytes(data[at:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpError(f"a chunk size {size_text[:20]!r} is not hexadecimal") from None
            if size == 0:
                # The trailer section, empty or not, ends with an empty line.
                end = data.find(b"\r\n\r\n", line_end)
                if end < 0:
                    return None
                self._reusable = self._keep and len(data) == end + 4
                return self._response(bytes(body))
            start = line_end + 2
            if len(data) < start + size + 2:
                return None
            body += data[start : start + size]
            at = start + size + 2


class HttpClient:
    """Requests over HTTP/1.1, each connection kept for the next request to
    its server (keep-alive) while the answers allow, at most ``max_idle``
    idle per server.

    A kept connection the server has closed meanwhile (nothing comes back on
    it) is replaced by a new one and the request sent again, once.
    """

    def __init__(self, *, max_idle: int = 8, user_agent: str = "drachtio") -> None:
        self._max_idle = max_idle
        self._user_agent = user_agent
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        self.connections = 0
        """Connections opened, since the client was made."""

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        content_type: str | None = None,
        accept: str = "application/json",
        tls: ssl.SSLContext | None = None,
        timeout: float,
    ) -> HttpResponse:
        """``method`` ``url`` (``http``, or ``https`` checked by ``tls``), the
        whole answer within ``timeout`` seconds.

        Raises:
            HttpError: the URL cannot be asked, the connection failed or closed
                early, the answer is malformed or too large, or ``timeout``
                passed (the message says which).
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"{url!r} is not an http or https URL")
        secure = parts.scheme == "https"
        if secure and tls is None:
            raise HttpError("no authority to check an https server's certificate")
        port = parts.port or (443 if secure else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rpartition("@")[2]
        head = [
            f"{method} {target} HTTP/1.1",
            f"Host: {host_header}",
            f"User-Agent: {self._user_agent}",
            f"Accept: {accept}",
        ]
        if body is not None:
            head.append(f"Content-Length: {len(body)}")
            if content_type is not None:
                head.append(f"Content-Type: {content_type}")
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")
        server = (parts.hostname, port, secure)
        try:
            exchange = self._exchange(server, tls if secure else None, request)
            return await asyncio.wait_for(exchange, timeout)
        except asyncio.TimeoutError:
            raise HttpError(f"no complete answer within {timeout:g} s") from None
        except OSError as exc:
            why = exc.strerror or exc
            raise HttpError(f"cannot reach {parts.hostname}:{port}: {why}") from None

    def close(self) -> None:
        """Close the idle connections."""
        for idle in self._idle.values():
            for _, writer in idle:
                writer.close()
        self._idle.clear()

    async def _exchange(
        self, server: tuple[str, int, bool], tls: ssl.SSLContext | None, request: bytes
    ) -> HttpResponse:
        idle = self._idle.get(server)
        if idle:
            connection = idle.pop()
            try:
                return await self._over(server, connection, request)
            except _Stale:
                pass  # closed by the server while idle: once more, on a new one
        host, port, _ = server
        self.connections += 1
        connection = await asyncio.open_connection(host, port, ssl=tls)
        try:
            return await self._over(server, connection, request)
        except _Stale:
            raise HttpError("the connection closed before a complete answer") from None

    async def _over(
        self, server: tuple[str, int, bool], connection: _Connection, request: bytes
    ) -> HttpResponse:
        """``request`` and its answer over ``connection``, kept after if it may be."""
        reader, writer = connection
        answer = ResponseReader()
        try:
            try:
                writer.write(request)
                await writer.drain()
            except ConnectionError:
                raise _Stale from None
            while True:
                try:
                    data = await reader.read(_READ_SIZE)
                except ConnectionError:
                    if answer.empty:
                        raise _Stale from None
                    raise
                if not data:
                    if answer.empty:
                        raise _Stale
                    return answer.receive_eof()
                response = answer.receive(data)
                if response is not None:
                    break
        except BaseException:
            writer.close()
            raise
        idle = self._idle.setdefault(server, [])
        if answer.reusable and len(idle) < self._max_idle:
            idle.append(connection)
        else:
            writer.close()
        return response


_Connection: TypeAlias = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Stale(Exception):
    """Nothing at all came back on a connection: the server had closed it."""
