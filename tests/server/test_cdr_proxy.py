"""Call detail records of proxied calls, with sipp as caller and callee over UDP and
TCP, read back from the JSON lines file: a record-routed call ended by the
BYE passing through, one not record-routed, a rejected one, one the caller
cancels, one given up for want of an answer, and one routed through the
server by a preloaded Route."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from server_harness import App, needs_sipp, own_dir, sip_port, sipp_uac, sipp_uas, start_server
from sipp_scenarios.proxy import (
    answered_caller,
    answering_callee,
    callee,
    callee_hanging_up,
    caller,
    caller_hung_up_on,
)
from sipp_scenarios.uac import uac_scenario
from test_proxy import finish, proxied

pytestmark = needs_sipp

TRANSPORTS = pytest.mark.parametrize("transport", ["udp", "tcp"])


def records(path: Path) -> list[dict[str, Any]]:
    """The file's records, one a line; every call in it has exactly one stop."""
    made = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    calls = Counter(r["callId"] for r in made)
    stops = Counter(r["callId"] for r in made if r["kind"] == "stop")
    assert stops == Counter(dict.fromkeys(calls, 1)), made
    return made


def destination(port: int, transport: str) -> str:
    return f"sip:callee@127.0.0.1:{port}" + ("" if transport == "udp" else ";transport=tcp")


async def proxied_call(
    tmp_path: Path,
    transport: str,
    callee_scenario: str,
    caller_scenario: str,
    final_status: int,
    **proxy: Any,
) -> tuple[list[dict[str, Any]], int]:
    """sipp calls sipp through the server, whose application proxies the INVITE
    as ``proxy`` say; the records written, and the server's SIP port."""
    cdr = tmp_path / "cdr.jsonl"
    server = await start_server(cdr_file=str(cdr))
    app = await App.authenticated(server, "invite")
    uas, port = await sipp_uas(own_dir(tmp_path), callee_scenario, transport=transport)
    uac = await sipp_uac(tmp_path, server, caller_scenario, transport=transport)
    result = await proxied(app, destinations=[destination(port, transport)], **proxy)
    assert result["finalStatus"] == final_status
    await finish(app, server, uac, uas)
    return records(cdr), sip_port(server, transport)


def summary(made: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["kind"], r["role"], r.get("status"), r.get("reason")) for r in made]


@TRANSPORTS
async def test_a_record_routed_call_stops_when_its_bye_passes(
    tmp_path: Path, transport: str
) -> None:
    made, port = await proxied_call(
        tmp_path, transport, callee(200), caller(200, rings=1), 200, recordRoute=True
    )
    # The application was handed the INVITE (uas) and proxied it: the call's
    # start and stop are the proxy's.
    assert summary(made) == [
        ("attempt", "uas", None, None),
        ("start", "proxy", 200, None),
        ("stop", "proxy", 200, "normal-release"),
    ]
    attempt, start, stop = made
    assert {r["callId"] for r in made} == {attempt["callId"]}
    assert {r["source"] for r in made} == {"network"}
    assert {r["from"] for r in made} == {attempt["from"]}
    assert attempt["from"].startswith("sip:sipp@127.0.0.1:")
    assert {r["to"] for r in made} == {f"sip:service@127.0.0.1:{port}"}
    assert {r["attemptTime"] for r in made} == {attempt["time"]}
    assert start["startTime"] == start["time"] == stop["startTime"]
    assert attempt["time"] <= start["time"] <= stop["time"]
    # sipp's BYE follows its ACK by 100 ms.
    assert stop["duration"] >= 0.1


@TRANSPORTS
async def test_the_callees_bye_passing_stops_the_call_too(tmp_path: Path, transport: str) -> None:
    made, _ = await proxied_call(
        tmp_path, transport, callee_hanging_up(), caller_hung_up_on(), 200, recordRoute=True
    )
    assert summary(made) == [
        ("attempt", "uas", None, None),
        ("start", "proxy", 200, None),
        ("stop", "proxy", 200, "normal-release"),
    ]
    assert made[2]["duration"] >= 0.1


@TRANSPORTS
async def test_a_call_not_record_routed_stops_at_its_2xx(tmp_path: Path, transport: str) -> None:
    made, _ = await proxied_call(tmp_path, transport, answering_callee(), answered_caller(), 200)
    assert summary(made) == [
        ("attempt", "uas", None, None),
        ("start", "proxy", 200, None),
        ("stop", "proxy", 200, "not-record-routed"),
    ]
    _, start, stop = made
    # The server left the call's path with its 2xx: it cannot tell how long it lasted.
    assert stop["time"] == stop["startTime"] == start["time"]
    assert stop["duration"] == 0


@TRANSPORTS
async def test_a_rejected_call_has_an_attempt_and_a_stop(tmp_path: Path, transport: str) -> None:
    made, _ = await proxied_call(
        tmp_path, transport, callee(486), caller(486, rings=1), 486, recordRoute=True
    )
    assert summary(made) == [
        ("attempt", "uas", None, None),
        ("stop", "proxy", 486, "call-rejected"),
    ]
    assert "startTime" not in made[1] and made[1]["duration"] == 0


@TRANSPORTS
async def test_the_callers_cancel_stops_the_call(tmp_path: Path, transport: str) -> None:
    cancelling = uac_scenario(487, provisional=(180,), cancel_after=180)
    made, _ = await proxied_call(
        tmp_path, transport, callee(None), cancelling, 487, recordRoute=True
    )
    assert summary(made) == [
        ("attempt", "uas", None, None),
        ("stop", "proxy", 487, "call-canceled"),
    ]
    assert "startTime" not in made[1] and made[1]["duration"] == 0


@TRANSPORTS
async def test_a_ringing_call_given_up_for_time_stops_as_a_timeout(
    tmp_path: Path, transport: str
) -> None:
    # The application gives the callee a second to answer: the server
    # cancels the ringing branch then, as Timer C would after minutes.
    made, _ = await proxied_call(
        tmp_path, transport, callee(None), caller(487, rings=1), 487, finalTimeout=1.0
    )
    assert summary(made) == [
        ("attempt", "uas", None, None),
        ("stop", "proxy", 487, "request-timeout"),
    ]


async def test_a_call_routed_through_by_a_preloaded_route_is_the_proxys_from_its_attempt(
    tmp_path: Path,
) -> None:
    cdr = tmp_path / "cdr.jsonl"
    server = await start_server(cdr_file=str(cdr))
    uas, port = await sipp_uas(own_dir(tmp_path), answering_callee())
    # The caller names the callee, and a route through the server: no
    # application is asked, and the server does not record-route.
    here = sip_port(server, "udp")
    preloaded = answered_caller().replace(
        "INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n",
        f"INVITE sip:callee@127.0.0.1:{port} SIP/2.0\n      Route: <sip:127.0.0.1:{here};lr>\n",
    )
    assert "Route: <sip:127.0.0.1:" in preloaded
    uac = await sipp_uac(tmp_path, server, preloaded)
    try:
        for sipp in (uac, uas):
            run = await sipp.result()
            assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    finally:
        await server.stop()
    made = records(cdr)
    assert summary(made) == [
        ("attempt", "proxy", None, None),
        ("start", "proxy", 200, None),
        ("stop", "proxy", 200, "not-record-routed"),
    ]
    assert made[0]["to"] == f"sip:service@127.0.0.1:{here}"
    assert {r["source"] for r in made} == {"network"}
