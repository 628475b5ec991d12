"""The rules the values in protocol messages obey, each written once, and their types.

The message classes of :mod:`~drachtio.protocol.commands`,
:mod:`~drachtio.protocol.results` and :mod:`~drachtio.protocol.envelope`
check each of their fields with one of the functions here. A refused value
raises :class:`LocalProtocolError` (``invalid_data``) naming the JSON path of
the value; for what came from the peer, :func:`remote` turns it into a
:class:`RemoteProtocolError`.

Each ``check_*`` function tests its rule once and, only when the value is
refused, works out which part of the rule it breaks for the message.

This module is the package's own: its names are for the modules of
:mod:`drachtio.protocol`, which re-exports the types.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

import orjson

from drachtio._core import SipMessage, SipRequest, SipResponse
from drachtio.protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from drachtio.tags import is_tag

JsonObject = dict[str, Any]
SimpleHeaders = dict[str, str | list[str]]
"""Headers as applications write them: ``{"User-Agent": "x", "X-Tag": ["a", "b"]}``."""
SipJson = JsonObject | SipMessage
"""A SIP message in a protocol message: its JSON form, or the message itself when sending."""

# RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
# The methods of RFC 3261 and of the RFCs that extend it that the core knows
# by name (drachtio_sip's Method); any other token is an extension method.
STANDARD_METHODS = frozenset(
    {
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    }
)
# RFC 3986 §3.1 scheme, then at least one character without whitespace.
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")


# ---------------------------------------------------------------- errors


def invalid(path: str, problem: str) -> LocalProtocolError:
    """The error for a refused value: ``invalid_data``, ``"<path>: <problem>"``."""
    return LocalProtocolError("invalid_data", f"{path}: {problem}", path)


def remote(
    error: LocalProtocolError, code: ErrorCode, *, rid: str | None, fatal: bool
) -> RemoteProtocolError:
    """``error``, raised by a check of a value the peer sent, as the peer's fault."""
    return RemoteProtocolError(code, error.message, path=error.path, rid=rid, fatal=fatal)


def kind(value: object) -> str:
    """What ``value`` is, in JSON's words, for an error message."""
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
    """``value`` quoted for an error message, cut after 40 characters."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


# ---------------------------------------------------------------- strings


def check_string(value: object, path: str) -> str:
    """Any string: empty, with line breaks (a body, a secret)."""
    if isinstance(value, str):
        return value
    raise invalid(path, f"must be a string, got {kind(value)}")


def check_text(value: object, path: str) -> str:
    """A non-empty string, line breaks allowed (a failure's ``reason``, for people)."""
    if isinstance(value, str) and value:
        return value
    check_string(value, path)  # raises unless a string
    raise invalid(path, "must not be empty")


def check_line(value: object, path: str) -> str:
    """The single-line rule: a non-empty string without CR, LF or NUL.

    What every identifier, name and reason in the protocol is (the ``rid``,
    transaction and dialog ids, ...): a value that can be written on one
    line of a SIP message or of a log.
    """
    if (
        isinstance(value, str)
        and value
        and "\r" not in value
        and "\n" not in value
        and "\x00" not in value
    ):
        return value
    check_text(value, path)  # raises unless a non-empty string
    raise invalid(path, "must not contain CR, LF or NUL")


def is_line(value: object) -> bool:
    """Whether ``value`` is exactly a ``str`` that follows the single-line rule.

    The test of :func:`check_line` for the fast paths that read what a peer
    sends most: they take a value only when it passes, and otherwise leave it
    to the checks (a ``str`` subclass too), which word the refusal.
    """
    return (
        type(value) is str
        and value != ""
        and "\r" not in value
        and "\n" not in value
        and "\x00" not in value
    )


def check_tags(value: object, path: str) -> tuple[str, ...]:
    """A list of application tags (:func:`drachtio.tags.is_tag`), as a tuple."""
    if not isinstance(value, list):
        raise invalid(path, f"must be a list of tags, got {kind(value)}")
    for index, tag in enumerate(value):
        if not (isinstance(tag, str) and is_tag(tag)):
            where = f"{path}[{index}]"
            check_string(tag, where)  # raises unless a string
            raise invalid(where, f"{shown(tag)} is not a tag: empty, or holds ',', '|' or CR/LF")
    return tuple(value)


def check_header_value(value: object, path: str) -> None:
    """The value of a header: a string that follows the single-line rule, or is
    empty (legal SIP, RFC 3261 §25.1: ``Subject:``)."""
    if value == "":
        return
    if not isinstance(value, str):
        raise invalid(path, f"must be a string or an array of strings, got {kind(value)}")
    check_line(value, path)


def check_token(value: object, path: str, what: str) -> str:
    """An RFC 3261 token (a method, a header name), ``what`` naming it for the error."""
    text = check_line(value, path)
    if not TOKEN.fullmatch(text):
        raise invalid(path, f"{shown(text)} is not {what} (an RFC 3261 token)")
    return text


def method_named(name: str) -> str:
    """The SIP method ``name`` means where a method may be named in any case
    (a route, a handler): a standard method in upper case, any other (an
    extension method, case-sensitive as every method is on the wire, RFC
    3261 §7.1) as written."""
    upper = name.upper()
    return upper if upper in STANDARD_METHODS else name


def check_method(value: object, path: str) -> str:
    """A SIP method as it goes on the wire: a token, and a standard method in upper case.

    Method names are case-sensitive (RFC 3261 §7.1): ``"invite"`` would be
    an extension method of its own, which is never what was meant.
    """
    method = check_token(value, path, "a SIP method")
    upper = method.upper()
    if method != upper and upper in STANDARD_METHODS:
        raise invalid(
            path,
            f"{shown(method)} is not {upper}: SIP method names are case-sensitive "
            f"(RFC 3261 §7.1), write {upper!r}",
        )
    return method


def check_body_type(headers: Mapping[str, object], body: str | None, path: str) -> None:
    """A non-empty body comes with a Content-Type header (RFC 3261 §20.15)."""
    if body and not any(name.lower() in ("content-type", "c") for name in headers):
        raise invalid(path, "a body needs a Content-Type header (RFC 3261 §20.15)")


def check_choice(value: object, choices: Collection[str], path: str) -> str:
    """One of ``choices`` (strings, matched exactly)."""
    if value in choices:
        return value  # type: ignore[return-value]  # one of the strings
    got = shown(value) if isinstance(value, str) else kind(value)
    raise invalid(path, f"must be one of {', '.join(choices)}, got {got}")


# ---------------------------------------------------------------- numbers


def check_int(value: object, path: str, low: int, high: int) -> int:
    """An integer from ``low`` to ``high``; ``True`` is not one (it is in Python)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if low <= value <= high:
            return value
        raise invalid(path, f"must be an integer from {low} to {high}, got {value}")
    raise invalid(path, f"must be an integer from {low} to {high}, got {kind(value)}")


def check_seconds(value: object, path: str) -> float:
    """A non-negative number (integer or not) of seconds; ``True`` is not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return value
    raise invalid(path, "must be a non-negative number of seconds")


def check_bool(value: object, path: str) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise invalid(path, f"must be true or false, got {kind(value)}")
    return value


def check_true(value: object, path: str) -> None:
    """``true``: the only value of ``success`` and ``pong`` in a successful response."""
    if value is not True:
        raise invalid(path, f"must be true, got {kind(value)}")


# ---------------------------------------------------------------- objects


def check_object(value: object, path: str) -> Mapping[str, Any]:
    """A JSON object: any mapping."""
    # dict first: the common case, answered without the Mapping ABC's slow check.
    if isinstance(value, (dict, Mapping)):
        return value
    raise invalid(path, f"must be an object, got {kind(value)}")


def require(data: Mapping[str, Any], key: str, path: str = "data") -> Any:
    """``data[key]``, which must be there (``path`` is where ``data`` is)."""
    try:
        return data[key]
    except KeyError:
        raise invalid(f"{path}.{key}", "is required") from None


def check_headers(value: object, path: str) -> None:
    """Headers (:data:`SimpleHeaders`): token names, each to a value or a non-empty array."""
    headers = check_object(value, path)
    for name, header_value in headers.items():
        if not isinstance(name, str) or not TOKEN.fullmatch(name):
            raise invalid(path, f"header name {shown(str(name))} is not a token")
        if isinstance(header_value, list):
            if not header_value:
                raise invalid(f"{path}.{name}", "must not be an empty array")
            for index, item in enumerate(header_value):
                check_header_value(item, f"{path}.{name}[{index}]")
        else:
            check_header_value(header_value, f"{path}.{name}")


def check_sip_message(value: object, path: str, start: str | None = None) -> None:
    """The JSON form of a SIP message (docs/json-form.md), checked in outline only.

    ``start`` is ``"request_uri"`` when it must be a request, ``"status_line"``
    when it must be a response. A :class:`~drachtio.SipMessage` is valid by
    construction; only its kind is checked.
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


def is_sip_message(value: object, start: str | None = None) -> bool:
    """Whether ``value`` is a JSON form :func:`check_sip_message` accepts, made
    of exact ``dict`` objects: the test of the fast paths (see :func:`is_line`)."""
    if type(value) is not dict:
        return False
    has_request = "request_uri" in value
    if has_request == ("status_line" in value):
        return False
    key = "request_uri" if has_request else "status_line"
    return (
        (start is None or key == start)
        and type(value[key]) is dict
        and type(value.get("headers")) is dict
    )


def message_json(message: SipJson) -> Any:
    """What ``to_json()`` holds for a message: the dict, or the core's JSON text."""
    if isinstance(message, SipMessage):
        return orjson.Fragment(message.to_json())
    return message
