"""sipp as the callee (UAS): calls it answers and what it does in them."""

from __future__ import annotations

from sipp_scenarios.parts import (
    CALLEE_TO,
    CONTACT,
    END,
    HEAD,
    SDP_BODY,
    answer_without_body,
    checked_recv,
    default_reason,
    pause,
    recv_kept,
    scenario_of,
    uas_answer,
)


def _uas_recv(method: str, checks: tuple[str, ...], prefix: str) -> str:
    """sipp receives ``method``; each of ``checks`` (regular expressions) must match it."""
    return checked_recv(f'request="{method}"', checks, prefix)


def uas_in_dialog_scenario(
    steps: list[tuple[str, int | None]],
    *,
    record_route: str | None = None,
    contact_user: str = "sipp",
    refresh_user: str | None = None,
    checks: dict[str, tuple[str, ...]] | None = None,
    tail: str = pause(200),
) -> str:
    """sipp as a UAS: INVITE answered 200 (with ``record_route`` if given and
    a Contact of user ``contact_user``), its ACK; then for each ``(method,
    code)`` of ``steps`` a request received from the server and answered
    ``code`` (``X-Sipp-Answered: <method>`` added; ``None``: not answered; an
    ACK is only received); a 200 to a re-INVITE or UPDATE carries a Contact
    of user ``refresh_user`` (default ``contact_user``). ``checks[method]``
    are regular expressions each request of that method must match (the call
    fails otherwise). ``tail`` ends the scenario (by default a short pause)."""
    checks = checks or {}
    contact = CONTACT.replace("sip:sipp@", f"sip:{contact_user}@")
    refreshed = contact.replace(f"sip:{contact_user}@", f"sip:{refresh_user or contact_user}@")
    rr = f"Record-Route: {record_route}\n" if record_route else ""
    parts = [HEAD.format(name="uas in-dialog requests")]
    parts.append(_uas_recv("INVITE", (), "invite"))
    parts.append(
        uas_answer(200, f"{rr}{contact}Content-Type: application/sdp\n", SDP_BODY, to=CALLEE_TO)
    )
    parts.append(_uas_recv("ACK", checks.get("ACK", ()), "ack0_"))
    for index, (method, code) in enumerate(steps):
        parts.append(_uas_recv(method, checks.get(method, ()), f"s{index}_"))
        if code is None:
            continue
        extra = f"X-Sipp-Answered: {method}\n"
        body = ""
        if method == "INVITE" and code == 200:
            extra += refreshed + "Content-Type: application/sdp\n"
            body = SDP_BODY
        elif method == "UPDATE" and code == 200:
            extra += refreshed
        parts.append(uas_answer(code, extra, body))
    parts.append(tail)
    parts.append(END)
    return "".join(parts)


def uas_reinvite_answered_after_bye_scenario() -> str:
    """sipp as a UAS (:func:`uas_in_dialog_scenario`) that keeps a re-INVITE
    unanswered, answers the BYE that comes next, then answers the re-INVITE
    200 and waits for its ACK; any other request after it (a second BYE)
    fails the call."""
    late = (
        recv_kept("INVITE", "re_")
        # No pause after the BYE: the re-INVITE's retransmissions would be
        # unexpected then.
        + '  <recv request="BYE" timeout="10000"/>\n'
        + uas_answer(200)
        + f"""
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      Via: [$re_via]
      From: [$re_from]
      To: [$re_to]
      Call-ID: [call_id]
      CSeq: [$re_cseq]
      {CONTACT}\
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" timeout="5000"/>
  <pause milliseconds="1500"/>
"""
    )
    return uas_in_dialog_scenario([], tail=late)


def rejecting_callee(
    code: int, reason: str | None = None, extra: str = "", *, tail: str = ""
) -> str:
    """sipp as a callee that answers the INVITE ``code`` (with ``reason``, by
    default :func:`default_reason`, the header lines ``extra`` and no body),
    takes the ACK, then ``tail`` (a pause, say)."""
    status = f"{code} {reason or default_reason(code)}"
    return scenario_of(
        f"callee {code}",
        '  <recv request="INVITE" timeout="15000"/>\n',
        answer_without_body(status, to=CALLEE_TO, extra=extra),
        '  <recv request="ACK" timeout="15000"/>\n',
        tail,
    )


def ringing_then_cancelled_scenario() -> str:
    """sipp as a callee that rings, then takes the CANCEL (200, and 487 to the INVITE)."""
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<scenario name="ringing then cancelled">\n'
        '  <recv request="INVITE"/>\n'
        + answer_without_body("180 Ringing", to=CALLEE_TO)
        + '  <recv request="CANCEL"/>\n'
        + answer_without_body("200 OK")
        + answer_without_body("487 Request Terminated", to=CALLEE_TO, cseq="CSeq: 1 INVITE")
        + '  <recv request="ACK"/>\n'
        + END
    )
