"""The server over SIP over WebSocket (``--sip ws:``): a browser-like client
(the ``websockets`` package) that names itself ``*.invalid`` calls an
application, which answers and then hangs up: its BYE reaches the client
over the client's own connection (RFC 7118 §5.2). Then the same with JsSIP
under node.js (``tests/jssip/node``, pinned by its ``package-lock.json``;
``scripts/test.sh`` installs it)."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest
from server_harness import SDP, App, sip_port, start_server
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from drachtio import SipRequest, SipResponse, parse

CLIENT = "k3v9q2.invalid"
JSSIP_DIR = Path(__file__).parent.parent / "jssip" / "node"
WAIT = 10.0


def invite_part(method: str, cseq: int, to_tag: str | None = None) -> str:
    to = "<sip:service@example.com>" + (f";tag={to_tag}" if to_tag else "")
    body = SDP if method == "INVITE" else ""
    content_type = "Content-Type: application/sdp\r\n" if body else ""
    return (
        f"{method} sip:service@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/WS {CLIENT};branch=z9hG4bKws{method}{cseq}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@example.com>;tag=alice7\r\n"
        f"To: {to}\r\n"
        "Call-ID: server-ws-call\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:alice@{CLIENT};transport=ws>\r\n"
        f"{content_type}Content-Length: {len(body.encode())}\r\n\r\n{body}"
    )


async def receive(ws: ClientConnection) -> SipRequest | SipResponse:
    data = await asyncio.wait_for(ws.recv(), WAIT)
    return parse(data.encode() if isinstance(data, str) else data)


async def test_a_call_from_a_websocket_client_answered_and_hung_up_by_the_app() -> None:
    server = await start_server(sip=["ws:127.0.0.1:0"])
    app = await App.authenticated(server, "invite")
    url = f"ws://127.0.0.1:{sip_port(server, 'ws')}"
    async with connect(url, subprotocols=[Subprotocol("sip")]) as ws:
        await ws.send(invite_part("INVITE", 1))
        invite = await app.next_sip("INVITE")
        ok = await app.respond(invite["transactionId"], 200, body=SDP)
        while True:
            response = await receive(ws)
            assert isinstance(response, SipResponse)
            if response.status >= 200:
                break
        assert response.status == 200
        to = response.header("To")
        assert to is not None
        await ws.send(invite_part("ACK", 1, to.split("tag=")[1]))
        ack = await app.next_request("sip")
        assert ack["message"]["request_uri"]["method"] == "ACK"

        hang_up = asyncio.ensure_future(app.send_in_dialog(ok["dialogId"], "BYE"))
        bye = await receive(ws)
        assert isinstance(bye, SipRequest)
        assert bye.method == "BYE"
        assert str(bye.uri) == f"sip:alice@{CLIENT};transport=ws"
        names = ("Via", "From", "To", "Call-ID", "CSeq")
        lines = [f"{name}: {bye.header(name)}" for name in names]
        await ws.send("SIP/2.0 200 OK\r\n" + "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n")
        _, final = await asyncio.wait_for(hang_up, WAIT)
        assert final["message"]["status_line"]["status_code"] == 200
    assert server.stats["dialogs"] == 0
    await app.close()
    await server.stop()


@pytest.mark.skipif(shutil.which("node") is None, reason="node.js is not installed")
async def test_a_jssip_call_answered_and_hung_up_by_the_app() -> None:
    assert (JSSIP_DIR / "node_modules" / "jssip").is_dir(), "run scripts/test.sh (npm ci)"
    server = await start_server(sip=["ws:127.0.0.1:0"])
    app = await App.authenticated(server, "invite")
    url = f"ws://127.0.0.1:{sip_port(server, 'ws')}"
    client = await asyncio.create_subprocess_exec(
        "node",
        str(JSSIP_DIR / "call.js"),
        url,
        "sip:service@example.com",
        cwd=JSSIP_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        invite = await app.next_sip("INVITE", timeout=30)
        contact = invite["message"]["headers"]["contact"]
        assert ".invalid" in str(contact) and "transport=ws" in str(contact)
        ok = await app.respond(invite["transactionId"], 200, body=SDP)
        ack = await app.next_request("sip", timeout=30)
        assert ack["message"]["request_uri"]["method"] == "ACK"
        _, final = await app.send_in_dialog(ok["dialogId"], "BYE")
        assert final["message"]["status_line"]["status_code"] == 200
        output, _ = await asyncio.wait_for(client.communicate(), 30)
    finally:
        if client.returncode is None:
            client.kill()
            await client.wait()
    lines = output.decode().splitlines()
    sys.stdout.write(output.decode())
    assert client.returncode == 0, lines
    assert lines[-3:] == ["connected", "confirmed", "ended remote Terminated"], lines
    assert server.stats["dialogs"] == 0
    await app.close()
    await server.stop()


async def test_a_websocket_client_gone_mid_call_ends_its_dialog_for_the_app() -> None:
    server = await start_server(sip=["ws:127.0.0.1:0"])
    app = await App.authenticated(server, "invite")
    url = f"ws://127.0.0.1:{sip_port(server, 'ws')}"
    ws = await connect(url, subprotocols=[Subprotocol("sip")])
    await ws.send(invite_part("INVITE", 1))
    invite = await app.next_sip("INVITE")
    ok = await app.respond(invite["transactionId"], 200, body=SDP)
    while (response := await receive(ws)).status < 200:  # type: ignore[union-attr]
        pass
    to = response.header("To")
    assert to is not None
    await ws.send(invite_part("ACK", 1, to.split("tag=")[1]))
    assert (await app.next_request("sip"))["message"]["request_uri"]["method"] == "ACK"
    # The browser goes away without a BYE: nothing can reach it any more.
    ws.transport.abort()
    ended = await app.next_request("dialog")
    assert ended == {
        "dialogId": ok["dialogId"],
        "event": "destroyed",
        "reason": "WebSocket connection closed",
    }
    assert server.stats["dialogs"] == 0
    await app.close()
    await server.stop()
