"""Helpers of the server tests: a server on free ports, a raw JSON-over-TCP
application, sipp as a subprocess running a scenario (XML text, built with
the ``sipp_scenarios`` package)."""

from __future__ import annotations

import asyncio
import csv
import shutil
import socket
from collections.abc import Callable
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


async def until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll ``condition`` every 10 ms until it holds; fail after ``timeout`` seconds.

    The bound is generous: a test waits for what must happen, however
    loaded the machine, and fails only when it never does.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


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

    def index_after(self, data: dict[str, Any]) -> int:
        """The index in :attr:`frames` just past the frame that carried ``data``
        (a server request's data or a reply's): where to start :meth:`labels`
        for what came after it. ``len(frames)`` would be too late when the
        next frame arrived in the same read."""
        for index in range(len(self.frames) - 1, -1, -1):
            if self.frames[index].get("data") is data:
                return index + 1
        raise AssertionError(f"no frame carried {data!r}")

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


def own_dir(tmp_path: Path) -> Path:
    """A folder of its own for one more sipp (its statistics file is named by what is there)."""
    path = tmp_path / f"sipp{len(list(tmp_path.glob('sipp*/')))}"
    path.mkdir()
    return path


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
