"""The length prefix both control dialects frame with: ``<byte-length>#``.

The JSON protocol (:mod:`drachtio.protocol.framing`) and the drachtio-srf
protocol (:mod:`drachtio.srfproto.framing`) share one rule for the prefix:
ASCII digits then ``#``, at most as many digits as the maximum frame size
has, the value checked against that maximum as each digit arrives (a prefix
announcing gigabytes is refused before any payload is buffered). Each
dialect words the failure as its own error type; where they differ (a length
of zero: an empty JSON text for one, a refused prefix for the other) the
dialect decides after :func:`read_length_prefix` returns.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["LengthPrefixError", "PrefixErrorCode", "read_length_prefix"]

PrefixErrorCode = Literal["bad_length_prefix", "length_prefix_too_long", "frame_too_large"]
"""What is wrong with a prefix; both dialects' error codes of the same names."""

_HASH = 0x23
_ZERO = 0x30
_NINE = 0x39


class LengthPrefixError(ValueError):
    """A length prefix that breaks the rule; each dialect raises its own error from it."""

    def __init__(self, code: PrefixErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: PrefixErrorCode = code
        self.message = message


def read_length_prefix(
    data: bytes | bytearray, max_frame_size: int, start: int = 0
) -> tuple[int, int] | None:
    """``(length, payload start)`` of the prefix at ``data[start:]``; ``None`` while incomplete.

    Reads at most as many digits as ``max_frame_size`` has, plus the ``#``.
    A length of 0 is returned as such.

    Raises:
        LengthPrefixError: ``bad_length_prefix`` (a byte other than a digit
            or ``#``, or a ``#`` with no digit before it),
            ``length_prefix_too_long`` or ``frame_too_large``.
    """
    max_digits = len(str(max_frame_size))
    limit = min(len(data), start + max_digits + 1)
    value = 0
    for index in range(start, limit):
        byte = data[index]
        if _ZERO <= byte <= _NINE:
            value = value * 10 + (byte - _ZERO)
            if value > max_frame_size:
                raise LengthPrefixError(
                    "frame_too_large",
                    f"length prefix announces more than the maximum of {max_frame_size} bytes",
                )
        elif byte == _HASH:
            if index == start:
                raise LengthPrefixError(
                    "bad_length_prefix", "frame starts with '#': the length is missing"
                )
            return value, index + 1
        else:
            raise LengthPrefixError(
                "bad_length_prefix",
                f"byte {_show_byte(byte)} in the length prefix, expected a digit or '#'",
            )
    if limit - start > max_digits:
        raise LengthPrefixError(
            "length_prefix_too_long", f"length prefix longer than {max_digits} digits"
        )
    return None


def _show_byte(byte: int) -> str:
    """A byte as an error message shows it: ``'G'``, or ``0x00`` when not printable."""
    if 0x20 <= byte < 0x7F:
        return repr(chr(byte))
    return f"0x{byte:02x}"
