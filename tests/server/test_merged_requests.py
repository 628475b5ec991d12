"""A request that reaches the server twice by different paths (RFC 3261 §8.2.2.2):
sipp sends one INVITE as two copies with different top Via branches, over
UDP and TCP. The SIP stack answers the second copy 482 as it arrives.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from server_harness import App, needs_sipp, sipp_uac, start_server
from sipp_scenarios.parts import checked_recv, scenario_of
from sipp_scenarios.uac import ACK, send_ack, send_cancel, send_invite

from drachtio.server import Server

pytestmark = [needs_sipp, pytest.mark.parametrize("transport", ["udp", "tcp"])]

_FIRST_VIA = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-first-[call_number]"
# The same request as it came through another proxy: a Via of its own on top.
_OTHER_PATH = (
    "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-other-[call_number]\n"
    "      Via: SIP/2.0/[transport] 192.0.2.7:5060;branch=z9hG4bK-path2-[call_number]"
)


def _merged_scenario() -> str:
    """The first copy, then the second (482, acknowledged in its transaction),
    then a CANCEL of the first, which is answered 487 (acknowledged)."""
    return scenario_of(
        "one request by two paths",
        send_invite(via=_FIRST_VIA),
        '  <recv response="100"/>\n',  # the stack's, at once (RFC 3261 §17.2.1)
        send_invite(via=_OTHER_PATH),
        checked_recv('response="482"', ("branch=z9hG4bK-other-", "CSeq: 1 INVITE"), "merged_"),
        ACK,
        send_cancel(_FIRST_VIA),
        send_ack(_FIRST_VIA),
    )


async def test_the_second_copy_of_a_request_is_answered_482_before_any_app_sees_it(
    tmp_path: Path, transport: str
) -> None:
    """The app is handed the first copy only; the stack counts the second as
    merged. The caller's CANCEL of the first then reaches the app."""
    server: Server = await start_server()
    app = await App.authenticated(server, "invite")
    sipp = await sipp_uac(tmp_path, server, _merged_scenario(), transport)
    invite = await app.next_sip("INVITE")
    via = invite["message"]["headers"]["via"]
    assert "z9hG4bK-first-" in str(via)
    since = app.index_after(invite)
    cancel = await app.next_request("cancel")
    assert cancel == {"transactionId": invite["transactionId"], "reason": "cancelled by the caller"}
    assert app.labels(since) == ["cancel"]
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["rejected_merged"] == 1
    await app.close()
    await server.stop()
