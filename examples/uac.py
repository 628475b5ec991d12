"""A UAC: calls a SIP URI, stays on the call for a while, hangs up; prints the outcome.

Run it beside a server, against a phone or sipp as a UAS::

    drachtio serve --secret s3cret
    sipp -sn uas -p 5080
    python examples/uac.py --secret s3cret --duration 5 sip:bob@127.0.0.1:5080

It prints what happens to stdout (provisional responses, the answer or the
failure, who hung up) and exits 0 when the call was answered, 1 otherwise.
SIGINT or SIGTERM cancels a ringing call or hangs up an answered one.
"""

from __future__ import annotations

import argparse
import asyncio

from _common import SDP, connect, parse, parser, run

from drachtio import SipError, SipResponse, Srf


def show(response: SipResponse) -> None:
    print(f"{response.status} {response.reason}", flush=True)


async def call(srf: Srf, uri: str, duration: float) -> int:
    """Call ``uri`` and hang up after ``duration`` seconds; the exit status."""
    try:
        dialog = await srf.create_uac(uri, local_sdp=SDP, on_provisional=show)
    except SipError as exc:
        print(f"failed: {exc.status} {exc.reason}", flush=True)
        return 1
    print(f"answered: call {dialog.call_id}", flush=True)
    try:
        reason = await asyncio.wait_for(dialog.wait_destroyed(), duration)
        print(f"the far end hung up: {reason}", flush=True)
    except asyncio.TimeoutError:
        print(f"hanging up after {duration:g} s", flush=True)
    finally:
        await dialog.destroy()  # BYE, unless the call is already over
    return 0


async def main(args: argparse.Namespace) -> int:
    srf = Srf()
    await connect(srf, args)
    try:
        return await call(srf, args.uri, args.duration)
    finally:
        await srf.close()


if __name__ == "__main__":
    cli = parser(__doc__)
    cli.add_argument("uri", help="the SIP URI to call, e.g. sip:bob@127.0.0.1:5080")
    cli.add_argument("--duration", type=float, default=10.0, metavar="SECONDS", help="(default 10)")
    raise SystemExit(run(main(parse(cli))))
