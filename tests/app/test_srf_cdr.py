"""Call detail records in the application API: ``srf.on("cdr:stop", ...)`` routes
the kind and calls back with each record, over a connection and in process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app_harness import Attach
from server_harness import needs_sipp, sipp_uac, start_server
from sipp_scenarios.uac import uac_scenario

from drachtio import Srf
from drachtio.app import Request, Response
from drachtio.protocol import CallDetailRecord

pytestmark = needs_sipp


async def test_records_reach_the_callbacks_of_their_kind(attach: Attach, tmp_path: Path) -> None:
    server = await start_server()
    srf = Srf()
    records: asyncio.Queue[CallDetailRecord] = asyncio.Queue()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        await res.send(486)

    srf.on("cdr:attempt", records.put_nowait)
    try:
        await attach(server, srf)

        # A kind named after the link is up is routed at once: the route goes
        # out before the application's 486, which makes the stop.
        @srf.on("cdr:stop")
        async def on_stop(record: CallDetailRecord) -> None:
            await records.put(record)

        uac = await sipp_uac(tmp_path, server, uac_scenario(486))
        attempt = await asyncio.wait_for(records.get(), 10)
        stop = await asyncio.wait_for(records.get(), 10)
        run = await uac.result()
        assert (run.successful, run.failed) == (1, 0), run.log
    finally:
        await srf.close()
        await server.stop()
    assert isinstance(attempt, CallDetailRecord) and isinstance(stop, CallDetailRecord)
    assert (attempt.kind, attempt.role, attempt.source, attempt.reason) == (
        "attempt",
        "uas",
        "network",
        None,
    )
    assert (stop.kind, stop.status, stop.reason, stop.duration) == ("stop", 486, "call-rejected", 0)
    assert stop.call_id == attempt.call_id and stop.attempt_time == attempt.time
    assert records.empty()  # no start: the call was not answered
