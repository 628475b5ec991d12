"""Framing of the control protocol: ``<byte-length>#<json>`` in both directions.

The length is the number of bytes of the UTF-8 encoded JSON text that follows
the ``#`` (the original implementation counted characters, which broke every
frame carrying a non-ASCII character). The decoder is bounded: the length is
checked against the maximum frame size digit by digit, so a prefix announcing
2 GB is refused before a single body byte is buffered.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import orjson

from drachtio.length_prefix import LengthPrefixError, read_length_prefix
from drachtio.protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "FrameDecoder", "encode_frame"]

DEFAULT_MAX_FRAME_SIZE = 1024 * 1024
"""The largest JSON body accepted or sent, in bytes (1 MiB)."""

_HASH = 0x23


def encode_frame(obj: Mapping[str, Any], max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """Serialize a JSON object and frame it as ``<byte-length>#<json>``.

    Raises:
        LocalProtocolError: ``frame_too_large`` when the JSON is longer than
            ``max_frame_size`` bytes (the peer would refuse it), or
            ``invalid_data`` when ``obj`` is not serializable as JSON.
    """
    try:
        body = orjson.dumps(obj)
    except TypeError as exc:
        raise LocalProtocolError("invalid_data", f"not serializable as JSON: {exc}") from None
    size = len(body)
    if size > max_frame_size:
        raise LocalProtocolError(
            "frame_too_large",
            f"frame of {size} bytes exceeds the maximum of {max_frame_size} bytes",
        )
    return b"%d#%b" % (size, body)


class FrameDecoder:
    """Split a byte stream into JSON objects, whatever the chunking.

    Feed bytes with :meth:`receive_data`; iterate what it returns to get each
    complete frame's JSON object (or feed them with :meth:`feed` and call
    :meth:`next_frame` until it returns ``None``). The first error raises
    :class:`RemoteProtocolError` (always ``fatal``) and poisons the decoder:
    feeding it again raises :class:`LocalProtocolError`.
    """

    __slots__ = ("_buffer", "_error", "_length", "_max_digits", "_pos", "max_frame_size")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size < 2:
            raise ValueError("max_frame_size must be at least 2 (the shortest JSON object)")
        self.max_frame_size = max_frame_size
        # A longer prefix can only be padded with zeros: refuse it rather than scan on.
        self._max_digits = len(str(max_frame_size))
        self._buffer = bytearray()
        self._pos = 0
        # Body length once the prefix is complete; None while reading the prefix.
        self._length: int | None = None
        self._error: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame (its length prefix excluded once read)."""
        return len(self._buffer) - self._pos

    def receive_data(self, data: bytes) -> Iterator[dict[str, Any]]:
        """Buffer ``data`` and return an iterator over the frames now complete.

        Frames before a bad one are yielded before the error is raised. Frames
        left unread when the iterator is dropped are returned by the next call.

        Raises:
            RemoteProtocolError: while iterating, on a bad length prefix, a
                frame over the maximum, or a body that is not a JSON object.
            LocalProtocolError: when the decoder already failed.
        """
        self.feed(data)
        return self._frames()

    def feed(self, data: bytes) -> None:
        """Buffer ``data``; then call :meth:`next_frame` until it returns ``None``.

        With :meth:`next_frame`, :meth:`receive_data` without a generator
        (:class:`~drachtio.protocol.Connection` reads frames so).

        Raises:
            LocalProtocolError: when the decoder already failed.
        """
        if self._error is not None:
            raise LocalProtocolError(
                "connection_closed", f"the frame decoder failed earlier: {self._error.message}"
            ) from self._error
        self._buffer += data

    def _frames(self) -> Iterator[dict[str, Any]]:
        while True:
            if self._error is not None:
                raise self._error
            obj = self.next_frame()
            if obj is None:
                return
            yield obj

    def next_frame(self) -> dict[str, Any] | None:
        """The next complete frame's JSON object, or ``None`` until more bytes come.

        Raises:
            RemoteProtocolError: on a bad frame (the decoder is then failed).
        """
        buffer = self._buffer
        if not buffer:  # every byte read (the buffer is emptied then)
            return None
        start = self._pos
        length = self._length
        size = len(buffer)
        if length is None:
            # The common case first: a complete, well-formed prefix.
            hash_at = buffer.find(_HASH, start, start + self._max_digits + 1)
            if hash_at > start:
                digits = buffer[start:hash_at]
                # isdigit() of bytes is ASCII digits only; int() would accept more.
                if digits.isdigit():
                    value = int(digits)
                    if value <= self.max_frame_size:
                        length = value
                        start = hash_at + 1
            if length is None:
                if start == size:  # every byte read: nothing to scan
                    self._compact()
                    return None
                length = self._read_prefix()
                if length is None:
                    self._compact()
                    return None
                start = self._pos
        end = start + length
        if size < end:
            self._pos = start
            self._length = length
            self._compact()
            return None
        # A copy of the body: cheaper than a memoryview for frames of a few KiB.
        body = buffer[start:end]
        problem: str | None = None
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            # Keep the message only: the exception holds the whole body, which may
            # carry a secret, and must not ride along as __context__.
            problem = str(exc)
        del body
        if problem is not None:
            self._fail("invalid_json", f"frame body is not valid JSON: {problem}")
        if type(obj) is not dict:
            self._fail(
                "not_an_object",
                f"frame body is a JSON {_json_kind(obj)}, the protocol sends objects only",
            )
        if end == size:  # all read: start afresh rather than shift bytes later
            buffer.clear()
            self._pos = 0
        else:
            self._pos = end
        self._length = None
        return obj

    def _read_prefix(self) -> int | None:
        """Parse the length prefix if complete (None if not yet); raise on the first bad byte.

        The slow path of :meth:`next_frame`, for a prefix incomplete or bad:
        the rule both dialects share (:mod:`drachtio.length_prefix`) finds
        which, and words the error.
        """
        try:
            found = read_length_prefix(self._buffer, self.max_frame_size, self._pos)
        except LengthPrefixError as exc:
            self._fail(exc.code, exc.message)
        if found is None:
            return None
        self._length, self._pos = found
        return self._length

    def _compact(self) -> None:
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0

    def _fail(self, code: ErrorCode, message: str) -> NoReturn:
        self._error = RemoteProtocolError(code, message)
        self._buffer = bytearray()
        self._pos = 0
        raise self._error


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
