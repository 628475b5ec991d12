"""Warnings a peer can cause at will, summarized: at most one line per interval each.

A flood of bad connections, failed authentications or requests the server
cannot route would otherwise write a log line each; the log would grow as
fast as the flood and hide everything else. A :class:`SummarizedWarning` logs
the first occurrence at once, counts the next ones within its interval and
logs them as one line when the interval ends, naming the last of them.
"""

from __future__ import annotations

import asyncio
import logging
import math

__all__ = ["LOG_INTERVAL", "SummarizedWarning"]

log = logging.getLogger("drachtio.server")

LOG_INTERVAL = 10.0
"""Seconds: at most one line of each kind of summarized warning in this time."""


class SummarizedWarning:
    """One kind of warning, at most one line per :data:`LOG_INTERVAL`.

    ``what`` says what happened; each occurrence adds its ``detail`` (which
    starts with a space: `` peer=...``, `` transaction=...``).
    """

    __slots__ = ("_count", "_detail", "_logged_at", "_timer", "_what")

    def __init__(self, what: str) -> None:
        self._what = what
        self._logged_at = -math.inf
        self._count = 0
        self._detail = ""
        self._timer: asyncio.TimerHandle | None = None

    def note(self, loop: asyncio.AbstractEventLoop, detail: str = "") -> None:
        """One occurrence: logged now, or counted for the summary line."""
        now = loop.time()
        if self._timer is None and now - self._logged_at >= LOG_INTERVAL:
            self._logged_at = now
            log.warning("%s%s", self._what, detail)
            return
        self._count += 1
        self._detail = detail
        if self._timer is None:
            self._timer = loop.call_at(self._logged_at + LOG_INTERVAL, self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        log.warning(
            "%s: %d more in the last %.0f s, the last%s",
            self._what,
            self._count,
            now - self._logged_at,
            self._detail,
        )
        self._logged_at = now
        self._count = 0
