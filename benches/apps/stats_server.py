"""``drachtio serve`` with its counters written out, for ``benches/soak_server.py``.

``drachtio serve`` has no statistics endpoint; this runs the same
``drachtio.Server`` (same settings, same event loop choice, same log format)
in a process of its own and appends ``server.stats`` (sessions, transactions
and dialogs held, the SIP stack's counters) as one JSON line, with the time,
to a file every ``--every`` seconds and whenever it gets SIGUSR1. The process
is the server alone, so its RSS, descriptors and CPU are the server's.

Run: ``python benches/apps/stats_server.py --stats FILE --secret SECRET
[--every 10] [--sip udp:127.0.0.1:0 ...] [--control 127.0.0.1:0]
[--config FILE] [--log-level info]``. Prints ``listening: sip
udp/127.0.0.1:PORT control HOST:PORT`` once bound, logs to stderr, stops on
SIGTERM or SIGINT (a last line of counters is written then).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from pathlib import Path

from drachtio.server import Server, load_config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stats", required=True, metavar="FILE", help="JSON lines appended here")
    parser.add_argument("--every", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--sip", action="append", metavar="TRANSPORT:HOST:PORT")
    parser.add_argument("--control", metavar="HOST:PORT")
    parser.add_argument("--secret", action="append", metavar="SECRET")
    parser.add_argument("--config", metavar="FILE", help="a TOML config file")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    config = load_config(
        config_file=args.config,
        sip=args.sip,
        control=args.control,
        secrets=args.secret,
        log_level=args.log_level,
    )
    logging.basicConfig(
        level=config.log_level_number,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    server = Server(config)
    path = Path(args.stats)

    def dump() -> None:
        line = json.dumps({"time": time.time(), **server.stats}) + "\n"
        with open(path, "a") as f:
            f.write(line)

    def tick() -> None:
        dump()
        asyncio.get_running_loop().call_later(args.every, tick)

    def started(server: Server) -> None:
        host, port = server.control_address
        print(f"listening: sip {' '.join(server.hostport)} control {host}:{port}", flush=True)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, dump)
        loop.call_later(args.every, tick)

    server.run(on_started=started)
    dump()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
