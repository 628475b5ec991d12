"""sipp as a subscriber or a notifier of ``presence`` (RFC 6665)."""

from __future__ import annotations

from sipp_scenarios.parts import (
    END,
    HEAD,
    checked_recv,
    ereg_checks,
    keep_contact,
    pause,
    recv_kept,
    uas_answer,
)

PIDF = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:presentity@127.0.0.1">\n'
    '<tuple id="t1"><status><basic>open</basic></status></tuple>\n'
    "</presence>\n"
)


def _subscriber_subscribe(cseq: int, headers: str) -> str:
    first = cseq == 1
    uri = "sip:[service]@[remote_ip]:[remote_port]" if first else "[next_url]"
    to_tag = "" if first else "[peer_tag_param]"
    return f"""
  <send retrans="500">
    <![CDATA[

      SUBSCRIBE {uri} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
      Call-ID: [call_id]
      CSeq: {cseq} SUBSCRIBE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Event: presence
{headers}\
      Content-Length: 0

    ]]>
  </send>
"""


def subscriber_scenario(steps: list[tuple[str, int, tuple[str, ...], str]]) -> str:
    """sipp as a subscriber (a UAC) of ``presence``.

    Each step is ``(method, code, checks, headers)``. ``SUBSCRIBE``: sipp
    sends one (the first outside any dialog, then within it) with
    ``headers`` (lines such as ``"Expires: 600"``) and expects the response
    ``code``, which must match each of ``checks``. ``NOTIFY``: sipp receives
    one that must match each of ``checks`` and answers it ``code``, adding
    ``X-Sipp-Answered: NOTIFY`` and ``headers``. ``pause``: sipp waits
    ``code`` milliseconds.
    """
    parts = [HEAD.format(name="subscriber")]
    cseq = 0
    for index, (method, code, checks, headers) in enumerate(steps):
        lines = "".join(f"      {line}\n" for line in headers.splitlines())
        if method == "pause":
            parts.append(f'  <pause milliseconds="{code}"/>\n')
        elif method == "SUBSCRIBE":
            cseq += 1
            parts.append(_subscriber_subscribe(cseq, lines))
            parts.append(checked_recv(f'response="{code}"', checks, f"s{index}_", cseq == 1))
        else:
            parts.append(checked_recv(f'request="{method}"', checks, f"s{index}_"))
            parts.append(uas_answer(code, f"X-Sipp-Answered: {method}\n{lines}"))
    parts.append(pause(200))
    parts.append(END)
    return "".join(parts)


def _notifier_notify(cseq: int, state: str, event: str) -> str:
    # The SUBSCRIBE's From, To and Contact were kept in variables when it came.
    body = PIDF if state.startswith("active") else ""
    content_type = "Content-Type: application/pidf+xml\n" if body else ""
    return f"""
  <send retrans="500">
    <![CDATA[

      NOTIFY [$sub_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$sub_to];tag=notifier[call_number]
      To: [$sub_from]
      Call-ID: [call_id]
      CSeq: {cseq} NOTIFY
      Contact: <sip:notifier@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Event: {event}
      Subscription-State: {state}
{content_type}\
      Content-Length: [len]

{body}
    ]]>
  </send>
"""


_ACCEPT_SUBSCRIBE = """
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      Via: [$sub_via]
      From: [$sub_from]
      To: [$sub_to];tag=notifier[call_number]
      Call-ID: [call_id]
      CSeq: [$sub_cseq]
      Contact: <sip:notifier@[local_ip]:[local_port];transport=[transport]>
      Expires: 600
      Content-Length: 0

    ]]>
  </send>
"""


def notifier_scenario(
    steps: list[tuple[str, int, str, tuple[str, ...]]],
    *,
    subscribe_checks: tuple[str, ...] = (),
    early: list[tuple[int, str, str]] | None = None,
) -> str:
    """sipp as a notifier (a UAS) of ``presence``.

    It receives a SUBSCRIBE that must match each of ``subscribe_checks`` and
    answers it 200 (``Expires: 600``, a To tag and its Contact). Before that
    answer it sends the NOTIFYs of ``early``, ``(code, state, event)`` each,
    and waits for each to be answered ``code`` (RFC 6665 §4.1.2.4: a NOTIFY
    may come before the 2xx). Then each step ``(method, code, state,
    checks)``: ``NOTIFY``, sipp sends one with ``Subscription-State: state``
    (with a PIDF body when active) and expects the response ``code``
    matching each of ``checks``; ``SUBSCRIBE``, sipp receives one matching
    each of ``checks`` and answers it ``code`` with ``X-Sipp-Answered:
    SUBSCRIBE`` and the header line ``state`` (``Expires: 0``, say).
    """
    actions, names = ereg_checks(subscribe_checks, "sub")
    kept_subscribe = recv_kept(
        "SUBSCRIBE",
        "sub_",
        actions=keep_contact("sub_") + actions,
        names=",sub_contact" + (f",{names}" if names else ""),
        timeout=15000,
    )
    parts = [HEAD.format(name="notifier"), kept_subscribe]
    cseq = 0
    for index, (code, state, event) in enumerate(early or []):
        cseq += 1
        parts.append(_notifier_notify(cseq, state, event))
        parts.append(checked_recv(f'response="{code}"', (), f"e{index}_"))
    parts.append(_ACCEPT_SUBSCRIBE)
    contact = "Contact: <sip:notifier@[local_ip]:[local_port];transport=[transport]>\n"
    for index, (method, code, state, checks) in enumerate(steps):
        if method == "NOTIFY":
            cseq += 1
            parts.append(_notifier_notify(cseq, state, "presence"))
            parts.append(checked_recv(f'response="{code}"', checks, f"s{index}_"))
        else:
            parts.append(checked_recv(f'request="{method}"', checks, f"s{index}_"))
            parts.append(uas_answer(code, f"{contact}X-Sipp-Answered: {method}\n{state}\n"))
    parts.append(pause(200))
    parts.append(END)
    return "".join(parts)
