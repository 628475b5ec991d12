"""Hostile header values through the whole server: a fixed-seed run of the fuzz driver.

``hostile`` (the generator of ``benches/fuzz_server.py``) sends calls,
cancelled calls, subscriptions, requests outside a dialog and calls the
application places, with some headers of each message spoiled, over a real
socket on loopback; the application is a raw JSON client answering each
request. After each batch the server must answer an OPTIONS, have logged no
error and let no exception reach its loop, and still hold its application;
once every call is over it must hold no transaction and no dialog.
"""

from __future__ import annotations

import pytest
from hostile import Fuzzer
from server_harness import start_server


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_spoiled_messages_leave_the_server_serving_and_holding_nothing(
    transport: str,
) -> None:
    server = await start_server()
    try:
        async with Fuzzer(server, seed=2, wait=0.5) as fuzzer:
            for _ in range(5):
                await fuzzer.batch(transport, 8)
            await fuzzer.settle()
            report = fuzzer.report
    finally:
        await server.stop()
    assert report.errors == [], report.summary()
    # The run did what it is for: many spoiled requests, most of them answered.
    assert len(report.outcomes) >= 20, report.summary()
    statuses = report.statuses()
    assert statuses["400"] >= 5 and statuses["200"] >= 5, report.summary()
