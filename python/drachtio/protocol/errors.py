"""Errors of the control protocol, split by whose fault they are (the h11 model).

A :class:`RemoteProtocolError` means the peer sent something the protocol does
not allow; it carries a stable ``code`` and says whether the connection must
close (``fatal``) or whether an error response to ``rid`` is enough. A
:class:`LocalProtocolError` means our own code misused the protocol (sending a
response nobody asked for, an invalid message, a request before ``auth``).
"""

from __future__ import annotations

from typing import Literal

from drachtio.errors import DrachtioError

__all__ = ["ErrorCode", "LocalProtocolError", "ProtocolError", "RemoteProtocolError"]

ErrorCode = Literal[
    # Framing: always fatal, there is no rid to answer.
    "bad_length_prefix",
    "length_prefix_too_long",
    "frame_too_large",
    "invalid_json",
    "not_an_object",
    # Envelope and request/response matching: fatal.
    "bad_envelope",
    "duplicate_rid",
    "unknown_rid",
    "bad_response",
    "not_authenticated",
    "auth_failed",
    "peer_error",
    # A well-framed request the receiver refuses: an error response, the connection stays.
    "unknown_command",
    "invalid_data",
    "already_authenticated",
    # Local misuse only.
    "connection_closed",
]
"""Stable names of what went wrong; sent on the wire as ``data.error``."""


class ProtocolError(DrachtioError):
    """A violation of the control protocol, by either side.

    Attributes:
        code: a stable snake_case name of the problem (see :data:`ErrorCode`).
        message: a human-readable description; never contains a secret.
        path: the JSON path of the offending value (``data.code``), or ``None``.
    """

    def __init__(self, code: ErrorCode, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.path = path

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class RemoteProtocolError(ProtocolError, ValueError):
    """The peer broke the protocol.

    Attributes:
        rid: the rid of the request at fault when it could be read, else ``None``.
        fatal: ``True`` when the connection must close after the error is
            reported; ``False`` when an error response to ``rid`` suffices.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        path: str | None = None,
        rid: str | None = None,
        fatal: bool = True,
    ) -> None:
        super().__init__(code, message, path)
        self.rid = rid
        self.fatal = fatal

    def __reduce__(
        self,
    ) -> tuple[type[RemoteProtocolError], tuple[ErrorCode, str], dict[str, object]]:
        # Keyword-only attributes travel in the state dict; pickle restores __dict__.
        return (type(self), (self.code, self.message), dict(vars(self)))


class LocalProtocolError(ProtocolError, RuntimeError):
    """Our own code used the protocol wrongly; nothing was sent."""

    def __reduce__(
        self,
    ) -> tuple[type[LocalProtocolError], tuple[ErrorCode, str, str | None]]:
        return (type(self), (self.code, self.message, self.path))
