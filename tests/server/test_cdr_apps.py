"""Call detail records sent to JSON applications that route them (``route`` with
``cdr:attempt``, ``cdr:start``, ``cdr:stop``): each record as the file has it,
field by field, with sipp calling; the verbs refused, and routes shared and
withdrawn."""

from __future__ import annotations

import asyncio
import calendar
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from server_harness import SDP, App, needs_sipp, sip_port, sipp_uac, start_server
from sipp_scenarios.uac import uac_scenario

pytestmark = needs_sipp

KINDS = ("cdr:attempt", "cdr:start", "cdr:stop")


def file_records(path: Path) -> list[dict[str, Any]]:
    """The file's records, one a line; every call in it has exactly one stop."""
    made = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    for call_id in {r["callId"] for r in made}:
        assert [r["kind"] for r in made if r["callId"] == call_id].count("stop") == 1, made
    return made


async def cdr_requests(app: App, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The ``data`` of the first ``count`` ``cdr`` requests the app got (all its
    frames are kept, whatever else it waited for meanwhile)."""

    async def enough() -> None:
        while len(received(app)) < count:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(enough(), timeout)
    return received(app)[:count]


def received(app: App) -> list[dict[str, Any]]:
    """The ``data`` of every ``cdr`` request the app got so far."""
    return [f["data"] for f in app.frames if f.get("command") == "cdr"]


def epoch(iso: str) -> float:
    """Seconds since the epoch of ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    return calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S")) + float(iso[19:-1])


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_json_app_gets_the_three_records_of_a_call_as_the_file_has_them(
    tmp_path: Path, transport: str
) -> None:
    cdr = tmp_path / "cdr.jsonl"
    server = await start_server(cdr_file=str(cdr))
    app = await App.authenticated(server, "invite", "bye", *KINDS)
    port = sip_port(server, transport)
    try:
        began = time.time()
        scenario = uac_scenario(200, bye_after_ms=300)
        sipp = await sipp_uac(tmp_path, server, scenario, transport=transport)
        invite = await app.next_sip("INVITE")
        await app.respond(invite["transactionId"], 200, body=SDP)
        bye = await app.next_sip("BYE")
        await app.respond(bye["transactionId"], 200)
        assert (await sipp.result()).successful == 1
        attempt, start, stop = await cdr_requests(app, 3)
    finally:
        await app.close()
        await server.stop()
    # The same objects as the file's lines, in the same order.
    assert [attempt, start, stop] == file_records(cdr)
    call_id = invite["message"]["headers"]["call_id"]
    common = {
        "callId": call_id,
        "role": "uas",
        "source": "network",
        "to": f"sip:service@127.0.0.1:{port}",
        "attemptTime": attempt["time"],
    }
    assert attempt == {
        "kind": "attempt",
        "time": attempt["time"],
        "from": attempt["from"],
        **common,
    }
    assert attempt["from"].startswith("sip:sipp@127.0.0.1:")
    assert start == {
        "kind": "start",
        "time": start["time"],
        "from": attempt["from"],
        "startTime": start["time"],
        "status": 200,
        **common,
    }
    assert stop == {
        "kind": "stop",
        "time": stop["time"],
        "from": attempt["from"],
        "startTime": start["time"],
        "status": 200,
        "reason": "normal-release",
        "duration": stop["duration"],
        **common,
    }
    assert began - 1 <= epoch(attempt["time"]) <= epoch(start["time"]) <= epoch(stop["time"])
    assert epoch(stop["time"]) <= time.time()
    # sipp's BYE comes 300 ms after its ACK; the duration is the stop's time less the start's.
    assert stop["duration"] >= 0.3
    assert abs(stop["duration"] - (epoch(stop["time"]) - epoch(start["time"]))) <= 0.002


async def test_records_go_round_robin_to_the_apps_routing_a_kind_and_stop_on_unroute(
    tmp_path: Path,
) -> None:
    cdr = tmp_path / "cdr.jsonl"
    server = await start_server(cdr_file=str(cdr))
    answering = await App.authenticated(server, "invite")
    first = await App.authenticated(server, "cdr:stop")
    second = await App.authenticated(server, "cdr:stop")
    try:
        stops: list[tuple[str, dict[str, Any]]] = []
        for _ in range(2):
            sipp = await sipp_uac(tmp_path, server, uac_scenario(486))
            invite = await answering.next_sip("INVITE")
            await answering.respond(invite["transactionId"], 486)
            assert (await sipp.result()).successful == 1
        for name, app in (("first", first), ("second", second)):
            stops.extend((name, record) for record in await cdr_requests(app, 1))
        assert {r["reason"] for _, r in stops} == {"call-rejected"}
        assert len({r["callId"] for _, r in stops}) == 2
        assert await first.request("unroute", {"verb": "cdr:stop"}) == {"success": True}
        assert await second.request("unroute", {"verb": "cdr:stop"}) == {"success": True}
        sipp = await sipp_uac(tmp_path, server, uac_scenario(486))
        invite = await answering.next_sip("INVITE")
        await answering.respond(invite["transactionId"], 486)
        assert (await sipp.result()).successful == 1
        # Written to the file; sent to no one.
        await asyncio.sleep(0.2)
        assert len(received(first)) == len(received(second)) == 1
    finally:
        for app in (answering, first, second):
            await app.close()
        await server.stop()
    made = file_records(cdr)
    assert [r["kind"] for r in made] == ["attempt", "stop"] * 3
    assert [r for r in made if r["kind"] == "stop"][:2] == [r for _, r in stops]


async def test_a_bad_verb_or_a_cdr_from_the_app_is_refused_and_the_app_goes_on(
    tmp_path: Path,
) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    try:
        for verb in ("cdr:end", "cdr:*", "cdr:STOP"):
            refused = await app.request("route", {"verb": verb})
            assert refused == {
                "success": False,
                "error": "invalid_data",
                "reason": f"data.verb: {verb!r} is no kind of call detail record: "
                "cdr:attempt, cdr:start, cdr:stop",
            }
        # A record is the server's to send: from a client it is an unknown command.
        sent = await app.request("cdr", {"kind": "attempt"})
        assert sent == {
            "success": False,
            "error": "unknown_command",
            "reason": "unknown command 'cdr'",
        }
        # The connection serves on: a route, a call.
        assert await app.request("route", {"verb": "cdr:attempt"}) == {"success": True}
        sipp = await sipp_uac(tmp_path, server, uac_scenario(486))
        invite = await app.next_sip("INVITE")
        await app.respond(invite["transactionId"], 486)
        assert (await sipp.result()).successful == 1
        [record] = await cdr_requests(app, 1)
        assert (record["kind"], record["callId"]) == (
            "attempt",
            invite["message"]["headers"]["call_id"],
        )
    finally:
        await app.close()
        await server.stop()


async def test_an_app_that_leaves_gets_no_more_turns(tmp_path: Path) -> None:
    server = await start_server()
    answering = await App.authenticated(server, "invite")
    leaving = await App.authenticated(server, "cdr:attempt")
    staying = await App.authenticated(server, "cdr:attempt")
    try:
        await leaving.close()
        for _ in range(2):
            sipp = await sipp_uac(tmp_path, server, uac_scenario(486))
            invite = await answering.next_sip("INVITE")
            await answering.respond(invite["transactionId"], 486)
            assert (await sipp.result()).successful == 1
        # Both attempts went to the application still there.
        attempts = await cdr_requests(staying, 2)
        assert [r["kind"] for r in attempts] == ["attempt", "attempt"]
        assert len({r["callId"] for r in attempts}) == 2
    finally:
        await answering.close()
        await staying.close()
        await server.stop()
