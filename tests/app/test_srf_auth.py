"""Digest authentication of an application's requests, against sipp scenarios that challenge."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_harness import Attach
from server_harness import SDP, Sipp, free_port, needs_sipp, start_server
from sipp_scenarios.parts import answer_without_body

from drachtio import SipError, Srf

pytestmark = needs_sipp

SCENARIOS = Path(__file__).parent / "scenarios"
CHALLENGE = 'realm="sipp.example", nonce="b7c9036dbf357f7683f054aea940e9e8", qop="auth"'


async def challenging_sipp(tmp_path: Path, scenario: Path) -> tuple[Sipp, int]:
    port = free_port()
    sipp = await Sipp.start(
        tmp_path,
        "-sf",
        str(scenario),
        *f"-m 1 -i 127.0.0.1 -p {port} -t u1".split(),
        "-key",
        "challenge",
        CHALLENGE,
    )
    return sipp, port


@pytest.mark.parametrize(("password", "status"), [("secret", 200), ("wrong", 403)])
async def test_register_answers_the_challenge_once(
    attach: Attach, tmp_path: Path, password: str, status: int
) -> None:
    server = await start_server()
    srf = Srf()
    sipp, port = await challenging_sipp(tmp_path, SCENARIOS / "uas_register_digest.xml")
    try:
        await attach(server, srf)
        response = await srf.request(
            f"sip:127.0.0.1:{port}",
            "REGISTER",
            headers={
                "From": "<sip:alice@sipp.example>",
                "To": "<sip:alice@sipp.example>",
                "Contact": "<sip:alice@127.0.0.1>",
            },
            auth=("alice", password),
        )
        assert response.status == status
        assert (await sipp.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_create_uac_answers_a_401_and_the_call_goes_through(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    scenario = tmp_path / "invite-digest.xml"
    scenario.write_text(INVITE_DIGEST_SCENARIO)
    sipp, port = await challenging_sipp(tmp_path, scenario)
    try:
        await attach(server, srf)
        dialog = await srf.create_uac(
            f"sip:alice@127.0.0.1:{port}", local_sdp=SDP, auth=("alice", "secret")
        )
        await dialog.destroy()
        assert (await sipp.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_create_uac_without_credentials_raises_the_challenge(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    scenario = tmp_path / "invite-digest.xml"
    scenario.write_text(
        INVITE_DIGEST_SCENARIO.split('  <recv request="INVITE">\n    <action>')[0] + "</scenario>\n"
    )
    sipp, port = await challenging_sipp(tmp_path, scenario)
    try:
        await attach(server, srf)
        with pytest.raises(SipError) as failed:
            await srf.create_uac(f"sip:alice@127.0.0.1:{port}", local_sdp=SDP)
        assert failed.value.status == 401
        assert (await sipp.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


_RESPONSE_HEAD = """
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]"""

INVITE_DIGEST_SCENARIO = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="UAS challenging INVITE with Digest">
  <recv request="INVITE"/>
  <send>
    <![CDATA[

      SIP/2.0 401 Unauthorized{_RESPONSE_HEAD}
      WWW-Authenticate: Digest [challenge]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <verifyauth assign_to="authvalid" username="alice" password="secret"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good"/>
  <send next="end">
    <![CDATA[

      SIP/2.0 403 Forbidden{_RESPONSE_HEAD}
      Content-Length: 0

    ]]>
  </send>
  <label id="good"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK{_RESPONSE_HEAD}
      Contact: <sip:alice@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio 6000 RTP/AVP 0

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE"/>
{answer_without_body("200 OK")}  <label id="end"/>
</scenario>
"""
