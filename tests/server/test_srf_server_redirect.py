"""createUAC and a 3xx: drachtio-srf follows it (``followRedirects``), or the
application calls the Contact itself; sipp redirects, another sipp answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from server_harness import _HEAD, _uas_answer, sipp_uas, start_server, uas_in_dialog_scenario
from srf_node import NodeApp, events, finished, needs_node
from test_proxy import own_dir

pytestmark = needs_node


def redirecting(contact: str) -> str:
    """sipp as a UAS that answers the INVITE 302 with ``contact`` and takes the ACK."""
    return "".join(
        [
            _HEAD.format(name="redirect"),
            '  <recv request="INVITE" timeout="10000"/>\n',
            _uas_answer(
                302,
                f"Contact: <{contact}>\n",
                to="[last_To:];tag=[pid]SIPpTag01[call_number]",
            ),
            '  <recv request="ACK" timeout="10000"/>\n',
            '  <pause milliseconds="100"/>\n',
            "</scenario>\n",
        ]
    )


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
    redirect, redirect_port = await sipp_uas(own_dir(tmp_path), redirecting(moved_to), transport)
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
