"""sipp on either side of a call the server proxies (RFC 3261 §16): callees
that answer the INVITE through the proxy's Via, callers that follow the
route set the 2xx gave."""

from __future__ import annotations

from sipp_scenarios.parts import (
    END,
    HEAD,
    NEW_VIA,
    OPTIONAL_100,
    checked_recv,
    pause,
    scenario_of,
    uas_answer,
)
from sipp_scenarios.uac import ACK, BYE_RECEIVED, INVITE, send_bye, uac_request

KEEP_INVITE = """
  <recv request="INVITE" timeout="15000">
    <action>
      <ereg regexp=".*" search_in="hdr" header="Via:" occurrence="1" assign_to="inv_via"/>
      <ereg regexp=".*" search_in="hdr" header="Via:" occurrence="2" assign_to="inv_via2"/>
      <ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="inv_cseq"/>
    </action>
  </recv>
  <Reference variables="inv_via,inv_via2,inv_cseq"/>
"""


CALLEE_CONTACT = "      Contact: <sip:callee@[local_ip]:[local_port];transport=[transport]>\n"


def proxied_answer(code: int, reason: str, extra: str = "") -> str:
    """A response to the INVITE kept by :data:`KEEP_INVITE` (both its Vias: the proxy's, the
    caller's); sent before any other request comes, it copies the INVITE's Record-Route."""
    return f"""
  <send>
    <![CDATA[

      SIP/2.0 {code} {reason}
      Via: [$inv_via]
      Via: [$inv_via2]
      [last_From:]
      [last_To:];tag=callee[pid][call_number]
      [last_Call-ID:]
      CSeq: [$inv_cseq]
      [last_Record-Route:]
{extra or CALLEE_CONTACT}\
      Content-Length: 0

    ]]>
  </send>
"""


def silent_callee() -> str:
    """sipp as a callee that takes the INVITE and never answers (its retransmissions neither)."""
    return scenario_of("silent", KEEP_INVITE, pause(1500))


def redirecting_callee(contact: str) -> str:
    """sipp as a callee that answers 302 with ``contact`` and takes the ACK."""
    return scenario_of(
        "redirect",
        KEEP_INVITE,
        proxied_answer(302, "Moved Temporarily", f"      Contact: <{contact}>\n"),
        '  <recv request="ACK" timeout="15000"/>\n',
    )


def callee(final: int | None, *, ring: bool = True, bye_checks: tuple[str, ...] = ()) -> str:
    """sipp as a callee: the INVITE, 180 (when ``ring``), then ``final``.

    A 2xx is followed by its ACK and the caller's BYE, which must match each
    of ``bye_checks`` (regular expressions), answered 200; another final
    response by its ACK. ``None``: the callee rings until a CANCEL comes,
    answers it 200 and the INVITE 487, and takes the ACK.
    """
    parts = [HEAD.format(name=f"callee {final}"), KEEP_INVITE]
    if ring:
        parts.append(proxied_answer(180, "Ringing"))
    if final is None:
        parts.append('  <recv request="CANCEL" timeout="15000"/>\n')
        parts.append(uas_answer(200))
        parts.append(proxied_answer(487, "Request Terminated"))
        parts.append('  <recv request="ACK" timeout="15000"/>\n')
    elif 200 <= final < 300:
        parts.append(proxied_answer(final, "OK"))
        parts.append('  <recv request="ACK" timeout="15000"/>\n')
        parts.append(checked_recv('request="BYE"', bye_checks, "bye"))
        parts.append(uas_answer(200))
    else:
        parts.append(proxied_answer(final, "Busy Here" if final == 486 else "Failed"))
        parts.append('  <recv request="ACK" timeout="15000"/>\n')
    parts.extend((pause(100), END))
    return "".join(parts)


# The ACK of the 2xx and the BYE, along the route set the 2xx gave.
ROUTED_ACK = uac_request("ACK", 1, routes=True)
ROUTED_BYE = send_bye(routes=True)


def caller(final: int, *, rings: int = 0, may_ring: int = 0) -> str:
    """sipp as a caller: an INVITE, ``rings`` 180s, up to ``may_ring`` more, then ``final``.

    A 2xx is acknowledged and the call ended by a BYE, both along the route
    set the 2xx gave (the proxy, when it record-routed).
    """
    parts = [HEAD.format(name="caller"), INVITE, OPTIONAL_100]
    parts.extend('  <recv response="180"/>\n' for _ in range(rings))
    parts.extend('  <recv response="180" optional="true"/>\n' for _ in range(may_ring))
    parts.append(f'  <recv response="{final}" rrs="true"/>\n')
    if 200 <= final < 300:
        parts.extend((ROUTED_ACK, pause(100), ROUTED_BYE))
    else:
        parts.append(ACK)
    parts.append(END)
    return "".join(parts)


def answered_caller() -> str:
    """sipp as a caller whose call is answered, and no more: what follows in
    the dialog does not pass through a proxy that did not record-route."""
    return scenario_of(
        "answered caller",
        INVITE,
        OPTIONAL_100,
        '  <recv response="180"/>\n',
        '  <recv response="200"/>\n',
    )


def answering_callee() -> str:
    """sipp as a callee that rings and answers, and no more."""
    return scenario_of(
        "answering callee",
        KEEP_INVITE,
        proxied_answer(180, "Ringing"),
        proxied_answer(200, "OK"),
        pause(100),
    )


def caller_hung_up_on() -> str:
    """sipp as a caller whose call is answered and ended by the callee's BYE."""
    return scenario_of(
        "caller hung up on",
        INVITE,
        OPTIONAL_100,
        '  <recv response="180"/>\n',
        '  <recv response="200" rrs="true"/>\n',
        ROUTED_ACK,
        BYE_RECEIVED,
    )


def callee_hanging_up() -> str:
    """sipp as a callee that answers, then hangs up along the route set the
    INVITE's Record-Route gave (through the proxy, when it record-routed)."""
    keep_ends = f"""
  <recv request="ACK" timeout="15000">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="caller"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="callee"/>
    </action>
  </recv>
  <Reference variables="caller,callee"/>
  <pause milliseconds="100"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      {NEW_VIA}
      From: [$callee]
      To: [$caller]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
"""
    return scenario_of(
        "callee hanging up",
        KEEP_INVITE.replace(
            '<recv request="INVITE" timeout="15000">',
            '<recv request="INVITE" timeout="15000" rrs="true">',
        ),
        proxied_answer(180, "Ringing"),
        proxied_answer(200, "OK"),
        keep_ends,
    )
