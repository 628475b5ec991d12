"""Times written for people and collectors: ISO 8601, UTC, milliseconds."""

from __future__ import annotations

import time

__all__ = ["iso_time"]


def iso_time(seconds: float) -> str:
    """``seconds`` since the epoch as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (rounded to the millisecond)."""
    whole = int(seconds)
    millis = round((seconds - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"
