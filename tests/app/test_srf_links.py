"""An application's links: reconnecting to a restarted server, noticing a dead one, two at once."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from server_harness import SECRET, free_port, needs_sipp, sipp_uac, sipp_uas, start_server
from sipp_scenarios.uac import uac_scenario
from sipp_scenarios.uas import ringing_then_cancelled_scenario

from drachtio import ConnectionLost, Srf
from drachtio.app import AuthenticationFailed, Request, Response
from drachtio.protocol import FrameDecoder, encode_frame


async def test_a_refused_secret_is_an_error_at_once() -> None:
    server = await start_server()
    srf = Srf()
    try:
        host, port = server.control_address
        with pytest.raises(AuthenticationFailed, match="invalid secret"):
            await srf.connect(host, port, "wrong")
        assert srf.links == []
    finally:
        await srf.close()
        await server.stop()


@needs_sipp
async def test_the_link_comes_back_after_the_server_restarts(tmp_path: Path) -> None:
    control = free_port()
    sip = [f"udp:127.0.0.1:{free_port()}"]
    server = await start_server(control_port=control, sip=sip)
    srf = Srf()
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    for name in ("connect", "disconnect", "reconnecting"):
        srf.on(name, lambda link, detail, name=name: events.put_nowait((name, detail)))

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        await res.send(486)

    try:
        await srf.connect("127.0.0.1", control, SECRET, backoff_initial=0.1, backoff_max=0.4)
        assert (await events.get())[0] == "connect"
        await server.stop()
        assert (await asyncio.wait_for(events.get(), 10))[0] == "disconnect"
        assert (await asyncio.wait_for(events.get(), 10))[0] == "reconnecting"
        server = await start_server(control_port=control, sip=sip)
        while (await asyncio.wait_for(events.get(), 10))[0] != "connect":
            pass
        # The route came back with the link: a new call reaches the handler.
        sipp = await sipp_uac(tmp_path, server, uac_scenario(486))
        assert (await sipp.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_a_server_that_stops_answering_is_noticed_by_the_keepalive() -> None:
    # A server that authenticates, routes, then answers nothing (a hung process).
    async def hung(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        while data := await reader.read(65536):
            for frame in decoder.receive_data(data):
                if frame["command"] in ("auth", "route"):
                    answer = {"authenticated": True} if frame["command"] == "auth" else {}
                    answer.setdefault("success", True)
                    writer.write(
                        encode_frame({"type": "response", "rid": frame["rid"], "data": answer})
                    )

    server = await asyncio.start_server(hung, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    srf = Srf()
    lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    srf.on("disconnect", lambda link, reason: lost.done() or lost.set_result(reason))

    @srf.options
    async def on_options(req: Request, res: Response) -> None:
        await res.send(200)

    try:
        link = await srf.connect("127.0.0.1", port, "x", ping_interval=0.2, ping_timeout=0.3)
        assert link.connected
        assert await asyncio.wait_for(lost, 10) == "no answer to ping"
    finally:
        await srf.close()
        server.close()


@needs_sipp
async def test_two_servers_at_once_each_bring_new_calls(tmp_path: Path) -> None:
    servers = [await start_server(), await start_server()]
    srf = Srf()
    answered: list[str] = []

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        answered.append(req.link.name)
        await res.send(486)

    try:
        for server in servers:
            host, port = server.control_address
            await srf.connect(host, port, SECRET)
        for server in servers:
            sipp = await sipp_uac(tmp_path, server, uac_scenario(486))
            assert (await sipp.result()).successful == 1
        assert answered == [link.name for link in srf.links]
    finally:
        await srf.close()
        for server in servers:
            await server.stop()


@needs_sipp
async def test_a_lost_link_fails_what_waited_on_it(tmp_path: Path) -> None:
    server = await start_server()
    srf = Srf()
    callee, port = await sipp_uas(tmp_path, ringing_then_cancelled_scenario())
    ringing: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    try:
        host, control = server.control_address
        await srf.connect(host, control, SECRET, backoff_initial=5.0)
        calling = asyncio.ensure_future(
            srf.create_uac(
                f"sip:callee@127.0.0.1:{port}",
                on_provisional=lambda r: ringing.done() or ringing.set_result(r.status),
            )
        )
        assert await asyncio.wait_for(ringing, 10) == 180
        # The server goes away: it cancels the call it was making for us,
        # and the application's wait ends instead of hanging.
        await server.stop()
        with pytest.raises(ConnectionLost, match="connection to the server lost"):
            await asyncio.wait_for(calling, 10)
        assert (await callee.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_closing_on_purpose_is_not_a_lost_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await start_server()
    srf = Srf()
    events: list[str] = []
    for name in ("disconnect", "closed"):
        srf.on(name, lambda link, detail, name=name: events.append(f"{name}: {detail}"))
    try:
        host, port = server.control_address
        await srf.connect(host, port, SECRET)
        with caplog.at_level(logging.INFO, logger="drachtio.app"):
            await srf.close()
        assert events == ["closed: closed by the application"]
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    finally:
        await server.stop()


@needs_sipp
async def test_closing_while_a_cancelled_call_winds_down_logs_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    srf = Srf()
    callee, port = await sipp_uas(tmp_path, ringing_then_cancelled_scenario())
    ringing: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    try:
        host, control = server.control_address
        await srf.connect(host, control, SECRET)
        calling = asyncio.ensure_future(
            srf.create_uac(
                f"sip:callee@127.0.0.1:{port}",
                on_provisional=lambda r: ringing.done() or ringing.set_result(r.status),
            )
        )
        assert await asyncio.wait_for(ringing, 10) == 180
        with caplog.at_level(logging.INFO):
            calling.cancel()  # CANCEL, as Ctrl-C in a calling script
            await srf.close()
            assert (await callee.result()).successful == 1
            await asyncio.sleep(0.2)  # let late callbacks run: none may log an error
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    finally:
        await server.stop()
