"""createUAC and a 3xx: drachtio-srf follows it (``followRedirects``), or the
application calls the Contact itself; sipp redirects, another sipp answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from server_harness import own_dir, sipp_uas, start_server
from sipp_scenarios.parts import pause
from sipp_scenarios.uas import rejecting_callee, uas_in_dialog_scenario
from srf_node import NodeApp, events, finished, needs_node

pytestmark = needs_node


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("role", ["uac-follow", "uac-redirect"])
async def test_create_uac_reaches_the_contact_of_a_302(
    tmp_path: Path, role: str, transport: str
) -> None:
    server = await start_server()
    param = ";transport=tcp" if transport == "tcp" else ""
    answering, port = await sipp_uas(
        own_dir(tmp_path), uas_in_dialog_scenario([("BYE", 200)]), transport
    )
    moved_to = f"sip:moved@127.0.0.1:{port}{param}"
    redirect, redirect_port = await sipp_uas(
        own_dir(tmp_path),
        rejecting_callee(302, extra=f"Contact: <{moved_to}>\n", tail=pause(100)),
        transport,
    )
    app = await NodeApp.start(server, role, f"sip:first@127.0.0.1:{redirect_port}{param}")
    try:
        lines = await finished(app, redirect, answering)
    finally:
        app.kill()
        await server.stop()
    if role == "uac-follow":
        assert events(lines) == ["connect", "dialog", "bye-sent"]
    else:
        assert events(lines) == ["connect", "uac-failed", "redirected", "dialog", "bye-sent"]
        assert lines[1]["status"] == 302
        assert lines[2]["uri"] == moved_to
