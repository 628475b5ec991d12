"""Reliable provisional responses (RFC 3262) with drachtio-srf applications, sipp as the far end.

As UAS the application sends its 183 with ``Require: 100rel`` and waits for
the PRACK (the callback drachtio-srf's ``res.send`` takes last) before its
200. As UAC (``createUAC``) drachtio-srf PRACKs each reliable provisional
response, and so does the server: the callee must get the server's one
PRACK (CSeq 2) and the BYE after it (CSeq 3); that drachtio-srf's is not
sent is tested in ``test_srf_server_errors.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sipp_scenarios.prack import prack_scenario, reliable_183_callee
from srf_node import call, events, needs_node

pytestmark = needs_node


async def test_create_uas_after_a_reliable_183_and_its_prack(tmp_path: Path) -> None:
    # Over UDP: sipp takes the 183's retransmissions during its pause as such.
    scenario = prack_scenario("Supported: 100rel", answered_first=False, pause_ms=200)
    lines = await call(tmp_path, "uas-100rel", uac=scenario)
    assert events(lines) == ["connect", "invite", "sent", "prack", "dialog", "destroy"]
    rseq = lines[2]["rseq"]
    assert lines[2]["status"] == 183 and rseq
    assert lines[3]["rack"] == f"{rseq} 1 INVITE"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_create_uac_pracks_a_reliable_183(tmp_path: Path, transport: str) -> None:
    lines = await call(tmp_path, "uac-100rel", uas=reliable_183_callee(), transport=transport)
    assert events(lines) == ["connect", "provisional", "dialog", "bye-sent"]
    assert (lines[1]["status"], lines[1]["rseq"]) == (183, "42")


async def test_create_b2bua_relays_a_reliable_183_and_waits_for_its_prack(tmp_path: Path) -> None:
    """The callee's reliable 183 goes to the caller reliably too (its Require
    copied, drachtio-srf's proxyResponseHeaders); the caller's 200 waits for
    the caller's PRACK."""
    caller = prack_scenario("Supported: 100rel", answered_first=False, pause_ms=200)
    env = {"SRF_B2BUA": json.dumps({"proxyResponseHeaders": ["require"]})}
    lines = await call(tmp_path, "b2bua", uac=caller, uas=reliable_183_callee(), env=env)
    assert events(lines) == ["connect", "invite", "bridged", "caller-hung-up", "callee-released"]
