"""Headers the parser leaves to be read later, spoiled: each answered at the door, or survived.

Found by ``benches/fuzz_server.py``. The parser checks Via, From, To,
Call-ID, CSeq, Max-Forwards and each Contact header as it parses; Route and
Record-Route, and the Contact values taken together, are read only when
the server needs them. Each case is a request from a peer on a real socket
on loopback (``hostile``'s peer), answered by a raw JSON application.
"""

from __future__ import annotations

import logging
import random

import pytest
from hostile import AnsweringApp, Context, Leg, Message, Mutator, Peer, Report
from server_harness import SDP, App, sip_port, start_server, until

from drachtio import SipRequest, SipResponse
from drachtio.server import Server


async def _peer(server: Server, app: AnsweringApp, transport: str) -> tuple[Context, Leg]:
    peer = await Peer.open(transport, sip_port(server, transport))
    ctx = Context(peer, app, Mutator(random.Random(0)), app.report, "test", 5.0)
    return ctx, ctx.leg()


async def _final(ctx: Context, message: Message) -> SipResponse:
    response = await ctx.final(ctx.send(message))
    assert isinstance(response, SipResponse), response
    return response


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def _still_serving(server: Server, app: AnsweringApp, transport: str) -> None:
    ctx, leg = await _peer(server, app, transport)
    try:
        assert (await _final(ctx, leg.request("OPTIONS"))).status == 200
    finally:
        ctx.peer.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize(
    ("method", "header", "value", "reason"),
    [
        ("OPTIONS", "Route", "<sip:@127.0.0.1;lr>", "Malformed Route header: empty user"),
        ("INVITE", "Route", '"unterminated', "Malformed Route header:"),
        ("INVITE", "Record-Route", "<sip:a@[::1;lr>", "Malformed Record-Route header:"),
        ("SUBSCRIBE", "Contact", "*", "Malformed Contact header: * is for a REGISTER alone"),
    ],
)
async def test_a_header_the_server_reads_that_is_malformed_is_answered_400(
    transport: str,
    method: str,
    header: str,
    value: str,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before: a malformed Route raised in the server, which answered 500 and
    # logged the exception; a malformed Record-Route reached the application,
    # whose 2xx was then refused.
    server = await start_server()
    app = await AnsweringApp.attach(server, Report())
    ctx, leg = await _peer(server, app, transport)
    try:
        request = leg.request(method, ("Event", "presence"), body=SDP if method == "INVITE" else "")
        request.set(header, value)
        response = await _final(ctx, request)
        assert response.status == 400
        assert response.reason.startswith(reason), response.reason
        # The application was never handed the request, and the server serves on.
        assert [f for f in app.app.frames if f.get("command") == "sip"] == []
        await _still_serving(server, app, transport)
        assert server.stats["dialogs"] == 0
    finally:
        ctx.peer.close()
        await app.close()
        await server.stop()
    assert _errors(caplog) == []


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("Record-Route", "<tel:+1>", "Record-Route is not a SIP or SIPS URI"),
        ("Contact", "<tel:+1>", "Contact is not a SIP or SIPS URI"),
        ("Contact", "<urn:x:y>", "Contact is not a SIP or SIPS URI"),
        (
            "Contact",
            "<sip:a@127.0.0.1;transport=bogus>",
            'Contact cannot be reached: unknown transport "bogus"',
        ),
    ],
)
async def test_a_2xx_making_a_dialog_no_request_could_reach_is_refused_to_the_application(
    transport: str, header: str, value: str, reason: str
) -> None:
    # Before: the 2xx made a dialog that nothing could end (every BYE the
    # application sent failed). The application, refused, answers 500.
    server = await start_server()
    report = Report()
    app = await AnsweringApp.attach(server, report)
    ctx, leg = await _peer(server, app, transport)
    try:
        invite = leg.request("INVITE", body=SDP)
        invite.set(header, value)
        assert (await _final(ctx, invite)).status == 500
        (refused,) = report.refused_answers
        assert refused.startswith(f"INVITE 200: no dialog can be made with this request: {reason}")
        assert server.stats["dialogs"] == 0
        await _still_serving(server, app, transport)
    finally:
        ctx.peer.close()
        await app.close()
        await server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_two_contact_headers_one_of_them_star_are_answered_400(transport: str) -> None:
    # Each Contact header parses alone; together they are malformed (RFC 3261
    # §20.10: * stands alone), which reading them raised.
    server = await start_server()
    app = await AnsweringApp.attach(server, Report())
    ctx, leg = await _peer(server, app, transport)
    try:
        request = leg.request("SUBSCRIBE", ("Event", "presence"), ("Contact", "*"))
        response = await _final(ctx, request)
        assert response.status == 400
        assert response.reason.startswith("Malformed Contact header:"), response.reason
        await _still_serving(server, app, transport)
    finally:
        ctx.peer.close()
        await app.close()
        await server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_an_ack_with_a_malformed_route_matching_nothing_is_dropped_quietly(
    transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: reading its Route to see whether it passes through raised on
    # the loop ("SipStack on_event raised").
    server = await start_server()
    app = await AnsweringApp.attach(server, Report())
    ctx, leg = await _peer(server, app, transport)
    try:
        leg.remote = "<sip:service@127.0.0.1>;tag=nosuch"
        ack = leg.request("ACK", ("Route", "<sip:@127.0.0.1;lr>"), cseq=1)
        ctx.send(ack)
        await _still_serving(server, app, transport)
    finally:
        ctx.peer.close()
        await app.close()
        await server.stop()
    assert _errors(caplog) == []


async def _answered_call(ctx: Context, leg: Leg) -> None:
    """The peer's INVITE, answered 200 by the application, then ACKed."""
    invite = leg.request("INVITE", body=SDP)
    response = await _final(ctx, invite)
    assert response.status == 200
    leg.remote = response.header("To") or ""
    leg.target = str(response.contacts[0].uri)
    ctx.send(leg.request("ACK", cseq=1))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_reinvite_with_a_malformed_record_route_can_be_answered_200(
    transport: str,
) -> None:
    # A request in a dialog does not change its route set (RFC 3261 §12.2):
    # its Record-Route is not read. Before, answering it 2xx read it, and
    # the application's 200 was refused.
    server = await start_server()
    report = Report()
    app = await AnsweringApp.attach(server, report)
    ctx, leg = await _peer(server, app, transport)
    try:
        await _answered_call(ctx, leg)
        reinvite = leg.request("INVITE", ("Record-Route", "<sip:a@[::1;lr>"), body=SDP)
        assert (await _final(ctx, reinvite)).status == 200
        ctx.send(leg.request("ACK", cseq=leg.cseq))
        assert (await _final(ctx, leg.request("BYE"))).status == 200
        assert report.refused_answers == []
    finally:
        ctx.peer.close()
        await app.close()
        await server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_bye_to_a_peer_that_cannot_be_reached_still_ends_the_dialog(
    transport: str,
) -> None:
    # The callee's 2xx names a Contact no request can be sent to. Before, the
    # application's BYE failed and the dialog stayed, with nothing to end it.
    server = await start_server()
    app = await App.authenticated(server)
    peer = await Peer.open(transport, sip_port(server, transport))
    try:
        sent = await app.request(
            "sendSipRequest",
            {
                "method": "INVITE",
                "uri": f"sip:callee@127.0.0.1:{peer.port};transport={transport}",
                "headers": {"Content-Type": "application/sdp"},
                "body": SDP,
            },
        )
        invite = await peer.poll(5.0)
        assert isinstance(invite, SipRequest), invite
        ok = Leg(peer).response(invite, 200, body=SDP)
        ok.set("Contact", "<tel:+15551234567>")
        peer.send(ok.encode())
        answered = await app.next_sip_of(sent["transactionId"])
        dialog_id = answered["dialogId"]
        assert server.stats["dialogs"] == 1
        bye = await app.request("sendSipRequest", {"method": "BYE", "dialogId": dialog_id})
        assert bye["success"] is False
        assert "not a SIP URI" in bye["reason"], bye
        destroyed = await app.next_request("dialog", timeout=5.0)
        assert destroyed == {
            "dialogId": dialog_id,
            "event": "destroyed",
            "reason": "BYE could not be sent: no route to the peer",
        }
        assert server.stats["dialogs"] == 0
    finally:
        peer.close()
        await app.close()
        await server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_reinvite_requiring_100rel_never_pracked_leaves_nothing_held(
    transport: str,
) -> None:
    # The application answers the re-INVITE 180 (reliable: the caller
    # requires it) then 200, held for the PRACK that never comes; the caller
    # hangs up. Before, the held 2xx and its RSeq stayed in the server for
    # good, one more with each such call.
    server = await start_server()
    app = await AnsweringApp.attach(server, Report())
    ctx, leg = await _peer(server, app, transport)
    try:
        await _answered_call(ctx, leg)
        reinvite = leg.request("INVITE", ("Require", "100rel"), body=SDP)
        ctx.send(reinvite)
        reliable = server._tu.core.reliable
        # Until the application's 200 is held.
        await until(lambda: any(invite.held for invite in reliable._invites.values()))
        assert len(reliable) == 1
        assert (await _final(ctx, leg.request("BYE"))).status == 200
        # The PRACK and ACK timers: 64*T1 = 3.2 s.
        await until(lambda: len(reliable) == 0 and server.stats["server_transactions"] == 0)
        assert len(reliable) == 0
        assert server.stats["server_transactions"] == 0
    finally:
        ctx.peer.close()
        await app.close()
        await server.stop()
