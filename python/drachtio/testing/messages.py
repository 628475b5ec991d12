"""The messages a scripted phone sends: their headers, bodies and SDP.

The phone writes From, To, Call-ID, CSeq and Via itself; :func:`header_list`
turns the extra headers a test gives into the list a message is built from,
refusing those that would contradict the phone's dialog state.
:func:`encode_body` makes the body of an SDP or of text, and :func:`sdp` a
minimal SDP for offers and answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from drachtio.errors import LocalError

if TYPE_CHECKING:
    from drachtio.testing.phone import SipPhone

__all__ = [
    "CONTACT_NAMES",
    "TO_NAMES",
    "Headers",
    "decode_text",
    "encode_body",
    "has_header",
    "header_list",
    "own_contact",
    "sdp",
]

Headers = Mapping[str, str | list[str]]
"""Extra headers: ``{"X-Account": "42", "P-Asserted-Identity": "<sip:+15551234@example.com>"}``."""

# Headers the phone writes itself: given in ``headers`` they would contradict its dialog state.
_OWN = frozenset(("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"))
CONTACT_NAMES = frozenset(("contact", "m"))
"""The names of Contact (long and compact form)."""
TO_NAMES = frozenset(("to", "t"))
"""The names of To (long and compact form)."""


def sdp(port: int = 40000, *, host: str = "127.0.0.1", version: int = 1) -> str:
    """A minimal SDP (one PCMU audio stream on ``host:port``), for offers and answers.

    ``version`` is the origin's session version, to tell two offers apart.
    """
    return (
        "v=0\r\n"
        f"o=- 1 {version} IN IP4 {host}\r\n"
        "s=-\r\n"
        f"c=IN IP4 {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
    )


def header_list(
    headers: Headers | None, allowed: frozenset[str] = CONTACT_NAMES
) -> list[tuple[str, str]]:
    """``headers`` as a list; of those the phone writes, only ``allowed`` may be given."""
    out: list[tuple[str, str]] = []
    for name, value in (headers or {}).items():
        if name.lower() in _OWN - allowed:
            raise LocalError(f"the phone writes {name} itself")
        for one in [value] if isinstance(value, str) else value:
            out.append((name, one))
    return out


def encode_body(headers: list[tuple[str, str]], sdp: str | None, body: str | bytes | None) -> bytes:
    """The body to send; a Content-Type for an SDP unless ``headers`` has one."""
    if sdp is not None and body is not None:
        raise LocalError("give sdp or body, not both")
    if sdp is not None:
        if not any(name.lower() in ("content-type", "c") for name, _ in headers):
            headers.append(("Content-Type", "application/sdp"))
        return sdp.encode()
    if isinstance(body, str):
        return body.encode()
    return body or b""


def has_header(headers: list[tuple[str, str]], names: frozenset[str]) -> bool:
    """Whether ``headers`` has one of ``names`` (lower case)."""
    return any(name.lower() in names for name, _ in headers)


def own_contact(phone: SipPhone, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The phone's Contact, unless ``headers`` give one."""
    return [] if has_header(headers, CONTACT_NAMES) else [("Contact", phone.contact)]


def decode_text(body: bytes) -> str | None:
    """A received body as text (an SDP), or None when there is none."""
    return body.decode("utf-8", "replace") if body else None
