"""SIP header names as the protocol compares them: case-insensitively, a
compact form meaning its full name (RFC 3261 §7.3.1, §7.3.3)."""

from __future__ import annotations

__all__ = ["COMPACT_FORMS", "canonical_name"]

COMPACT_FORMS = {
    "a": "accept-contact",  # RFC 3841
    "b": "referred-by",  # RFC 3892
    "c": "content-type",  # RFC 3261
    "d": "request-disposition",  # RFC 3841
    "e": "content-encoding",  # RFC 3261
    "f": "from",  # RFC 3261
    "i": "call-id",  # RFC 3261
    "j": "reject-contact",  # RFC 3841
    "k": "supported",  # RFC 3261
    "l": "content-length",  # RFC 3261
    "m": "contact",  # RFC 3261
    "o": "event",  # RFC 6665
    "r": "refer-to",  # RFC 3515
    "s": "subject",  # RFC 3261
    "t": "to",  # RFC 3261
    "u": "allow-events",  # RFC 6665
    "v": "via",  # RFC 3261
    "x": "session-expires",  # RFC 4028
    "y": "identity",  # RFC 8224
}
"""The compact forms of the IANA SIP header registry, lower-cased, to the
full names, lower-cased: the Rust parser's own table (``HeaderName`` in
``drachtio-sip``), which ``tests/test_header_names.py`` holds this one to."""


def canonical_name(name: str) -> str:
    """``name`` as compared: lower-cased, a compact form replaced by its full name."""
    lower = name.lower()
    return COMPACT_FORMS.get(lower, lower)
