"""The UAS embedded in a host asyncio service, beside an HTTP endpoint listing its calls.

One process runs the SIP server (``Server(ServerConfig(...), app=srf)``: no
``drachtio serve`` beside it, no control connection for this application),
an application that answers every call and hangs up after --hangup-after
seconds (as ``uas.py``), and a small HTTP/1.1 endpoint: ``GET /calls``
reports the calls in progress as JSON. Run it and call it::

    python examples/embedded_service.py --secret s3cret --hangup-after 30
    sipp -sn uac -m 1 127.0.0.1:5060
    curl http://127.0.0.1:8080/calls

The server still listens on --control for other applications, which
authenticate with the secret.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from typing import Any

from _common import SDP, hostport, parse, parser, run

from drachtio import Server, ServerConfig, Srf
from drachtio.app import Request, Response

log = logging.getLogger("embedded_service")

Calls = dict[str, dict[str, Any]]
"""The calls in progress by Call-ID: what ``GET /calls`` reports."""


def build(calls: Calls, hangup_after: float) -> Srf:
    """The application: answer every call, hang up after ``hangup_after`` seconds."""
    srf = Srf()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        dialog = await srf.create_uas(req, res, local_sdp=SDP)
        calls[dialog.call_id] = {
            "call_id": dialog.call_id,
            "from": req.calling_number,
            "to": req.called_number,
            "answered_at": time.time(),
        }
        log.info("answered call %s from %s", dialog.call_id, req.calling_number)
        try:
            reason = await asyncio.wait_for(dialog.wait_destroyed(), hangup_after)
        except asyncio.TimeoutError:
            await dialog.destroy()
            reason = f"hung up after {hangup_after:g} s"
        finally:
            del calls[dialog.call_id]
        log.info("call %s ended: %s", dialog.call_id, reason)

    return srf


async def http(calls: Calls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One HTTP exchange: ``GET /calls`` answered with the calls, anything else 404."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
        if head.split(b" ", 2)[:2] == [b"GET", b"/calls"]:
            status, body = "200 OK", json.dumps({"calls": list(calls.values())}).encode()
        else:
            status, body = "404 Not Found", b'{"error": "not found"}'
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
        pass  # not an HTTP request we can answer
    finally:
        writer.close()


async def main(args: argparse.Namespace) -> None:
    calls: Calls = {}
    srf = build(calls, args.hangup_after)
    host, port = args.control
    config = ServerConfig(sip=args.sip, control_host=host, control_port=port, secrets=[args.secret])
    server = Server(config, app=srf)
    try:
        await server.start()  # binds SIP and control, attaches srf
        web = await asyncio.start_server(lambda r, w: http(calls, r, w), *args.http)
        async with web:
            sip = ", ".join(f"{t}:{ip}:{p}" for t, ip, p in server.sip_addresses)
            http_host, http_port = web.sockets[0].getsockname()[:2]
            log.info("ready: sip %s, calls at http://%s:%d/calls", sip, http_host, http_port)
            await asyncio.Event().wait()  # serve until SIGINT or SIGTERM
    finally:
        await srf.close()  # the server ends the calls left with BYE
        await server.stop()


if __name__ == "__main__":
    cli = parser(__doc__)
    cli.add_argument(
        "--sip",
        action="append",
        metavar="TRANSPORT:HOST:PORT",
        help="a SIP listener (repeatable; default udp:127.0.0.1:5060 and tcp:127.0.0.1:5060)",
    )
    cli.add_argument("--http", type=hostport, default=("127.0.0.1", 8080), metavar="HOST:PORT")
    cli.add_argument(
        "--hangup-after", type=float, default=10.0, metavar="SECONDS", help="(default 10)"
    )
    args = parse(cli)
    args.sip = args.sip or ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
    raise SystemExit(run(main(args)))
