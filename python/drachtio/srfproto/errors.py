"""Errors of the drachtio-srf wire protocol, split by whose fault they are.

A :class:`RemoteSrfError` means the peer sent something the protocol does not
allow. It carries a stable ``code``, the ``msg_id`` of the offending message
when it could be read, and whether the connection must close (``fatal``) or a
``NOK`` reply to ``msg_id`` is enough. A :class:`LocalSrfError` means our own
code tried to build a message the protocol cannot express (a token holding
``|``, a reply to a message nobody sent); nothing was sent.
"""

from __future__ import annotations

from typing import Literal

from drachtio.errors import DrachtioError

__all__ = ["LocalSrfError", "RemoteSrfError", "SrfErrorCode", "SrfProtocolError"]

SrfErrorCode = Literal[
    # Framing: always fatal.
    "bad_length_prefix",
    "length_prefix_too_long",
    "frame_too_large",
    "invalid_utf8",
    # The first frame is neither dialect: fatal.
    "not_a_dialect",
    # A well-framed message that cannot be parsed.
    "bad_leader",
    "unknown_type",
    "bad_token",
    "missing_sip_message",
    "bad_sip_message",
    # Message order.
    "not_authenticated",
    "already_authenticated",
    # Local misuse only.
    "bad_value",
    "connection_closed",
]
"""Stable names of what went wrong (see docs/srf-protocol.md, Errors)."""


class SrfProtocolError(DrachtioError):
    """A violation of the drachtio-srf wire protocol, by either side.

    Attributes:
        code: a stable snake_case name of the problem (see :data:`SrfErrorCode`).
        message: a human-readable description; never contains a secret.
    """

    def __init__(self, code: SrfErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: SrfErrorCode = code
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class RemoteSrfError(SrfProtocolError, ValueError):
    """The peer broke the protocol.

    Attributes:
        msg_id: the id of the offending message when it could be read, else ``None``.
        fatal: ``True`` when the connection must close; ``False`` when a
            ``NOK`` reply to ``msg_id`` suffices.
    """

    def __init__(
        self,
        code: SrfErrorCode,
        message: str,
        *,
        msg_id: str | None = None,
        fatal: bool = True,
    ) -> None:
        super().__init__(code, message)
        self.msg_id = msg_id
        self.fatal = fatal

    def __reduce__(
        self,
    ) -> tuple[type[RemoteSrfError], tuple[SrfErrorCode, str], dict[str, object]]:
        return (type(self), (self.code, self.message), dict(vars(self)))


class LocalSrfError(SrfProtocolError, RuntimeError):
    """Our own code used the protocol wrongly; nothing was sent."""

    def __reduce__(self) -> tuple[type[LocalSrfError], tuple[SrfErrorCode, str]]:
        return (type(self), (self.code, self.message))
