"""Bad input on the server's srf dialect: a precise refusal, the others served on.

A raw client over loopback TCP writes frames with the codec (or by hand,
for the broken ones) and reads the server's replies.
"""

from __future__ import annotations

import asyncio

from server_harness import SECRET, App, start_server

from drachtio.server import Server
from drachtio.srfproto import (
    Authenticate,
    FrameDecoder,
    Reply,
    Route,
    ServerMessage,
    encode_frame,
    parse_server_message,
)

# The destination and SIP part of a proxy message, as drachtio-srf writes them.
PROXY_TAIL = "sip:bob@127.0.0.1\r\nINVITE sip:bob@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n"


class RawSrf:
    """A drachtio-srf client written by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder()
        self.pending: list[ServerMessage] = []

    @classmethod
    async def connect(cls, server: Server) -> RawSrf:
        host, port = server.control_address
        return cls(*await asyncio.open_connection(host, port))

    @classmethod
    async def authenticated(cls, server: Server) -> RawSrf:
        client = await cls.connect(server)
        client.send(Authenticate("a1", SECRET, ("blue",)).to_payload())
        reply = await client.reply("a1")
        assert reply.ok, reply
        return client

    def send(self, payload: str) -> None:
        self.writer.write(encode_frame(payload))

    async def next(self, timeout: float = 5.0) -> ServerMessage:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            assert data, "the server closed the connection"
            self.pending += [parse_server_message(p) for p in self.decoder.payloads(data)]
        return self.pending.pop(0)

    async def reply(self, answers: str) -> Reply:
        message = await self.next()
        assert isinstance(message, Reply) and message.answers == answers, message
        return message

    async def closed_by_server(self, timeout: float = 5.0) -> bool:
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return True


async def test_authenticate_is_answered_with_the_hostports_and_a_version() -> None:
    server = await start_server()
    client = await RawSrf.connect(server)
    client.send("a1|authenticate|" + SECRET + "|")
    reply = await client.reply("a1")
    hostports = ",".join(server.hostport)
    assert (reply.ok, reply.tokens) == (True, (hostports, "v0.9.3", hostports))
    client.send("p1|ping")
    assert (await client.reply("p1")).tokens == ("pong",)
    client.writer.close()
    await server.stop()


async def test_authenticate_sent_one_byte_at_a_time_is_recognised() -> None:
    server = await start_server()
    client = await RawSrf.connect(server)
    for byte in encode_frame(f"a1|authenticate|{SECRET}|"):
        client.writer.write(bytes([byte]))
        await client.writer.drain()
        await asyncio.sleep(0.002)
    assert (await client.reply("a1")).ok
    client.writer.close()
    await server.stop()


async def test_a_wrong_secret_gets_nok_and_the_connection_closes() -> None:
    server = await start_server()
    client = await RawSrf.connect(server)
    client.send("a1|authenticate|wrong|")
    reply = await client.reply("a1")
    assert (reply.ok, reply.reason) == (False, "incorrect secret")
    assert await client.closed_by_server()
    await server.stop()


async def test_a_message_before_authenticate_is_refused_by_its_msg_id() -> None:
    server = await start_server()
    client = await RawSrf.connect(server)
    client.send(Route("r1", "invite").to_payload())
    reply = await client.reply("r1")
    assert (reply.ok, reply.reason) == (
        False,
        "route before authenticate: authenticate must come first",
    )
    assert await client.closed_by_server()
    await server.stop()


async def test_bad_messages_get_a_precise_nok_and_the_connection_stays() -> None:
    server = await start_server()
    client = await RawSrf.authenticated(server)
    cases = {
        "m1|bogus|x": "unknown message type 'bogus': a client sends authenticate, route, "
        "remove_route, ping, sip or proxy",
        "m2|route|cdr:bogus": "unknown call detail record cdr:bogus",
        "m3|route|ack": "data.verb: 'ack' cannot be routed: CANCEL reaches the client as a "
        "'cancel' request and ACK within its dialog",
        "m4|sip|t1|\r\nSIP/2.0 abc Nope\r\n\r\n": "sip: status line 'SIP/2.0 abc Nope' has no "
        "status code from 100 to 699",
        "m5|sip|t1|\r\nSIP/2.0 200 OK\r\n\r\n": "unknown transaction t1",
        "m6|sip||\r\nMESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n\r\nhello": "missing content-type",
        "m7|sip||\r\nMESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nbroken\r\n\r\n": "sip: header line "
        "'broken' is not '<name>: <value>'",
        "m8|sip|||not a uri\r\nOPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n\r\n": "no route: "
        "malformed Route header",
        "m9|sip||\r\nACK sip:bob@127.0.0.1 SIP/2.0\r\n\r\n": "ACK for non-success responses "
        "is automatically generated by the stack",
        "m10|sip||no-such-dialog\r\nBYE sip:placeholder SIP/2.0\r\n\r\n": "no dialog "
        "no-such-dialog",
        "m11|sip|t9|\r\nCANCEL sip:bob@127.0.0.1 SIP/2.0\r\n\r\n": "unknown transaction t9",
        f"m12|proxy|t1||fullResponse||serial|||{PROXY_TAIL}": "unknown transaction t1",
        f"m13|proxy|t1||fullResponse||serial|2x||{PROXY_TAIL}": "proxy: provisional timeout "
        "'2x' is not a duration like 2s or 500ms",
        # A bare number: drachtio-server would ignore it, this server says so.
        f"m14|proxy|t1||fullResponse||serial||2|{PROXY_TAIL}": "proxy: final timeout "
        "'2' is not a duration like 2s or 500ms",
        "m15|proxy|t1||fullResponse||serial|||bob at home\r\nINVITE sip:b SIP/2.0\r\n\r\n": (
            "data.destinations[0]: 'bob at home' is not a URI"
        ),
        f"m16|proxy|t1||fullResponse||serial|||{PROXY_TAIL[:-2]}Via: x\r\n\r\n": (
            "data.headers: 'Via' is the proxy's to write"
        ),
    }
    for payload, reason in cases.items():
        msg_id = payload.split("|", 1)[0]
        client.send(payload)
        reply = await client.reply(msg_id)
        assert (reply.ok, reply.reason) == (False, reason), payload
    client.send("p1|ping")
    assert (await client.reply("p1")).tokens == ("pong",)
    client.writer.close()
    await server.stop()


async def test_a_framing_error_closes_only_that_connection() -> None:
    server = await start_server()
    json_app = await App.authenticated(server)
    other = await RawSrf.authenticated(server)
    client = await RawSrf.authenticated(server)
    client.writer.write(b"12x#whatever")
    assert await client.closed_by_server()
    assert await json_app.request("ping") == {"pong": True}
    other.send("p1|ping")
    assert (await other.reply("p1")).tokens == ("pong",)
    other.writer.close()
    await json_app.close()
    await server.stop()


async def test_a_first_frame_of_neither_dialect_gets_the_json_error() -> None:
    server = await start_server()
    host, port = server.control_address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"5#hello")
    decoder = FrameDecoder()
    data = await asyncio.wait_for(reader.read(65536), 5)
    assert decoder.payloads(data)[0].startswith('{"type":"response"')
    writer.close()
    await server.stop()


async def test_more_than_16_kib_before_authenticate_closes_the_connection() -> None:
    server = await start_server()
    client = await RawSrf.connect(server)
    payload = "a1|authenticate|" + "x" * 20000 + "|"
    client.writer.write(encode_frame(payload))
    # No reply: the message was never read whole, it has no msgId to answer.
    assert await asyncio.wait_for(client.reader.read(), 5) == b""
    assert server.stats["control_unauthenticated"] == 0
    await server.stop()


async def test_a_prack_from_the_app_is_not_sent_again() -> None:
    """The server PRACKs the reliable provisional responses to the app's INVITEs
    itself; drachtio-srf's own PRACK (createUAC sends one) is answered, not sent."""
    server = await start_server()
    client = await RawSrf.authenticated(server)
    for payload in (
        "k1|sip||\r\nPRACK sip:bob@127.0.0.1:9 SIP/2.0\r\nRAck: 42 1 INVITE\r\n\r\n",
        "k2|sip||nope\r\nPRACK sip:placeholder SIP/2.0\r\nRAck: 42 1 INVITE\r\n\r\n",
    ):
        client.send(payload)
        reply = await client.reply(payload[:2])
        assert reply.ok, reply
        # No transaction: nothing went out.
        assert reply.tokens[6] == ""
        assert reply.message is not None and reply.message.startswith("PRACK ")
    assert "PRACK" not in server.message_counts.get("requests_sent", {})
    client.writer.close()
    await server.stop()
