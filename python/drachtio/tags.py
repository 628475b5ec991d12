"""Application tags: names an application declares when it authenticates,
in either dialect, and that a request handler routes new requests to
(``docs/server.md``, "Request handler")."""

from __future__ import annotations

__all__ = ["is_tag"]


def is_tag(text: str) -> bool:
    """Whether ``text`` can be a tag: not empty, on one line, and without
    ``,`` or ``|`` (the drachtio-srf dialect carries a client's tags as one
    comma-separated token)."""
    return bool(text) and not any(c in text for c in ",|\r\n\0")
