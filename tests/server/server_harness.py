"""Helpers of the server tests: a server on free ports, a raw JSON-over-TCP
application, sipp as a subprocess with scenarios written per test."""

from __future__ import annotations

import asyncio
import csv
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drachtio.protocol import FrameDecoder, encode_frame
from drachtio.server import Server, ServerConfig

SIPP = shutil.which("sipp")
needs_sipp = pytest.mark.skipif(SIPP is None, reason="sipp is not on PATH (package sip-tester)")

SECRET = "s3cret"
SDP = (
    "v=0\r\n"
    "o=app 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\n"
)


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (sipp binds the one it is given)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


async def start_server(**settings: Any) -> Server:
    """A started server on free ports with T1 = 50 ms unless ``settings`` say otherwise."""
    values: dict[str, Any] = {
        "sip": ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
        "control_port": 0,
        "secrets": [SECRET],
        "t1": 0.05,
        "shutdown_grace": 1.0,
    }
    values.update(settings)
    server = Server(ServerConfig(**values))
    await server.start()
    return server


def sip_port(server: Server, transport: str) -> int:
    for t, _, port in server.sip_addresses:
        if t == transport:
            return port
    raise AssertionError(f"no {transport} listener")


class App:
    """A raw control-protocol client: frames written and read by hand.

    Server requests are queued in :attr:`requests` and answered at once
    (``{pong: true}`` to ``ping``, ``{success: true}`` to the others) unless
    ``auto_answer`` is false.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder()
        self.responses: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.requests: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.frames: list[dict[str, Any]] = []
        self.auto_answer = True
        self.closed = asyncio.Event()
        self._rid = 0
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, server: Server) -> App:
        host, port = server.control_address
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    @classmethod
    async def authenticated(cls, server: Server, *verbs: str, app_name: str | None = None) -> App:
        app = await cls.connect(server)
        auth: dict[str, Any] = {"secret": SECRET}
        if app_name is not None:
            auth["appName"] = app_name
        data = await app.request("auth", auth)
        assert data["authenticated"] is True, data
        for verb in verbs:
            assert await app.request("route", {"verb": verb}) == {"success": True}
        return app

    async def _read(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for frame in self.decoder.receive_data(data):
                    self.frames.append(frame)
                    if frame["type"] == "response":
                        future = self.responses.pop(frame["rid"], None)
                        if future is not None:
                            future.set_result(frame["data"])
                    else:
                        if self.auto_answer:
                            pong = frame["command"] == "ping"
                            self.answer(frame["rid"], {"pong": True} if pong else {"success": True})
                        self.requests.put_nowait(frame)
        except ConnectionError:
            pass
        finally:
            self.closed.set()

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def answer(self, rid: str, data: dict[str, Any]) -> None:
        self.writer.write(encode_frame({"type": "response", "rid": rid, "data": data}))

    async def request(
        self, command: str, data: dict[str, Any] | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        self._rid += 1
        rid = f"r{self._rid}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.responses[rid] = future
        message: dict[str, Any] = {"type": "request", "rid": rid, "command": command}
        if data is not None:
            message["data"] = data
        self.writer.write(encode_frame(message))
        return await asyncio.wait_for(future, timeout)

    @property
    def last_rid(self) -> str:
        """The rid of the last request :meth:`request` sent."""
        return f"r{self._rid}"

    def labels(self, since: int = 0) -> list[str]:
        """The frames received from index ``since`` on, in order, each as a label:
        ``reply <rid>``, ``sip <method or status>``, ``dialog <event>``, or the command."""
        labels: list[str] = []
        for frame in self.frames[since:]:
            if frame["type"] == "response":
                labels.append(f"reply {frame['rid']}")
            elif frame["command"] == "sip":
                message = frame["data"]["message"]
                if "request_uri" in message:
                    labels.append(f"sip {message['request_uri']['method']}")
                else:
                    labels.append(f"sip {message['status_line']['status_code']}")
            elif frame["command"] == "dialog":
                labels.append(f"dialog {frame['data']['event']}")
            else:
                labels.append(frame["command"])
        return labels

    async def next_request(self, command: str | None = None, timeout: float = 10.0) -> Any:
        """The next server request (``data`` only), skipping those of other commands."""
        while True:
            frame = await asyncio.wait_for(self.requests.get(), timeout)
            if command is None or frame["command"] == command:
                return frame if command is None else frame["data"]

    async def next_sip(self, method_or_status: str | int, timeout: float = 10.0) -> Any:
        """The next ``sip`` request carrying this method or status."""
        while True:
            data = await self.next_request("sip", timeout)
            message = data["message"]
            if "request_uri" in message and message["request_uri"]["method"] == method_or_status:
                return data
            if "status_line" in message and message["status_line"]["status_code"] == (
                method_or_status
            ):
                return data

    async def respond(
        self, transaction_id: str, code: int, headers: dict[str, Any] | None = None, **opts: Any
    ) -> dict[str, Any]:
        """respondToSipRequest; a body is SDP unless ``headers`` give a Content-Type."""
        data: dict[str, Any] = {"transactionId": transaction_id, "code": code}
        if opts.get("body") and not any(n.lower() == "content-type" for n in headers or {}):
            headers = {**(headers or {}), "Content-Type": "application/sdp"}
        if headers is not None:
            opts["headers"] = headers
        if opts:
            data["opts"] = opts
        return await self.request("respondToSipRequest", data)

    async def send_in_dialog(
        self, dialog_id: str, method: str, **data: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """sendSipRequest within the dialog; the reply and the final response's ``sip`` message."""
        sent = await self.request(
            "sendSipRequest", {"method": method, "dialogId": dialog_id, **data}
        )
        assert sent["success"] is True, sent
        while True:
            response = await self.next_sip_of(sent["transactionId"])
            if response["message"]["status_line"]["status_code"] >= 200:
                return sent, response

    async def next_sip_of(self, transaction_id: str, timeout: float = 10.0) -> Any:
        """The next ``sip`` request of this transaction, skipping the others."""
        while True:
            data = await self.next_request("sip", timeout)
            if data["transactionId"] == transaction_id:
                return data

    async def invite(self, uri: str, timeout: float = 10.0) -> Any:
        """sendSipRequest of an INVITE with SDP to ``uri``; its final response's ``sip`` data."""
        sent = await self.request(
            "sendSipRequest",
            {
                "method": "INVITE",
                "uri": uri,
                "headers": {"Content-Type": "application/sdp"},
                "body": SDP,
            },
        )
        assert sent["success"] is True, sent
        while True:
            data = await self.next_sip_of(sent["transactionId"], timeout)
            if data["message"]["status_line"]["status_code"] >= 200:
                return data

    async def ack_and_bye(self, ok: dict[str, Any]) -> None:
        """ACK the 2xx ``ok`` (an :meth:`invite`'s), then hang up with a BYE answered 200."""
        dialog_id = ok["dialogId"]
        ack = await self.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
        assert ack["success"] is True, ack
        _, bye_ok = await self.send_in_dialog(dialog_id, "BYE")
        assert bye_ok["message"]["status_line"]["status_code"] == 200

    async def wait_closed(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)

    async def close(self) -> None:
        self.writer.close()
        await self.wait_closed()


@dataclass
class SippRun:
    returncode: int
    successful: int
    failed: int
    log: str


class Sipp:
    """sipp running as a subprocess; :meth:`result` waits for its end."""

    def __init__(self, proc: asyncio.subprocess.Process, tmp_path: Path, stat_file: Path) -> None:
        self.proc = proc
        self.tmp_path = tmp_path
        self.stat_file = stat_file

    @classmethod
    async def start(cls, tmp_path: Path, *args: str) -> Sipp:
        assert SIPP is not None
        stat_file = tmp_path / f"sipp-{len(list(tmp_path.glob('sipp-*.csv')))}.csv"
        with (tmp_path / "sipp.out").open("ab") as sink:
            proc = await asyncio.create_subprocess_exec(
                SIPP,
                *args,
                "-nostdin",
                "-timeout",
                "20s",
                "-timeout_error",
                "-trace_stat",
                "-stf",
                str(stat_file),
                "-trace_err",
                cwd=tmp_path,
                stdout=sink,
                stderr=asyncio.subprocess.STDOUT,
            )
        return cls(proc, tmp_path, stat_file)

    async def result(self, timeout: float = 30.0) -> SippRun:
        try:
            returncode = await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise
        log = (self.tmp_path / "sipp.out").read_text(errors="replace")[-3000:]
        for err in self.tmp_path.glob("*_errors.log"):
            log += "\n" + err.read_text(errors="replace")[-3000:]
        with self.stat_file.open(newline="") as f:
            last = list(csv.DictReader(f, delimiter=";"))[-1]
        return SippRun(returncode, int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"]), log)


async def sipp_uac(
    tmp_path: Path, server: Server, scenario: str, transport: str = "udp", calls: int = 1
) -> Sipp:
    """sipp as a UAC running ``scenario`` (XML text) against the server."""
    path = tmp_path / f"scenario-{len(list(tmp_path.glob('scenario-*.xml')))}.xml"
    path.write_text(scenario)
    flag = "u1" if transport == "udp" else "t1"
    return await Sipp.start(
        tmp_path,
        "-sf",
        str(path),
        *f"-m {calls} -r 20 -t {flag} -i 127.0.0.1 -p {free_port()}".split(),
        f"127.0.0.1:{sip_port(server, transport)}",
    )


_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{name}">
"""

_INVITE = """
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
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

_ACK = """
  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

_ACK_2XX = """
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

_BYE = """
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""

_CANCEL = """
  <send retrans="500">
    <![CDATA[

      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
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
    parts = [
        _HEAD.format(name=f"uac {final}"),
        _INVITE,
        '  <recv response="100" optional="true"/>\n',
    ]
    for code in provisional:
        parts.append(f'  <recv response="{code}"/>\n')
        if code == cancel_after:
            parts.append(_CANCEL)
            parts.append(_ACK)
            parts.append("</scenario>\n")
            return "".join(parts)
    if check_headers:
        actions = "".join(
            f'      <ereg regexp="{regexp}" search_in="msg" check_it="true" '
            f'assign_to="h{index}"/>\n'
            for index, regexp in enumerate(check_headers)
        )
        parts.append(
            f'  <recv response="{final}" rrs="true">\n    <action>\n{actions}'
            "    </action>\n  </recv>\n"
        )
        names = ",".join(f"h{index}" for index in range(len(check_headers)))
        parts.append(f'  <Reference variables="{names}"/>\n')
    else:
        parts.append(f'  <recv response="{final}" rrs="true"/>\n')
    if 200 <= final < 300:
        parts.append(_ACK_2XX)
        parts.append(f'  <pause milliseconds="{bye_after_ms}"/>\n')
        parts.append(_BYE)
    else:
        parts.append(_ACK)
    parts.append("</scenario>\n")
    return "".join(parts)


_BYE_RECEIVED = """
  <recv request="BYE" timeout="15000"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="200"/>
"""


def uac_hung_up_by_server_scenario(*, ack: bool) -> str:
    """An INVITE answered 200 (acknowledged when ``ack``); then the server sends BYE."""
    parts = [_HEAD.format(name="uac hung up"), _INVITE]
    parts.append('  <recv response="100" optional="true"/>\n')
    parts.append('  <recv response="200" rrs="true"/>\n')
    if ack:
        parts.append(_ACK_2XX)
    parts.append(_BYE_RECEIVED)
    parts.append("</scenario>\n")
    return "".join(parts)


# ---------------------------------------------------------------- in-dialog scenarios

# What sipp sends in a dialog it started, per method: extra headers and body.
IN_DIALOG_EXTRAS: dict[str, tuple[str, str]] = {
    "INVITE": ("Content-Type: application/sdp\n", SDP.replace("\r\n", "\n")),
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


def _uac_in_dialog_request(method: str, cseq: int, check: str) -> str:
    headers, body = IN_DIALOG_EXTRAS[method]
    contact = "Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>\n"
    return f"""
  <send retrans="500">
    <![CDATA[

      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Max-Forwards: 70
{contact if method in ("INVITE", "UPDATE", "NOTIFY", "REFER") else ""}{headers}\
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
    parts = [_HEAD.format(name="uac in-dialog requests"), _INVITE]
    parts.append('  <recv response="100" optional="true"/>\n')
    parts.append('  <recv response="200" rrs="true"/>\n')
    parts.append(_ACK_2XX)
    names = []
    for index, (method, code, header) in enumerate(answers):
        cseq = index + 2
        name = f"answer{index}"
        names.append(name)
        check = ""
        if method == "INVITE":
            check = '  <recv response="100" optional="true"/>\n'
        # Only a 2xx to the re-INVITE carries a Contact to take the target from.
        rrs = ' rrs="true"' if method == "INVITE" else ""
        check += (
            f'  <recv response="{code}"{rrs}>\n    <action>\n'
            f'      <ereg regexp="{header}" search_in="msg" check_it="true" assign_to="{name}"/>\n'
            "    </action>\n  </recv>\n"
        )
        if method == "INVITE":
            check += _ACK_2XX.replace("CSeq: 1 ACK", f"CSeq: {cseq} ACK")
        parts.append(_uac_in_dialog_request(method, cseq, check))
    parts.append(_BYE.replace("CSeq: 2 BYE", f"CSeq: {len(answers) + 2} BYE"))
    parts.append(f'  <Reference variables="{",".join(names)}"/>\n')
    parts.append("</scenario>\n")
    return "".join(parts)


def _uas_answer(code: int, extra: str = "", body: str = "", to: str = "[last_To:]") -> str:
    reason = {200: "OK", 481: "Call/Transaction Does Not Exist"}.get(code, "Whatever")
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


def _uas_recv(method: str, checks: tuple[str, ...], prefix: str) -> str:
    """sipp receives ``method``; each of ``checks`` (regular expressions) must match it."""
    return _checked_recv(f'request="{method}"', checks, prefix)


def uas_in_dialog_scenario(
    steps: list[tuple[str, int | None]],
    *,
    record_route: str | None = None,
    contact_user: str = "sipp",
    refresh_user: str | None = None,
    checks: dict[str, tuple[str, ...]] | None = None,
    tail: str = '  <pause milliseconds="200"/>\n',
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
    contact = f"Contact: <sip:{contact_user}@[local_ip]:[local_port];transport=[transport]>\n"
    refreshed = contact.replace(f"sip:{contact_user}@", f"sip:{refresh_user or contact_user}@")
    rr = f"Record-Route: {record_route}\n" if record_route else ""
    sdp = SDP.replace("\r\n", "\n")
    parts = [_HEAD.format(name="uas in-dialog requests")]
    parts.append(_uas_recv("INVITE", (), "invite"))
    parts.append(
        _uas_answer(
            200,
            f"{rr}{contact}Content-Type: application/sdp\n",
            sdp,
            to="[last_To:];tag=[pid]SIPpTag01[call_number]",
        )
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
            body = sdp
        elif method == "UPDATE" and code == 200:
            extra += refreshed
        parts.append(_uas_answer(code, extra, body))
    parts.append(tail)
    parts.append("</scenario>\n")
    return "".join(parts)


async def sipp_uas(
    tmp_path: Path, scenario: str, transport: str = "udp", port: int | None = None
) -> tuple[Sipp, int]:
    """sipp as a UAS running ``scenario`` (XML text) on ``port`` (else a free
    one); returns it and its port."""
    path = tmp_path / f"scenario-{len(list(tmp_path.glob('scenario-*.xml')))}.xml"
    path.write_text(scenario)
    if port is None:
        port = free_port()
    flag = "u1" if transport == "udp" else "t1"
    sipp = await Sipp.start(
        tmp_path, "-sf", str(path), *f"-m 1 -i 127.0.0.1 -p {port} -t {flag}".split()
    )
    await asyncio.sleep(0.3)  # let sipp bind
    return sipp, port


async def invite_sipp(app: App, port: int) -> tuple[str, Any]:
    """The app sends an INVITE with SDP to sipp's UAS at ``port``: its
    transactionId and the ``sip`` request carrying its final response."""
    sent = await app.request(
        "sendSipRequest",
        {
            "method": "INVITE",
            "uri": f"sip:service@127.0.0.1:{port}",
            "headers": {"Content-Type": "application/sdp"},
            "body": SDP,
        },
    )
    assert sent["success"] is True, sent
    while True:
        response = await app.next_sip_of(sent["transactionId"])
        if response["message"]["status_line"]["status_code"] >= 200:
            return sent["transactionId"], response


def uas_reinvite_answered_after_bye_scenario() -> str:
    """sipp as a UAS (:func:`uas_in_dialog_scenario`) that keeps a re-INVITE
    unanswered, answers the BYE that comes next, then answers the re-INVITE
    200 and waits for its ACK; any other request after it (a second BYE)
    fails the call."""
    late = (
        '  <recv request="INVITE" timeout="10000">\n    <action>\n'
        + _keep_headers("re_")
        + "    </action>\n  </recv>\n"
        + f'  <Reference variables="{_kept("re_")}"/>\n'
        # No pause after the BYE: the re-INVITE's retransmissions would be
        # unexpected then.
        + '  <recv request="BYE" timeout="10000"/>\n'
        + _uas_answer(200)
        + """
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      Via: [$re_via]
      From: [$re_from]
      To: [$re_to]
      Call-ID: [call_id]
      CSeq: [$re_cseq]
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" timeout="5000"/>
  <pause milliseconds="1500"/>
"""
    )
    return uas_in_dialog_scenario([], tail=late)


# ---------------------------------------------------------------- subscriptions (RFC 6665)

PIDF = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:presentity@127.0.0.1">\n'
    '<tuple id="t1"><status><basic>open</basic></status></tuple>\n'
    "</presence>\n"
)


def _checked_recv(what: str, checks: tuple[str, ...], prefix: str, rrs: bool = False) -> str:
    """sipp receives ``what`` (``request="NOTIFY"``, ``response="200"``); each
    of ``checks`` (regular expressions) must match it, or the call fails."""
    rrs_attr = ' rrs="true"' if rrs else ""
    if not checks:
        return f'  <recv {what} timeout="15000"{rrs_attr}/>\n'
    actions = "".join(
        f'      <ereg regexp="{regexp}" search_in="msg" check_it="true" '
        f'assign_to="{prefix}{index}"/>\n'
        for index, regexp in enumerate(checks)
    )
    names = ",".join(f"{prefix}{index}" for index in range(len(checks)))
    return (
        f'  <recv {what} timeout="15000"{rrs_attr}>\n    <action>\n{actions}'
        f'    </action>\n  </recv>\n  <Reference variables="{names}"/>\n'
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
    parts = [_HEAD.format(name="subscriber")]
    cseq = 0
    for index, (method, code, checks, headers) in enumerate(steps):
        lines = "".join(f"      {line}\n" for line in headers.splitlines())
        if method == "pause":
            parts.append(f'  <pause milliseconds="{code}"/>\n')
        elif method == "SUBSCRIBE":
            cseq += 1
            parts.append(_subscriber_subscribe(cseq, lines))
            parts.append(_checked_recv(f'response="{code}"', checks, f"s{index}_", cseq == 1))
        else:
            parts.append(_checked_recv(f'request="{method}"', checks, f"s{index}_"))
            parts.append(_uas_answer(code, f"X-Sipp-Answered: {method}\n{lines}"))
    parts.append('  <pause milliseconds="200"/>\n')
    parts.append("</scenario>\n")
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


def _keep_headers(prefix: str) -> str:
    """sipp actions keeping the received request's Via, From, To and CSeq in
    ``<prefix>via``..., to answer it later, after other messages."""
    return "".join(
        f'      <ereg regexp=".*" search_in="hdr" header="{header}:" '
        f'assign_to="{prefix}{header.lower()}"/>\n'
        for header in ("Via", "From", "To", "CSeq")
    )


def _kept(prefix: str) -> str:
    """The variables :func:`_keep_headers` fills, for a ``<Reference>``."""
    return f"{prefix}via,{prefix}from,{prefix}to,{prefix}cseq"


_KEEP_SUBSCRIBE = (
    '  <recv request="SUBSCRIBE" timeout="15000">\n    <action>\n'
    + _keep_headers("sub_")
    + '      <ereg regexp="sip:[^>]*" search_in="hdr" header="Contact:" assign_to="sub_contact"/>\n'
    + "{checks}"
    + "    </action>\n  </recv>\n"
    + f'  <Reference variables="{_kept("sub_")},sub_contact{{names}}"/>\n'
)

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
    actions = "".join(
        f'      <ereg regexp="{regexp}" search_in="msg" check_it="true" assign_to="sub{index}"/>\n'
        for index, regexp in enumerate(subscribe_checks)
    )
    names = "".join(f",sub{index}" for index in range(len(subscribe_checks)))
    parts = [_HEAD.format(name="notifier"), _KEEP_SUBSCRIBE.format(checks=actions, names=names)]
    cseq = 0
    for index, (code, state, event) in enumerate(early or []):
        cseq += 1
        parts.append(_notifier_notify(cseq, state, event))
        parts.append(_checked_recv(f'response="{code}"', (), f"e{index}_"))
    parts.append(_ACCEPT_SUBSCRIBE)
    contact = "Contact: <sip:notifier@[local_ip]:[local_port];transport=[transport]>\n"
    for index, (method, code, state, checks) in enumerate(steps):
        if method == "NOTIFY":
            cseq += 1
            parts.append(_notifier_notify(cseq, state, "presence"))
            parts.append(_checked_recv(f'response="{code}"', checks, f"s{index}_"))
        else:
            parts.append(_checked_recv(f'request="{method}"', checks, f"s{index}_"))
            parts.append(_uas_answer(code, f"{contact}X-Sipp-Answered: {method}\n{state}\n"))
    parts.append('  <pause milliseconds="200"/>\n')
    parts.append("</scenario>\n")
    return "".join(parts)


def ringing_then_cancelled_scenario() -> str:
    """sipp as a callee that rings, then takes the CANCEL (200, and 487 to the INVITE)."""
    return """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ringing then cancelled">
  <recv request="INVITE"/>
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="CANCEL"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[

      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: 1 INVITE
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""
