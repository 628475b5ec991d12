"""SIP session timers (RFC 4028), sans-IO.

Two parts, both free of sockets and clocks:

* :mod:`.negotiation`: pure functions over :class:`~drachtio.SipRequest` and
  :class:`~drachtio.SipResponse` that decide the session interval, Min-SE and
  refresher, in the UAS role (§9) and in the UAC role (§7), and the headers
  that carry the decision;
* :mod:`.timer`: :class:`SessionTimer`, the state machine of one dialog's
  timer, driven by a ``now`` the caller passes in (§10).

:class:`Agreement` is what a successful negotiation leaves; it says who
refreshes as *we* or *the peer*, so that it stays true whichever side sends
the next refresh.
"""

from drachtio.server.session_timer.agreement import (
    MIN_SE_FLOOR,
    TIMER_TAG,
    Agreement,
    SessionTimerConfig,
)
from drachtio.server.session_timer.negotiation import (
    Accept,
    Reject,
    UacOffer,
    answer_request,
    process_2xx,
    retry_after_422,
    supports_timer,
)
from drachtio.server.session_timer.timer import (
    REASON_EXPIRED,
    REASON_REFRESH_FAILED,
    Expire,
    Refresh,
    SessionTimer,
    TimerAction,
    glare_delay,
)

__all__ = [
    "MIN_SE_FLOOR",
    "REASON_EXPIRED",
    "REASON_REFRESH_FAILED",
    "TIMER_TAG",
    "Accept",
    "Agreement",
    "Expire",
    "Refresh",
    "Reject",
    "SessionTimer",
    "SessionTimerConfig",
    "TimerAction",
    "UacOffer",
    "answer_request",
    "glare_delay",
    "process_2xx",
    "retry_after_422",
    "supports_timer",
]
