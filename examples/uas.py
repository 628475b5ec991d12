"""A UAS: answers every INVITE with SDP and hangs up after a while.

Each call is answered 200 with an SDP answer and ended with BYE after
--hangup-after seconds, unless the caller hangs up first. Run it beside a
server and call it::

    drachtio serve --secret s3cret
    python examples/uas.py --secret s3cret --hangup-after 5
    sipp -sn uac -m 1 127.0.0.1:5060
"""

from __future__ import annotations

import asyncio
import logging

from _common import SDP, parse, parser, run, serve

from drachtio import Srf
from drachtio.app import Request, Response

log = logging.getLogger("uas")


def build(hangup_after: float) -> Srf:
    """The application: answer every call, hang up after ``hangup_after`` seconds."""
    srf = Srf()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        dialog = await srf.create_uas(req, res, local_sdp=SDP)
        log.info("answered call %s from %s", dialog.call_id, req.calling_number)
        try:
            reason = await asyncio.wait_for(dialog.wait_destroyed(), hangup_after)
        except asyncio.TimeoutError:
            await dialog.destroy()
            reason = f"hung up after {hangup_after:g} s"
        log.info("call %s ended: %s", dialog.call_id, reason)

    return srf


if __name__ == "__main__":
    cli = parser(__doc__)
    cli.add_argument(
        "--hangup-after", type=float, default=10.0, metavar="SECONDS", help="(default 10)"
    )
    args = parse(cli)
    raise SystemExit(run(serve(build(args.hangup_after), args)))
