"""What session timers are configured to ask for, and what a negotiation settles on.

RFC 4028 numbers are in seconds. :class:`SessionTimerConfig` is the local
policy; :class:`Agreement` is the outcome of one successful negotiation
(a 2xx to an INVITE or UPDATE that carried Session-Expires), and the timings
of §10 are derived from it here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from drachtio.server.config import ConfigError

__all__ = ["MIN_SE_FLOOR", "TIMER_TAG", "Agreement", "Refresher", "SessionTimerConfig"]

MIN_SE_FLOOR = 90
"""The smallest Min-SE there is (RFC 4028 §4, §5): also its value when the header is absent."""

TIMER_TAG = "timer"
"""The option tag of the extension (RFC 4028 §3), in Supported and Require."""

Refresher = Literal["uac", "uas"]
"""The ``refresher`` parameter: which side *of the transaction that carried it* refreshes."""

# §10: the side that does not refresh ends the session this long before the
# interval runs out, so that its BYE is not lost behind a firewall or proxy
# that already forgot the dialog.
_EXPIRY_MARGIN_CAP = 32


@dataclass(frozen=True, slots=True)
class SessionTimerConfig:
    """Local session-timer policy.

    Its errors name the server settings these fields are read from
    (``session_timer``, ``session_expires``, ``min_se``,
    ``session_refresher``, ``max_422_retries``; ``docs/session-timers.md``).

    Attributes:
        enabled: whether the server asks for and honours session timers at
            all; when off it adds no header and runs no timer.
        session_expires: the interval asked for in an INVITE we send, and the
            most a UAS answer grants (a request may ask for less, §9).
        min_se: our smallest acceptable interval (Min-SE, §5): at least 90.
        refresher: who refreshes when a UAC that supports timers leaves the
            choice to us, the UAS (§9's table, second row).
        max_422_retries: how many 422 answers to one request we follow with a
            retry at the larger Min-SE (§7.3) before giving up.
    """

    enabled: bool = True
    session_expires: int = 1800
    min_se: int = MIN_SE_FLOOR
    refresher: Refresher = "uac"
    max_422_retries: int = 2

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every setting.

        Raises:
            ConfigError: naming the first bad setting.
        """
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"session_timer: must be true or false, got {self.enabled!r}")
        for name in ("session_expires", "min_se", "max_422_retries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name}: must be an integer, got {value!r}")
        if self.min_se < MIN_SE_FLOOR:
            raise ConfigError(
                f"min_se: must be at least {MIN_SE_FLOOR} seconds (RFC 4028 §5), got {self.min_se}"
            )
        if self.session_expires < self.min_se:
            raise ConfigError(
                f"session_expires: must be at least min_se ({self.min_se}), "
                f"got {self.session_expires}"
            )
        if self.session_expires > 0xFFFF_FFFF:
            raise ConfigError(f"session_expires: must fit in 32 bits, got {self.session_expires}")
        if self.refresher not in ("uac", "uas"):
            raise ConfigError(f"session_refresher: must be uac or uas, got {self.refresher!r}")
        if self.max_422_retries < 0:
            raise ConfigError(f"max_422_retries: must be 0 or more, got {self.max_422_retries}")


@dataclass(frozen=True, slots=True)
class Agreement:
    """A negotiated session timer, as seen from our side of the dialog.

    Attributes:
        interval: the session interval in seconds (Session-Expires of the 2xx).
        min_se: the largest Min-SE known in the dialog (ours, the peer's, a
            422's); refreshes we send carry it (§7.4) and no later
            negotiation goes below it.
        we_refresh: whether this side sends the refreshes. It is kept as
            *we* / *the peer* rather than ``uac`` / ``uas`` because those
            name roles in one transaction: a refresh the original UAS sends
            makes it the UAC of that refresh.

    Raises:
        ValueError: ``min_se`` below 90 or ``interval`` below ``min_se``;
            the negotiation functions never build such an agreement.
    """

    interval: int
    min_se: int
    we_refresh: bool

    def __post_init__(self) -> None:
        if self.min_se < MIN_SE_FLOOR:
            raise ValueError(f"min_se {self.min_se} is below {MIN_SE_FLOOR} (RFC 4028 §5)")
        if self.interval < self.min_se:
            raise ValueError(f"interval {self.interval} is below min_se {self.min_se}")

    def refresher(self, we_are_uac: bool) -> Refresher:
        """The ``refresher`` parameter for a transaction in which we are the UAC or the UAS."""
        return "uac" if self.we_refresh == we_are_uac else "uas"

    def session_expires(self, we_are_uac: bool) -> str:
        """The Session-Expires value stating this agreement, e.g. ``1800;refresher=uac``."""
        return f"{self.interval};refresher={self.refresher(we_are_uac)}"

    @property
    def refresh_after(self) -> float:
        """Seconds after a successful refresh at which the refresher sends the next: half (§10)."""
        return self.interval / 2

    @property
    def expire_after(self) -> float:
        """Seconds after a successful refresh at which the session is over without another.

        §10: the interval less the smaller of 32 seconds and a third of it;
        both sides use it, the refresher for a refresh that never got its
        2xx, the other side for a refresh that never came.
        """
        return self.interval - min(_EXPIRY_MARGIN_CAP, self.interval / 3)
