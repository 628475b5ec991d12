"""What the benchmark responders share: their command line and how they run.

Each SIP responder prints ``READY <port>`` once bound, serves until SIGINT or
SIGTERM, then prints ``ANSWERED <n>``; ``--loop uvloop`` runs it on uvloop.
The applications of a server (``srf_app.py``) take the same ``--loop`` and
stop the same way, without ``--port``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Coroutine
from typing import Any


def parser(doc: str | None, *, port: bool = True) -> argparse.ArgumentParser:
    """An argument parser with ``--port`` (unless ``port`` is false) and ``--loop``,
    described by ``doc``'s first line."""
    p = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    if port:
        p.add_argument("--port", type=int, default=0)
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    return p


def stop_signal() -> asyncio.Future[None]:
    """A future of the running loop that SIGINT or SIGTERM completes."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set_result, None)
    return stop


def run(main: Coroutine[Any, Any, None], loop: str) -> int:
    """Run ``main`` on asyncio's default loop or on uvloop; the exit status."""
    if loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)
    return 0
