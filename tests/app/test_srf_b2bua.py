"""create_b2bua against the real server: sipp calls in, the application calls a second sipp."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from app_harness import Attach
from server_harness import needs_sipp, sipp_uac, sipp_uas, start_server
from sipp_scenarios.uac import uac_scenario
from sipp_scenarios.uas import (
    rejecting_callee,
    ringing_then_cancelled_scenario,
    uas_in_dialog_scenario,
)

from drachtio import SipError, Srf
from drachtio.app import Dialog, Request, Response

pytestmark = needs_sipp


def bridge(srf: Srf, callee_port: int) -> asyncio.Queue[tuple[Dialog, Dialog] | SipError]:
    """An INVITE handler bridging every call to the callee; what each bridge gave."""
    outcomes: asyncio.Queue[tuple[Dialog, Dialog] | SipError] = asyncio.Queue()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        try:
            legs = await srf.create_b2bua(req, res, f"sip:callee@127.0.0.1:{callee_port}")
        except SipError as exc:
            await outcomes.put(exc)
            return
        await outcomes.put(legs)

    return outcomes


async def test_bridged_call_ends_both_legs_when_the_caller_hangs_up(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    callee, port = await sipp_uas(tmp_path, uas_in_dialog_scenario([("BYE", 200)]))
    outcomes = bridge(srf, port)
    try:
        await attach(server, srf)
        caller = await sipp_uac(tmp_path, server, uac_scenario(200))
        legs = await asyncio.wait_for(outcomes.get(), 10)
        assert not isinstance(legs, SipError)
        uas, uac = legs
        assert uas.local_sdp == uac.remote_sdp
        assert await asyncio.wait_for(uas.wait_destroyed(), 10) == "BYE received"
        assert await asyncio.wait_for(uac.wait_destroyed(), 10) == "BYE sent"
        assert (await caller.result()).successful == 1
        assert (await callee.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_the_callees_rejection_is_passed_back_to_the_caller(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    callee, port = await sipp_uas(tmp_path, rejecting_callee(486, "Rejected"))
    outcomes = bridge(srf, port)
    try:
        await attach(server, srf)
        caller = await sipp_uac(tmp_path, server, uac_scenario(486))
        failure = await asyncio.wait_for(outcomes.get(), 10)
        assert isinstance(failure, SipError) and failure.status == 486
        assert (await caller.result()).successful == 1
        assert (await callee.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_the_callers_cancel_cancels_the_callee(
    attach: Attach, tmp_path: Path, transport: str
) -> None:
    server = await start_server()
    srf = Srf()
    callee, port = await sipp_uas(tmp_path, ringing_then_cancelled_scenario())
    outcomes = bridge(srf, port)
    try:
        await attach(server, srf)
        scenario = uac_scenario(487, provisional=(180,), cancel_after=180)
        caller = await sipp_uac(tmp_path, server, scenario, transport)
        failure = await asyncio.wait_for(outcomes.get(), 10)
        assert isinstance(failure, SipError) and failure.status == 487
        assert (await caller.result()).successful == 1
        assert (await callee.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_without_pass_failure_the_application_answers_the_caller(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    callee, port = await sipp_uas(tmp_path, rejecting_callee(486, "Rejected"))

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        try:
            await srf.create_b2bua(req, res, f"sip:callee@127.0.0.1:{port}", pass_failure=False)
        except SipError as exc:
            assert exc.status == 486
            raise SipError(480, "Temporarily Unavailable") from exc

    try:
        await attach(server, srf)
        caller = await sipp_uac(tmp_path, server, uac_scenario(480))
        assert (await caller.result()).successful == 1
        assert (await callee.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()
