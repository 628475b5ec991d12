"""Subscriptions (RFC 6665): sipp as subscriber or notifier, raw JSON applications opposite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from server_harness import App, needs_sipp, sip_port, sipp_uac, sipp_uas, start_server
from sipp_scenarios.subscriptions import PIDF, notifier_scenario, subscriber_scenario

pytestmark = needs_sipp

PRESENCE = {"Event": "presence", "Content-Type": "application/pidf+xml"}


def _notify_headers(state: str) -> dict[str, Any]:
    return {**PRESENCE, "Subscription-State": state}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_app_as_notifier_notifies_and_terminates(tmp_path: Path, transport: str) -> None:
    # sipp subscribes; the app accepts, notifies, accepts an unsubscribe
    # (Expires: 0) and ends the subscription with a terminating NOTIFY.
    server = await start_server()
    app = await App.authenticated(server, "subscribe")
    port = sip_port(server, transport)
    scenario = subscriber_scenario(
        [
            (
                "SUBSCRIBE",
                200,
                ("Expires: 600", f"Contact: .sip:127[.]0[.]0[.]1:{port}"),
                "Expires: 600",
            ),
            (
                "NOTIFY",
                200,
                (
                    "^NOTIFY sip:sipp@",
                    "CSeq: 1 NOTIFY",
                    "Subscription-State: active;expires=600",
                    "Event: presence",
                    "basic.open..basic",  # no '<' in an XML attribute
                ),
                "",
            ),
            ("SUBSCRIBE", 200, ("Expires: 0", "X-App: refresh"), "Expires: 0"),
            (
                "NOTIFY",
                200,
                ("CSeq: 2 NOTIFY", "Subscription-State: terminated;reason=timeout"),
                "",
            ),
            # The dialog is gone on the server's side too.
            ("SUBSCRIBE", 481, (), "Expires: 600"),
        ]
    )
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    subscribe = await app.next_sip("SUBSCRIBE")
    assert "dialogId" not in subscribe
    assert subscribe["message"]["headers"]["event"] == "presence"
    accepted = await app.respond(subscribe["transactionId"], 200, {"Expires": "600"})
    assert accepted["success"] is True, accepted
    headers = accepted["message"]["headers"]
    dialog_id = accepted["dialogId"]
    call_id, from_tag, to_tag = headers["call_id"], headers["from"]["tag"], headers["to"]["tag"]
    assert dialog_id == f"{call_id};from-tag={from_tag};to-tag={to_tag}"
    assert server.stats["dialogs"] == 1

    sent, notify_ok = await app.send_in_dialog(
        dialog_id, "NOTIFY", headers=_notify_headers("active;expires=600"), body=PIDF
    )
    assert sent["message"]["headers"]["cseq"] == {"seq": "1", "method": "NOTIFY"}
    assert sent["message"]["headers"]["to"]["tag"] == from_tag
    assert notify_ok["dialogId"] == dialog_id
    assert notify_ok["message"]["status_line"]["status_code"] == 200
    assert notify_ok["message"]["headers"]["x_sipp_answered"] == "NOTIFY"

    refresh = await app.next_sip("SUBSCRIBE")
    assert refresh["dialogId"] == dialog_id
    assert refresh["message"]["headers"]["expires"] == "0"
    refreshed = await app.respond(
        refresh["transactionId"], 200, {"Expires": "0", "X-App": "refresh"}
    )
    assert refreshed["dialogId"] == dialog_id
    # Expires: 0 asks for the end; the terminating NOTIFY ends the dialog.
    assert server.stats["dialogs"] == 1

    _, last_ok = await app.send_in_dialog(
        dialog_id, "NOTIFY", headers=_notify_headers("terminated;reason=timeout")
    )
    assert last_ok["message"]["status_line"]["status_code"] == 200
    destroyed = await app.next_request("dialog")
    assert destroyed == {
        "dialogId": dialog_id,
        "event": "destroyed",
        "reason": "terminating NOTIFY sent",
    }
    assert server.stats["dialogs"] == 0
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert app.requests.empty()
    await app.close()
    await server.stop()


async def test_481_to_a_notify_ends_the_subscription(tmp_path: Path) -> None:
    # RFC 3261 §12.2.1.2 applies to subscription dialogs as to calls.
    server = await start_server()
    app = await App.authenticated(server, "subscribe")
    scenario = subscriber_scenario(
        [
            ("SUBSCRIBE", 200, (), "Expires: 600"),
            ("NOTIFY", 481, ("Subscription-State: active",), ""),
        ]
    )
    sipp = await sipp_uac(tmp_path, server, scenario)
    subscribe = await app.next_sip("SUBSCRIBE")
    accepted = await app.respond(subscribe["transactionId"], 200, {"Expires": "600"})
    dialog_id = accepted["dialogId"]
    _, response = await app.send_in_dialog(
        dialog_id, "NOTIFY", headers=_notify_headers("active;expires=600"), body=PIDF
    )
    assert response["message"]["status_line"]["status_code"] == 481
    destroyed = await app.next_request("dialog")
    assert destroyed == {
        "dialogId": dialog_id,
        "event": "destroyed",
        "reason": "481 response to NOTIFY",
    }
    assert server.stats["dialogs"] == 0
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@pytest.mark.parametrize("heir", [False, True], ids=["alone", "same-app-name"])
async def test_notifier_app_disconnects(tmp_path: Path, heir: bool) -> None:
    # Alone, the app's subscription dialog is dropped without BYE (sipp would
    # fail on one) and sipp's refresh gets 481; with another client of the
    # same appName the dialog is handed to it and the refresh reaches it.
    server = await start_server()
    first = await App.authenticated(server, "subscribe", app_name="presence")
    second = await App.authenticated(server, app_name="presence") if heir else None
    refresh_code = 200 if heir else 481
    checks = ("X-Answered-By: second",) if heir else ()
    scenario = subscriber_scenario(
        [
            ("SUBSCRIBE", 200, (), "Expires: 600"),
            ("NOTIFY", 200, (), ""),
            ("pause", 500, (), ""),  # the app disconnects meanwhile
            ("SUBSCRIBE", refresh_code, checks, "Expires: 600"),
        ]
    )
    sipp = await sipp_uac(tmp_path, server, scenario)
    subscribe = await first.next_sip("SUBSCRIBE")
    accepted = await first.respond(subscribe["transactionId"], 200, {"Expires": "600"})
    dialog_id = accepted["dialogId"]
    await first.send_in_dialog(
        dialog_id, "NOTIFY", headers=_notify_headers("active;expires=600"), body=PIDF
    )
    await first.close()
    if second is not None:
        created = await second.next_request("dialog")
        assert (created["dialogId"], created["event"]) == (dialog_id, "created")
        refresh = await second.next_sip("SUBSCRIBE")
        assert refresh["dialogId"] == dialog_id
        answered = await second.respond(
            refresh["transactionId"], 200, {"Expires": "600", "X-Answered-By": "second"}
        )
        assert answered["dialogId"] == dialog_id
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["dialogs"] == (1 if heir else 0)
    if second is not None:
        await second.close()
    await server.stop()


async def _subscribe(app: App, port: int) -> dict[str, Any]:
    sent = await app.request(
        "sendSipRequest",
        {
            "method": "SUBSCRIBE",
            "uri": f"sip:presentity@127.0.0.1:{port}",
            "headers": {"Event": "presence", "Expires": "600", "Accept": "application/pidf+xml"},
        },
    )
    assert sent["success"] is True, sent
    assert "dialogId" not in sent
    return sent


async def _terminating_notify(app: App, dialog_id: str) -> None:
    """The notifier's terminating NOTIFY reaches the app, which answers 200: the dialog ends."""
    notify = await app.next_sip("NOTIFY")
    assert notify["dialogId"] == dialog_id
    assert notify["message"]["headers"]["subscription_state"] == "terminated;reason=noresource"
    start = len(app.frames)
    ok = await app.respond(notify["transactionId"], 200)
    assert ok["success"] is True, ok
    assert "dialogId" not in ok
    destroyed = await app.next_request("dialog")
    assert destroyed == {
        "dialogId": dialog_id,
        "event": "destroyed",
        "reason": "terminating NOTIFY received",
    }
    # The reply to the command that ended the dialog comes first.
    assert app.labels(start)[:2] == [f"reply {app.last_rid}", "dialog destroyed"]


async def test_app_as_subscriber_receives_notifies(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server)  # no route: NOTIFYs come in its dialog
    scenario = notifier_scenario(
        [
            ("NOTIFY", 200, "active;expires=600", ("X-App: notify-1",)),
            (
                "SUBSCRIBE",
                200,
                "Expires: 0",
                (
                    "^SUBSCRIBE sip:notifier@",
                    "CSeq: 2 SUBSCRIBE",
                    "Expires: 0",
                    "To: .*;tag=notifier",
                ),
            ),
            ("NOTIFY", 200, "terminated;reason=noresource", ()),
            # The dialog is gone on the server's side too.
            ("NOTIFY", 481, "active;expires=600", ()),
        ],
        subscribe_checks=("Event: presence", "Expires: 600", "CSeq: 1 SUBSCRIBE"),
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    sent = await _subscribe(app, port)
    ok = await app.next_sip(200)
    assert ok["transactionId"] == sent["transactionId"]
    dialog_id = ok["dialogId"]
    headers = sent["message"]["headers"]
    assert dialog_id == (
        f"{headers['call_id']};from-tag={headers['from']['tag']};"
        f"to-tag={ok['message']['headers']['to']['tag']}"
    )
    notify = await app.next_sip("NOTIFY")
    assert notify["dialogId"] == dialog_id
    assert notify["message"]["headers"]["subscription_state"] == "active;expires=600"
    assert "basic>open<" in notify["message"]["payload"]["content"]
    answered = await app.respond(notify["transactionId"], 200, {"X-App": "notify-1"})
    assert answered["success"] is True, answered
    _, refreshed = await app.send_in_dialog(
        dialog_id, "SUBSCRIBE", headers={"Event": "presence", "Expires": "0"}
    )
    assert refreshed["dialogId"] == dialog_id
    assert refreshed["message"]["headers"]["x_sipp_answered"] == "SUBSCRIBE"
    assert server.stats["dialogs"] == 1
    await _terminating_notify(app, dialog_id)
    assert server.stats["dialogs"] == 0
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert app.requests.empty()  # the NOTIFY after the end was answered 481 by the server
    await app.close()
    await server.stop()


async def test_notify_before_the_2xx_creates_the_dialog(tmp_path: Path) -> None:
    # RFC 6665 §4.1.2.4: the NOTIFY may overtake the 2xx to the SUBSCRIBE.
    # One for another event matches no subscription (481); the one for the
    # SUBSCRIBE's event reaches the app with the dialogId the 2xx then carries.
    server = await start_server()
    app = await App.authenticated(server)
    scenario = notifier_scenario(
        [("NOTIFY", 200, "terminated;reason=noresource", ())],
        early=[(481, "active;expires=600", "dialog"), (200, "active;expires=600", "presence")],
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    sent = await _subscribe(app, port)
    notify = await app.next_request("sip")
    assert notify["message"]["request_uri"]["method"] == "NOTIFY", notify
    assert notify["message"]["headers"]["event"] == "presence"
    dialog_id = notify["dialogId"]
    answered = await app.respond(notify["transactionId"], 200)
    assert answered["success"] is True, answered
    ok = await app.next_sip(200)
    assert ok["transactionId"] == sent["transactionId"]
    assert ok["dialogId"] == dialog_id
    await _terminating_notify(app, dialog_id)
    assert server.stats["dialogs"] == 0
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


async def test_a_subscription_not_refreshed_expires_and_its_dialog_ends(tmp_path: Path) -> None:
    # sipp subscribes for 1 s and does not refresh: the notifier app is told
    # the dialog is destroyed, and sipp's late refresh gets 481.
    server = await start_server()
    app = await App.authenticated(server, "subscribe")
    scenario = subscriber_scenario(
        [
            ("SUBSCRIBE", 200, ("Expires: 1",), "Expires: 1"),
            ("pause", 1800, (), ""),
            ("SUBSCRIBE", 481, (), "Expires: 600"),
        ]
    )
    sipp = await sipp_uac(tmp_path, server, scenario)
    subscribe = await app.next_sip("SUBSCRIBE")
    accepted = await app.respond(subscribe["transactionId"], 200, {"Expires": "1"})
    dialog_id = accepted["dialogId"]
    destroyed = await app.next_request("dialog")
    assert destroyed == {
        "dialogId": dialog_id,
        "event": "destroyed",
        "reason": "subscription expired",
    }
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["dialogs"] == 0
    await app.close()
    await server.stop()


async def test_a_subscriber_that_gets_no_notify_within_timer_n_loses_the_dialog(
    tmp_path: Path,
) -> None:
    # RFC 6665 §4.1.2.4: sipp accepts the app's SUBSCRIBE but never notifies.
    # With T1 = 50 ms, Timer N (64*T1) is 3.2 s.
    server = await start_server()
    app = await App.authenticated(server)
    sipp, port = await sipp_uas(tmp_path, notifier_scenario([]))
    sent = await _subscribe(app, port)
    ok = await app.next_sip(200)
    assert ok["transactionId"] == sent["transactionId"]
    destroyed = await app.next_request("dialog", timeout=10)
    assert destroyed["dialogId"] == ok["dialogId"]
    assert destroyed["event"] == "destroyed"
    assert destroyed["reason"].startswith("no NOTIFY within 64*T1")
    assert server.stats["dialogs"] == 0
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()
