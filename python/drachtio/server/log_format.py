"""Log lines as JSON objects, one per line, for log collectors (``log_format = "json"``).

Each line holds ``time`` (ISO 8601, UTC, milliseconds), ``level``,
``logger`` and ``message`` (the message with its arguments applied), then
``exception`` (the traceback) when one is logged, and any ``extra=`` fields
a caller gave that JSON can carry. The server's messages already end in
``key=value`` pairs (``peer=127.0.0.1:5060 transaction=...``), kept in
``message`` as they are.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from drachtio.server.timestamps import iso_time

__all__ = ["JsonFormatter"]

# What every LogRecord has: not copied as extra fields.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (no trailing newline: the handler adds it)."""
        line: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        return orjson.dumps(line, default=repr).decode()
