"""Early dialogs (RFC 3261 §12.1, §13.2.2.4), UPDATE in them (RFC 3311) and PRACKs
the application sends (RFC 3262 §4): sipp as the callee or the caller, over UDP and TCP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from server_harness import SDP, App, Sipp, needs_sipp, sipp_uac, sipp_uas, start_server
from sipp_scenarios.early import (
    CALLER_BYE,
    CALLER_UPDATE,
    RECV_INVITE,
    RECV_INVITE_AND_CONTACT,
    WITH_SDP,
    answer_invite,
    callee,
    callee_update,
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
from sipp_scenarios.uac import ACK, ACK_2XX, INVITE, send_invite, uac_scenario
from sipp_scenarios.uas import ringing_then_cancelled_scenario

from drachtio.server import Server

pytestmark = [needs_sipp, pytest.mark.parametrize("transport", ["udp", "tcp"])]


async def _invite(app: App, port: int, transport: str, **more: Any) -> str:
    """The app sends an INVITE with SDP to sipp at ``port``; its transactionId."""
    uri = f"sip:service@127.0.0.1:{port}" + (";transport=tcp" if transport == "tcp" else "")
    sent = await app.request(
        "sendSipRequest",
        {
            "method": "INVITE",
            "uri": uri,
            "headers": {"Content-Type": "application/sdp"},
            "body": SDP,
            **more,
        },
    )
    assert sent["success"] is True, sent
    tx_id: str = sent["transactionId"]
    return tx_id


async def _status(app: App, tx_id: str) -> tuple[int, Any]:
    data = await app.next_sip_of(tx_id)
    return data["message"]["status_line"]["status_code"], data


async def _finish(server: Server, app: App, sipp: Sipp) -> None:
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["dialogs"] == 0
    await app.close()
    await server.stop()


async def test_the_183_names_the_early_dialog_the_200_confirms(
    tmp_path: Path, transport: str
) -> None:
    """UAC: the 183's dialogId is the call's; an UPDATE the app sends in the
    early dialog goes to the 183's Contact through its Record-Route, with the
    To tag and CSeq 2; the BYE after the 200 takes CSeq 3."""
    server = await start_server()
    app = await App.authenticated(server)
    rr = "Record-Route: <sip:rr@[local_ip]:[local_port];transport=[transport];lr>\n"
    scenario = callee(
        answer_invite(183, "early1", rr + CONTACT),
        checked_recv(
            'request="UPDATE"',
            ("CSeq: 2 UPDATE", "To: .*;tag=early1", "Route: .sip:rr@", "UPDATE sip:sipp@"),
            "up_",
        ),
        uas_answer(200, CONTACT),
        answer_invite(200, "early1", rr + WITH_SDP, SDP_BODY),
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    tx_id = await _invite(app, port, transport)
    status, ringing = await _status(app, tx_id)
    assert status == 183
    dialog_id = ringing["dialogId"]
    assert dialog_id.endswith(";to-tag=early1")
    # Neither a BYE nor a re-INVITE is sent in an early dialog.
    for method in ("BYE", "INVITE"):
        refused = await app.request("sendSipRequest", {"method": method, "dialogId": dialog_id})
        assert refused == {
            "success": False,
            "reason": f"dialog {dialog_id} is early: no {method} in it before the 2xx",
        }
    sent, updated = await app.send_in_dialog(dialog_id, "UPDATE")
    assert sent["dialogId"] == updated["dialogId"] == dialog_id
    assert updated["message"]["status_line"]["status_code"] == 200
    status, ok = await _status(app, tx_id)
    assert (status, ok["dialogId"]) == (200, dialog_id)
    await app.ack_and_bye(ok)
    await _finish(server, app, sipp)


async def test_the_callees_update_in_the_early_dialog_reaches_the_app(
    tmp_path: Path, transport: str
) -> None:
    server = await start_server()
    app = await App.authenticated(server)
    scenario = callee(
        answer_invite(183, "early2", CONTACT),
        callee_update("early2"),
        checked_recv('response="200"', ("CSeq: 1 UPDATE", "X-App: answered"), "upok_"),
        answer_invite(200, "early2", WITH_SDP, SDP_BODY),
        bye_cseq=2,
        receive=RECV_INVITE_AND_CONTACT,
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    tx_id = await _invite(app, port, transport)
    status, ringing = await _status(app, tx_id)
    assert status == 183
    received = await app.next_sip("UPDATE")
    assert received["dialogId"] == ringing["dialogId"]
    answered = await app.respond(received["transactionId"], 200, {"X-App": "answered"})
    assert answered["success"] is True, answered
    status, ok = await _status(app, tx_id)
    assert (status, ok["dialogId"]) == (200, ringing["dialogId"])
    await app.ack_and_bye(ok)
    await _finish(server, app, sipp)


async def test_forked_early_dialogs_the_200_confirms_one_and_ends_the_other(
    tmp_path: Path, transport: str
) -> None:
    """UAC: two 183s with two To tags are two early dialogs; the 200 of the
    second confirms it, and the first is destroyed after the 200."""
    cdr = tmp_path / "cdr.jsonl"
    server = await start_server(cdr_file=str(cdr))
    app = await App.authenticated(server)
    scenario = callee(
        answer_invite(183, "forkA", CONTACT),
        answer_invite(183, "forkB", CONTACT),
        pause(100),
        answer_invite(200, "forkB", WITH_SDP, SDP_BODY),
        bye_cseq=2,
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    tx_id = await _invite(app, port, transport)
    first = await app.next_sip_of(tx_id)
    second = await app.next_sip_of(tx_id)
    fork_a, fork_b = first["dialogId"], second["dialogId"]
    assert (fork_a.rsplit("=", 1)[1], fork_b.rsplit("=", 1)[1]) == ("forkA", "forkB")
    since = app.index_after(second)
    status, ok = await _status(app, tx_id)
    assert (status, ok["dialogId"]) == (200, fork_b)
    ended = await app.next_request("dialog")
    assert ended == {
        "dialogId": fork_a,
        "event": "destroyed",
        "reason": "another fork answered the INVITE",
    }
    assert app.labels(since)[:2] == ["sip 200", "dialog destroyed"]
    gone = await app.request("sendSipRequest", {"method": "UPDATE", "dialogId": fork_a})
    assert gone == {"success": False, "reason": f"no dialog {fork_a}"}
    await app.ack_and_bye(ok)
    await _finish(server, app, sipp)
    # One call: the early dialog that ended is no call of its own.
    calls = [orjson.loads(line) for line in cdr.read_bytes().splitlines()]
    assert [(c["kind"], c.get("reason")) for c in calls] == [
        ("attempt", None),
        ("start", None),
        ("stop", "normal-release"),
    ]


async def test_a_final_failure_ends_every_early_dialog(tmp_path: Path, transport: str) -> None:
    server = await start_server()
    app = await App.authenticated(server)
    scenario = scenario_of(
        "callee that rings twice, then is busy",
        RECV_INVITE,
        answer_invite(180, "forkA", CONTACT),
        answer_invite(180, "forkB", CONTACT),
        pause(100),
        answer_invite(486, "forkB"),
        '  <recv request="ACK" timeout="10000"/>\n',
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    tx_id = await _invite(app, port, transport)
    ids = [(await app.next_sip_of(tx_id))["dialogId"] for _ in range(2)]
    status, busy = await _status(app, tx_id)
    assert (status, busy.get("dialogId")) == (486, None)
    ended = [await app.next_request("dialog") for _ in range(2)]
    assert sorted(e["dialogId"] for e in ended) == sorted(ids)
    assert {e["reason"] for e in ended} == {"final response 486 to the INVITE"}
    await _finish(server, app, sipp)


async def test_the_app_sends_the_prack_with_the_rack_the_server_writes(
    tmp_path: Path, transport: str
) -> None:
    """UAC with ``prack: "app"``: the reliable 183 reaches the app unacknowledged;
    its PRACK in the early dialog carries RAck 42 1 INVITE and CSeq 2."""
    server = await start_server()
    app = await App.authenticated(server)
    scenario = callee(
        answer_invite(183, "rel1", f"Require: 100rel\nRSeq: 42\n{CONTACT}"),
        # The app's PRACK (its own header): the server sent none before it.
        checked_recv(
            'request="PRACK"', ("RAck: 42 1 INVITE", "CSeq: 2 PRACK", "X-App: mine"), "pr_"
        ),
        uas_answer(200),
        answer_invite(200, "rel1", WITH_SDP, SDP_BODY),
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    tx_id = await _invite(app, port, transport, prack="app")
    status, ringing = await _status(app, tx_id)
    assert status == 183
    dialog_id = ringing["dialogId"]
    # The app's RAck is replaced by the one its PRACK acknowledges.
    sent, pracked = await app.send_in_dialog(
        dialog_id, "PRACK", headers={"X-App": "mine", "RAck": "1 1 INVITE"}
    )
    assert sent["message"]["headers"]["rack"] == "42 1 INVITE"
    assert pracked["message"]["status_line"]["status_code"] == 200
    again = await app.request("sendSipRequest", {"method": "PRACK", "dialogId": dialog_id})
    assert again == {
        "success": False,
        "reason": f"dialog {dialog_id} has no reliable provisional response to PRACK",
    }
    status, ok = await _status(app, tx_id)
    assert (status, ok["dialogId"]) == (200, dialog_id)
    await app.ack_and_bye(ok)
    await _finish(server, app, sipp)


async def test_update_both_ways_in_the_early_dialog_of_an_invite_received(
    tmp_path: Path, transport: str
) -> None:
    """UAS: the app's 183 creates the early dialog (its dialogId in the reply);
    the caller's UPDATE in it reaches the app, and the app's UPDATE reaches the
    caller; the 200 confirms the same dialog."""
    server = await start_server()
    app = await App.authenticated(server, "invite")
    scenario = scenario_of(
        "caller updating in the early dialog",
        INVITE,
        OPTIONAL_100,
        '  <recv response="183" rrs="true"/>\n',
        CALLER_UPDATE,
        # No session timer in an early dialog: the UPDATE's 200 sets none.
        '  <recv response="200" timeout="15000">\n    <action>\n'
        '      <ereg regexp="CSeq: 2 UPDATE" search_in="msg" check_it="true" '
        'assign_to="upok_0"/>\n'
        '      <ereg regexp="Session-Expires" search_in="msg" check_it_inverse="true" '
        'assign_to="upok_1"/>\n'
        '    </action>\n  </recv>\n  <Reference variables="upok_0,upok_1"/>\n',
        checked_recv('request="UPDATE"', ("CSeq: 1 UPDATE", "X-From-App: yes"), "up_"),
        uas_answer(200, CONTACT),
        checked_recv('response="200"', ("CSeq: 1 INVITE",), "ok_", rrs=True),
        ACK_2XX,
        CALLER_BYE,
    )
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    invite = await app.next_sip("INVITE")
    ringing = await app.respond(invite["transactionId"], 183)
    assert ringing["success"] is True, ringing
    dialog_id = ringing["dialogId"]
    update = await app.next_sip("UPDATE")
    assert update["dialogId"] == dialog_id
    updated = await app.respond(update["transactionId"], 200, body=SDP)
    assert updated["success"] is True, updated
    _, answered = await app.send_in_dialog(dialog_id, "UPDATE", headers={"X-From-App": "yes"})
    assert answered["message"]["status_line"]["status_code"] == 200
    assert answered["dialogId"] == dialog_id
    ok = await app.respond(invite["transactionId"], 200, body=SDP)
    assert ok["dialogId"] == dialog_id
    assert (await app.next_sip("ACK"))["dialogId"] == dialog_id
    bye = await app.next_sip("BYE")
    await app.respond(bye["transactionId"], 200)
    await _finish(server, app, sipp)


async def test_a_rejected_invite_ends_its_early_dialog_and_the_update_after_gets_481(
    tmp_path: Path, transport: str
) -> None:
    """UAS: the app's 486 after its 180 ends the early dialog: the app is told,
    after the reply; an UPDATE the caller sends in it then is answered 481."""
    server = await start_server()
    app = await App.authenticated(server, "invite")
    scenario = scenario_of(
        "caller refused after ringing",
        INVITE,
        OPTIONAL_100,
        '  <recv response="180" rrs="true"/>\n',
        '  <recv response="486"/>\n',
        ACK,
        CALLER_UPDATE,
        '  <recv response="481"/>\n',
    )
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    invite = await app.next_sip("INVITE")
    ringing = await app.respond(invite["transactionId"], 180)
    dialog_id = ringing["dialogId"]
    since = app.index_after(ringing)
    busy = await app.respond(invite["transactionId"], 486)
    assert busy["success"] is True and "dialogId" not in busy, busy
    ended = await app.next_request("dialog")
    assert ended == {
        "dialogId": dialog_id,
        "event": "destroyed",
        "reason": "final response 486 to the INVITE",
    }
    assert app.labels(since)[:2] == [f"reply {app.last_rid}", "dialog destroyed"]
    await _finish(server, app, sipp)


async def test_the_callers_cancel_ends_the_early_dialog_after_the_cancel(
    tmp_path: Path, transport: str
) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    scenario = uac_scenario(487, provisional=(180,), cancel_after=180)
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    invite = await app.next_sip("INVITE")
    ringing = await app.respond(invite["transactionId"], 180)
    dialog_id = ringing["dialogId"]
    since = app.index_after(ringing)
    cancel = await app.next_request("cancel")
    assert cancel == {"transactionId": invite["transactionId"], "reason": "cancelled by the caller"}
    ended = await app.next_request("dialog")
    assert ended == {
        "dialogId": dialog_id,
        "event": "destroyed",
        "reason": "cancelled by the caller",
    }
    assert app.labels(since) == ["cancel", "dialog destroyed"]
    await _finish(server, app, sipp)


async def test_the_apps_cancel_ends_its_early_dialog_with_the_487(
    tmp_path: Path, transport: str
) -> None:
    server = await start_server()
    app = await App.authenticated(server)
    sipp, port = await sipp_uas(tmp_path, ringing_then_cancelled_scenario(), transport)
    tx_id = await _invite(app, port, transport)
    status, ringing = await _status(app, tx_id)
    assert status == 180
    dialog_id = ringing["dialogId"]
    assert await app.request("cancelSipRequest", {"transactionId": tx_id}) == {"success": True}
    status, cancelled = await _status(app, tx_id)
    assert (status, cancelled.get("dialogId")) == (487, None)
    ended = await app.next_request("dialog")
    assert ended == {
        "dialogId": dialog_id,
        "event": "destroyed",
        "reason": "final response 487 to the INVITE",
    }
    await _finish(server, app, sipp)


async def test_a_1xx_with_a_malformed_record_route_makes_no_early_dialog(
    tmp_path: Path, transport: str
) -> None:
    """The 183 reaches the app without a dialogId (no dialog can be built from
    it); the 200 after it creates the call as usual."""
    server = await start_server()
    app = await App.authenticated(server)
    scenario = callee(
        answer_invite(183, "bad", "Record-Route: <sip:rr@127.0.0.1\n" + CONTACT),
        answer_invite(200, "bad", WITH_SDP, SDP_BODY),
        bye_cseq=2,
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    tx_id = await _invite(app, port, transport)
    status, ringing = await _status(app, tx_id)
    assert (status, ringing.get("dialogId")) == (183, None)
    status, ok = await _status(app, tx_id)
    assert status == 200 and ok["dialogId"].endswith(";to-tag=bad")
    await app.ack_and_bye(ok)
    await _finish(server, app, sipp)


async def test_an_invite_with_a_malformed_record_route_is_answered_400_before_the_app(
    tmp_path: Path, transport: str
) -> None:
    """No dialog, early or not, could be built from it: the server answers
    400 naming the header, and the app never sees the INVITE."""
    server = await start_server()
    app = await App.authenticated(server, "invite")
    scenario = scenario_of(
        "caller with a malformed Record-Route",
        send_invite("Record-Route: <sip:rr@127.0.0.1"),
        OPTIONAL_100,
        '  <recv response="400"/>\n',
        ACK,
    )
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert app.labels(since=2) == []  # the replies to auth and route, nothing after
    await app.close()
    await server.stop()
