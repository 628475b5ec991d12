"""``benches/apps/json_app.py``'s application written on ``drachtio.Srf``, over a connection.

The INVITE handler answers 200 with the same SDP answer as ``json_app.py``
through ``srf.create_uas`` and waits for the call to end; the caller's BYE is
answered by the dialog's default (200), which ends it. Only INVITE has a
handler: the BYE reaches the dialog as a request in it. It is the
application side of ``benches/bench_server.py`` written the way an
application on the package's API is; ``benches/apps/srf_embedded.py`` runs
the same application inside the server's process.

Run: ``python benches/apps/srf_app.py --control HOST:PORT --secret SECRET
[--loop asyncio|uvloop]`` (asyncio's own loop by default, as ``json_app.py``).
Prints ``READY`` once connected and routed, then serves until SIGINT or
SIGTERM and prints ``COUNTS invites=.. answered=.. ended=.. failed=..`` to
stdout.
"""

from __future__ import annotations

import logging
import sys

import responder_cli
from json_app import SDP

from drachtio import SipError, Srf
from drachtio.app import Request, Response


class Counts:
    """What the application did, printed when it stops."""

    def __init__(self) -> None:
        self.invites = self.answered = self.ended = self.failed = 0

    def line(self) -> str:
        return (
            f"COUNTS invites={self.invites} answered={self.answered} "
            f"ended={self.ended} failed={self.failed}"
        )


def build(counts: Counts) -> Srf:
    """The application: INVITE answered 200 + SDP, the dialog left to end on the BYE."""
    srf = Srf(app_name="bench")

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        counts.invites += 1
        try:
            dialog = await srf.create_uas(req, res, local_sdp=SDP)
        except SipError:
            counts.failed += 1
            raise
        counts.answered += 1
        await dialog.wait_destroyed()
        counts.ended += 1

    return srf


async def serve(host: str, port: int, secret: str) -> None:
    counts = Counts()
    srf = build(counts)
    stop = responder_cli.stop_signal()
    await srf.connect(host, port, secret)
    print("READY", flush=True)
    await stop
    await srf.close()
    print(counts.line(), flush=True)


def main() -> int:
    parser = responder_cli.parser(__doc__, port=False)
    parser.add_argument("--control", required=True, metavar="HOST:PORT")
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    host, _, port = args.control.rpartition(":")
    return responder_cli.run(serve(host.strip("[]"), int(port), args.secret), args.loop)


if __name__ == "__main__":
    raise SystemExit(main())
