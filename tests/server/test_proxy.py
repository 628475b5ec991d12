"""Requests proxied by the server (RFC 3261 §16): sipp callers and callees, a raw JSON application
that answers each INVITE with ``proxy``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server_harness import (
    SDP,
    App,
    Sipp,
    needs_sipp,
    own_dir,
    sip_port,
    sipp_uac,
    sipp_uas,
    start_server,
)
from sipp_scenarios.proxy import callee, caller, redirecting_callee, silent_callee
from sipp_scenarios.uac import uac_in_dialog_scenario, uac_scenario
from sipp_scenarios.uas import uas_in_dialog_scenario

pytestmark = needs_sipp


def statuses(branch: dict[str, Any]) -> list[int]:
    return [r["status"] for r in branch["responses"]]


async def proxied(app: App, **data: Any) -> dict[str, Any]:
    """The next INVITE the application gets, proxied as ``data`` say; the command's response."""
    invite = await app.next_sip("INVITE")
    return await app.request(
        "proxy", {"transactionId": invite["transactionId"], **data}, timeout=15.0
    )


async def finish(app: App, server: Any, *sipps: Sipp) -> None:
    for sipp in sipps:
        run = await sipp.result()
        assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


async def test_proxy_success_with_record_route_and_headers(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    uas, port = await sipp_uas(own_dir(tmp_path), callee(200))
    uac = await sipp_uac(tmp_path, server, caller(200, rings=1))
    destination = f"sip:callee@127.0.0.1:{port}"
    result = await proxied(
        app, destinations=[destination], recordRoute=True, headers={"X-Proxied": "yes"}
    )
    assert result["success"] is True
    assert result["finalStatus"] == 200
    assert result["finalResponse"]["status_line"]["status_code"] == 200
    assert [(b["destination"], statuses(b)) for b in result["branches"]] == [
        (destination, [180, 200])
    ]
    await finish(app, server, uac, uas)


async def test_serial_fork_after_486(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    busy, busy_port = await sipp_uas(own_dir(tmp_path), callee(486))
    ok, ok_port = await sipp_uas(own_dir(tmp_path), callee(200))
    uac = await sipp_uac(tmp_path, server, caller(200, may_ring=2))
    first, second = f"sip:a@127.0.0.1:{busy_port}", f"sip:b@127.0.0.1:{ok_port}"
    result = await proxied(app, destinations=[first, second], forking="serial", recordRoute=True)
    assert result["finalStatus"] == 200
    assert [(b["destination"], statuses(b)) for b in result["branches"]] == [
        (first, [180, 486]),
        (second, [180, 200]),
    ]
    await finish(app, server, uac, busy, ok)


async def test_parallel_fork_cancels_the_loser(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    loser, loser_port = await sipp_uas(own_dir(tmp_path), callee(None))
    winner, winner_port = await sipp_uas(own_dir(tmp_path), callee(200, ring=False))
    uac = await sipp_uac(tmp_path, server, caller(200, may_ring=1))
    rings, answers = f"sip:a@127.0.0.1:{loser_port}", f"sip:b@127.0.0.1:{winner_port}"
    result = await proxied(app, destinations=[rings, answers], forking="parallel", recordRoute=True)
    assert result["finalStatus"] == 200
    reports = {b["destination"]: statuses(b) for b in result["branches"]}
    # The ringing branch got its CANCEL when the other answered: its 487.
    assert reports == {rings: [180, 487], answers: [200]}
    await finish(app, server, uac, loser, winner)


async def test_caller_cancel_reaches_every_branch(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    uas, port = await sipp_uas(own_dir(tmp_path), callee(None))
    uac = await sipp_uac(tmp_path, server, uac_scenario(487, provisional=(180,), cancel_after=180))
    destination = f"sip:callee@127.0.0.1:{port}"
    result = await proxied(app, destinations=[destination])
    assert result["finalStatus"] == 487
    assert "finalResponse" not in result
    assert [statuses(b) for b in result["branches"]] == [[180, 487]]
    await finish(app, server, uac, uas)


async def test_max_forwards_0_is_answered_483(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    scenario = uac_scenario(483).replace(
        "Max-Forwards: 70\n      Content-Type", "Max-Forwards: 0\n      Content-Type"
    )
    assert "Max-Forwards: 0" in scenario
    uac = await sipp_uac(tmp_path, server, scenario)
    result = await proxied(app, destinations=["sip:nobody@127.0.0.1:9"])
    assert result["finalStatus"] == 483
    assert result["finalResponse"]["status_line"]["reason"] == "Too Many Hops"
    assert result["branches"] == []
    await finish(app, server, uac)


async def test_loop_back_to_the_server_is_answered_482(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    uac = await sipp_uac(tmp_path, server, uac_scenario(482))
    # sipp's Request-URI names the server: proxied there, the request comes
    # back with the same From tag, Call-ID and CSeq, and is refused 482 on
    # arrival (RFC 3261 §8.2.2.2) before any application sees it.
    invite = await app.next_sip("INVITE")
    user = invite["message"]["request_uri"]["url"]["user"]
    looping = f"sip:{user}@127.0.0.1:{sip_port(server, 'udp')}"
    result = await app.request(
        "proxy", {"transactionId": invite["transactionId"], "destinations": [looping]}, timeout=15.0
    )
    assert result["finalStatus"] == 482
    assert [statuses(b)[-1] for b in result["branches"]] == [482]
    await finish(app, server, uac)


async def test_proxy_over_tcp(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    uas, port = await sipp_uas(own_dir(tmp_path), callee(200), transport="tcp")
    uac = await sipp_uac(tmp_path, server, caller(200, rings=1), transport="tcp")
    destination = f"sip:callee@127.0.0.1:{port};transport=tcp"
    result = await proxied(app, destinations=[destination], recordRoute=True)
    assert result["finalStatus"] == 200
    assert [statuses(b) for b in result["branches"]] == [[180, 200]]
    await finish(app, server, uac, uas)


async def test_refused_proxy_commands_leave_the_request_to_the_client(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    uac = await sipp_uac(tmp_path, server, uac_scenario(486))
    invite = await app.next_sip("INVITE")
    tid = invite["transactionId"]
    assert await app.request("proxy", {"transactionId": "nope", "destinations": ["sip:a@h"]}) == {
        "success": False,
        "reason": "unknown transaction nope",
    }
    bad = await app.request(
        "proxy",
        {"transactionId": tid, "destinations": ["sip:a@h"], "headers": {"X": "1\r\nVia: x"}},
    )
    assert bad["success"] is False
    assert bad["error"] == "invalid_data"
    assert bad["reason"].startswith("data.headers.X:")
    # Still the client's: it answers.
    assert (await app.respond(tid, 486))["success"] is True
    late = await app.request("proxy", {"transactionId": tid, "destinations": ["sip:a@h"]})
    assert late == {"success": False, "reason": f"transaction {tid} already has a final response"}
    await finish(app, server, uac)


async def test_serial_fork_after_a_provisional_timeout(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    silent, silent_port = await sipp_uas(own_dir(tmp_path), silent_callee())
    ok, ok_port = await sipp_uas(own_dir(tmp_path), callee(200))
    uac = await sipp_uac(tmp_path, server, caller(200, rings=1))
    first, second = f"sip:a@127.0.0.1:{silent_port}", f"sip:b@127.0.0.1:{ok_port}"
    result = await proxied(
        app, destinations=[first, second], provisionalTimeout=0.3, recordRoute=True
    )
    assert result["finalStatus"] == 200
    assert [(b["destination"], statuses(b), b.get("error")) for b in result["branches"]] == [
        (first, [], "no provisional response in time"),
        (second, [180, 200], None),
    ]
    await finish(app, server, uac, silent, ok)


async def test_3xx_followed_when_asked(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    ok, ok_port = await sipp_uas(own_dir(tmp_path), callee(200))
    moved_to = f"sip:moved@127.0.0.1:{ok_port}"
    redirect, redirect_port = await sipp_uas(own_dir(tmp_path), redirecting_callee(moved_to))
    uac = await sipp_uac(tmp_path, server, caller(200, rings=1))
    first = f"sip:a@127.0.0.1:{redirect_port}"
    result = await proxied(app, destinations=[first], followRedirects=True, recordRoute=True)
    assert result["finalStatus"] == 200
    assert [(b["destination"], statuses(b)) for b in result["branches"]] == [
        (first, [302]),
        (moved_to, [180, 200]),
    ]
    await finish(app, server, uac, redirect, ok)


async def test_record_routed_reinvite_and_bye_are_routed_without_the_app(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite", "bye")
    here = f"<sip:127.0.0.1:{sip_port(server, 'udp')};lr>"
    # The callee copies the proxy's Record-Route into its 2xx (RFC 3261 §12.1.1).
    uas, port = await sipp_uas(
        own_dir(tmp_path),
        uas_in_dialog_scenario([("INVITE", 200), ("ACK", None), ("BYE", 200)], record_route=here),
    )
    # The caller sends what follows in the dialog along its route set: through the server.
    scenario = uac_in_dialog_scenario([("INVITE", 200, "X-Sipp-Answered: INVITE")]).replace(
        "[peer_tag_param]\n", "[peer_tag_param]\n      [routes]\n"
    )
    uac = await sipp_uac(tmp_path, server, scenario)
    result = await proxied(app, destinations=[f"sip:callee@127.0.0.1:{port}"], recordRoute=True)
    assert result["finalStatus"] == 200
    for sipp in (uac, uas):
        run = await sipp.result()
        assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    # The re-INVITE and the BYE never reached the application: only the first INVITE did.
    assert app.labels().count("sip INVITE") == 1
    assert "sip BYE" not in app.labels()
    await app.close()
    await server.stop()


async def test_a_destination_that_cannot_be_reached_counts_as_503_sent_as_500(
    tmp_path: Path,
) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    uac = await sipp_uac(tmp_path, server, uac_scenario(500))
    result = await proxied(app, destinations=["tel:+15551234"])
    assert result["finalStatus"] == 500
    [branch] = result["branches"]
    assert branch["responses"] == []
    assert branch["error"].startswith("not sent: ")
    await finish(app, server, uac)


async def test_a_preloaded_route_through_the_server_is_followed_without_the_app(
    tmp_path: Path,
) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    uas, port = await sipp_uas(own_dir(tmp_path), callee(486))
    here = f"<sip:127.0.0.1:{sip_port(server, 'udp')};lr>"
    # The caller's INVITE names the callee and is routed through the server.
    scenario = (
        uac_scenario(486, provisional=(180,))
        .replace(
            "INVITE sip:[service]@[remote_ip]:[remote_port]", f"INVITE sip:callee@127.0.0.1:{port}"
        )
        .replace(
            "Max-Forwards: 70\n      Content-Type",
            f"Route: {here}\n      Max-Forwards: 70\n      Content-Type",
        )
    )
    assert "Route: <sip:127.0.0.1:" in scenario
    uac = await sipp_uac(tmp_path, server, scenario)
    for sipp in (uac, uas):
        run = await sipp.result()
        assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert "sip INVITE" not in app.labels()
    await app.close()
    await server.stop()


async def test_a_request_in_a_dialog_of_the_servers_is_answered_not_proxied(
    tmp_path: Path,
) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite", "bye")
    uac = await sipp_uac(tmp_path, server, uac_in_dialog_scenario([("INFO", 200, "SIP/2.0 200")]))
    invite = await app.next_sip("INVITE")
    answered = await app.respond(invite["transactionId"], 200, body=SDP)
    info = await app.next_sip("INFO")
    refused = await app.request(
        "proxy", {"transactionId": info["transactionId"], "destinations": ["sip:a@127.0.0.1"]}
    )
    assert refused == {
        "success": False,
        "reason": f"transaction {info['transactionId']} is in dialog {answered['dialogId']}: "
        "answer it",
    }
    # Still the application's to answer, and the call goes on.
    assert (await app.respond(info["transactionId"], 200))["success"] is True
    bye = await app.next_sip("BYE")
    await app.respond(bye["transactionId"], 200)
    await finish(app, server, uac)
