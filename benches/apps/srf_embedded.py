"""``benches/apps/srf_app.py``'s application served in the server's own process.

One process runs ``Server(config, app=srf)``: the server and the ``Srf``
application share its event loop, with no control connection, framing or
JSON between them. It takes ``drachtio serve``'s options (``--sip``,
``--control``, ``--secret``, ``--config``, ``--log-level``, ``--loop``...,
and the same environment), runs on uvloop when it is installed as
``drachtio serve`` does (``loop = "auto"``), and prints the same
``listening`` line once it listens. It is the embedded subject of
``benches/bench_server.py``.

Run: ``python benches/apps/srf_embedded.py --sip udp:127.0.0.1:5060
--secret SECRET``. Serves until SIGINT or SIGTERM, then prints
``COUNTS invites=.. answered=.. ended=.. failed=..`` to stdout.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys

import srf_app

from drachtio.cli import build_parser, package_version
from drachtio.server import ConfigError, Server, load_config


def main() -> int:
    args = vars(build_parser().parse_args(["serve", *sys.argv[1:]]))
    # drachtio serve's flags are load_config's arguments of the same names,
    # but for these two: whatever options it gains, they are taken here too.
    settings = {"config_file": args.pop("config"), "secrets": args.pop("secret"), "env": os.environ}
    accepted = inspect.signature(load_config).parameters
    settings.update((name, value) for name, value in args.items() if name in accepted)
    try:
        config = load_config(**settings)
    except ConfigError as exc:
        print(f"srf_embedded: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level_number,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    counts = srf_app.Counts()
    server = Server(config, app=srf_app.build(counts))

    def started(server: Server) -> None:
        host, port = server.control_address
        print(
            f"drachtio {package_version()} embedded, listening: sip {' '.join(server.hostport)} "
            f"control {host}:{port}",
            flush=True,
        )

    server.run(on_started=started)
    print(counts.line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
