"""A proxying application served in the server's own process: every INVITE proxied.

One process runs ``Server(config, app=srf)``; the ``Srf`` application
answers each INVITE with ``srf.proxy_request(req, <PROXY_TO>,
record_route=True)``, so that the ACK and BYE pass through the server too
(routed by it, §16.12, without the application). It takes ``drachtio
serve``'s options and prints the same ``listening`` line once it listens; the
destination is the environment variable ``PROXY_TO`` (a SIP URI). It is the
subject of ``benches/bench_proxy.py``.

Run: ``PROXY_TO=sip:uas@127.0.0.1:5090 python benches/apps/proxy_embedded.py
--sip udp:127.0.0.1:5060 --secret SECRET``. Serves until SIGINT or SIGTERM,
then prints ``COUNTS proxied=.. connected=.. other=..`` to stdout.
"""

from __future__ import annotations

import collections
import inspect
import logging
import os
import sys

from drachtio import Srf
from drachtio.app import Request, Response
from drachtio.cli import build_parser, package_version
from drachtio.server import ConfigError, Server, load_config


def build(destination: str, counts: collections.Counter[str]) -> Srf:
    """The application: every INVITE proxied to ``destination``, record-routed."""
    srf = Srf(app_name="proxy-bench")

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        outcome = await srf.proxy_request(req, destination, record_route=True)
        counts["connected" if outcome.connected else "other"] += 1
        counts["proxied"] += 1

    return srf


def main() -> int:
    args = vars(build_parser().parse_args(["serve", *sys.argv[1:]]))
    settings = {"config_file": args.pop("config"), "secrets": args.pop("secret"), "env": os.environ}
    accepted = inspect.signature(load_config).parameters
    settings.update((name, value) for name, value in args.items() if name in accepted)
    try:
        config = load_config(**settings)
    except ConfigError as exc:
        print(f"proxy_embedded: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level_number, stream=sys.stderr)
    counts: collections.Counter[str] = collections.Counter()
    server = Server(config, app=build(os.environ["PROXY_TO"], counts))

    def started(server: Server) -> None:
        print(
            f"drachtio {package_version()} proxy, listening: sip {' '.join(server.hostport)}",
            flush=True,
        )

    server.run(on_started=started)
    print(
        "COUNTS " + " ".join(f"{k}={counts[k]}" for k in ("proxied", "connected", "other")),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
