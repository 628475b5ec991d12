"""Exceptions raised by drachtio.

Every exception drachtio raises on purpose derives from :class:`DrachtioError`.
Errors caused by a peer's malformed input also derive from ``ValueError`` and
carry what a server should answer with.
"""

from __future__ import annotations

__all__ = [
    "DrachtioError",
    "LocalError",
    "ParseError",
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
