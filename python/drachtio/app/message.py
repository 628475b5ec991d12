"""What an application's handlers hold: the request received (``req``) and its answer (``res``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from drachtio._core import CSeq, MediaType, NameAddr, SipRequest, SipResponse, Uri, Via
from drachtio.app.link import message_body
from drachtio.errors import LocalError
from drachtio.protocol import (
    Failure,
    RespondResult,
    RespondToSipRequest,
    ResponseData,
    SimpleHeaders,
    SipJson,
    Source,
)

if TYPE_CHECKING:
    from drachtio.app.link import Link

__all__ = ["Headers", "Request", "Response", "body_text", "simple_headers"]

log = logging.getLogger("drachtio.app")

Headers = Mapping[str, str | list[str]]
"""Headers an application writes: ``{"User-Agent": "x", "X-Tag": ["a", "b"]}``."""


def body_text(body: str | bytes | None) -> str | None:
    """A body as the control protocol carries it (text)."""
    if body is None or isinstance(body, str):
        return body
    return body.decode("utf-8")


def _user(uri: Uri | None) -> str | None:
    if uri is None:
        return None
    if uri.scheme == "tel":
        return str(uri)[4:].split(";", 1)[0]
    return uri.user


class Request:
    """A SIP request the application received.

    The parsed message is :attr:`message` (a :class:`~drachtio.SipRequest`,
    with the core's typed views); the common parts are here too. Header
    access is case-insensitive and knows the compact names (``req.get("f")``
    is the From header).
    """

    __slots__ = (
        "_cancel_reason",
        "_cancelled",
        "_message",
        "dialog_id",
        "link",
        "method",
        "received_at",
        "source",
        "transaction_id",
    )

    def __init__(
        self,
        message: SipRequest | SipJson,
        *,
        transaction_id: str,
        link: Link,
        source: Source | None = None,
        dialog_id: str | None = None,
        received_at: float | None = None,
        method: str | None = None,
    ) -> None:
        # The core's message, or the link's form of it until message is first read.
        self._message = message
        if method is None:
            assert isinstance(message, SipRequest), "a request in JSON form needs its method"
            method = message.method
        self.method: str = method
        """``INVITE``, ``BYE``..."""
        self.transaction_id = transaction_id
        self.link = link
        self.source = source
        self.dialog_id = dialog_id
        self.received_at = received_at
        self._cancelled: asyncio.Event | None = None
        self._cancel_reason: str | None = None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} transaction={self.transaction_id}>"

    # ------------------------------------------------------------ the message

    @property
    def message(self) -> SipRequest:
        """The request as the core's message.

        Built when first read, from the form the link gave: over a connection
        that is JSON, and building the message from it costs more than
        handling an ACK or a BYE in a dialog, which need the method only.
        """
        message = self._message
        if not isinstance(message, SipRequest):
            message = self.link.sip_message(message)
            assert isinstance(message, SipRequest)
            self._message = message
        return message

    @property
    def uri(self) -> Uri:
        """The Request-URI."""
        return self.message.uri

    def get(self, name: str) -> str | None:
        """The first value of header ``name`` (any case, long or compact name), or None."""
        return self.message.header(name)

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name``, in order."""
        return self.message.header_all(name)

    def has(self, name: str) -> bool:
        """Whether the request carries header ``name``."""
        return name in self.message

    @property
    def from_(self) -> NameAddr | None:
        return self.message.from_

    @property
    def to(self) -> NameAddr | None:
        return self.message.to

    @property
    def contacts(self) -> list[NameAddr]:
        return self.message.contacts

    @property
    def vias(self) -> list[Via]:
        return self.message.vias

    @property
    def cseq(self) -> CSeq | None:
        return self.message.cseq

    @property
    def call_id(self) -> str | None:
        return self.message.call_id

    @property
    def content_type(self) -> MediaType | None:
        return self.message.content_type

    @property
    def body(self) -> bytes:
        """The body; read from the link's form when it tells, without building the message."""
        body = message_body(self._message)
        return self.message.body if body is None else body

    @property
    def text(self) -> str:
        """The body as text (UTF-8); an SDP offer, for instance."""
        return self.body.decode("utf-8", "replace")

    @property
    def calling_number(self) -> str | None:
        """Who calls: the user part of P-Asserted-Identity, else of From (RFC 3325)."""
        asserted = self.get("P-Asserted-Identity")
        if asserted is not None:
            return _user(NameAddr(asserted.split(",", 1)[0]).uri)
        from_ = self.from_
        return _user(from_.uri if from_ is not None else None)

    @property
    def called_number(self) -> str | None:
        """Who is called: the user part of the Request-URI."""
        return _user(self.uri)

    # ------------------------------------------------------------ where it came from

    @property
    def source_address(self) -> str | None:
        return self.source.address if self.source is not None else None

    @property
    def source_port(self) -> int | None:
        return self.source.port if self.source is not None else None

    @property
    def transport(self) -> str | None:
        """``udp``, ``tcp``... the transport the request came over."""
        return self.source.transport if self.source is not None else None

    # ------------------------------------------------------------ CANCEL

    @property
    def cancelled(self) -> bool:
        """Whether the caller cancelled the request (or the server gave up on it)."""
        return self._cancel_reason is not None

    @property
    def cancel_reason(self) -> str | None:
        """Why it was cancelled: the server's ``cancel`` reason, or None."""
        return self._cancel_reason

    async def wait_cancelled(self) -> str:
        """Wait until the request is cancelled; the reason."""
        if self._cancel_reason is None:
            if self._cancelled is None:
                self._cancelled = asyncio.Event()
            await self._cancelled.wait()
        assert self._cancel_reason is not None
        return self._cancel_reason

    def _cancel(self, reason: str) -> None:
        if self._cancel_reason is None:
            self._cancel_reason = reason
            if self._cancelled is not None:
                self._cancelled.set()


class Response:
    """The answer to one :class:`Request`: provisional responses, then one final response."""

    __slots__ = ("_final", "_on_final", "_request", "_sent", "dialog_id")

    def __init__(self, request: Request, on_final: Callable[[Request], None] | None = None) -> None:
        self._request = request
        self._on_final = on_final
        self._final: int | None = None
        # The last response sent, in the link's form until sent is first read.
        self._sent: SipJson | None = None
        self.dialog_id: str | None = None
        """The dialog a 2xx to an INVITE or SUBSCRIBE created, or the early
        dialog of the last provisional response with our tag to an INVITE."""

    def __repr__(self) -> str:
        return f"<Response to {self._request.method} status={self._final}>"

    @property
    def finished(self) -> bool:
        """Whether the final response has been sent."""
        return self._final is not None

    @property
    def status(self) -> int | None:
        """The final status sent, or None."""
        return self._final

    @property
    def sent(self) -> SipResponse | None:
        """The last response sent, as the server built it, or None.

        Built when first read: over a connection the server's answer carries
        it as JSON, and building the core's message from that costs more than
        the rest of answering.
        """
        sent = self._sent
        if sent is None or isinstance(sent, SipResponse):
            return sent
        message = self._request.link.sip_message(sent)
        assert isinstance(message, SipResponse)
        self._sent = message
        return message

    async def send(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: Headers | None = None,
        body: str | bytes | None = None,
    ) -> SipResponse:
        """Send a response; any number of provisional ones (1xx) may precede one final one.

        Returns the response as the server built and sent it.

        Raises:
            LocalError: a second final response.
            RequestFailed: the server refused it (the reason says why; for
                instance the caller cancelled the request first).
            ConnectionLost: the connection to the server went away.
        """
        await self._send(status, reason, headers, body, None)
        sent = self.sent
        assert sent is not None
        return sent

    def answer_now(
        self, status: int, headers: Headers | None = None, body: str | bytes | None = None
    ) -> None:
        """Send a final response without waiting for the server's answer to it.

        For answers nobody awaits (a dialog's default answers): no task is
        made for them. A refusal is logged.

        Raises:
            LocalError: the request already has a final response.
        """
        command = self._command(status, None, headers, body)
        self._request.link.submit(command, self._answered).add_done_callback(_log_refusal)

    def _command(
        self, status: int, reason: str | None, headers: Headers | None, body: str | bytes | None
    ) -> RespondToSipRequest:
        """The command that sends this response; a final one is recorded as sent."""
        if self._final is not None:
            raise LocalError(f"{self._request.method} already has a final response ({self._final})")
        if status >= 200:
            self._final = status
        return RespondToSipRequest(
            self._request.transaction_id, status, reason, simple_headers(headers), body_text(body)
        )

    def _answered(self, result: ResponseData) -> None:
        """The server sent the final response: the request is done, and this is what went."""
        if self._on_final is not None:
            self._on_final(self._request)
        self._record(result)

    def _record(self, result: ResponseData) -> None:
        if isinstance(result, RespondResult):
            self.dialog_id = result.dialog_id
            self._sent = result.message

    async def _send(
        self,
        status: int,
        reason: str | None,
        headers: Headers | None,
        body: str | bytes | None,
        on_dialog: Callable[[str], None] | None,
    ) -> None:
        """:meth:`send` without building the response sent (:attr:`sent` does, when read);
        ``on_dialog(dialog_id)`` as soon as a 2xx created a dialog."""
        command = self._command(status, reason, headers, body)

        def sent(data: ResponseData) -> None:
            if on_dialog is not None and isinstance(data, RespondResult) and data.dialog_id:
                on_dialog(data.dialog_id)

        try:
            result = await self._request.link.call(command, on_result=sent)
        except BaseException:
            if status >= 200:
                self._final = None
            raise
        assert isinstance(result, RespondResult)
        if status >= 200:
            self._answered(result)
        else:
            self._record(result)


def _log_refusal(future: asyncio.Future[ResponseData]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    result = future.result() if exc is None else None
    if exc is not None:
        log.debug("answer not sent: %s", exc)
    elif isinstance(result, Failure):
        log.warning("answer refused: %s", result.reason)


def simple_headers(headers: Headers | None) -> SimpleHeaders:
    """``headers`` as the control protocol carries them."""
    if headers is None:
        return {}
    return {
        name: value if isinstance(value, str) else list(value) for name, value in headers.items()
    }
