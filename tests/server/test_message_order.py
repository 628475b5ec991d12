"""The order of what the server sends a client: a command's reply comes before
every message the command leads to (docs/protocol.md, "Order")."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server_harness import SDP, App, Sipp, free_port, needs_sipp, sipp_uac, start_server
from sipp_scenarios.uac import uac_scenario

pytestmark = needs_sipp


def _before(labels: list[str], first: str, then: str) -> bool:
    """Whether ``first`` is in ``labels`` and ``then`` after it."""
    return first in labels and then in labels[labels.index(first) + 1 :]


async def test_the_reply_to_an_invite_and_to_its_bye_come_first(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server)
    port = free_port()
    sipp = await Sipp.start(tmp_path, *f"-sn uas -m 1 -i 127.0.0.1 -p {port} -t u1".split())
    await asyncio.sleep(0.3)  # let sipp bind
    start = len(app.frames)
    sent = await app.request(
        "sendSipRequest",
        {
            "method": "INVITE",
            "uri": f"sip:service@127.0.0.1:{port}",
            "headers": {"Content-Type": "application/sdp"},
            "body": SDP,
        },
    )
    invite_rid = app.last_rid
    ok = await app.next_sip_of(sent["transactionId"])
    while ok["message"]["status_line"]["status_code"] < 200:
        ok = await app.next_sip_of(sent["transactionId"])
    dialog_id = ok["dialogId"]
    labels = app.labels(start)
    # The reply, then the 180 and the 200 (whatever the reads that carried them).
    assert labels == [f"reply {invite_rid}", "sip 180", "sip 200"], labels
    assert (await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id}))[
        "success"
    ] is True

    start = len(app.frames)
    bye = await app.request("sendSipRequest", {"method": "BYE", "dialogId": dialog_id})
    bye_rid = app.last_rid
    # The reply names the dialog the BYE was sent in, although it is ended.
    assert bye["dialogId"] == dialog_id
    destroyed = await app.next_request("dialog")
    assert destroyed == {"dialogId": dialog_id, "event": "destroyed", "reason": "BYE sent"}
    bye_ok = await app.next_sip_of(bye["transactionId"])
    assert bye_ok["message"]["status_line"]["status_code"] == 200
    # The BYE's 200 carries the ended dialog's id too, for the client to match it.
    assert bye_ok["dialogId"] == dialog_id
    labels = app.labels(start)
    assert labels[0] == f"reply {bye_rid}", labels
    assert _before(labels, f"reply {bye_rid}", "dialog destroyed"), labels
    assert _before(labels, f"reply {bye_rid}", "sip 200"), labels
    # The dialog is gone for sending.
    assert await app.request("sendSipRequest", {"method": "INFO", "dialogId": dialog_id}) == {
        "success": False,
        "reason": f"no dialog {dialog_id}",
    }
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


async def test_the_reply_to_a_2xx_comes_before_the_ack_and_a_bye_is_answered_after_destroyed(
    tmp_path: Path,
) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    sipp = await sipp_uac(tmp_path, server, uac_scenario(200))
    invite = await app.next_sip("INVITE")
    start = len(app.frames)
    ok = await app.respond(invite["transactionId"], 200)
    ok_rid = app.last_rid
    ack = await app.next_sip("ACK")
    # The ACK of the 2xx: the INVITE's transactionId and the dialogId; not to be answered.
    assert (ack["transactionId"], ack["dialogId"]) == (invite["transactionId"], ok["dialogId"])
    labels = app.labels(start)
    assert labels == [f"reply {ok_rid}", "sip ACK"], labels
    bye = await app.next_sip("BYE")
    destroyed = await app.next_request("dialog")
    assert destroyed == {"dialogId": ok["dialogId"], "event": "destroyed", "reason": "BYE received"}
    # The BYE came before `destroyed`, and is still the client's to answer.
    assert _before(app.labels(start), "sip BYE", "dialog destroyed")
    answered = await app.respond(bye["transactionId"], 200)
    assert answered["success"] is True, answered
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()
