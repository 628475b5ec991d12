"""What the server sends about one call may come in one read: the application keeps up.

A control server written for these tests (a real TCP listener speaking the
protocol) sends, in one write, what a busy server sends close together: the
result of the application's 2xx, the ACK, the caller's BYE and the dialog's
end. The INVITE itself comes in the read that answers the application's
route.
"""

from __future__ import annotations

import asyncio
from typing import Any

from drachtio import Srf, parse
from drachtio.app import Dialog, Request, Response
from drachtio.protocol import FrameDecoder, RespondResult, Sip, Source, encode_frame

INVITE = (
    "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r1\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
    "To: <sip:bob@127.0.0.1>\r\n"
    "Call-ID: reads-1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@127.0.0.1:5070>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n\r\n"
    "v=0\n"
)
IN_DIALOG = (
    "{method} sip:alice@127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{method}\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
    "To: <sip:bob@127.0.0.1>;tag=b1\r\n"
    "Call-ID: reads-1\r\n"
    "CSeq: {cseq} {method}\r\n"
    "Content-Length: 0\r\n\r\n"
)
OK = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r1\r\n"
    "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
    "To: <sip:bob@127.0.0.1>;tag=b1\r\n"
    "Call-ID: reads-1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n\r\n"
)
DIALOG = "reads-1;from-tag=a1;to-tag=b1"
SOURCE = Source("udp", "127.0.0.1", 5070)


def _request(rid: str, command: str, data: dict[str, Any]) -> bytes:
    return encode_frame({"type": "request", "rid": rid, "command": command, "data": data})


def _sip(message: str, tx: str, dialog: str | None) -> dict[str, Any]:
    return Sip(tx, parse(message.encode()), dialog, SOURCE, 0.0).to_json()


class CallInOneRead:
    """The server's side: one INVITE; the rest of the call in the write after the 2xx."""

    def __init__(self) -> None:
        self.answers: dict[str, int] = {}  # transactionId -> status the app sent
        self.bye_answered = asyncio.get_running_loop().create_future()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        while data := await reader.read(65536):
            for frame in decoder.receive_data(data):
                if frame["type"] != "request":
                    continue
                writer.write(self._answer(frame["rid"], frame["command"], frame["data"]))
                if frame["command"] == "route":
                    writer.write(_request("s1", "sip", _sip(INVITE, "inv", None)))

    def _answer(self, rid: str, command: str, data: dict[str, Any]) -> bytes:
        def response(answer: dict[str, Any]) -> bytes:
            return encode_frame({"type": "response", "rid": rid, "data": answer})

        if command == "auth":
            return response({"authenticated": True, "hostport": ["udp/127.0.0.1:5060"]})
        if command != "respondToSipRequest":
            return response({"success": True})
        self.answers[data["transactionId"]] = data["code"]
        if data["transactionId"] == "inv":
            result = RespondResult(parse(OK.encode()), DIALOG).to_json()
            ack = _sip(IN_DIALOG.format(method="ACK", cseq=1), "inv", DIALOG)
            bye = _sip(IN_DIALOG.format(method="BYE", cseq=2), "bye", DIALOG)
            ended = {"dialogId": DIALOG, "event": "destroyed", "reason": "BYE received"}
            return b"".join(
                [
                    response(result),
                    _request("s2", "sip", ack),
                    _request("s3", "sip", bye),
                    _request("s4", "dialog", ended),
                ]
            )
        if not self.bye_answered.done():
            self.bye_answered.set_result(data["code"])
        return response({"success": True})


async def test_a_call_over_in_the_read_that_confirmed_it_is_still_answered() -> None:
    script = CallInOneRead()
    server = await asyncio.start_server(script.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    srf = Srf()
    made: asyncio.Future[Dialog] = asyncio.get_running_loop().create_future()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        made.set_result(await srf.create_uas(req, res, local_sdp="v=0\r\n"))

    try:
        await srf.connect("127.0.0.1", port, "x")
        dialog = await asyncio.wait_for(made, 10)
        # The dialog the 2xx made, already over: not a 408 for a call that was acknowledged.
        assert dialog.id == DIALOG
        assert dialog.destroy_reason == "BYE received"
        assert dialog.remote_sdp == "v=0\n"
        assert await asyncio.wait_for(dialog.wait_destroyed(), 10) == "BYE received"
        # The caller's BYE got the dialog's default answer.
        assert await asyncio.wait_for(script.bye_answered, 10) == 200
        assert script.answers == {"inv": 200, "bye": 200}
    finally:
        await srf.close()
        server.close()
