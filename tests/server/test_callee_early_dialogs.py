"""What the callee of an INVITE the application sent does in its early dialogs:
answer 2xx in two forks (RFC 3261 §13.2.2.4), send an INVITE (§14.2). sipp
is the callee, over UDP and TCP.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from server_harness import (
    _HEAD,
    App,
    _checked_recv,
    _uas_answer,
    needs_sipp,
    sipp_uas,
    start_server,
)
from test_cdr_calls import records
from test_early_dialogs import _CONTACT, _RECV_INVITE, _SDP, _answer_invite, _finish, _invite

pytestmark = [needs_sipp, pytest.mark.parametrize("transport", ["udp", "tcp"])]

# sipp receives the INVITE, keeping its Via, From, To and CSeq, and its
# Contact (the server's), where sipp sends its requests in the dialog.
_RECV_INVITE_AND_CONTACT = _RECV_INVITE.replace(
    '  <recv request="INVITE" timeout="10000">\n    <action>\n',
    '  <recv request="INVITE" timeout="10000">\n    <action>\n'
    '      <ereg regexp="&lt;(sip:[^&gt;]*)&gt;" search_in="hdr" header="Contact:" '
    'assign_to="ct_all,ct_uri"/>\n',
)
_NEW_VIA = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"


def _callee_request(method: str, tag: str, check: str, via: str = _NEW_VIA) -> str:
    """sipp, the callee with To tag ``tag``, sends ``method`` (CSeq 1) in that
    dialog to the server's Contact (an ACK in the transaction of ``via``),
    then receives ``check``."""
    extra = _CONTACT if method == "INVITE" else ""
    retrans = "" if method == "ACK" else ' retrans="500"'
    return f"""
  <send{retrans}>
    <![CDATA[

      {method} [$ct_uri] SIP/2.0
      {via}
      From: [$inv_to];tag={tag}
      To: [$inv_from]
      Call-ID: [call_id]
      CSeq: 1 {method}
      Max-Forwards: 70
{extra}\
      Content-Length: 0

    ]]>
  </send>
{check}\
  <Reference variables="ct_all"/>
"""


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
    sdp_headers = _CONTACT + "Content-Type: application/sdp\n"
    scenario = "".join(
        [
            _HEAD.format(name="two forks answering"),
            _RECV_INVITE_AND_CONTACT,
            _answer_invite(183, "forkA", _CONTACT),
            _answer_invite(183, "forkB", _CONTACT),
            _answer_invite(200, "forkA", sdp_headers, _SDP),
            _checked_recv('request="ACK"', ("To: .*;tag=forkA",), "acka_"),
            _answer_invite(200, "forkB", sdp_headers, _SDP),
            _checked_recv('request="ACK"', ("To: .*;tag=forkB", "CSeq: 1 ACK"), "ackb_"),
            _checked_recv(
                'request="BYE"',
                ("To: .*;tag=forkB", "CSeq: 2 BYE", "Reason: SIP;text=.another fork answered"),
                "byeb_",
            ),
            _uas_answer(200),
            _callee_request("BYE", "forkA", '  <recv response="200" crlf="true"/>\n'),
            '  <pause milliseconds="200"/>\n',
            "</scenario>\n",
        ]
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
    refused = '  <recv response="100" optional="true"/>\n' + _checked_recv(
        'response="491"', ("CSeq: 1 INVITE", "To: .*;tag=", "From: .*;tag=early1"), "rp_"
    )
    scenario = "".join(
        [
            _HEAD.format(name="callee inviting in an early dialog"),
            _RECV_INVITE_AND_CONTACT,
            _answer_invite(183, "early1", _CONTACT),
            _callee_request("INVITE", "early1", refused),
            # The 491's ACK, in the INVITE's transaction (the response's Via).
            _callee_request("ACK", "early1", "", via="[last_Via:]"),
            _answer_invite(200, "early1", _CONTACT + "Content-Type: application/sdp\n", _SDP),
            '  <recv request="ACK" timeout="10000"/>\n',
            _checked_recv('request="BYE"', ("CSeq: 2 BYE",), "bye_"),
            _uas_answer(200),
            '  <pause milliseconds="200"/>\n',
            "</scenario>\n",
        ]
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
