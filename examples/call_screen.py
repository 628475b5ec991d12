"""A call screen: declines calls from blocked numbers, answers the others.

A middleware looks at each INVITE's calling number (P-Asserted-Identity, else
From) before the handler: a blocked number is answered 603 Declined; any
other call is answered with SDP and hung up after --hangup-after seconds, as
``uas.py`` does. Run it beside a server::

    drachtio serve --secret s3cret
    python examples/call_screen.py --secret s3cret --block 1001 sipp
    sipp -sn uac -m 1 127.0.0.1:5060      # declined: sipp calls as "sipp"
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from _common import SDP, parse, parser, run, serve

from drachtio import Srf
from drachtio.app import Request, Response

log = logging.getLogger("call_screen")


def build(blocked: set[str], hangup_after: float) -> Srf:
    """The application: calls from ``blocked`` declined, the others answered."""
    srf = Srf()

    async def screen(req: Request, res: Response, call_next: Callable[[], Awaitable[None]]) -> None:
        if req.calling_number in blocked:
            log.info("declined a call from %s", req.calling_number)
            await res.send(603, "Declined")
            return
        await call_next()

    srf.use(screen, method="invite")

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
        "--block",
        action="extend",
        nargs="+",
        default=[],
        metavar="NUMBER",
        help="calling numbers to decline",
    )
    cli.add_argument(
        "--hangup-after", type=float, default=10.0, metavar="SECONDS", help="(default 10)"
    )
    args = parse(cli)
    raise SystemExit(run(serve(build(set(args.block), args.hangup_after), args)))
