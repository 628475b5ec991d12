"""Hostile header values through the whole server: a fixed-seed run of the fuzz driver.

``hostile`` (the generator of ``benches/fuzz_server.py``) sends calls,
cancelled calls, subscriptions, requests outside a dialog, calls the
application places and calls it proxies, with some headers of each message
spoiled, over a real socket on loopback; the application is a raw JSON
client answering each request. After each batch the server must answer an
OPTIONS, have logged no error and let no exception reach its loop, and
still hold its application; once every call is over it must hold nothing.
"""

from __future__ import annotations

import pytest
from hostile import Fuzzer, Report
from server_harness import start_server

SEED = 3


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_spoiled_messages_leave_the_server_serving_and_holding_nothing(
    transport: str,
) -> None:
    server = await start_server()
    reports: list[Report] = []
    try:
        # Every scenario, then requests outside a dialog alone: those reach
        # the most of the server's own reading of headers.
        for only, batches in ((None, 3), ("out_of_dialog", 2)):
            async with Fuzzer(server, SEED, wait=0.5, only=only) as fuzzer:
                for _ in range(batches):
                    await fuzzer.batch(transport, 8)
                await fuzzer.settle()
                reports.append(fuzzer.report)
    finally:
        await server.stop()
    for report in reports:
        assert report.errors == [], report.summary()
    # The run did what it is for: many spoiled requests, most of them answered.
    outcomes = [o for report in reports for o in report.outcomes]
    assert len(outcomes) >= 40, [r.summary() for r in reports]
    answers = [o.answer for o in outcomes]
    assert answers.count("400") >= 10 and answers.count("200") >= 10, answers
