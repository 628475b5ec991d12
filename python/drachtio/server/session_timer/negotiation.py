"""Session-timer negotiation (RFC 4028 §7, §9): pure functions over messages.

The UAS role is :func:`answer_request`: an INVITE or UPDATE in, a 422 (or
400) or the headers of the 2xx out. The UAC role is :class:`UacOffer`: the
headers of an INVITE or UPDATE we send, :func:`retry_after_422` when it is
answered 422, and :func:`process_2xx` for the 2xx. Headers are read through
the core's typed views (``session_expires``, ``min_se``, ``supported``,
``require``); a malformed one raises :class:`~drachtio.errors.ParseError`
there, and is answered or reported here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from drachtio._core import SipMessage, SipRequest, SipResponse
from drachtio.errors import ParseError
from drachtio.server.request_checks import malformed_reason
from drachtio.server.session_timer.agreement import (
    MIN_SE_FLOOR,
    TIMER_TAG,
    Agreement,
    Refresher,
    SessionTimerConfig,
)

__all__ = [
    "Accept",
    "Headers",
    "Reject",
    "UacOffer",
    "answer_request",
    "process_2xx",
    "retry_after_422",
    "supports_timer",
]

Headers = tuple[tuple[str, str], ...]
"""Headers to add to a message, as ``(name, value)`` pairs."""

_TOO_SMALL = "Session Interval Too Small"


def supports_timer(message: SipMessage) -> bool:
    """Whether ``message`` lists the ``timer`` option tag in Supported or Require (§7.1, §9).

    Raises:
        ParseError: Supported or Require is malformed.
    """
    return any(tag.lower() == TIMER_TAG for tag in (*message.supported, *message.require))


@dataclass(frozen=True, slots=True)
class Reject:
    """Answer the request with this final response instead of a 2xx.

    ``status`` is 422 with a Min-SE header (§6, §9) or 400 for a malformed
    session-timer header, whose ``reason`` names it.
    """

    status: int
    reason: str
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Accept:
    """The request may be answered 2xx; ``headers`` go into that 2xx.

    ``agreement`` is the timer the 2xx sets up, or ``None`` when it sets up
    none (session timers disabled); ``headers`` is then empty.
    """

    agreement: Agreement | None
    headers: Headers = ()


def answer_request(
    request: SipRequest,
    config: SessionTimerConfig,
    *,
    dialog_min_se: int = MIN_SE_FLOOR,
) -> Accept | Reject:
    """The UAS's decision on an INVITE or UPDATE, initial or a refresh (RFC 4028 §9).

    * The floor is the largest of our ``min_se``, the request's Min-SE (90
      when absent, §5) and ``dialog_min_se`` (the largest seen earlier in
      the dialog, :attr:`Agreement.min_se`).
    * A Session-Expires below the floor is answered 422 with the floor as
      Min-SE when the UAC supports timers; when it does not, a 422 would
      only fail the call, so the interval is raised to the floor (RFC 4028
      errata 1687, as §8.1 has a proxy do).
    * Otherwise the interval is the request's, lowered to our
      ``session_expires`` if larger, never below the floor. Without
      Session-Expires it is our ``session_expires`` (at least the floor):
      a UAS may ask for a timer in its 2xx.
    * The refresher follows §9's table: the request's ``refresher`` when the
      UAC supports timers and gave one, else our configured default; ``uas``
      (us) when the UAC does not support timers.
    * The 2xx carries Session-Expires with the refresher, ``Require: timer``
      when the UAC supports timers (it must act on it), and
      ``Supported: timer``.

    A malformed Session-Expires, Min-SE, Supported or Require is answered 400
    naming the header.
    """
    if not config.enabled:
        return Accept(None)
    try:
        session_expires = request.session_expires
    except ParseError as exc:
        return _malformed("Session-Expires", exc)
    try:
        request_min_se = request.min_se
    except ParseError as exc:
        return _malformed("Min-SE", exc)
    try:
        timer = supports_timer(request)
    except ParseError as exc:
        return _malformed("Supported or Require", exc)
    floor = max(config.min_se, request_min_se or MIN_SE_FLOOR, dialog_min_se)
    if session_expires is None:
        interval = max(floor, config.session_expires)
    elif session_expires.delta < floor and timer:
        return Reject(422, _TOO_SMALL, (("Min-SE", str(floor)),))
    else:
        interval = max(floor, min(session_expires.delta, config.session_expires))
    refresher: Refresher = "uas"
    if timer:
        asked = None if session_expires is None else session_expires.refresher
        refresher = asked or config.refresher
    headers: list[tuple[str, str]] = [("Session-Expires", f"{interval};refresher={refresher}")]
    if timer:
        headers.append(("Require", TIMER_TAG))
    headers.append(("Supported", TIMER_TAG))
    agreement = Agreement(interval, floor, we_refresh=refresher == "uas")
    return Accept(agreement, tuple(headers))


def _malformed(name: str, exc: ParseError) -> Reject:
    return Reject(400, malformed_reason(name, exc))


@dataclass(frozen=True, slots=True)
class UacOffer:
    """What an INVITE or UPDATE we send asks for (RFC 4028 §7.1, §7.4).

    Attributes:
        interval: the Session-Expires asked for, at least ``min_se``.
        min_se: the largest Min-SE known: ours, those of the 422s received
            for this request (§7.3), or the dialog's (§7.4).
        refresher: the ``refresher`` parameter, or ``None`` to leave the
            choice to the UAS (recommended for an initial INVITE, §7.1; a
            refresh names the current refresher, §7.4).
        retries: how many 422s this request has been retried after.
    """

    interval: int
    min_se: int
    refresher: Refresher | None = None
    retries: int = 0

    def __post_init__(self) -> None:
        if self.min_se < MIN_SE_FLOOR or self.interval < self.min_se:
            raise ValueError(
                f"session interval {self.interval} with Min-SE {self.min_se}: "
                f"need {MIN_SE_FLOOR} <= Min-SE <= interval"
            )

    @classmethod
    def initial(cls, config: SessionTimerConfig) -> UacOffer | None:
        """The offer of a dialog-creating INVITE (§7.1); ``None`` when timers are disabled."""
        if not config.enabled:
            return None
        return cls(config.session_expires, config.min_se)

    @classmethod
    def refresh(cls, agreement: Agreement) -> UacOffer:
        """The offer of a refresh we send (§7.4): the current interval, Min-SE and refresher."""
        return cls(agreement.interval, agreement.min_se, agreement.refresher(we_are_uac=True))

    @property
    def headers(self) -> Headers:
        """Supported, Session-Expires and, when above the 90 its absence means (§5), Min-SE."""
        session_expires = str(self.interval)
        if self.refresher is not None:
            session_expires += f";refresher={self.refresher}"
        headers = [("Supported", TIMER_TAG), ("Session-Expires", session_expires)]
        if self.min_se > MIN_SE_FLOOR:
            headers.append(("Min-SE", str(self.min_se)))
        return tuple(headers)


def retry_after_422(
    offer: UacOffer, response: SipResponse, config: SessionTimerConfig
) -> UacOffer | None:
    """The offer of the retry of a request answered 422 (RFC 4028 §7.3), or ``None``.

    The retry's Min-SE is the largest of those received (it never goes
    down) and its Session-Expires is raised to it. There is no retry after
    ``config.max_422_retries`` of them, when the 422 has no usable Min-SE
    (§6 requires one), or when its Min-SE asks for nothing the request did
    not offer already (the same request would be refused again).
    """
    if offer.retries >= config.max_422_retries:
        return None
    try:
        received = response.min_se
    except ParseError:
        return None
    if received is None or received <= offer.interval:
        return None
    min_se = max(offer.min_se, received)
    return replace(
        offer, interval=max(offer.interval, min_se), min_se=min_se, retries=offer.retries + 1
    )


def process_2xx(response: SipResponse, offer: UacOffer) -> Agreement | None:
    """The timer a 2xx to our INVITE or UPDATE sets up (RFC 4028 §7.2), or ``None``.

    Without Session-Expires there is no session timer (§7.2). With it, its
    ``refresher`` says who refreshes; a 2xx must carry one (§9), and when it
    does not we refresh, which keeps the session up whatever the peer
    meant. An interval below the Min-SE we sent breaks §9; it is raised to
    that Min-SE rather than refreshing faster than we said we would.

    Raises:
        ParseError: Session-Expires is malformed; the 2xx stands, but no
            timer can be set up from it.
    """
    session_expires = response.session_expires
    if session_expires is None:
        return None
    refresher = session_expires.refresher or "uac"
    interval = max(session_expires.delta, offer.min_se)
    return Agreement(interval, offer.min_se, we_refresh=refresher == "uac")
