"""A record-routed proxied call whose BYE never passes through the server
stops ``dialog-timeout`` once its dialog has been quiet for
``proxy_dialog_timeout`` (docs/cdr.md): sipp calls sipp through the server,
over UDP and TCP; the rule itself is tested on a simulated clock in test_cdr."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from server_harness import App, needs_sipp, own_dir, sipp_uac, sipp_uas, start_server
from sipp_scenarios.proxy import answered_caller, answering_callee, callee, caller
from test_cdr_proxy import destination, records, summary
from test_proxy import finish, proxied

pytestmark = needs_sipp

TIMEOUT = 0.5


def at(stamp: str) -> float:
    """A record's time (ISO 8601, UTC, milliseconds) in seconds."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_record_routed_call_never_hung_up_stops_when_its_dialog_went_quiet(
    tmp_path: Path, transport: str
) -> None:
    cdr = tmp_path / "cdr.jsonl"
    server = await start_server(cdr_file=str(cdr), proxy_dialog_timeout=TIMEOUT)
    app = await App.authenticated(server, "invite")
    # The first call is answered through the server, which record-routes
    # it; neither end sends a BYE.
    uas, port = await sipp_uas(own_dir(tmp_path), answering_callee(), transport=transport)
    uac = await sipp_uac(tmp_path, server, answered_caller(), transport=transport)
    first = await proxied(app, destinations=[destination(port, transport)], recordRoute=True)
    assert first["finalStatus"] == 200
    for sipp in (uac, uas):
        run = await sipp.result()
        assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    # Longer than the timeout (how much longer changes nothing below).
    await asyncio.sleep(TIMEOUT * 1.5)
    # The next call through the server finds the first one's dialog expired.
    uas, port = await sipp_uas(own_dir(tmp_path), callee(486), transport=transport)
    uac = await sipp_uac(own_dir(tmp_path), server, caller(486, rings=1), transport=transport)
    second = await proxied(app, destinations=[destination(port, transport)], recordRoute=True)
    assert second["finalStatus"] == 486
    await finish(app, server, uac, uas)

    made = records(cdr)
    assert summary(made) == [
        ("attempt", "uas", None, None),
        ("start", "proxy", 200, None),
        ("stop", "proxy", 200, "dialog-timeout"),
        ("attempt", "uas", None, None),
        ("stop", "proxy", 486, "call-rejected"),
    ]
    start, stop = made[1], made[2]
    assert start["callId"] == stop["callId"] != made[3]["callId"]
    # It stopped when it expired, not when the next call found it so.
    assert at(stop["time"]) - at(start["time"]) == pytest.approx(TIMEOUT, abs=0.002)
    assert stop["duration"] == pytest.approx(TIMEOUT)
    assert at(stop["time"]) < at(made[3]["time"])
    assert "message" not in stop or stop["message"] is None
