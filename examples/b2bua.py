"""A B2BUA: bridges every incoming call to one configured URI.

The callee is offered the caller's SDP and its answer goes back to the
caller; ringing is relayed, a CANCEL from the caller cancels the callee, a
failure of the callee is passed back to the caller, and when either side
hangs up the other is hung up too. Run it beside a server::

    drachtio serve --secret s3cret
    sipp -sn uas -p 5080
    python examples/b2bua.py --secret s3cret --to sip:bob@127.0.0.1:5080
    sipp -sn uac -m 1 127.0.0.1:5060
"""

from __future__ import annotations

import logging

from _common import parse, parser, run, serve

from drachtio import SipError, Srf
from drachtio.app import Request, Response

log = logging.getLogger("b2bua")


def build(target: str) -> Srf:
    """The application: every INVITE bridged to ``target``."""
    srf = Srf()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        try:
            caller, callee = await srf.create_b2bua(req, res, target)
        except SipError as exc:  # already passed back to the caller
            log.info("call from %s failed: %d %s", req.calling_number, exc.status, exc.reason)
            return
        log.info("bridged call %s to %s as %s", caller.call_id, target, callee.call_id)
        reason = await caller.wait_destroyed()
        log.info("call %s ended: %s", caller.call_id, reason)

    return srf


if __name__ == "__main__":
    cli = parser(__doc__)
    cli.add_argument("--to", required=True, metavar="URI", help="where to send every call")
    args = parse(cli)
    raise SystemExit(run(serve(build(args.to), args)))
