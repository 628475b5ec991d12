"""The SIP message a drachtio-srf application writes, read leniently.

An application's message is often partial (a new request without Via, From,
Call-ID or CSeq, a response with only the headers the application adds), so
it is not parsed as a complete SIP message: :func:`read_sip_text` splits it
into its start line, its headers in order and its body. The body is
everything after the blank line: drachtio-srf writes Content-Length in
UTF-16 code units rather than bytes (docs/srf-protocol.md), so that header
is never trusted, and :func:`command_headers` leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from drachtio.srfproto.errors import RemoteSrfError

__all__ = ["SipText", "command_headers", "read_sip_text"]

_SDP_TYPE = "application/sdp"


@dataclass(slots=True, frozen=True)
class SipText:
    """A SIP message as written: start line, ``(name, value)`` headers in order, body."""

    start_line: str
    headers: tuple[tuple[str, str], ...]
    body: str

    @property
    def is_response(self) -> bool:
        """Whether the start line is a status line."""
        return self.start_line.startswith("SIP/")

    @property
    def method(self) -> str:
        """A request's method (the first word of its start line)."""
        return self.start_line.split(" ", 1)[0]

    @property
    def request_uri(self) -> str:
        """A request's Request-URI (the second word of its start line)."""
        return self.start_line.split(" ")[1]

    def status(self, msg_id: str) -> tuple[int, str | None]:
        """A response's status code and reason phrase (``None`` when empty).

        Raises:
            RemoteSrfError: ``bad_sip_message`` (not fatal) when the code is
                not three digits from 100 to 699.
        """
        parts = self.start_line.split(" ", 2)
        code = parts[1] if len(parts) > 1 else ""
        if len(code) != 3 or not code.isascii() or not code.isdigit() or not 100 <= int(code) < 700:
            raise RemoteSrfError(
                "bad_sip_message",
                f"sip: status line {self.start_line[:80]!r} has no status code from 100 to 699",
                msg_id=msg_id,
                fatal=False,
            )
        reason = parts[2].strip() if len(parts) > 2 else ""
        return int(code), reason or None


def read_sip_text(text: str, msg_id: str) -> SipText:
    """Split ``text`` into start line, headers and body.

    A header line starting with a space or a tab continues the one before
    (RFC 3261 §7.3.1).

    Raises:
        RemoteSrfError: ``bad_sip_message`` (not fatal: answered ``NOK``)
            for a header line without a colon, or with an empty name.
    """
    head, blank, body = text.partition("\r\n\r\n")
    if not blank and head.endswith("\r\n"):
        head = head[:-2]
    lines = head.split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            raise RemoteSrfError(
                "bad_sip_message",
                f"sip: header line {line[:80]!r} is not '<name>: <value>'",
                msg_id=msg_id,
                fatal=False,
            )
        headers.append((name, value.strip()))
    return SipText(lines[0], tuple(headers), body)


def command_headers(text: SipText, msg_id: str) -> dict[str, str | list[str]]:
    """The headers of ``text`` as the JSON protocol's ``headers`` (a repeated name: a list).

    Content-Length is left out (it is computed from the body as sent). A body
    without a Content-Type gets ``application/sdp`` when it starts with
    ``v=0``, as drachtio-server does.

    Raises:
        RemoteSrfError: ``bad_sip_message`` (not fatal): any other body without a Content-Type.
    """
    headers: dict[str, str | list[str]] = {}
    # The name each header was first written with, by its lower case.
    names: dict[str, str] = {}
    for name, value in text.headers:
        lower = name.lower()
        if lower in ("content-length", "l"):
            continue
        key = names.setdefault(lower, name)
        known = headers.get(key)
        if known is None:
            headers[key] = value
        elif isinstance(known, list):
            known.append(value)
        else:
            headers[key] = [known, value]
    if text.body and "content-type" not in names and "c" not in names:
        if not text.body.startswith("v=0"):
            raise RemoteSrfError(
                "bad_sip_message", "missing content-type", msg_id=msg_id, fatal=False
            )
        headers["Content-Type"] = _SDP_TYPE
    return headers
