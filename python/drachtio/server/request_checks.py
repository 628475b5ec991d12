"""Headers of a received request that the server reads itself, checked before it acts.

The parser checks Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length
and each Contact header as it parses: a request with one of those malformed
never reaches the server (the stack answers it 400). Route and Record-Route,
and the Contact values taken together, are parsed only when read. The
server reads the Route of every request to decide whether it passes through
to another hop (RFC 3261 §16.4), and the Record-Route and Contact of a
request that creates a dialog, or moves its remote target, to know where
the dialog's requests go (§12.1.1, §12.2.2). :func:`malformed_header` reads
them first, so that a malformed one is answered 400 naming it (§8.2.6)
before anything is done with the request, instead of failing halfway
through it. :func:`unreachable_target` tells, when an application answers
such a request 2xx, that no request could ever reach the dialog's peer
(its target is no SIP or SIPS URI, or names an unknown transport): the 2xx
is refused then, since nothing could end that dialog.
"""

from __future__ import annotations

from drachtio._core import SipRequest, Uri
from drachtio.errors import ParseError
from drachtio.server.dialog import DIALOG_METHODS, TARGET_REFRESH_METHODS

__all__ = ["malformed_header", "malformed_reason", "unreachable_target"]

# The requests whose Contact becomes a dialog's remote target: those creating
# one (a NOTIFY may, for a SUBSCRIBE it overtakes) and the target refreshes.
_TARGET_METHODS = DIALOG_METHODS | TARGET_REFRESH_METHODS | {"NOTIFY"}


def malformed_reason(name: str, exc: ParseError) -> str:
    """The reason phrase of a 400 for a malformed ``name`` header (``exc`` says what is wrong)."""
    return f"Malformed {name} header: {exc.detail or exc.kind}"


def malformed_header(request: SipRequest) -> str | None:
    """The reason phrase of a 400 when a header the server reads in ``request``
    is malformed; ``None`` when all parse.

    Route in any request; Record-Route in a request creating a dialog (an
    INVITE, SUBSCRIBE or REFER without To tag); the Contacts, taken
    together, of a request whose Contact becomes a dialog's remote target
    (``*`` is for a REGISTER alone).
    """
    try:
        _ = request.route
    except ParseError as exc:
        return malformed_reason("Route", exc)
    method = request.method
    if method not in _TARGET_METHODS:
        return None
    if _creates_dialog(request):
        try:
            _ = request.record_route
        except ParseError as exc:
            return malformed_reason("Record-Route", exc)
    try:
        star, _ = request.contact_is_star, request.contacts
    except ParseError as exc:
        return malformed_reason("Contact", exc)
    if star:
        return "Malformed Contact header: * is for a REGISTER alone"
    return None


def unreachable_target(request: SipRequest) -> str | None:
    """Why a dialog made, or moved, by a 2xx to ``request`` could never be
    reached, or ``None``: the first hop of its requests (the first
    Record-Route of a request creating a dialog, else the Contact, else the
    From URI) is no SIP or SIPS URI (RFC 3261 §8.1.1.8), or names a
    transport no one knows. Nothing could end such a dialog.

    For a request :func:`malformed_header` passed. A proxy has no such
    concern: the requests it passes on are not checked for it.
    """
    creates = _creates_dialog(request)
    if creates and (routes := request.record_route):
        return _unreachable("Record-Route", routes[0].uri)
    if contacts := request.contacts:
        return _unreachable("Contact", contacts[0].uri)
    from_ = request.from_
    if creates and from_ is not None:
        return _unreachable("From", from_.uri)
    return None


def _creates_dialog(request: SipRequest) -> bool:
    to = request.to
    return request.method in DIALOG_METHODS and to is not None and to.tag is None


def _unreachable(name: str, uri: Uri) -> str | None:
    """Why no request could be sent to ``uri`` (from header ``name``), or ``None``."""
    try:
        transport = uri.next_hop_transport
    except ValueError as exc:
        return f"{name} cannot be reached: {exc}"
    if transport is None:
        return f"{name} is not a SIP or SIPS URI"
    return None
