"""``proxy`` from a drachtio-srf application (``srf.proxyRequest``): sipp callers and callees.

The application (``tests/srfproto/node/app.js``, role ``proxy``) proxies
each INVITE to the destinations it is given, with the options of
``SRF_PROXY``, and prints drachtio-srf's result: every final response it
was shown (a ``continue`` reply each) and ``connected``, which drachtio-srf
sets from the last of them. A caller's BYE goes to the server (sipp sends
every request there), so calls that are answered are record-routed
(``remainInDialog``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from server_harness import Sipp, own_dir, sip_port, sipp_uac, sipp_uas, start_server
from sipp_scenarios.proxy import callee, caller, redirecting_callee
from sipp_scenarios.uac import uac_scenario
from srf_node import connected, events, finished, needs_node
from test_srf_server_errors import RawSrf

from drachtio.server import Server
from drachtio.srfproto import Proxy, Route, SipEvent

pytestmark = needs_node


async def proxy_call(
    tmp_path: Path,
    server: Server,
    destinations: list[str],
    caller_scenario: str,
    callees: list[Sipp],
    transport: str = "udp",
    **options: Any,
) -> list[dict[str, Any]]:
    """The application proxies sipp's call to ``destinations``; every sipp must
    succeed. Returns what the application printed."""
    app = await connected(
        server, "proxy", ",".join(destinations), env={"SRF_PROXY": json.dumps(options)}
    )
    try:
        uac = await sipp_uac(tmp_path, server, caller_scenario, transport)
        return await finished(app, uac, *callees)
    finally:
        app.kill()
        await server.stop()


def result_of(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """drachtio-srf's result, from the lines of a :func:`proxy_call` that succeeded."""
    assert events(lines) == ["connect", "invite", "proxied"], lines
    return lines[2]


def shown(result: dict[str, Any]) -> list[int]:
    """The statuses of the final responses drachtio-srf was shown, in order."""
    return [status for group in result["responses"] for status in group["statuses"]]


async def test_serial_fork_first_busy_then_answered(tmp_path: Path) -> None:
    server = await start_server()
    busy, busy_port = await sipp_uas(own_dir(tmp_path), callee(486))
    ok, ok_port = await sipp_uas(own_dir(tmp_path), callee(200))
    destinations = [f"sip:a@127.0.0.1:{busy_port}", f"sip:b@127.0.0.1:{ok_port}"]
    scenario = caller(200, may_ring=2)
    result = result_of(
        await proxy_call(tmp_path, server, destinations, scenario, [busy, ok], remainInDialog=True)
    )
    assert (result["connected"], result["finalStatus"]) == (True, 200)
    assert shown(result) == [486, 200]
    # Shown with the destination it came from (drachtio-srf groups the next
    # response with it, since its port differs: its test compares ports with ===).
    first = result["responses"][0]
    assert (first["address"], first["port"]) == ("127.0.0.1", busy_port)


async def test_serial_fork_over_tcp(tmp_path: Path) -> None:
    server = await start_server()
    busy, busy_port = await sipp_uas(own_dir(tmp_path), callee(486), transport="tcp")
    ok, ok_port = await sipp_uas(own_dir(tmp_path), callee(200), transport="tcp")
    destinations = [
        f"sip:a@127.0.0.1:{busy_port};transport=tcp",
        f"sip:b@127.0.0.1:{ok_port};transport=tcp",
    ]
    scenario = caller(200, may_ring=2)
    result = result_of(
        await proxy_call(
            tmp_path, server, destinations, scenario, [busy, ok], "tcp", remainInDialog=True
        )
    )
    assert (result["connected"], shown(result)) == (True, [486, 200])


async def test_every_destination_failing_is_not_connected(tmp_path: Path) -> None:
    server = await start_server()
    first, first_port = await sipp_uas(own_dir(tmp_path), callee(486))
    second, second_port = await sipp_uas(own_dir(tmp_path), callee(603))
    destinations = [f"sip:a@127.0.0.1:{first_port}", f"sip:b@127.0.0.1:{second_port}"]
    result = result_of(
        await proxy_call(tmp_path, server, destinations, caller(603, may_ring=2), [first, second])
    )
    assert (result["connected"], result["finalStatus"], shown(result)) == (False, 603, [486, 603])


async def test_parallel_fork_answered_by_one_cancels_the_other(tmp_path: Path) -> None:
    server = await start_server()
    loser, loser_port = await sipp_uas(own_dir(tmp_path), callee(None))
    winner, winner_port = await sipp_uas(own_dir(tmp_path), callee(200, ring=False))
    destinations = [f"sip:a@127.0.0.1:{loser_port}", f"sip:b@127.0.0.1:{winner_port}"]
    scenario = caller(200, may_ring=1)
    options: dict[str, Any] = {"forking": "simultaneous", "remainInDialog": True}
    lines = await proxy_call(tmp_path, server, destinations, scenario, [loser, winner], **options)
    result = result_of(lines)
    # The 200 ends the operation for drachtio-srf: the loser's 487 (its
    # callee checked the CANCEL) comes after and is not shown.
    assert (result["connected"], result["finalStatus"], shown(result)) == (True, 200, [200])


def _bye_through(port: int) -> str:
    """A callee whose BYE must come through the server (listening on ``port``)."""
    return callee(200, bye_checks=(f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=",))


async def test_remain_in_dialog_keeps_the_bye_on_the_server(tmp_path: Path) -> None:
    server = await start_server()
    ok, ok_port = await sipp_uas(own_dir(tmp_path), _bye_through(sip_port(server, "udp")))
    scenario = caller(200, rings=1)
    result = result_of(
        await proxy_call(
            tmp_path, server, [f"sip:b@127.0.0.1:{ok_port}"], scenario, [ok], remainInDialog=True
        )
    )
    assert (result["connected"], shown(result)) == (True, [200])


async def test_a_redirect_is_followed_when_asked(tmp_path: Path) -> None:
    server = await start_server()
    ok, ok_port = await sipp_uas(own_dir(tmp_path), callee(200))
    moved_to = f"sip:moved@127.0.0.1:{ok_port}"
    redirect, redirect_port = await sipp_uas(own_dir(tmp_path), redirecting_callee(moved_to))
    destinations = [f"sip:a@127.0.0.1:{redirect_port}"]
    scenario = caller(200, rings=1)
    options: dict[str, Any] = {"followRedirects": True, "remainInDialog": True}
    lines = await proxy_call(tmp_path, server, destinations, scenario, [redirect, ok], **options)
    result = result_of(lines)
    assert (result["connected"], shown(result)) == (True, [302, 200])


async def test_a_redirect_not_followed_goes_to_the_caller(tmp_path: Path) -> None:
    server = await start_server()
    redirect, port = await sipp_uas(own_dir(tmp_path), redirecting_callee("sip:x@127.0.0.1:9"))
    destinations = [f"sip:a@127.0.0.1:{port}"]
    result = result_of(await proxy_call(tmp_path, server, destinations, caller(302), [redirect]))
    assert (result["connected"], result["finalStatus"], shown(result)) == (False, 302, [302])


async def test_max_forwards_0_is_refused_483_and_the_app_told(tmp_path: Path) -> None:
    server = await start_server()
    scenario = uac_scenario(483).replace("Max-Forwards: 70\n", "Max-Forwards: 0\n")
    assert "Max-Forwards: 0" in scenario
    lines = await proxy_call(tmp_path, server, ["sip:nobody@127.0.0.1:9"], scenario, [])
    assert events(lines) == ["connect", "invite", "proxy-failed"]
    assert lines[2]["message"] == "Rejected with 483 Too Many Hops"


async def test_the_callers_cancel_ends_the_proxy_with_its_487(tmp_path: Path) -> None:
    server = await start_server()
    ringing, port = await sipp_uas(own_dir(tmp_path), callee(None))
    scenario = uac_scenario(487, provisional=(180,), cancel_after=180)
    result = result_of(
        await proxy_call(tmp_path, server, [f"sip:a@127.0.0.1:{port}"], scenario, [ringing])
    )
    assert (result["connected"], result["finalStatus"], shown(result)) == (False, 487, [487])


@pytest.mark.parametrize("full_response", [True, False])
async def test_done_alone_when_no_destination_can_be_sent_to(
    tmp_path: Path, full_response: bool
) -> None:
    """No final response to show: ``done`` alone, once settled (``fullResponse``)
    or at once (without it); the caller gets the 500 the proxy core sends."""
    server = await start_server()
    client = await RawSrf.authenticated(server)
    client.send(Route("r1", "invite").to_payload())
    assert (await client.reply("r1")).ok
    uac = await sipp_uac(tmp_path, server, uac_scenario(500))
    invite = await client.next()
    assert isinstance(invite, SipEvent) and invite.message.startswith("INVITE ")
    proxy = Proxy(
        "p1",
        invite.transaction_id,
        ("tel:+15551234",),
        "INVITE tel:+15551234 SIP/2.0\r\nContent-Length: 0\r\n\r\n",
        full_response=full_response,
    )
    client.send(proxy.to_payload())
    reply = await client.reply("p1")
    assert (reply.ok, reply.tokens) == (True, ("done",))
    run = await uac.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    client.writer.close()
    await server.stop()
