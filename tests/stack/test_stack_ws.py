"""SIP over WebSocket (RFC 7118) against a real WebSocket client (the
``websockets`` package), over WS and WSS: registration and a call whose
client names itself ``*.invalid``, a request from the stack back to that
name over the client's connection, the upgrade refused without the ``sip``
subprotocol, a message too large closed with 1009, and a connection lost
mid-call reported and no longer reachable."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from certs import make_certs, needs_openssl
from peers import Uas, address
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.typing import Subprotocol

from drachtio import LocalError, ResponseEvent, SipRequest, SipResponse, SipStack, parse
from drachtio.stack import ConnectionClosedEvent, StackEvent

WAIT = 10.0
SIP = [Subprotocol("sip")]
# What a browser client calls itself: a name no one can resolve (RFC 7118 §5.2).
CLIENT = "df7jal23ls0d.invalid"


def request(method: str, cseq: int, call_id: str, to_tag: str | None = None) -> str:
    """A request from the client: Via and Contact name ``CLIENT``."""
    to = "<sip:service@example.com>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} sip:service@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/WS {CLIENT};branch=z9hG4bK{method}{cseq}{call_id}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@example.com>;tag=alice1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:alice@{CLIENT};transport=ws>\r\n"
        "Content-Length: 0\r\n\r\n"
    )


def to_client(method: str, cseq: int, call_id: str, to_tag: str | None = None) -> SipRequest:
    """A request from the stack to the client's Contact, a name only its
    connection reaches."""
    to = "<sip:alice@example.com>" + (f";tag={to_tag}" if to_tag else "")
    return SipRequest(
        method,
        f"sip:alice@{CLIENT};transport=ws",
        headers=[
            ("From", "<sip:service@example.com>;tag=s1"),
            ("To", to),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {method}"),
        ],
    )


def header(message: SipRequest | SipResponse, name: str) -> str:
    value = message.header(name)
    assert value is not None, name
    return value


def to_tag(response: SipResponse) -> str:
    return header(response, "To").split("tag=")[1]


async def receive(ws: ClientConnection) -> SipRequest | SipResponse:
    data = await asyncio.wait_for(ws.recv(), WAIT)
    return parse(data.encode() if isinstance(data, str) else data)


async def final(ws: ClientConnection) -> SipResponse:
    """The first final response the client receives."""
    while True:
        message = await receive(ws)
        assert isinstance(message, SipResponse)
        if message.status >= 200:
            return message


async def until(condition: Callable[[], bool]) -> None:
    """Waits until ``condition`` holds (each event is handled on the loop)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


def closed_events(events: list[StackEvent]) -> list[ConnectionClosedEvent]:
    return [e for e in events if isinstance(e, ConnectionClosedEvent)]


@asynccontextmanager
async def ws_stack(
    tmp_path: Path, transport: str
) -> AsyncIterator[tuple[Uas, str, ssl.SSLContext | None]]:
    """A stack answering like ``Uas`` on one ``transport`` listener, with the
    URL and client TLS context to reach it."""
    uas = Uas()
    certificate = key = None
    client_tls = None
    if transport == "wss":
        certs = make_certs(tmp_path)
        certificate, key = certs.certificate, certs.key
        client_tls = ssl.create_default_context(cafile=str(certs.ca))
    uas.stack = stack = await SipStack.start(
        [f"{transport}:127.0.0.1:0"], uas.on_event, tls_certificate=certificate, tls_key=key
    )
    host, port = address(stack, transport)
    try:
        yield uas, f"{transport}://{host}:{port}", client_tls
    finally:
        await stack.close(grace=0)


@pytest.mark.parametrize("transport", ["ws", pytest.param("wss", marks=needs_openssl)])
async def test_register_a_call_and_a_request_back_to_the_clients_name(
    tmp_path: Path, transport: str
) -> None:
    async with ws_stack(tmp_path, transport) as (uas, url, client_tls):
        stack = uas.stack
        assert stack is not None
        async with connect(url, subprotocols=SIP, ssl=client_tls) as ws:
            assert ws.subprotocol == "sip"
            await ws.send(request("REGISTER", 1, "ws-reg"))
            assert (await final(ws)).status == 200

            await ws.send(request("INVITE", 1, "ws-call"))
            ok = await final(ws)
            assert ok.status == 200
            tag = to_tag(ok)
            await ws.send(request("ACK", 1, "ws-call", tag))

            # The stack reaches the client by the name it gave in Contact:
            # over its connection, the only way back.
            back = to_client("OPTIONS", 1, "ws-back")
            tx = stack.send_request(back)
            options = await receive(ws)
            assert isinstance(options, SipRequest)
            assert options.method == "OPTIONS"
            assert header(options, "Via").startswith(f"SIP/2.0/{transport.upper()} ")
            lines = [f"{n}: {header(options, n)}" for n in ("Via", "From", "To", "Call-ID", "CSeq")]
            ok_back = "SIP/2.0 200 OK\r\n" + "\r\n".join(lines)
            await ws.send(ok_back + "\r\nContent-Length: 0\r\n\r\n")
            await until(lambda: any(isinstance(e, ResponseEvent) for e in uas.events))
            answered = [e for e in uas.events if isinstance(e, ResponseEvent)]
            assert [(e.tx_id, e.response.status) for e in answered] == [(tx, 200)]
            assert answered[0].source[0] == transport

            await ws.send(request("BYE", 2, "ws-call", tag))
            assert (await final(ws)).status == 200
        assert uas.methods == {"REGISTER": 1, "INVITE": 1, "BYE": 1}
        assert uas.acks == 1
        # The client closed: reported, and its name reaches nothing any more.
        await until(lambda: len(closed_events(uas.events)) == 1)
        assert closed_events(uas.events)[0].reason == "closed by the peer"
        with pytest.raises(LocalError, match="no open WebSocket connection"):
            stack.send_request(back)


@pytest.mark.parametrize(
    ("offered", "reason"),
    [
        (None, "none offered"),
        ([Subprotocol("chat"), Subprotocol("SIP")], "offered chat, SIP"),
    ],
)
async def test_an_upgrade_without_the_sip_subprotocol_is_refused_with_the_reason(
    tmp_path: Path, offered: list[Subprotocol] | None, reason: str
) -> None:
    async with ws_stack(tmp_path, "ws") as (uas, url, _):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, subprotocols=offered):
                pass
        response = refused.value.response
        assert response.status_code == 400
        assert b'the WebSocket subprotocol "sip" is required' in response.body
        assert reason.encode() in response.body
        assert uas.stack is not None
        assert uas.stack.stats()["ws_handshake_failures"] == 1
        # Refused before the upgrade: no connection to report closed.
        assert closed_events(uas.events) == []
        # Everyone else is still served.
        async with connect(url, subprotocols=SIP) as ws:
            await ws.send(request("OPTIONS", 1, "after-refusal"))
            assert (await final(ws)).status == 200


async def test_a_message_too_large_closes_the_connection_with_1009(tmp_path: Path) -> None:
    async with ws_stack(tmp_path, "ws") as (uas, url, _):
        async with connect(url, subprotocols=SIP, max_size=None) as ws:
            await ws.send(request("OPTIONS", 1, "before"))
            assert (await final(ws)).status == 200
            # Larger than a SIP message may be: 16 KiB of header and 1 MiB of body.
            await ws.send(b"x" * (1024 * 1024 + 16 * 1024 + 1))
            with pytest.raises(ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
        await until(lambda: len(closed_events(uas.events)) == 1)
        assert "larger than" in closed_events(uas.events)[0].reason
        assert uas.stack is not None
        assert uas.stack.stats()["ws_oversized_closed"] == 1


async def test_a_malformed_request_is_answered_and_the_connection_stays(tmp_path: Path) -> None:
    async with ws_stack(tmp_path, "ws") as (uas, url, _):
        async with connect(url, subprotocols=SIP) as ws:
            bad = request("OPTIONS", 1, "bad").replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS")
            await ws.send(bad)
            # The answer copies the CSeq as it came: read as text.
            answer = await asyncio.wait_for(ws.recv(), WAIT)
            assert isinstance(answer, str)
            assert answer.startswith("SIP/2.0 400 ")
            assert "Call-ID: bad\r\n" in answer
            await ws.send(request("OPTIONS", 2, "good"))
            assert (await final(ws)).status == 200
        assert uas.methods == {"OPTIONS": 1}


async def test_a_connection_lost_mid_call_is_reported_and_its_name_no_longer_reached(
    tmp_path: Path,
) -> None:
    async with ws_stack(tmp_path, "ws") as (uas, url, _):
        stack = uas.stack
        assert stack is not None
        ws = await connect(url, subprotocols=SIP)
        await ws.send(request("INVITE", 1, "lost-call"))
        ok = await final(ws)
        assert ok.status == 200
        await ws.send(request("ACK", 1, "lost-call", to_tag(ok)))
        await until(lambda: uas.acks == 1)
        port = ws.local_address[1]
        # No close frame: the TCP connection goes away.
        ws.transport.abort()
        await until(lambda: len(closed_events(uas.events)) == 1)
        event = closed_events(uas.events)[0]
        assert event.source == ("ws", "127.0.0.1", port)
        assert event.local == address(stack, "ws")
        bye = to_client("BYE", 2, "lost-call", "alice1")
        with pytest.raises(LocalError, match="no open WebSocket connection"):
            stack.send_request(bye)
