"""Hostile SIP values through the whole server, end to end: a seeded fuzz run.

Starts a server in this process (T1 = 50 ms, UDP and TCP on loopback) and an
application that routes every method and answers each request (INVITE 180
then 200 with SDP, the others 200), then sends, for ``--seconds``, batches
of seeded-random scenarios over UDP and TCP in turn: requests outside a
dialog, calls with PRACKs and requests in the dialog, cancelled calls,
subscriptions, calls the application places to the peer, and calls it
proxies between two peers. Some headers of each message, the peers'
responses included, are replaced with hostile values, dropped, doubled or
added (tests/server/hostile/values.py has the lists). After each batch: the
server must answer an OPTIONS, have logged no error and let no exception
reach the loop, and still have its application; at the end, once every
call is over, it must hold nothing of them (docs/fuzzing.md, "The whole
server").

Prints what was sent, the final answers to the spoiled requests by status,
the answers the application gave that the server refused, and every failed
check. Exits 1 if a check failed.

Run (after ``maturin develop --release``): ``python benches/fuzz_server.py
[--seconds 60] [--seed 1] [--batch 8] [--only SCENARIO] [--transports udp
tcp] [--exchanges] [--log INFO]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "server"))

from hostile import SCENARIOS, Fuzzer
from server_harness import start_server


async def run(args: argparse.Namespace) -> int:
    seed = args.seed
    server = await start_server()
    try:
        async with Fuzzer(server, seed, only=args.only) as fuzzer:
            start = time.monotonic()
            transports = args.transports
            n = 0
            while time.monotonic() - start < args.seconds:
                await fuzzer.batch(transports[n % len(transports)], args.batch)
                n += 1
                if fuzzer.report.errors:
                    print(
                        f"batch {n}: {len(fuzzer.report.errors)} failed checks so far", flush=True
                    )
            await fuzzer.settle()
            print(f"seed {seed}, {time.monotonic() - start:.0f} s")
            print(fuzzer.report.summary())
            for text in fuzzer.errors.tracebacks:
                print(text, file=sys.stderr)
            if args.exchanges:
                for outcome in fuzzer.report.outcomes:
                    if outcome.answer == "none":
                        print(f"--- {outcome.scenario} {outcome.method}: {outcome.changes}")
                        print("\n".join(outcome.exchange))
            return 1 if fuzzer.report.errors else 0
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8, help="scenarios at once per batch")
    parser.add_argument(
        "--transports",
        nargs="+",
        default=["udp", "tcp"],
        choices=["udp", "tcp"],
        help="taken in turn, a batch each",
    )
    parser.add_argument(
        "--only", choices=[s.__name__ for s, _ in SCENARIOS], help="run this scenario alone"
    )
    parser.add_argument(
        "--exchanges",
        action="store_true",
        help="print what the peer sent and received for each unanswered request",
    )
    parser.add_argument("--log", default="ERROR", help="the server's log level shown on stderr")
    args = parser.parse_args()
    # The checks catch ERROR records whatever the level; a lower one shows more.
    logging.basicConfig(level=min(logging.ERROR, logging.getLevelName(args.log)))
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
