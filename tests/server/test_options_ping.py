"""OPTIONS to the server itself (``answer_options``): keep-alive pings from a
real socket, answered 200 by the server while no application routes OPTIONS."""

from __future__ import annotations

from server_harness import App, sip_port, start_server
from sip_peer import SipPeer

from drachtio.server import load_config


def options(peer: SipPeer, call_id: str) -> bytes:
    return (
        f"OPTIONS sip:127.0.0.1:{peer._server_port} SIP/2.0\r\n"
        f"Via: {peer.via}\r\nMax-Forwards: 70\r\n"
        "From: <sip:pinger@127.0.0.1>;tag=p1\r\nTo: <sip:127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


async def test_the_server_answers_pings_until_an_application_routes_options() -> None:
    server = await start_server(answer_options=True)
    peer = await SipPeer.open("udp", sip_port(server, "udp"))
    invite_app = await App.authenticated(server, "INVITE")
    try:
        peer.send(options(peer, "ping-1"))
        answer = await peer.final_response("ping-1")
        assert answer.status == 200
        allowed = [m.strip() for m in (answer.header("Allow") or "").split(",")]
        assert allowed == ["INVITE", "ACK", "CANCEL", "OPTIONS"]
        assert answer.to is not None and answer.to.tag
        # An application that routes OPTIONS gets them, as before.
        options_app = await App.authenticated(server, "OPTIONS")
        peer.send(options(peer, "ping-2"))
        request = await options_app.next_sip("OPTIONS")
        await options_app.respond(request["transactionId"], 486)
        assert (await peer.final_response("ping-2")).status == 486
        await options_app.close()
    finally:
        peer.close()
        await invite_app.close()
        await server.stop()


async def test_without_the_setting_an_unrouted_ping_gets_the_no_route_status() -> None:
    server = await start_server()
    peer = await SipPeer.open("tcp", sip_port(server, "tcp"))
    try:
        peer.send(options(peer, "ping-3"))
        assert (await peer.final_response("ping-3")).status == 503
    finally:
        peer.close()
        await server.stop()


def test_the_setting_from_the_environment_and_the_flag() -> None:
    assert load_config(secrets=["x"]).answer_options is False
    env = {"DRACHTIO_ANSWER_OPTIONS": "yes"}
    assert load_config(secrets=["x"], env=env).answer_options is True
    assert load_config(secrets=["x"], env=env, answer_options=False).answer_options is False
