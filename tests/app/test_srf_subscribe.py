"""Subscriptions from an application (RFC 6665), sipp as the notifier."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app_harness import Attach
from server_harness import needs_sipp, sipp_uas, start_server
from sipp_scenarios.subscriptions import notifier_scenario

from drachtio import Srf
from drachtio.app import Request, Response

pytestmark = needs_sipp


async def test_subscribe_receive_notifies_and_unsubscribe(attach: Attach, tmp_path: Path) -> None:
    server = await start_server()
    srf = Srf()
    scenario = notifier_scenario(
        [
            ("NOTIFY", 200, "active;expires=600", ("X-App: notified",)),
            ("SUBSCRIBE", 200, "Expires: 0", ("CSeq: 2 SUBSCRIBE", "Expires: 0")),
            ("NOTIFY", 200, "terminated;reason=timeout", ()),
        ],
        subscribe_checks=("Event: presence", "Expires: 600"),
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    states: list[str | None] = []

    async def on_notify(req: Request, res: Response) -> None:
        states.append(req.get("Subscription-State"))
        await res.send(200, headers={"X-App": "notified"})

    try:
        await attach(server, srf)
        dialog = await srf.create_subscription(
            f"sip:presentity@127.0.0.1:{port}", event="presence", expires=600, on_notify=on_notify
        )
        assert dialog.method == "SUBSCRIBE" and dialog.role == "uac"
        while not states:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(dialog.destroy(), 10)
        assert dialog.destroy_reason == "terminating NOTIFY received"
        assert states == ["active;expires=600", "terminated;reason=timeout"]
        assert (await sipp.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_a_notify_before_the_2xx_reaches_on_notify(attach: Attach, tmp_path: Path) -> None:
    server = await start_server()
    srf = Srf()
    scenario = notifier_scenario(
        [("NOTIFY", 200, "terminated;reason=noresource", ())],
        early=[(200, "active;expires=600", "presence")],
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    states: list[str | None] = []

    async def on_notify(req: Request, res: Response) -> None:
        states.append(req.get("Subscription-State"))
        await res.send(200)

    try:
        await attach(server, srf)
        dialog = await srf.create_subscription(
            f"sip:presentity@127.0.0.1:{port}", event="presence", on_notify=on_notify
        )
        assert await asyncio.wait_for(dialog.wait_destroyed(), 10) == (
            "terminating NOTIFY received"
        )
        assert states == ["active;expires=600", "terminated;reason=noresource"]
        assert (await sipp.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()
