"""What a hostile or careless peer sends: every request answered, every app held to its own calls.

The SIP side is a peer written by hand over a real socket (sip_peer.py), for
messages sipp cannot send; the applications are raw JSON clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import pytest
from server_harness import SDP, App, needs_sipp, sip_port, sipp_uac, sipp_uas, start_server, until
from sip_peer import SipPeer
from sipp_scenarios.uac import uac_scenario
from sipp_scenarios.uas import uas_in_dialog_scenario

from drachtio import ParseError, SipRequest, parse
from drachtio.server import Server

RFC4475 = Path(__file__).parent.parent / "data" / "sip" / "rfc4475"


def _with_via(data: bytes, via: str) -> bytes:
    """``data`` with ``via`` on top, so that responses come back to the peer."""
    first = data.index(b"\r\n") + 2
    return data[:first] + f"Via: {via}\r\n".encode() + data[first:]


async def _answer_everything(app: App, failures: list[dict[str, Any]]) -> None:
    """Answer each new request: INVITE 486 (no dialog), others 200."""
    while True:
        data = await app.next_request("sip", timeout=120)
        method = data["message"]["request_uri"]["method"]
        result = await app.respond(data["transactionId"], 486 if method == "INVITE" else 200)
        if not result.get("success"):
            failures.append({"method": method, **result})


async def _settled(server: Server, key: str, value: int) -> None:
    await until(lambda: server.stats[key] == value)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_every_rfc4475_request_that_parses_gets_a_final_response(transport: str) -> None:
    server = await start_server()
    routed = ("INVITE", "OPTIONS", "REGISTER", "MESSAGE")
    app = await App.authenticated(server, *routed)
    failures: list[dict[str, Any]] = []
    answering = asyncio.ensure_future(_answer_everything(app, failures))
    statuses: dict[str, int] = {}
    try:
        for path in sorted(RFC4475.iterdir()):
            data = path.read_bytes()
            try:
                request = parse(data)
            except ParseError:
                continue
            if not isinstance(request, SipRequest) or request.method == "ACK":
                continue
            peer = await SipPeer.open(transport, sip_port(server, transport))
            try:
                peer.send(_with_via(data, peer.via))
                response = await peer.final_response(None)
            except TimeoutError:
                pytest.fail(f"{path.name}: no final response over {transport}")
            finally:
                peer.close()
            statuses[path.stem] = response.status
    finally:
        answering.cancel()
        await app.close()
        await server.stop()
    assert failures == []
    # Every message of RFC 4475 §3.1.1 (valid) that is a request was answered.
    for name in ("intmeth", "esc01", "escnull", "longreq", "wsinv", "dblreq", "unkscm", "semiuri"):
        assert name in statuses, name
    # intmeth's To carries BEL, NUL and DEL as quoted-pairs: the server's own
    # answer (no application routes its method) copies it.
    assert statuses["intmeth"] == 503
    assert statuses["esc01"] == 486 and statuses["escnull"] == 200
    await _settled(server, "server_transactions", 0)


def _invite(peer: SipPeer, server_port: int, call_id: str, *headers: str) -> bytes:
    lines = [
        f"INVITE sip:bob@127.0.0.1:{server_port} SIP/2.0",
        f"Via: {peer.via}",
        "Max-Forwards: 70",
        f"Call-ID: {call_id}",
        "CSeq: 1 INVITE",
        *headers,
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _ack(peer: SipPeer, server_port: int, response: Any) -> bytes:
    lines = [
        f"ACK sip:bob@127.0.0.1:{server_port} SIP/2.0",
        f"Via: {peer.via}",
        "Max-Forwards: 70",
        f"From: {response.header('From')}",
        f"To: {response.header('To')}",
        f"Call-ID: {response.call_id}",
        "CSeq: 1 ACK",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _answered_call(
    app: App, peer: SipPeer, server_port: int, call_id: str, *headers: str
) -> tuple[Any, str]:
    """An INVITE from ``peer`` answered 200 by ``app`` and ACKed: the 200 and the dialog id."""
    peer.send(_invite(peer, server_port, call_id, *headers))
    invite = await app.next_sip("INVITE")
    answered = await app.respond(invite["transactionId"], 200)
    assert answered["success"] is True, answered
    response = await peer.final_response(call_id)
    assert response.status == 200
    peer.send(_ack(peer, server_port, response))
    ack = await app.next_sip("ACK")
    assert ack["dialogId"] == answered["dialogId"]
    return response, answered["dialogId"]


async def test_quoted_control_characters_and_record_route_are_copied_as_received() -> None:
    # RFC 3261 §25.1: a quoted-pair may carry any control character but CR
    # and LF. The 200 and the BYE copy such values byte for byte, and the 200
    # carries the INVITE's Record-Route values in order (§12.1.1).
    server = await start_server()
    app = await App.authenticated(server, "invite")
    port = sip_port(server, "udp")
    peer = await SipPeer.open("udp", port)
    from_ = f'"al\\\x00ice \\\x7f" <sip:alice@127.0.0.1:{peer.port}>;tag=a1'
    to = '"b\\\x07ob" <sip:bob@127.0.0.1>'
    routes = [
        f'<sip:127.0.0.1:{peer.port};lr>;x-note="a\\\x07b"',
        f"<sip:127.0.0.1:{peer.port};lr;second>",
    ]
    try:
        response, dialog_id = await _answered_call(
            app,
            peer,
            port,
            "bel-1@test",
            f"From: {from_}",
            f"To: {to}",
            f"Record-Route: {routes[0]}",
            f"Record-Route: {routes[1]}",
            f"Contact: <sip:alice@127.0.0.1:{peer.port}>",
        )
        assert response.header("From") == from_
        local = response.header("To") or ""
        assert local.startswith(f"{to};tag=")
        assert response.header_all("Record-Route") == routes
        sent, _ = await asyncio.gather(
            app.send_in_dialog(dialog_id, "BYE"), _answer_bye(peer, from_, local, routes)
        )
        assert sent[1]["message"]["status_line"]["status_code"] == 200
    finally:
        peer.close()
        await app.close()
        await server.stop()


async def _answer_bye(peer: SipPeer, remote: str, local: str, routes: list[str]) -> None:
    bye = await peer.next_request("BYE")
    assert bye.header("To") == remote
    assert bye.header("From") == local
    assert bye.header_all("Route") == routes
    peer.answer(bye, 200, "OK")


async def test_an_app_leaving_ends_each_of_its_calls_even_one_with_a_contact_carrying_headers() -> (
    None
):
    # A remote target with URI headers (RFC 3261 §19.1.1) cannot be a
    # Request-URI as it is: the BYE's goes without them, and the call after
    # it is ended too.
    server = await start_server()
    app = await App.authenticated(server, "invite")
    port = sip_port(server, "udp")
    peer = await SipPeer.open("udp", port)
    try:
        for n, contact in enumerate(
            [f"<sip:alice@127.0.0.1:{peer.port}?X-Ref=abc>", f"<sip:alice@127.0.0.1:{peer.port}>"]
        ):
            await _answered_call(
                app,
                peer,
                port,
                f"leave-{n}@test",
                f"From: <sip:alice@127.0.0.1>;tag=f{n}",
                "To: <sip:bob@127.0.0.1>",
                f"Contact: {contact}",
            )
        await app.close()
        byes = [await peer.next_request("BYE"), await peer.next_request("BYE")]
        assert sorted(bye.call_id or "" for bye in byes) == ["leave-0@test", "leave-1@test"]
        for bye in byes:
            assert str(bye.uri) == f"sip:alice@127.0.0.1:{peer.port}"
            peer.answer(bye, 200, "OK")
        await _settled(server, "dialogs", 0)
    finally:
        peer.close()
        await server.stop()


async def test_an_app_cannot_send_a_request_naming_another_apps_dialog() -> None:
    server = await start_server()
    owner = await App.authenticated(server, "invite")
    other = await App.authenticated(server)
    port = sip_port(server, "udp")
    peer = await SipPeer.open("udp", port)
    try:
        response, dialog_id = await _answered_call(
            owner,
            peer,
            port,
            "steal@test",
            "From: <sip:alice@127.0.0.1>;tag=remote1",
            "To: <sip:bob@127.0.0.1>",
            f"Contact: <sip:alice@127.0.0.1:{peer.port}>",
        )
        local = response.header("To") or ""
        remote = response.header("From") or ""
        target = f"sip:alice@127.0.0.1:{peer.port}"
        # As the owner's BYE would be, and as the caller's would be.
        for from_, to in ((local, remote), (remote, local)):
            refused = await other.request(
                "sendSipRequest",
                {
                    "method": "BYE",
                    "uri": target,
                    "headers": {"Call-ID": "steal@test", "From": from_, "To": to},
                },
            )
            assert refused["success"] is False
            assert "dialog of another application" in refused["reason"]
        # The owner still ends its call, and the BYE is the first the peer sees.
        sent, _ = await asyncio.gather(
            owner.send_in_dialog(dialog_id, "BYE"), _answer_bye(peer, remote, local, [])
        )
        assert sent[1]["message"]["status_line"]["status_code"] == 200
    finally:
        peer.close()
        await owner.close()
        await other.close()
        await server.stop()


async def test_another_apps_transaction_is_unknown_in_every_state() -> None:
    server = await start_server()
    owner = await App.authenticated(server, "options")
    other = await App.authenticated(server)
    port = sip_port(server, "udp")
    peer = await SipPeer.open("udp", port)

    def options(n: int) -> bytes:
        return (
            f"OPTIONS sip:bob@127.0.0.1:{port} SIP/2.0\r\nVia: {peer.via}\r\n"
            f"From: <sip:a@127.0.0.1>;tag=o{n}\r\nTo: <sip:bob@127.0.0.1>\r\n"
            f"Call-ID: probe-{n}@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    try:
        ids = []
        for n in range(2):
            peer.send(options(n))
            ids.append((await owner.next_sip("OPTIONS"))["transactionId"])
        tx = ids[0]
        pending = await other.respond(tx, 200)
        assert pending == {"success": False, "reason": f"unknown transaction {tx}"}
        assert (await owner.respond(tx, 200))["success"] is True
        finished = await other.respond(tx, 200)
        assert finished == {"success": False, "reason": f"unknown transaction {tx}"}
        again = await owner.respond(tx, 200)
        assert again["reason"] == f"transaction {tx} already has a final response"
        # Ids are random: one tells nothing of the next.
        assert ids[0][:8] != ids[1][:8] and ids[0][-8:] != ids[1][-8:]
        assert (await owner.respond(ids[1], 200))["success"] is True
    finally:
        peer.close()
        await owner.close()
        await other.close()
        await server.stop()


@pytest.mark.parametrize(
    ("header", "value", "named"),
    [
        ("From", "no scheme here", "From"),
        ("To", "<sip:bob@127.0.0.1", "To"),
        ("Call-ID", "two words", "Call-ID"),
        ("Max-Forwards", "300", "Max-Forwards"),
        ("Contact", "<sip:a@127.0.0.1>;;x", "Contact"),
        ("f", "garbage", "From"),
        ("CSeq", "x", "CSeq"),
        # The CSeq of a request names its method (RFC 3261 §8.1.1.5).
        ("CSeq", "5 INVITE", "CSeq"),
    ],
)
async def test_a_malformed_header_the_server_relies_on_is_refused(
    header: str, value: str, named: str
) -> None:
    server = await start_server()
    app = await App.authenticated(server)
    try:
        port = sip_port(server, "udp")
        result = await app.request(
            "sendSipRequest",
            {"method": "OPTIONS", "uri": f"sip:x@127.0.0.1:{port}", "headers": {header: value}},
        )
        assert result["success"] is False
        assert result["reason"].startswith(f"malformed {named} header: "), result
    finally:
        await app.close()
        await server.stop()


async def test_a_malformed_contact_in_a_response_is_refused_and_the_app_may_answer_again() -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    port = sip_port(server, "udp")
    peer = await SipPeer.open("udp", port)
    try:
        peer.send(
            _invite(
                peer,
                port,
                "contact@test",
                "From: <sip:alice@127.0.0.1>;tag=c1",
                "To: <sip:bob@127.0.0.1>",
                f"Contact: <sip:alice@127.0.0.1:{peer.port}>",
            )
        )
        invite = await app.next_sip("INVITE")
        refused = await app.respond(invite["transactionId"], 200, {"Contact": "<sip:x@y"})
        assert refused["success"] is False
        assert refused["reason"].startswith("malformed Contact header: ")
        assert (await app.respond(invite["transactionId"], 486))["success"] is True
        assert (await peer.final_response("contact@test")).status == 486
    finally:
        peer.close()
        await app.close()
        await server.stop()


async def test_a_non_ascii_user_part_is_named_as_such() -> None:
    server = await start_server()
    app = await App.authenticated(server)
    try:
        data = {"method": "OPTIONS", "uri": "sip:ü@127.0.0.1"}
        result = await app.request("sendSipRequest", data)
        assert result["success"] is False
        assert "non-ASCII character in user or password" in result["reason"], result
    finally:
        with contextlib.suppress(Exception):
            await app.close()
        await server.stop()


@needs_sipp
async def test_an_app_leaving_after_its_call_was_answered_ends_it_without_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Its INVITE transaction is answered (kept 64*T1 for forked 2xx): the
    # call is ended with BYE, and nothing tries to cancel what is answered.
    server = await start_server()
    app = await App.authenticated(server)
    sipp, port = await sipp_uas(tmp_path, uas_in_dialog_scenario([("BYE", 200)]))
    try:
        sent = await app.request(
            "sendSipRequest", {"method": "INVITE", "uri": f"sip:sipp@127.0.0.1:{port}"}
        )
        answered = await app.next_sip_of(sent["transactionId"])
        while answered["message"]["status_line"]["status_code"] < 200:
            answered = await app.next_sip_of(sent["transactionId"])
        dialog_id = answered["dialogId"]
        ack = await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
        assert ack["success"] is True
        with caplog.at_level(logging.INFO, logger="drachtio.server"):
            await app.close()
            assert (await sipp.result()).successful == 1
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    finally:
        await server.stop()


@needs_sipp
async def test_a_bye_left_unanswered_by_an_app_that_leaves_gets_200(tmp_path: Path) -> None:
    # The BYE ended the dialog when it came: the caller is told its call is
    # over (200), not 480 as for a request someone should still handle.
    server = await start_server()
    app = await App.authenticated(server, "invite")
    try:
        sipp = await sipp_uac(tmp_path, server, uac_scenario(200))
        invite = await app.next_sip("INVITE")
        assert (await app.respond(invite["transactionId"], 200, body=SDP))["success"] is True
        await app.next_sip("BYE")
        await app.close()
        result = await sipp.result()
        assert result.successful == 1, result.log
    finally:
        await server.stop()
