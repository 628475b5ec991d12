"""What the caller sends in the early dialog of an INVITE the server received:
a BYE (RFC 3261 §15.1.2), a second INVITE (§14.2), a PRACK (RFC 3262).

sipp is the caller, over UDP and TCP; the application answers the INVITE.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from server_harness import SDP, App, needs_sipp, sipp_uac, start_server
from sipp_scenarios.parts import OPTIONAL_100, checked_recv, scenario_of
from sipp_scenarios.prack import prack_scenario
from sipp_scenarios.uac import (
    ACK,
    ACK_2XX,
    BYE,
    INVITE,
    send_bye,
    uac_in_dialog_request,
    uac_request,
)
from test_cdr_calls import records
from test_early_dialogs import _finish

pytestmark = [needs_sipp, pytest.mark.parametrize("transport", ["udp", "tcp"])]


async def _answer_then_bye(app: App, tx_id: str, dialog_id: str) -> None:
    """The app answers the INVITE 200, which confirms ``dialog_id``; the caller's
    ACK and BYE come in it, and the app answers the BYE."""
    ok = await app.respond(tx_id, 200, body=SDP)
    assert ok["dialogId"] == dialog_id
    assert (await app.next_sip("ACK"))["dialogId"] == dialog_id
    bye = await app.next_sip("BYE")
    assert bye["dialogId"] == dialog_id
    await app.respond(bye["transactionId"], 200)


async def test_the_callers_bye_in_the_early_dialog_ends_the_invite_with_487(
    tmp_path: Path, transport: str
) -> None:
    """The BYE is answered 200 and the INVITE 487 by the server; the app,
    which routes BYE, is not handed it: it is told as for a CANCEL (``cancel``,
    then ``destroyed``), and the call has one record, its stop ``call-canceled``."""
    cdr = tmp_path / "cdr.jsonl"
    server = await start_server(cdr_file=str(cdr))
    app = await App.authenticated(server, "invite", "bye")
    scenario = scenario_of(
        "caller hanging up an early dialog",
        INVITE,
        OPTIONAL_100,
        '  <recv response="180" rrs="true"/>\n',
        BYE,  # in the early dialog: the 180's To tag, to its Contact
        checked_recv('response="487"', ("CSeq: 1 INVITE",), "term_"),
        ACK,
    )
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    invite = await app.next_sip("INVITE")
    tx_id = invite["transactionId"]
    ringing = await app.respond(tx_id, 180)
    dialog_id = ringing["dialogId"]
    since = app.index_after(ringing)
    cancel = await app.next_request("cancel")
    assert cancel == {
        "transactionId": tx_id,
        "reason": "BYE received in the early dialog: answered 487",
    }
    ended = await app.next_request("dialog")
    assert ended == {
        "dialogId": dialog_id,
        "event": "destroyed",
        "reason": "BYE received in the early dialog",
    }
    assert app.labels(since) == ["cancel", "dialog destroyed"]
    late = await app.respond(tx_id, 200, body=SDP)
    assert late == {"success": False, "reason": f"transaction {tx_id} already has a final response"}
    await _finish(server, app, sipp)
    made = records(cdr)
    assert [(r["kind"], r.get("reason"), r.get("status")) for r in made] == [
        ("attempt", None, None),
        ("stop", "call-canceled", 487),
    ]


async def test_a_second_invite_in_the_early_dialog_is_answered_500_with_retry_after(
    tmp_path: Path, transport: str
) -> None:
    """The caller's re-INVITE before the final response to its INVITE gets 500
    with a Retry-After of 0 to 10 s (RFC 3261 §14.2) without reaching the app;
    the call goes on: the caller's UPDATE (CSeq 3) reaches the app, the 200
    confirms the early dialog."""
    server = await start_server()
    app = await App.authenticated(server, "invite")
    refused = OPTIONAL_100 + checked_recv(
        'response="500"', ("CSeq: 2 INVITE", "Retry-After: ([0-9]|10)[^0-9]"), "re_"
    )
    scenario = scenario_of(
        "caller re-inviting an early dialog",
        INVITE,
        OPTIONAL_100,
        '  <recv response="183" rrs="true"/>\n',
        uac_in_dialog_request("INVITE", 2, refused),
        # The ACK of the 500, in its transaction, to the re-INVITE's Request-URI.
        uac_request("ACK", 2, via="[last_Via:]"),
        uac_in_dialog_request("UPDATE", 3, '  <recv response="200"/>\n'),
        checked_recv('response="200"', ("CSeq: 1 INVITE",), "ok_", rrs=True),
        ACK_2XX,
        send_bye(4),
    )
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    invite = await app.next_sip("INVITE")
    tx_id = invite["transactionId"]
    ringing = await app.respond(tx_id, 183, body=SDP)
    dialog_id = ringing["dialogId"]
    since = app.index_after(ringing)
    update = await app.next_sip("UPDATE")
    assert update["dialogId"] == dialog_id
    # The UPDATE came after the re-INVITE's 500: nothing of it reached the app.
    assert app.labels(since) == ["sip UPDATE"]
    await app.respond(update["transactionId"], 200)
    await _answer_then_bye(app, tx_id, dialog_id)
    await _finish(server, app, sipp)


async def test_the_prack_handed_to_the_app_carries_the_early_dialog(
    tmp_path: Path, transport: str
) -> None:
    """The PRACK of the app's reliable 183 reaches it with the dialogId of the
    183's early dialog, the one the 200 then confirms."""
    server = await start_server()
    app = await App.authenticated(server, "invite", "prack")
    scenario = prack_scenario("Require: 100rel", answered_first=False, pause_ms=0)
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    invite = await app.next_sip("INVITE")
    provisional = await app.respond(invite["transactionId"], 183, body=SDP)
    dialog_id = provisional["dialogId"]
    prack = await app.next_sip("PRACK")
    assert prack["dialogId"] == dialog_id
    await app.respond(prack["transactionId"], 200)
    await _answer_then_bye(app, invite["transactionId"], dialog_id)
    await _finish(server, app, sipp)
