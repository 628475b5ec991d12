"""The session-timer headers put into the messages the server sends.

The negotiation (:mod:`.negotiation`) says which headers a message gets;
here they are put into an application's headers, or into a request already
built (the retry of a request answered 422, RFC 4028 §7.3). The server owns
``Session-Expires`` and ``Min-SE`` in the messages it negotiates: an
application's values are replaced. ``Supported`` and ``Require`` are the
application's too, and get ``timer`` only when they lack it.
"""

from __future__ import annotations

from drachtio._core import SipRequest
from drachtio.header_names import COMPACT_FORMS, canonical_name
from drachtio.protocol import SimpleHeaders
from drachtio.server.session_timer.negotiation import Headers

__all__ = ["merge_headers", "retry_request"]

_OWNED = frozenset({"session-expires", "min-se"})
_LISTS = frozenset({"supported", "require"})


def _lists_tag(values: list[str], tag: str) -> bool:
    return any(item.strip().lower() == tag for value in values for item in value.split(","))


def merge_headers(app: SimpleHeaders, ours: Headers) -> SimpleHeaders:
    """``app``'s headers with ``ours`` (Session-Expires, Min-SE, Supported, Require) put in.

    Session-Expires and Min-SE replace the application's; an option tag of
    ours already in the application's Supported or Require is not added
    again, another is added to them. A header of ours joins the first of
    the application's with the same name (in any case or form).
    """
    wanted = [(canonical_name(name), name, value) for name, value in ours]
    replaced = {canonical for canonical, _, _ in wanted} & _OWNED
    merged: SimpleHeaders = {}
    first: dict[str, str] = {}  # canonical name -> the first name in merged with it
    canonical_of = COMPACT_FORMS.get
    for name, value in app.items():
        lower = name.lower()
        canonical = canonical_of(lower, lower)  # canonical_name(name), inline: once per header
        if canonical in replaced:
            continue
        merged[name] = value
        if canonical not in first:
            first[canonical] = name
    for canonical, name, value in wanted:
        key = first.get(canonical)
        if key is None:
            merged[name] = value
            first[canonical] = name
            continue
        present = merged[key]
        values = present if isinstance(present, list) else [present]
        if canonical in _LISTS and _lists_tag(values, value.lower()):
            continue
        merged[key] = [*values, value]
    return merged


def retry_request(request: SipRequest, ours: Headers, seq: int) -> SipRequest:
    """``request`` sent again after a 422 (RFC 4028 §7.3): CSeq ``seq``, ``ours`` put in.

    Same Call-ID, From tag and body (RFC 3261 §8.1.3.5 has a retry take a
    new CSeq); no Via, which the stack adds with a new branch.
    """
    kept: list[tuple[str, str]] = []
    for name, value in request.headers:
        canonical = canonical_name(name)
        if canonical in ("via", "content-length") or canonical in _OWNED:
            continue
        if canonical == "cseq":
            value = f"{seq} {request.method}"
        kept.append((name, value))
    pairs: list[tuple[str, str]] = []
    for name, value in ours:
        if canonical_name(name) in _LISTS:
            values = [v for n, v in kept if canonical_name(n) == canonical_name(name)]
            if _lists_tag(values, value.lower()):
                continue
        pairs.append((name, value))
    body = request.body
    return SipRequest(
        request.method,
        str(request.uri),
        [*kept, *pairs, ("Content-Length", str(len(body)))],
        body,
    )
