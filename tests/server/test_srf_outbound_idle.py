"""The connections the server opens to listening applications, closed once idle, with real peers.

The application is drachtio-srf (``tests/srfproto/node/app.js``, role
``listen-uas-keep``): it answers each call 200 and never calls
``srf.endSession``, and prints ``socket-closed`` when its connection
closes. The caller is sipp, or, where the test must hold a call up as long
as it likes, a SIP peer written here. ``outbound_idle_timeout`` is half a
second; the rule's timing is tested on a simulated clock
(``test_outbound_idle.py``): these tests check what closes and what does
not, never how soon.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from metrics_scrape import metrics_server, scrape, value
from server_harness import SECRET, free_port, sip_port, start_server
from sip_peer import SipPeer
from sipp_scenarios.uac import uac_scenario
from srf_node import (
    NodeApp,
    answered,
    events,
    listening_app,
    needs_node,
    sessions_closed,
    stopped,
)

from drachtio import SipResponse, Srf
from drachtio.app import Request, Response
from drachtio.server import Server

pytestmark = needs_node

IDLE = 0.5


@asynccontextmanager
async def outbound(
    idle: float, env: dict[str, str] | None = None, *, metrics: bool = False
) -> AsyncIterator[tuple[NodeApp, Server]]:
    """The application that never ends its sessions (``env`` added to its
    environment), and a server routing every request to it, closing its
    connections idle for ``idle`` seconds (with a metrics endpoint)."""
    port = free_port()
    app = await listening_app(port, role="listen-uas-keep", env=env)
    try:
        start = metrics_server if metrics else start_server
        server = await start(request_handler=f"tcp://127.0.0.1:{port}", outbound_idle_timeout=idle)
        try:
            yield app, server
        finally:
            await server.stop()
    finally:
        await stopped(app)


async def test_the_server_closes_a_connection_left_idle_and_the_next_call_gets_a_new_one(
    tmp_path: Path,
) -> None:
    async with outbound(IDLE, metrics=True) as (app, server):
        for transport in ("udp", "tcp"):
            await answered(tmp_path, server, uac_scenario(200), transport)
            destroy = await app.next("destroy")
            closed = await app.next("socket-closed")
            assert closed["callId"] == destroy["callId"]
            await sessions_closed(server)
        stats = server.stats
        assert (stats["outbound_connected"], stats["outbound_idle_closed"]) == (2, 2)
        assert stats["dialogs"] == stats["server_transactions"] == 0
        samples = await scrape(server)
        closes = "drachtio_outbound_connections_closed_total"
        assert value(samples, closes, reason="idle") == 2
        assert value(samples, "drachtio_control_connections") == 0
    seen = [e for e in events(app.lines) if e != "connect"]
    assert seen == ["listening", *["invite", "dialog", "destroy", "socket-closed"] * 2]
    assert events(app.lines).count("connect") == 2


async def test_keepalive_pings_do_not_keep_a_connection_open(tmp_path: Path) -> None:
    """The application pings every 5 s (drachtio-srf's least), more often
    than the 6 s timeout: were pings activity, the connection would never close."""
    async with outbound(6.0, {"SRF_PING_INTERVAL": "5000"}) as (app, server):
        await answered(tmp_path, server, uac_scenario(200))
        await app.next("destroy")
        await app.next("socket-closed", timeout=30.0)
        assert server.stats["outbound_idle_closed"] == 1


async def test_without_a_timeout_the_connection_stays_open(tmp_path: Path) -> None:
    """``outbound_idle_timeout = 0``: as before it existed, only the
    application closes (here: nobody, until the server stops)."""
    async with outbound(0) as (app, server):
        await answered(tmp_path, server, uac_scenario(200))
        await app.next("destroy")
        await asyncio.sleep(IDLE * 4)
        stats = server.stats
        assert (stats["sessions"], stats["outbound_idle_closed"]) == (1, 0)
        await server.stop()
        # The server's stop closes it.
        await app.next("socket-closed")


# ---------------------------------------------------------------- a call held up


def _request(peer: SipPeer, method: str, uri: str, call_id: str, seq: int, to: str) -> bytes:
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: {peer.via}\r\n"
        f"From: <sip:peer@127.0.0.1:{peer.port}>;tag=peer-{call_id}\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {seq} {method}\r\n"
        f"Contact: <sip:peer@127.0.0.1:{peer.port}>\r\n"
        f"Max-Forwards: 70\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


async def _final(peer: SipPeer, call_id: str, method: str) -> SipResponse:
    while True:
        response = await peer.final_response(call_id)
        if response.cseq is not None and response.cseq.method == method:
            return response


async def test_a_connection_whose_dialog_is_up_stays_open_until_the_dialog_ends() -> None:
    """The test holds the call for several timeouts before its BYE: the
    connection stays, the BYE reaches the application over it, and it
    closes once idle after that."""
    async with outbound(IDLE) as (app, server):
        peer = await SipPeer.open("udp", sip_port(server, "udp"))
        try:
            uri = "sip:service@127.0.0.1"
            peer.send(_request(peer, "INVITE", uri, "held", 1, f"<{uri}>"))
            ok = await _final(peer, "held", "INVITE")
            assert ok.status == 200
            to = ok.header("To")
            contact = ok.header("Contact")
            assert to is not None and contact is not None
            target = contact[contact.index("<") + 1 : contact.index(">")]
            peer.send(_request(peer, "ACK", target, "held", 1, to))
            await app.next("dialog")
            await asyncio.sleep(IDLE * 4)
            stats = server.stats
            assert (stats["dialogs"], stats["sessions"], stats["outbound_idle_closed"]) == (1, 1, 0)
            peer.send(_request(peer, "BYE", target, "held", 2, to))
            assert (await _final(peer, "held", "BYE")).status == 200
            await app.next("destroy")
            await app.next("socket-closed")
            await sessions_closed(server)
            assert server.stats["outbound_idle_closed"] == 1
        finally:
            peer.close()


async def test_a_request_the_application_sent_keeps_its_connection_until_answered(
    tmp_path: Path,
) -> None:
    """Once the call is over the application sends an OPTIONS to a SIP peer
    in the test, which answers it after four timeouts: the connection stays
    for its response, then closes once idle."""
    port = free_port()
    server = await start_server(
        request_handler=f"tcp://127.0.0.1:{port}", outbound_idle_timeout=IDLE
    )
    far = await SipPeer.open("udp", sip_port(server, "udp"))
    try:
        target = f"sip:far@127.0.0.1:{far.port}"
        app = await listening_app(port, role="listen-uas-then-options", target=target)
        try:
            await answered(tmp_path, server, uac_scenario(200))
            await app.next("destroy")
            options = await far.next_request("OPTIONS")
            await asyncio.sleep(IDLE * 4)
            stats = server.stats
            assert (stats["client_transactions"], stats["sessions"]) == (1, 1)
            far.answer(options, 200, "OK")
            assert (await app.next("response"))["status"] == 200
            await app.next("socket-closed")
            await sessions_closed(server)
            assert server.stats["outbound_idle_closed"] == 1
        finally:
            await stopped(app)
    finally:
        far.close()
        await server.stop()


# ---------------------------------------------------------------- connections applications open


async def test_connections_the_applications_opened_are_never_closed_idle() -> None:
    """An application that connected by itself (with a tag, as the request
    handler's ``route`` to a tag wants) is not the server's to close,
    however long it is idle."""
    port = free_port()
    server = await start_server(
        request_handler=f"tcp://127.0.0.1:{port}", outbound_idle_timeout=IDLE
    )
    srf = Srf(tags=["green"])

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        await res.send(486)

    try:
        host, control = server.control_address
        await srf.connect(host, control, SECRET)
        await asyncio.sleep(IDLE * 4)
        stats = server.stats
        assert (stats["sessions"], stats["outbound_idle_closed"]) == (1, 0)
    finally:
        await srf.close()
        await server.stop()
