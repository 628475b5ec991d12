"""An OPTIONS responder: answers every OPTIONS 200 with Allow, Accept and Supported.

What a load balancer's or an SBC's health check (an OPTIONS ping) needs, and
what a peer asking about capabilities (RFC 3261 §11) gets. Run it beside a
server::

    drachtio serve --secret s3cret
    python examples/options_responder.py --secret s3cret

and send an OPTIONS to 127.0.0.1:5060 from any SIP client.
"""

from __future__ import annotations

import logging

from _common import parse, parser, run, serve

from drachtio import Srf
from drachtio.app import Request, Response

log = logging.getLogger("options")


def build(allow: str, accept: str, supported: str) -> Srf:
    """The application: OPTIONS answered 200 with these capabilities."""
    srf = Srf()
    capabilities = {"Allow": allow, "Accept": accept, "Supported": supported}

    @srf.options
    async def on_options(req: Request, res: Response) -> None:
        await res.send(200, headers=capabilities)
        log.info("OPTIONS from %s:%s answered", req.source_address, req.source_port)

    return srf


if __name__ == "__main__":
    cli = parser(__doc__)
    cli.add_argument("--allow", default="INVITE, ACK, CANCEL, BYE, OPTIONS", help="(%(default)s)")
    cli.add_argument("--accept", default="application/sdp", help="(%(default)s)")
    cli.add_argument("--supported", default="", help="option tags (default: none)")
    args = parse(cli)
    raise SystemExit(run(serve(build(args.allow, args.accept, args.supported), args)))
