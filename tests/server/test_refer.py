"""REFER's implicit subscription (RFC 3515) and several subscriptions in one
dialog (RFC 6665 §4.5.2), with a hand-written peer on a real UDP socket."""

from __future__ import annotations

import asyncio
from typing import Any

from server_harness import App, sip_port, start_server
from sip_peer import SipPeer

from drachtio import SipRequest


def request(peer: SipPeer, method: str, cseq: int, headers: str, to_tag: str = "") -> bytes:
    to = "<sip:app@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} sip:app@127.0.0.1:{peer._server_port} SIP/2.0\r\n"
        f"Via: {peer.via}\r\nMax-Forwards: 70\r\n"
        f"From: <sip:peer@127.0.0.1>;tag=peer1\r\nTo: {to}\r\n"
        f"Call-ID: refer-1\r\nCSeq: {cseq} {method}\r\n"
        f"Contact: <sip:peer@127.0.0.1:{peer.port}>\r\n{headers}Content-Length: 0\r\n\r\n"
    ).encode()


async def notify_and_answer(
    app: App, peer: SipPeer, dialog_id: str, event: str, state: str
) -> dict[str, Any]:
    """The app sends a NOTIFY in the dialog, the peer answers it 200; the app's final ``sip``."""
    sent = await app.request(
        "sendSipRequest",
        {
            "method": "NOTIFY",
            "dialogId": dialog_id,
            "headers": {
                "Event": event,
                "Subscription-State": state,
                "Content-Type": "message/sipfrag;version=2.0",
            },
            "body": "SIP/2.0 200 OK\r\n",
        },
    )
    assert sent["success"] is True, sent
    notify = await peer.next_request("NOTIFY")
    assert isinstance(notify, SipRequest)
    assert notify.header("Event") == event
    peer.answer(notify, 200, "OK")
    while True:
        answer = await app.next_sip_of(sent["transactionId"])
        if answer["message"]["status_line"]["status_code"] >= 200:
            return answer


async def test_a_refer_outside_a_dialog_makes_one_its_final_notify_ends() -> None:
    server = await start_server()
    app = await App.authenticated(server, "REFER")
    peer = await SipPeer.open("udp", sip_port(server, "udp"))
    try:
        peer.send(request(peer, "REFER", 1, "Refer-To: <sip:carol@127.0.0.1>\r\n"))
        refer = await app.next_sip("REFER")
        accepted = await app.respond(refer["transactionId"], 202)
        dialog_id = accepted["dialogId"]
        ok = await peer.final_response("refer-1")
        assert ok.status == 202 and ok.to is not None and ok.to.tag
        assert server.stats["dialogs"] == 1
        progress = await notify_and_answer(app, peer, dialog_id, "refer", "active;expires=60")
        assert progress["dialogId"] == dialog_id
        assert server.stats["dialogs"] == 1
        await notify_and_answer(app, peer, dialog_id, "refer", "terminated;reason=noresource")
        destroyed = await app.next_request("dialog")
        assert destroyed == {
            "dialogId": dialog_id,
            "event": "destroyed",
            "reason": "terminating NOTIFY sent",
        }
        assert server.stats["dialogs"] == 0
    finally:
        peer.close()
        await app.close()
        await server.stop()


async def test_a_dialog_with_two_subscriptions_ends_with_the_second() -> None:
    server = await start_server()
    app = await App.authenticated(server, "SUBSCRIBE")
    peer = await SipPeer.open("udp", sip_port(server, "udp"))
    try:
        peer.send(request(peer, "SUBSCRIBE", 1, "Event: presence\r\nExpires: 600\r\n"))
        subscribe = await app.next_sip("SUBSCRIBE")
        accepted = await app.respond(subscribe["transactionId"], 200, {"Expires": "600"})
        dialog_id = accepted["dialogId"]
        to_tag = (await peer.final_response("refer-1")).to.tag  # type: ignore[union-attr]
        # A second subscription in the same dialog, to another event package.
        peer.send(request(peer, "SUBSCRIBE", 2, "Event: dialog\r\nExpires: 600\r\n", to_tag))
        second = await app.next_sip("SUBSCRIBE")
        assert second["dialogId"] == dialog_id
        await app.respond(second["transactionId"], 200, {"Expires": "600"})
        await notify_and_answer(app, peer, dialog_id, "presence", "terminated;reason=timeout")
        await asyncio.sleep(0.1)
        assert server.stats["dialogs"] == 1  # the "dialog" subscription goes on
        assert app.requests.empty()
        await notify_and_answer(app, peer, dialog_id, "dialog", "terminated;reason=timeout")
        destroyed = await app.next_request("dialog")
        assert (destroyed["dialogId"], destroyed["event"]) == (dialog_id, "destroyed")
        assert server.stats["dialogs"] == 0
    finally:
        peer.close()
        await app.close()
        await server.stop()


def test_which_notify_belongs_to_which_subscription() -> None:
    from drachtio.server.dialog import event_key, events_match

    refer = SipRequest("REFER", "sip:a@127.0.0.1", headers=[("CSeq", "7 REFER")])
    assert event_key(refer) == ("refer", "7")
    # RFC 3515 §2.4.6: the id is the REFER's CSeq, and may be left out.
    assert events_match(("refer", "7"), ("refer", None))
    assert events_match(("refer", "7"), ("refer", "7"))
    assert not events_match(("refer", "7"), ("refer", "8"))
    # RFC 6665 §8.2.1: type and id, byte by byte; other parameters do not count.
    notify = SipRequest("NOTIFY", "sip:a@127.0.0.1", headers=[("Event", "presence;id=2;x=y")])
    assert event_key(notify) == ("presence", "2")
    assert not events_match(("presence", None), ("presence", "2"))
    assert not events_match(("Presence", None), ("presence", None))
