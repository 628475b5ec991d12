"""Framing of the drachtio-srf protocol: ``<byte-length>#<payload>``.

The length counts the bytes of the UTF-8 encoded payload, never its
characters: ``é`` is one character and two bytes, so its frame is ``2#é``.
The decoder is bounded: the prefix is checked against the maximum frame size
as each digit arrives, so a prefix announcing gigabytes is refused before a
byte of payload is buffered.
"""

from __future__ import annotations

from typing import NoReturn

from drachtio.length_prefix import LengthPrefixError
from drachtio.length_prefix import read_length_prefix as shared_prefix
from drachtio.srfproto.errors import LocalSrfError, RemoteSrfError, SrfErrorCode

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "FrameDecoder", "encode_frame", "read_length_prefix"]

DEFAULT_MAX_FRAME_SIZE = 1024 * 1024
"""The largest payload accepted or sent, in bytes (1 MiB)."""


def encode_frame(payload: str, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """Frame ``payload`` as ``<byte-length>#<utf-8 payload>``.

    Raises:
        LocalSrfError: ``bad_value`` for an empty payload (the peer refuses a
            length of zero) or one with a lone surrogate (not UTF-8);
            ``frame_too_large`` when the payload is longer than ``max_frame_size``
            bytes.
    """
    try:
        body = payload.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LocalSrfError("bad_value", f"payload is not encodable as UTF-8: {exc}") from None
    size = len(body)
    if size == 0:
        raise LocalSrfError("bad_value", "an empty payload cannot be framed (length 0)")
    if size > max_frame_size:
        raise LocalSrfError(
            "frame_too_large",
            f"payload of {size} bytes exceeds the maximum of {max_frame_size} bytes",
        )
    return b"%d#%b" % (size, body)


class FrameDecoder:
    """Split a byte stream into text payloads, whatever the chunking.

    Feed bytes with :meth:`feed`, then call :meth:`next_payload` until it
    returns ``None``. The first error raises :class:`RemoteSrfError` (always
    ``fatal``) and poisons the decoder: feeding it again raises
    :class:`LocalSrfError`.
    """

    __slots__ = ("_buffer", "_error", "_length", "max_frame_size")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size < 1:
            raise ValueError("max_frame_size must be at least 1")
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        # The payload length once its prefix is read; None while reading the prefix.
        self._length: int | None = None
        self._error: RemoteSrfError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame (its prefix excluded once read)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        """Buffer ``data``.

        Raises:
            LocalSrfError: when the decoder already failed.
        """
        if self._error is not None:
            raise LocalSrfError(
                "connection_closed", f"the frame decoder failed earlier: {self._error.message}"
            ) from self._error
        self._buffer += data

    def next_payload(self) -> str | None:
        """The next complete payload, or ``None`` until more bytes come.

        Raises:
            RemoteSrfError: on a bad prefix, an oversized frame or a payload
                that is not UTF-8 (the decoder is then failed).
        """
        if self._length is None:
            self._length = self._read_prefix()
            if self._length is None:
                return None
        length = self._length
        if len(self._buffer) < length:
            return None
        raw = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._length = None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._fail(
                "invalid_utf8",
                f"payload is not UTF-8: byte {exc.start} of {length} ({exc.reason})",
            )

    def payloads(self, data: bytes) -> list[str]:
        """Feed ``data`` and return every payload now complete, in order.

        Raises:
            RemoteSrfError: as :meth:`next_payload` (payloads before the bad
                frame are lost with the exception; use :meth:`next_payload` to
                keep them).
        """
        self.feed(data)
        out: list[str] = []
        while (payload := self.next_payload()) is not None:
            out.append(payload)
        return out

    def _read_prefix(self) -> int | None:
        """Consume a complete prefix and return its length (None while incomplete)."""
        try:
            found = read_length_prefix(self._buffer, self.max_frame_size)
        except RemoteSrfError as exc:
            self._fail(exc.code, exc.message)
        if found is None:
            return None
        length, start = found
        del self._buffer[:start]
        return length

    def _fail(self, code: SrfErrorCode, message: str) -> NoReturn:
        self._error = RemoteSrfError(code, message)
        self._buffer = bytearray()
        self._length = None
        raise self._error


def read_length_prefix(data: bytes | bytearray, max_frame_size: int) -> tuple[int, int] | None:
    """``(length, payload start)`` of the frame at the start of ``data``; None if incomplete.

    The prefix rule of both dialects (:func:`drachtio.length_prefix.read_length_prefix`),
    and this dialect's own: a length of 0 is refused (drachtio-srf refuses it too).

    Raises:
        RemoteSrfError: ``bad_length_prefix`` (a byte other than a digit or
            ``#``, a frame starting with ``#``, a length of 0),
            ``length_prefix_too_long`` or ``frame_too_large``; all fatal.
    """
    try:
        found = shared_prefix(data, max_frame_size)
    except LengthPrefixError as exc:
        raise RemoteSrfError(exc.code, exc.message) from None
    if found is not None and found[0] == 0:
        raise RemoteSrfError("bad_length_prefix", "length prefix is 0: a frame has a payload")
    return found
