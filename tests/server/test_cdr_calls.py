"""Call detail records of real calls with sipp, read back from the JSON lines
file field by field: an answered call both ways, a rejected one, a cancelled
one, and the calls a stopping server ends."""

from __future__ import annotations

import calendar
import time
from pathlib import Path
from typing import Any

import orjson
from server_harness import SDP, App, needs_sipp, sip_port, sipp_uac, sipp_uas, start_server
from sipp_scenarios.uac import uac_scenario
from sipp_scenarios.uas import uas_in_dialog_scenario

pytestmark = needs_sipp


def records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_calls_from_sipp_answered_rejected_and_cancelled(tmp_path: Path) -> None:
    cdr = tmp_path / "cdr.jsonl"
    server = await start_server(cdr_file=str(cdr))
    app = await App.authenticated(server, "invite", "bye")
    port = sip_port(server, "udp")
    try:
        began = time.time()
        sipp = await sipp_uac(tmp_path, server, uac_scenario(200, bye_after_ms=300))
        invite = await app.next_sip("INVITE")
        await app.respond(invite["transactionId"], 200, body=SDP)
        bye = await app.next_sip("BYE")
        await app.respond(bye["transactionId"], 200)
        assert (await sipp.result()).successful == 1

        sipp = await sipp_uac(tmp_path, server, uac_scenario(486))
        invite = await app.next_sip("INVITE")
        await app.respond(invite["transactionId"], 486)
        assert (await sipp.result()).successful == 1

        sipp = await sipp_uac(
            tmp_path, server, uac_scenario(487, provisional=(180,), cancel_after=180)
        )
        invite = await app.next_sip("INVITE")
        await app.respond(invite["transactionId"], 180)
        await app.next_request("cancel")
        assert (await sipp.result()).successful == 1
    finally:
        await app.close()
        await server.stop()
    made = records(cdr)
    assert [(r["kind"], r.get("reason"), r.get("status")) for r in made] == [
        ("attempt", None, None),
        ("start", None, 200),
        ("stop", "normal-release", 200),
        ("attempt", None, None),
        ("stop", "call-rejected", 486),
        ("attempt", None, None),
        ("stop", "call-canceled", 487),
    ]
    answered = made[2]
    assert answered["role"] == "uas" and answered["source"] == "network"
    assert answered["to"] == f"sip:service@127.0.0.1:{port}"
    assert answered["from"].startswith("sip:sipp@127.0.0.1:")
    assert answered["duration"] >= 0.3  # sipp's BYE comes 300 ms after its ACK
    assert answered["callId"] == made[0]["callId"] == made[1]["callId"]
    for record in made:
        assert record["time"].endswith("Z")
        assert began - 1 <= _epoch(record["attemptTime"]) <= time.time()
    assert made[4]["duration"] == 0 and "startTime" not in made[4]


async def test_an_apps_call_to_sipp_and_one_the_server_ends_as_it_stops(tmp_path: Path) -> None:
    cdr = tmp_path / "cdr.jsonl"
    server = await start_server(cdr_file=str(cdr))
    app = await App.authenticated(server)
    sipp, first_port = await sipp_uas(tmp_path, uas_in_dialog_scenario([("BYE", 200)]))
    try:
        sent = await app.request(
            "sendSipRequest", {"method": "INVITE", "uri": f"sip:sipp@127.0.0.1:{first_port}"}
        )
        answered = await app.next_sip_of(sent["transactionId"])
        dialog_id = answered["dialogId"]
        await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
        await app.send_in_dialog(dialog_id, "BYE")
        assert (await sipp.result()).successful == 1
        # A second call, still up when the server stops.
        sipp, port = await sipp_uas(tmp_path, uas_in_dialog_scenario([("BYE", 200)]))
        sent = await app.request(
            "sendSipRequest", {"method": "INVITE", "uri": f"sip:sipp@127.0.0.1:{port}"}
        )
        answered = await app.next_sip_of(sent["transactionId"])
        await app.request("sendSipRequest", {"method": "ACK", "dialogId": answered["dialogId"]})
    finally:
        await server.stop()
        await app.close()
    made = records(cdr)
    assert [(r["kind"], r["role"], r["source"], r.get("reason")) for r in made] == [
        ("attempt", "uac", "application", None),
        ("start", "uac", "application", None),
        ("stop", "uac", "application", "normal-release"),
        ("attempt", "uac", "application", None),
        ("start", "uac", "application", None),
        ("stop", "uac", "application", "server-shutdown"),
    ]
    assert made[0]["to"] == f"sip:sipp@127.0.0.1:{first_port}"
    assert made[3]["to"] == f"sip:sipp@127.0.0.1:{port}"


def _epoch(iso: str) -> float:
    """Seconds since the epoch of ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    return calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S")) + float(iso[19:-1])
