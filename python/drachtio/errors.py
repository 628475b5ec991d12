"""Exceptions raised by drachtio.

Every exception drachtio raises on purpose derives from :class:`DrachtioError`.
Errors caused by a peer's malformed input also derive from ``ValueError`` and
carry what a server should answer with.
"""

from __future__ import annotations

__all__ = [
    "ConnectionLost",
    "DrachtioError",
    "LocalError",
    "ParseError",
    "RequestFailed",
    "SipError",
    "StackClosed",
    "TransactionFinished",
    "UnknownTransaction",
]


class DrachtioError(Exception):
    """The root of drachtio's exceptions."""


class ParseError(DrachtioError, ValueError):
    """A SIP message, header value or URI that could not be parsed.

    Raised by :func:`drachtio.parse`, by the typed views of a message (``msg.vias``,
    ``msg.cseq``...) when the header they read is malformed, and by the ``Uri``,
    ``Via`` and ``NameAddr`` constructors.

    Attributes:
        kind: a stable snake_case name for what was wrong, e.g. ``"bad_via"``.
        offset: the byte offset where parsing stopped, in the message for
            :func:`drachtio.parse`, else in the header value or URI.
        status_code: the SIP status a server answers a bad request with
            (400, or 505 for an unsupported SIP version, 513 when too large).
        detail: a short human-readable detail, or ``None``.
    """

    def __init__(
        self,
        message: str,
        kind: str,
        offset: int = 0,
        status_code: int = 400,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.offset = offset
        self.status_code = status_code
        self.detail = detail

    def __reduce__(self) -> tuple[type[ParseError], tuple[str, str, int, int, str | None]]:
        # Exception's default would call ParseError(message) and lose the attributes.
        return (
            type(self),
            (self.message, self.kind, self.offset, self.status_code, self.detail),
        )


class LocalError(DrachtioError):
    """A call this program made that the SIP stack refused (our misuse, not a peer's).

    Raised by :class:`drachtio.SipStack` methods, e.g. for a request without the
    mandatory headers or a destination with no route; the subclasses name the
    common cases.
    """


class UnknownTransaction(LocalError):
    """The transaction id names no live transaction (never did, or it has ended)."""


class TransactionFinished(LocalError):
    """The server transaction already has its final response (or was cancelled)."""


class StackClosed(LocalError):
    """The stack is closing (no new transactions) or closed."""


class SipError(DrachtioError):
    """A SIP request or a dialog's setup that ended with an error status.

    Raised by an application's requests (``srf.request``, ``create_uac``...)
    when the final response is not a success, with the response when one
    came. Raised by a request handler, it answers the request with
    ``status`` and ``reason``.

    Attributes:
        status: the SIP status code, 300-699.
        reason: the reason phrase.
        response: the final response that ended the request, if one came.
    """

    def __init__(self, status: int, reason: str | None = None, response: object = None) -> None:
        self.status = status
        self.reason = reason or ""
        self.response = response
        super().__init__(f"{status} {self.reason}".rstrip())

    def __reduce__(self) -> tuple[type[SipError], tuple[int, str, None]]:
        return (type(self), (self.status, self.reason, None))


class RequestFailed(DrachtioError):
    """The server refused an application's command (``{success: false}``), with its reason."""


class ConnectionLost(DrachtioError):
    """The connection to the server was lost before the command was answered."""
