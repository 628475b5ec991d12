"""A forking proxy: every incoming call proxied to the configured URIs.

The server proxies (RFC 3261 §16): it stays out of the call, relays ringing
and the best final response, cancels the other destinations when one
answers; with ``--parallel`` every destination rings at once, else one after
the other (the next after a failure, or after ``--ring-timeout`` seconds of
ringing). Record-routed, so the rest of each call passes through the server.
Run it beside a server::

    drachtio serve --secret s3cret
    sipp -sn uas -p 5080
    python examples/proxy.py --secret s3cret --to sip:bob@127.0.0.1:5080
    sipp -sn uac -m 1 127.0.0.1:5060
"""

from __future__ import annotations

import logging

from _common import parse, parser, run, serve

from drachtio import Srf
from drachtio.app import Request, Response

log = logging.getLogger("proxy")


def build(targets: list[str], parallel: bool, ring_timeout: float | None) -> Srf:
    """The application: every INVITE proxied to ``targets``."""
    srf = Srf()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        outcome = await srf.proxy_request(
            req,
            targets,
            forking="parallel" if parallel else "serial",
            record_route=True,
            final_timeout=ring_timeout,
        )
        tried = ", ".join(
            f"{b.destination} {b.responses[-1][0] if b.responses else b.error}"
            for b in outcome.branches
        )
        log.info("call %s: %d (%s)", req.call_id, outcome.final_status, tried)

    return srf


if __name__ == "__main__":
    cli = parser(__doc__)
    cli.add_argument(
        "--to", required=True, action="append", metavar="URI", help="a destination (repeatable)"
    )
    cli.add_argument("--parallel", action="store_true", help="ring every destination at once")
    cli.add_argument("--ring-timeout", type=float, metavar="SECONDS", help="give up ringing after")
    args = parse(cli)
    raise SystemExit(run(serve(build(args.to, args.parallel, args.ring_timeout), args)))
