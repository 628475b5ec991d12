"""The checks of the values in protocol messages, and the types of those values.

The message classes of :mod:`~drachtio.protocol.commands`,
:mod:`~drachtio.protocol.results` and :mod:`~drachtio.protocol.envelope`
check their fields with these. A refused value raises
:class:`LocalProtocolError` (``invalid_data``) with the JSON path of the
value; for what came from the peer, :func:`remote` turns it into a
:class:`RemoteProtocolError`.

This module is the package's own: its names are for the modules of
:mod:`drachtio.protocol`, which re-exports the types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from drachtio._core import SipMessage, SipRequest, SipResponse
from drachtio.protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

JsonObject = dict[str, Any]
SimpleHeaders = dict[str, str | list[str]]
"""Headers as applications write them: ``{"User-Agent": "x", "X-Tag": ["a", "b"]}``."""
SipJson = JsonObject | SipMessage
"""A SIP message in a protocol message: its JSON form, or the message itself when sending."""

# RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
# RFC 3986 §3.1 scheme, then at least one character without whitespace.
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")


def invalid(path: str, problem: str) -> LocalProtocolError:
    """The error for a refused value: ``invalid_data``, ``"<path>: <problem>"``."""
    return LocalProtocolError("invalid_data", f"{path}: {problem}", path)


def remote(
    error: LocalProtocolError, code: ErrorCode, *, rid: str | None, fatal: bool
) -> RemoteProtocolError:
    """``error``, raised by a check of a value the peer sent, as the peer's fault."""
    return RemoteProtocolError(code, error.message, path=error.path, rid=rid, fatal=fatal)


def kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def has_line_break(value: str) -> bool:
    return "\r" in value or "\n" in value or "\x00" in value


# The checks below return at once for a valid value of the exact type (the
# common case); the error messages come from the slower checks after. The
# constructors the server runs for every SIP message repeat the fast test
# inline and call the check only when it fails.


def check_str(value: object, path: str, *, line: bool = True) -> str:
    """A non-empty string; with ``line``, one without CR, LF or NUL."""
    if (
        type(value) is str
        and value
        and (not line or ("\r" not in value and "\n" not in value and "\x00" not in value))
    ):
        return value
    if not isinstance(value, str):
        raise invalid(path, f"must be a string, got {kind(value)}")
    if not value:
        raise invalid(path, "must not be empty")
    if line and has_line_break(value):
        raise invalid(path, "must not contain CR, LF or NUL")
    return value


def check_opt_str(value: object, path: str) -> str | None:
    if value is None or (
        type(value) is str
        and value
        and "\r" not in value
        and "\n" not in value
        and "\x00" not in value
    ):
        return value
    return check_str(value, path)


def check_int(value: object, path: str, low: int, high: int) -> int:
    if type(value) is int and low <= value <= high:
        return value
    # bool is an int in Python, never in the protocol.
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(path, f"must be an integer from {low} to {high}, got {kind(value)}")
    if not low <= value <= high:
        raise invalid(path, f"must be an integer from {low} to {high}, got {value}")
    return value


def check_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(path, f"must be true or false, got {kind(value)}")
    return value


def check_true(value: object, path: str) -> None:
    if value is not True:
        raise invalid(path, f"must be true, got {kind(value)}")


def check_token(value: object, path: str, what: str) -> str:
    check_str(value, path)
    assert isinstance(value, str)
    if not TOKEN.fullmatch(value):
        raise invalid(path, f"{shown(value)} is not {what} (an RFC 3261 token)")
    return value


def check_object(value: object, path: str) -> Mapping[str, Any]:
    if type(value) is dict:  # the common case, without the Mapping ABC's check
        return value
    if not isinstance(value, Mapping):
        raise invalid(path, f"must be an object, got {kind(value)}")
    return value


def check_headers(value: object, path: str) -> None:
    headers = check_object(value, path)
    for name, header_value in headers.items():
        if not isinstance(name, str) or not TOKEN.fullmatch(name):
            raise invalid(path, f"header name {shown(str(name))} is not a token")
        if type(header_value) is str and (
            "\r" not in header_value and "\n" not in header_value and "\x00" not in header_value
        ):
            continue  # the common case: one valid value
        item_path = f"{path}.{name}"
        if isinstance(header_value, list):
            if not header_value:
                raise invalid(item_path, "must not be an empty array")
            for index, item in enumerate(header_value):
                check_header_value(item, f"{item_path}[{index}]")
        else:
            check_header_value(header_value, item_path)


def check_header_value(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise invalid(path, f"must be a string or an array of strings, got {kind(value)}")
    # An empty value is legal SIP (RFC 3261 §25.1, e.g. "Subject:"); line breaks never are.
    if has_line_break(value):
        raise invalid(path, "must not contain CR, LF or NUL")


def check_sip_message(value: object, path: str, start: str | None = None) -> None:
    """The JSON form of a SIP message (docs/json-form.md), checked in outline only.

    A :class:`~drachtio.SipMessage` is valid by construction; only its kind is checked.
    """
    if isinstance(value, SipMessage):
        if start == "request_uri" and not isinstance(value, SipRequest):
            raise invalid(path, "must be a SIP request")
        if start == "status_line" and not isinstance(value, SipResponse):
            raise invalid(path, "must be a SIP response")
        return
    message = check_object(value, path)
    has_request = "request_uri" in message
    has_status = "status_line" in message
    if has_request == has_status:
        raise invalid(path, "must have exactly one of request_uri and status_line")
    if start is not None and start not in message:
        raise invalid(path, f"must have {start}")
    key = "request_uri" if has_request else "status_line"
    check_object(message[key], f"{path}.{key}")
    check_object(message.get("headers"), f"{path}.headers")


# The classes of the core's messages, for a check by exact type without a call.
SIP_MESSAGE_TYPES = (SipRequest, SipResponse)


def message_json(message: SipJson) -> Any:
    """What ``to_json()`` holds for a message: the dict, or the core's JSON text."""
    if isinstance(message, SipMessage):
        return orjson.Fragment(message.to_json())
    return message


def require(data: Mapping[str, Any], key: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise invalid(f"data.{key}", "is required") from None


def require_at(data: Mapping[str, Any], key: str, path: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise invalid(f"{path}.{key}", "is required") from None
