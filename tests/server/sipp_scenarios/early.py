"""sipp in early dialogs (RFC 3261 §12.1, §13.2.2.4) and the UPDATEs sent in
them (RFC 3311): as the callee that answers an INVITE with provisional
responses of one or more To tags, and as the caller."""

from __future__ import annotations

from sipp_scenarios.parts import (
    CONTACT,
    NEW_VIA,
    SDP_BODY,
    answer_kept,
    checked_recv,
    keep_contact,
    pause,
    recv_kept,
    scenario_of,
    uas_answer,
)
from sipp_scenarios.uac import send_bye, send_invite

# An answer's Contact and the Content-Type of its SDP.
WITH_SDP = CONTACT + "Content-Type: application/sdp\n"

# sipp as the callee: the INVITE's Via, From, To and CSeq kept to answer it
# after other requests came.
RECV_INVITE = recv_kept("INVITE", "inv_")

# The same, and the INVITE's Contact (the server's), where sipp sends its
# requests in the dialog.
RECV_INVITE_AND_CONTACT = recv_kept(
    "INVITE", "inv_", actions=keep_contact("inv_"), names=",inv_contact"
)


def answer_invite(code: int, tag: str, extra: str = "", body: str = "") -> str:
    """sipp answers the INVITE it kept (:data:`RECV_INVITE`), with To tag ``tag``."""
    return answer_kept("inv_", code, extra, body, to=f"To: [$inv_to];tag={tag}")


def callee(
    *middle: str,
    bye_cseq: int = 3,
    receive: str = RECV_INVITE,
    name: str = "callee with early dialogs",
) -> str:
    """sipp as the callee: the INVITE (``receive``), ``middle``, then the
    call's ACK and the BYE, which must have CSeq ``bye_cseq``."""
    return scenario_of(
        name,
        receive,
        *middle,
        '  <recv request="ACK" timeout="10000"/>\n',
        checked_recv('request="BYE"', (f"CSeq: {bye_cseq} BYE",), "bye_"),
        uas_answer(200),
        pause(200),
    )


def callee_update(tag: str, *, offer: bool = False) -> str:
    """sipp, the callee with To tag ``tag``, sends an UPDATE (CSeq 1) in that
    early dialog to the INVITE's Contact (:data:`RECV_INVITE_AND_CONTACT`),
    with an SDP offer when ``offer``."""
    if offer:
        content = (
            f"      Content-Type: application/sdp\n      Content-Length: [len]\n\n{SDP_BODY}\n"
        )
    else:
        content = "      Content-Length: 0\n\n"
    return f"""
  <send retrans="500">
    <![CDATA[

      UPDATE [$inv_contact] SIP/2.0
      {NEW_VIA}
      From: [$inv_to];tag={tag}
      To: [$inv_from]
      Call-ID: [call_id]
      CSeq: 1 UPDATE
      {CONTACT}\
      Max-Forwards: 70
{content}\
    ]]>
  </send>
"""


def callee_request(method: str, tag: str, check: str, via: str = NEW_VIA) -> str:
    """sipp, the callee with To tag ``tag``, sends ``method`` (CSeq 1) in that
    dialog to the INVITE's Contact (:data:`RECV_INVITE_AND_CONTACT`; an ACK
    in the transaction of ``via``), then receives ``check``."""
    extra = CONTACT if method == "INVITE" else ""
    retrans = "" if method == "ACK" else ' retrans="500"'
    return f"""
  <send{retrans}>
    <![CDATA[

      {method} [$inv_contact] SIP/2.0
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
{check}"""


# sipp as the caller: an UPDATE with SDP, then the BYE, in the dialog of its INVITE.
CALLER_UPDATE = send_invite("Session-Expires: 1800", cseq=2, method="UPDATE", in_dialog=True)
CALLER_BYE = send_bye(3)
