"""What the examples share: the command line of an application, logging, and a
clean stop on SIGINT or SIGTERM. No SIP happens here.

- :func:`parser`: ``--control HOST:PORT`` (default 127.0.0.1:9022, as
  ``drachtio serve``), ``--secret`` (default: the DRACHTIO_SECRET environment
  variable) and ``--log-level``; an example adds its own options.
- :func:`parse`: read the command line and log to stderr.
- :func:`connect`: connect an application to the server and log ``ready``;
  :func:`serve`: that, then serve until SIGINT or SIGTERM.
- :func:`run`: ``asyncio.run(main)``, SIGINT and SIGTERM cancelling ``main``
  (its ``finally`` blocks clean up); the exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from drachtio import Srf
from drachtio.app import AuthenticationFailed

log = logging.getLogger("example")

SDP = (
    "v=0\r\n"
    "o=example 1 1 IN IP4 127.0.0.1\r\n"
    "s=example\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0\r\n"
    "a=sendrecv\r\n"
)
"""The media description the examples offer and answer with (no RTP is sent)."""


def hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) as ``(host, port)``, for argparse."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The common options; the help text is ``doc`` (the example's docstring)."""
    cli = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    cli.add_argument(
        "--control",
        type=hostport,
        default=("127.0.0.1", 9022),
        metavar="HOST:PORT",
        help="the server's control address (default 127.0.0.1:9022)",
    )
    cli.add_argument(
        "--secret",
        default=os.environ.get("DRACHTIO_SECRET"),
        help="the server's secret (default: $DRACHTIO_SECRET)",
    )
    cli.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    return cli


def parse(cli: argparse.ArgumentParser) -> argparse.Namespace:
    """Read the command line (a secret is required) and log to stderr."""
    args = cli.parse_args()
    if not args.secret:
        cli.error("give --secret or set DRACHTIO_SECRET")
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    return args


async def connect(srf: Srf, args: argparse.Namespace) -> None:
    """Connect ``srf`` to the server at ``--control``; exit with a message if that fails."""
    host, port = args.control
    try:
        await srf.connect(host, port, args.secret)
    except (OSError, AuthenticationFailed) as exc:
        raise SystemExit(f"cannot connect to {host}:{port}: {exc}") from None
    log.info("ready: connected to %s:%d", host, port)


async def serve(srf: Srf, args: argparse.Namespace) -> None:
    """Connect ``srf`` to the server at ``--control``; serve until cancelled, then close."""
    await connect(srf, args)
    try:
        await asyncio.Event().wait()
    finally:
        await srf.close()


def run(main: Coroutine[Any, Any, int | None]) -> int:
    """Run ``main`` until it returns or SIGINT/SIGTERM cancels it; the exit status."""

    async def until_signalled() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await main or 0
        except asyncio.CancelledError:
            log.info("stopped")
            return 0

    return asyncio.run(until_signalled())
