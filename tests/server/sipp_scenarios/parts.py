"""The pieces every scenario is made of: its head and end, receptions that
check what came, answers built from the request received, and the
variables that keep a request's headers to answer it later."""

from __future__ import annotations

from server_harness import SDP

HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{name}">
"""

END = "</scenario>\n"

# The harness's SDP as sipp writes a body: its lines end as the scenario's do.
SDP_BODY = SDP.replace("\r\n", "\n")

# sipp's Contact, as a header line of an answer or of a request it sends.
CONTACT = "Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>\n"

# A new transaction's Via (a request sipp sends, other than an ACK of a non-2xx).
NEW_VIA = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"

# The To tag sipp gives a dialog it answers as the callee.
CALLEE_TO = "[last_To:];tag=[pid]SIPpTag01[call_number]"

OPTIONAL_100 = '  <recv response="100" optional="true"/>\n'


def scenario_of(name: str, *parts: str) -> str:
    """A whole scenario named ``name``: its head, ``parts`` in order, its end."""
    return "".join((HEAD.format(name=name), *parts, END))


def pause(milliseconds: int) -> str:
    return f'  <pause milliseconds="{milliseconds}"/>\n'


def header_lines(headers: str) -> str:
    """``headers`` (one header a line) indented as lines of a message sipp sends."""
    return "".join(f"      {line}\n" for line in headers.splitlines())


def ereg_checks(checks: tuple[str, ...], prefix: str) -> tuple[str, str]:
    """sipp actions failing the call unless each of ``checks`` (regular
    expressions) matches the message; and the variables they fill, joined
    by commas for a ``<Reference>``."""
    actions = "".join(
        f'      <ereg regexp="{regexp}" search_in="msg" check_it="true" '
        f'assign_to="{prefix}{index}"/>\n'
        for index, regexp in enumerate(checks)
    )
    names = ",".join(f"{prefix}{index}" for index in range(len(checks)))
    return actions, names


def checked_recv(
    what: str,
    checks: tuple[str, ...],
    prefix: str,
    rrs: bool = False,
    timeout: int | None = 15000,
) -> str:
    """sipp receives ``what`` (``request="NOTIFY"``, ``response="200"``); each
    of ``checks`` (regular expressions) must match it, or the call fails.
    ``rrs``: the route set is taken from it; ``timeout`` (ms; ``None``: the
    run's own) bounds the wait."""
    attrs = (f' timeout="{timeout}"' if timeout is not None else "") + (
        ' rrs="true"' if rrs else ""
    )
    if not checks:
        return f"  <recv {what}{attrs}/>\n"
    actions, names = ereg_checks(checks, prefix)
    return (
        f"  <recv {what}{attrs}>\n    <action>\n{actions}"
        f'    </action>\n  </recv>\n  <Reference variables="{names}"/>\n'
    )


def keep_headers(prefix: str) -> str:
    """sipp actions keeping the received request's Via, From, To and CSeq in
    ``<prefix>via``..., to answer it later, after other messages."""
    return "".join(
        f'      <ereg regexp=".*" search_in="hdr" header="{header}:" '
        f'assign_to="{prefix}{header.lower()}"/>\n'
        for header in ("Via", "From", "To", "CSeq")
    )


def kept(prefix: str) -> str:
    """The variables :func:`keep_headers` fills, for a ``<Reference>``."""
    return f"{prefix}via,{prefix}from,{prefix}to,{prefix}cseq"


def keep_contact(prefix: str) -> str:
    """A sipp action keeping the URI of the received request's Contact in
    ``<prefix>contact``, where requests in its dialog go."""
    return (
        '      <ereg regexp="sip:[^>]*" search_in="hdr" header="Contact:" '
        f'assign_to="{prefix}contact"/>\n'
    )


def recv_kept(
    method: str, prefix: str, *, actions: str = "", names: str = "", timeout: int = 10000
) -> str:
    """sipp receives ``method`` and keeps its headers (:func:`keep_headers`);
    ``actions`` run after, filling the variables ``names`` (each after a comma)."""
    return (
        f'  <recv request="{method}" timeout="{timeout}">\n    <action>\n'
        + keep_headers(prefix)
        + actions
        + "    </action>\n  </recv>\n"
        + f'  <Reference variables="{kept(prefix)}{names}"/>\n'
    )


def default_reason(code: int) -> str:
    """The reason phrase sipp gives ``code`` unless a test names one."""
    return {200: "OK", 481: "Call/Transaction Does Not Exist"}.get(code, "Whatever")


def uas_answer(
    code: int,
    extra: str = "",
    body: str = "",
    to: str = "[last_To:]",
    reason: str | None = None,
) -> str:
    """sipp answers the last request received ``code`` (with ``reason``, by
    default :func:`default_reason`), with the header lines ``extra``,
    ``body`` and the To line ``to``."""
    if reason is None:
        reason = default_reason(code)
    return f"""
  <send>
    <![CDATA[

      SIP/2.0 {code} {reason}
      [last_Via:]
      [last_From:]
      {to}
      [last_Call-ID:]
      [last_CSeq:]
{extra}\
      Content-Length: [len]

{body}
    ]]>
  </send>
"""


def answer_without_body(
    status: str, *, to: str = "[last_To:]", cseq: str = "[last_CSeq:]", extra: str = ""
) -> str:
    """sipp answers the last request received with the status line ``status``
    (``200 OK``), the To line ``to``, the CSeq line ``cseq``, the header
    lines ``extra`` and no body."""
    return f"""  <send>
    <![CDATA[

      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      {to}
      [last_Call-ID:]
      {cseq}
{header_lines(extra)}\
      Content-Length: 0

    ]]>
  </send>
"""


def answer_kept(
    prefix: str, code: int, extra: str = "", body: str = "", to: str | None = None
) -> str:
    """sipp answers the request whose headers it kept in ``prefix``
    (:func:`recv_kept`) ``code``, as :func:`uas_answer` would; ``to`` is the
    To line (by default the kept To)."""
    return (
        uas_answer(code, extra, body, to=to or f"To: [${prefix}to]")
        .replace("[last_Via:]", f"Via: [${prefix}via]")
        .replace("[last_From:]", f"From: [${prefix}from]")
        .replace("[last_CSeq:]", f"CSeq: [${prefix}cseq]")
    )
