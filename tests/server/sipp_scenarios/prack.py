"""sipp and reliable provisional responses (RFC 3262): as the caller that
PRACKs the server's, and as the callee whose the server PRACKs."""

from __future__ import annotations

from sipp_scenarios.early import callee
from sipp_scenarios.parts import (
    CALLEE_TO,
    CONTACT,
    NEW_VIA,
    OPTIONAL_100,
    SDP_BODY,
    answer_kept,
    checked_recv,
    pause,
    recv_kept,
    scenario_of,
    uas_answer,
)
from sipp_scenarios.uac import ACK_2XX, SIPP_FROM, send_bye, send_invite

# The reliable 183: its RSeq kept (in rseqnum) for the PRACK, its Require checked.
RECV_183 = """
  <recv response="183" rrs="true" timeout="10000">
    <action>
      <ereg regexp="RSeq: ([0-9]+)" search_in="msg" check_it="true" assign_to="rseq,rseqnum"/>
      <ereg regexp="Require: 100rel" search_in="msg" check_it="true" assign_to="req"/>
    </action>
  </recv>
  <Reference variables="rseq,rseqnum,req"/>
"""


def send_prack(rseq: str = "[$rseqnum]") -> str:
    """sipp's PRACK (CSeq 2) of the provisional response with RSeq ``rseq``
    (by default the one :data:`RECV_183` kept)."""
    return f"""
  <send retrans="500">
    <![CDATA[

      PRACK [next_url] SIP/2.0
      {NEW_VIA}
      {SIPP_FROM}
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 PRACK
      RAck: {rseq} 1 INVITE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""


# The call's ACK and BYE after a PRACK.
ACK_BYE = ACK_2XX + send_bye(3)


def prack_scenario(invite_headers: str, *, answered_first: bool, pause_ms: int) -> str:
    """INVITE, reliable 183 (RSeq and Require checked), a pause (the 183 is
    retransmitted meanwhile), PRACK; then the PRACK's 200 and the INVITE's
    (the INVITE's first when it was held for the PRACK), ACK, BYE."""
    prack_ok = checked_recv('response="200"', ("CSeq: 2 PRACK",), "p_")
    invite_ok = checked_recv('response="200"', ("CSeq: 1 INVITE",), "i_", rrs=True)
    return scenario_of(
        "prack",
        send_invite(invite_headers),
        OPTIONAL_100,
        RECV_183,
        pause(pause_ms),
        send_prack(),
        *((invite_ok, prack_ok) if answered_first else (prack_ok, invite_ok)),
        ACK_BYE,
    )


def reliable_183_callee() -> str:
    """sipp as a callee that sends a reliable 183 (RSeq 42) to an INVITE offering
    100rel, takes its PRACK (CSeq 2) and answers it, then answers the INVITE
    200 and takes the ACK and the BYE (CSeq 3)."""
    offered = recv_kept(
        "INVITE",
        "inv_",
        actions='      <ereg regexp="Supported: .*100rel" search_in="msg" check_it="true" '
        'assign_to="inv_sup"/>\n',
        names=",inv_sup",
    )
    return callee(
        uas_answer(
            183,
            f"Require: 100rel\nRSeq: 42\n{CONTACT}Content-Type: application/sdp\n",
            SDP_BODY,
            to=CALLEE_TO,
        ),
        checked_recv('request="PRACK"', ("RAck: 42 1 INVITE", "CSeq: 2 PRACK"), "pr_"),
        uas_answer(200),
        answer_kept("inv_", 200, CONTACT, to="To: [$inv_to];tag=[pid]SIPpTag01[call_number]"),
        receive=offered,
        name="uas sends a reliable 183",
    )
