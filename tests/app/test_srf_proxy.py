"""Srf.proxy_request against the real server: sipp calls in, the server proxies to sipp callees."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from app_harness import Attach
from server_harness import needs_sipp, own_dir, sipp_uac, sipp_uas, start_server
from sipp_scenarios.proxy import callee, caller
from sipp_scenarios.uac import uac_scenario

from drachtio import Srf
from drachtio.app import ProxyOutcome, Request, Response

pytestmark = needs_sipp


def proxying(srf: Srf, *destinations: str, **options: Any) -> asyncio.Queue[ProxyOutcome]:
    """An INVITE handler proxying every call to ``destinations``; how each ended."""
    outcomes: asyncio.Queue[ProxyOutcome] = asyncio.Queue()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        await outcomes.put(await srf.proxy_request(req, destinations, **options))

    return outcomes


async def test_serial_proxy_reports_each_branch(attach: Attach, tmp_path: Path) -> None:
    server = await start_server()
    srf = Srf()
    busy, busy_port = await sipp_uas(own_dir(tmp_path), callee(486))
    ok, ok_port = await sipp_uas(own_dir(tmp_path), callee(200))
    first, second = f"sip:a@127.0.0.1:{busy_port}", f"sip:b@127.0.0.1:{ok_port}"
    outcomes = proxying(srf, first, second, record_route=True, headers={"X-Via-App": "1"})
    try:
        await attach(server, srf)
        uac = await sipp_uac(tmp_path, server, caller(200, may_ring=2))
        outcome = await asyncio.wait_for(outcomes.get(), 15)
        assert outcome.connected
        assert outcome.final_response is not None
        assert outcome.final_response.status == 200
        assert [(b.destination, [s for s, _ in b.responses]) for b in outcome.branches] == [
            (first, [180, 486]),
            (second, [180, 200]),
        ]
        for sipp in (uac, busy, ok):
            run = await sipp.result()
            assert (run.successful, run.failed) == (1, 0), run.log
    finally:
        await srf.close()
        await server.stop()


async def test_a_refused_request_is_reported_with_no_branch(attach: Attach, tmp_path: Path) -> None:
    server = await start_server()
    srf = Srf()
    outcomes = proxying(srf, "sip:nobody@127.0.0.1:9")
    try:
        await attach(server, srf)
        scenario = uac_scenario(483).replace(
            "Max-Forwards: 70\n      Content-Type", "Max-Forwards: 0\n      Content-Type"
        )
        uac = await sipp_uac(tmp_path, server, scenario)
        outcome = await asyncio.wait_for(outcomes.get(), 15)
        assert (outcome.final_status, outcome.branches, outcome.connected) == (483, (), False)
        run = await uac.result()
        assert (run.successful, run.failed) == (1, 0), run.log
    finally:
        await srf.close()
        await server.stop()
