"""What the callee of an INVITE the application sent does in its early dialogs:
answer 2xx in two forks (RFC 3261 §13.2.2.4), send an INVITE (§14.2). sipp
is the callee, over UDP and TCP.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from server_harness import App, needs_sipp, sipp_uas, start_server
from sipp_scenarios.early import (
    RECV_INVITE_AND_CONTACT,
    WITH_SDP,
    answer_invite,
    callee,
    callee_request,
)
from sipp_scenarios.parts import (
    CONTACT,
    OPTIONAL_100,
    SDP_BODY,
    checked_recv,
    pause,
    scenario_of,
    uas_answer,
)
from test_cdr_calls import records
from test_early_dialogs import _finish, _invite

pytestmark = [needs_sipp, pytest.mark.parametrize("transport", ["udp", "tcp"])]


async def test_a_2xx_in_an_early_dialog_another_fork_ended_is_acked_and_hung_up(
    tmp_path: Path, transport: str
) -> None:
    """Two 183s (forkA, forkB), then forkA's 200, which the app acknowledges:
    forkB's early dialog is ``destroyed``. forkB's 200 after it is
    acknowledged by the server, which sends BYE (CSeq 2, its Reason says
    why) itself: the app is never handed that 200 nor a dialog with forkB's
    tag, and the call has one record, ended by forkA's BYE."""
    cdr = tmp_path / "cdr.jsonl"
    server = await start_server(cdr_file=str(cdr))
    app = await App.authenticated(server)
    scenario = scenario_of(
        "two forks answering",
        RECV_INVITE_AND_CONTACT,
        answer_invite(183, "forkA", CONTACT),
        answer_invite(183, "forkB", CONTACT),
        answer_invite(200, "forkA", WITH_SDP, SDP_BODY),
        checked_recv('request="ACK"', ("To: .*;tag=forkA",), "acka_"),
        answer_invite(200, "forkB", WITH_SDP, SDP_BODY),
        checked_recv('request="ACK"', ("To: .*;tag=forkB", "CSeq: 1 ACK"), "ackb_"),
        checked_recv(
            'request="BYE"',
            ("To: .*;tag=forkB", "CSeq: 2 BYE", "Reason: SIP;text=.another fork answered"),
            "byeb_",
        ),
        uas_answer(200),
        callee_request("BYE", "forkA", '  <recv response="200" crlf="true"/>\n'),
        pause(200),
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    since = len(app.frames)
    tx_id = await _invite(app, port, transport)
    ok = await app.next_sip(200)
    dialog_id = ok["dialogId"]
    assert ok["transactionId"] == tx_id and dialog_id.endswith(";to-tag=forkA")
    ended = await app.next_request("dialog")
    assert ended["event"] == "destroyed" and ended["dialogId"].endswith(";to-tag=forkB")
    assert ended["reason"] == "another fork answered the INVITE"
    ack = await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
    assert ack["success"] is True, ack
    bye = await app.next_sip("BYE")
    assert bye["dialogId"] == dialog_id
    await app.respond(bye["transactionId"], 200)
    assert await app.next_request("dialog") == {
        "dialogId": dialog_id,
        "event": "destroyed",
        "reason": "BYE received",
    }
    await _finish(server, app, sipp)
    # forkB's 200 reached the app in no form.
    assert [label for label in app.labels(since) if label.startswith("sip")] == [
        "sip 183",
        "sip 183",
        "sip 200",
        "sip BYE",
    ]
    made = records(cdr)
    assert [(r["kind"], r.get("reason"), r.get("status")) for r in made] == [
        ("attempt", None, None),
        ("start", None, 200),
        ("stop", "normal-release", 200),
    ]


async def test_the_callees_invite_in_an_early_dialog_is_answered_491(
    tmp_path: Path, transport: str
) -> None:
    """The callee's INVITE in the early dialog of the app's 183 meets the app's
    INVITE in progress: 491 Request Pending (RFC 3261 §14.2), never handed to
    the app; the callee's 200 then confirms the early dialog as usual."""
    server = await start_server()
    app = await App.authenticated(server, "invite")
    refused = OPTIONAL_100 + checked_recv(
        'response="491"', ("CSeq: 1 INVITE", "To: .*;tag=", "From: .*;tag=early1"), "rp_"
    )
    scenario = callee(
        answer_invite(183, "early1", CONTACT),
        callee_request("INVITE", "early1", refused),
        # The 491's ACK, in the INVITE's transaction (the response's Via).
        callee_request("ACK", "early1", "", via="[last_Via:]"),
        answer_invite(200, "early1", WITH_SDP, SDP_BODY),
        bye_cseq=2,
        receive=RECV_INVITE_AND_CONTACT,
        name="callee inviting in an early dialog",
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    since = len(app.frames)
    tx_id = await _invite(app, port, transport)
    ok = await app.next_sip(200)
    assert ok["transactionId"] == tx_id and ok["dialogId"].endswith(";to-tag=early1")
    await app.ack_and_bye(ok)
    await _finish(server, app, sipp)
    assert [label for label in app.labels(since) if label.startswith("sip")] == [
        "sip 183",
        "sip 200",
        "sip 200",  # the BYE's
    ]
