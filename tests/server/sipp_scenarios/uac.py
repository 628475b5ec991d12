"""sipp as the caller (UAC): the requests it sends and whole calls it makes."""

from __future__ import annotations

from sipp_scenarios.parts import (
    CONTACT,
    END,
    HEAD,
    NEW_VIA,
    OPTIONAL_100,
    SDP_BODY,
    answer_without_body,
    checked_recv,
    header_lines,
    pause,
    scenario_of,
)

# sipp's From, the same in every request of its calls.
SIPP_FROM = "From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]"


def send_invite(
    headers: str = "",
    *,
    cseq: int = 1,
    method: str = "INVITE",
    in_dialog: bool = False,
    via: str = NEW_VIA,
) -> str:
    """sipp's INVITE with an SDP offer, ``headers`` (one a line) added after
    Max-Forwards; ``method`` sends another request of that shape (an UPDATE
    with an offer). ``in_dialog``: to the remote target, with the To tag."""
    uri = "[next_url]" if in_dialog else "sip:[service]@[remote_ip]:[remote_port]"
    to_tag = "[peer_tag_param]" if in_dialog else ""
    return f"""
  <send retrans="500">
    <![CDATA[

      {method} {uri} SIP/2.0
      {via}
      {SIPP_FROM}
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      {CONTACT}\
      Max-Forwards: 70
{header_lines(headers)}\
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0

    ]]>
  </send>
"""


INVITE = send_invite()


def send_ack(via: str = "[last_Via:]") -> str:
    """The ACK of a non-2xx final response to sipp's INVITE, in its transaction."""
    return f"""
  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      {via}
      {SIPP_FROM}
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""


ACK = send_ack()


def uac_request(
    method: str, cseq: int, headers: str = "", *, via: str = NEW_VIA, routes: bool = False
) -> str:
    """sipp sends ``method`` without a body in the dialog of its INVITE, to
    the remote target, with ``headers`` (one a line) after Max-Forwards and,
    with ``routes``, along the route set; all but an ACK are retransmitted."""
    retrans = "" if method == "ACK" else ' retrans="500"'
    route = "      [routes]\n" if routes else ""
    return f"""
  <send{retrans}>
    <![CDATA[

      {method} [next_url] SIP/2.0
      {via}
      {SIPP_FROM}
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
{route}\
      CSeq: {cseq} {method}
      Max-Forwards: 70
{header_lines(headers)}\
      Content-Length: 0

    ]]>
  </send>
"""


# The ACK of a 2xx to sipp's INVITE.
ACK_2XX = uac_request("ACK", 1)


def send_bye(cseq: int = 2, *, routes: bool = False) -> str:
    """sipp hangs up: a BYE with CSeq ``cseq``, answered 200."""
    return uac_request("BYE", cseq, routes=routes) + '  <recv response="200" crlf="true"/>\n'


BYE = send_bye()


def send_cancel(via: str = "[last_Via:]") -> str:
    """sipp cancels its INVITE (the transaction of ``via``): the CANCEL's 200, then the 487."""
    return f"""
  <send retrans="500">
    <![CDATA[

      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      {via}
      {SIPP_FROM}
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
"""


CANCEL = send_cancel()


def uac_scenario(
    final: int,
    *,
    provisional: tuple[int, ...] = (),
    check_headers: tuple[str, ...] = (),
    cancel_after: int | None = None,
    bye_after_ms: int = 100,
) -> str:
    """An INVITE that expects ``provisional`` responses (in order), then ``final``.

    ``check_headers`` are regular expressions the final response must match
    (the call fails otherwise). A 2xx is acknowledged and the call ended with
    BYE from sipp; another final response is acknowledged in its
    transaction. With ``cancel_after`` the INVITE is cancelled once that
    provisional response has come, and ``final`` is not used. sipp's BYE
    follows its ACK by ``bye_after_ms``.
    """
    parts = [HEAD.format(name=f"uac {final}"), INVITE, OPTIONAL_100]
    for code in provisional:
        parts.append(f'  <recv response="{code}"/>\n')
        if code == cancel_after:
            parts.extend((CANCEL, ACK, END))
            return "".join(parts)
    parts.append(checked_recv(f'response="{final}"', check_headers, "h", rrs=True, timeout=None))
    if 200 <= final < 300:
        parts.extend((ACK_2XX, pause(bye_after_ms), BYE))
    else:
        parts.append(ACK)
    parts.append(END)
    return "".join(parts)


def send_request(method: str, headers: str = "", body: str = "") -> str:
    """sipp sends ``method`` (CSeq 1) outside any dialog, with ``headers``
    (one a line) after Max-Forwards and ``body`` (its lines as sipp writes
    them)."""
    length = "[len]" if body else "0"
    return f"""
  <send retrans="500">
    <![CDATA[

      {method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      {NEW_VIA}
      {SIPP_FROM}
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 {method}
      Max-Forwards: 70
{header_lines(headers)}\
      Content-Length: {length}

{body}\
    ]]>
  </send>
"""


def send_register(aor: str, contact: str, *, cseq: int = 1, headers: str = "") -> str:
    """sipp registers ``contact`` (a Contact header's value) for the address
    of record ``aor`` (a URI), with ``headers`` (one a line) after the Contact."""
    return f"""
  <send retrans="500">
    <![CDATA[

      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      {NEW_VIA}
      From: <{aor}>;tag=[pid]SIPpTag00[call_number]
      To: <{aor}>
      Call-ID: [call_id]
      CSeq: {cseq} REGISTER
      Contact: {contact}
{header_lines(headers)}\
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""


def request_scenario(
    method: str, headers: str = "", body: str = "", checks: tuple[str, ...] = ()
) -> str:
    """sipp sends one ``method`` outside any dialog (:func:`send_request`);
    its 200 must match each of ``checks`` (regular expressions)."""
    return scenario_of(
        method.lower(),
        send_request(method, headers, body),
        checked_recv('response="200"', checks, "c", timeout=None),
    )


# sipp takes the server's BYE and answers it.
BYE_RECEIVED = (
    '\n  <recv request="BYE" timeout="15000"/>\n' + answer_without_body("200 OK") + pause(200)
)


def uac_hung_up_by_server_scenario(*, ack: bool) -> str:
    """An INVITE answered 200 (acknowledged when ``ack``); then the server sends BYE."""
    parts = [HEAD.format(name="uac hung up"), INVITE, OPTIONAL_100]
    parts.append('  <recv response="200" rrs="true"/>\n')
    if ack:
        parts.append(ACK_2XX)
    parts.extend((BYE_RECEIVED, END))
    return "".join(parts)


# What sipp sends in a dialog it started, per method: extra headers and body.
IN_DIALOG_EXTRAS: dict[str, tuple[str, str]] = {
    "INVITE": ("Content-Type: application/sdp\n", SDP_BODY),
    "INFO": ("Content-Type: application/dtmf-relay\n", "Signal=5\nDuration=160\n"),
    "UPDATE": ("", ""),
    "NOTIFY": (
        "Event: refer\nSubscription-State: active;expires=60\nContent-Type: message/sipfrag\n",
        "SIP/2.0 200 OK\n",
    ),
    "REFER": ("Refer-To: <sip:transfer@127.0.0.1>\n", ""),
    "MESSAGE": ("Content-Type: text/plain\n", "hello\n"),
    "OPTIONS": ("Accept: application/sdp\n", ""),
}


def uac_in_dialog_request(method: str, cseq: int, check: str) -> str:
    """sipp sends ``method`` in its dialog with the extras of
    :data:`IN_DIALOG_EXTRAS` (and its Contact where the method asks for
    one), then ``check`` (what it receives)."""
    headers, body = IN_DIALOG_EXTRAS[method]
    contact = CONTACT if method in ("INVITE", "UPDATE", "NOTIFY", "REFER") else ""
    return f"""
  <send retrans="500">
    <![CDATA[

      {method} [next_url] SIP/2.0
      {NEW_VIA}
      {SIPP_FROM}
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Max-Forwards: 70
{contact}{headers}\
      Content-Length: [len]

{body}
    ]]>
  </send>
{check}"""


def uac_in_dialog_scenario(answers: list[tuple[str, int, str]]) -> str:
    """INVITE, 200, ACK; then for each ``(method, code, header)`` of ``answers``
    a request in the dialog that must be answered ``code`` with a response
    containing ``header`` (a regular expression; the call fails otherwise);
    an answered re-INVITE is acknowledged. sipp ends the call with BYE."""
    parts = [HEAD.format(name="uac in-dialog requests"), INVITE, OPTIONAL_100]
    parts.append('  <recv response="200" rrs="true"/>\n')
    parts.append(ACK_2XX)
    names = []
    for index, (method, code, header) in enumerate(answers):
        cseq = index + 2
        name = f"answer{index}"
        names.append(name)
        check = OPTIONAL_100 if method == "INVITE" else ""
        # Only a 2xx to the re-INVITE carries a Contact to take the target from.
        rrs = ' rrs="true"' if method == "INVITE" else ""
        check += (
            f'  <recv response="{code}"{rrs}>\n    <action>\n'
            f'      <ereg regexp="{header}" search_in="msg" check_it="true" assign_to="{name}"/>\n'
            "    </action>\n  </recv>\n"
        )
        if method == "INVITE":
            check += uac_request("ACK", cseq)
        parts.append(uac_in_dialog_request(method, cseq, check))
    parts.append(send_bye(len(answers) + 2))
    parts.append(f'  <Reference variables="{",".join(names)}"/>\n')
    parts.append(END)
    return "".join(parts)
