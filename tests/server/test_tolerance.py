"""What clients written from the original protocol do, and the server accepts."""

from __future__ import annotations

import asyncio

from server_harness import App, start_server


async def answer_every_request_with_success(app: App) -> None:
    """As a client written from the original protocol: ``{success: true}`` to
    every request of the server, ``ping`` included."""
    while True:
        frame = await app.requests.get()
        app.answer(frame["rid"], {"success": True})


async def test_a_client_answering_pings_with_success_stays_connected() -> None:
    server = await start_server(ping_interval=0.2, ping_timeout=0.3)
    app = await App.authenticated(server)
    app.auto_answer = False
    answering = asyncio.ensure_future(answer_every_request_with_success(app))
    try:
        await asyncio.sleep(1.2)
        pings = [f for f in app.frames if f.get("command") == "ping"]
        assert len(pings) >= 3
        assert not app.closed.is_set()
        assert server.stats["sessions"] == 1
        assert await app.request("ping") == {"pong": True}
    finally:
        answering.cancel()
    await app.close()
    await server.stop()
