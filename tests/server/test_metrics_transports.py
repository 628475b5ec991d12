"""Messages and connections counted by transport: real traffic over UDP, TCP,
TLS, WS and WSS from clients on loopback, then the metrics page compared with
what each client sent and read; connections closed leave the gauge."""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Mapping
from pathlib import Path

from metrics_scrape import Samples, metrics_server, scrape, value
from server_harness import App, sip_port
from sip_peer import SipPeer
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from drachtio import SipRequest, SipResponse, parse
from drachtio.server import Server

sys.path.insert(0, str(Path(__file__).parent.parent / "stack"))

from certs import make_certs, needs_openssl

WAIT = 10.0
STREAMS = ("tcp", "tls", "ws", "wss")
# How many OPTIONS each client sends: a different count for each transport,
# so that a message counted under the wrong one shows.
SENDS = {"udp": 1, "tcp": 2, "tls": 3, "ws": 1, "wss": 4}

Key = tuple[str, frozenset[tuple[str, str]]]
Expected = dict[Key, float]


def options(transport: str, n: int) -> bytes:
    """An OPTIONS no application routes: the server answers 503 itself."""
    return (
        "OPTIONS sip:nobody@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:9;branch=z9hG4bK-{transport}-{n};rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=m1\r\nTo: <sip:nobody@127.0.0.1>\r\n"
        f"Call-ID: metrics-{transport}-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


async def read_message(reader: asyncio.StreamReader) -> SipRequest | SipResponse:
    """One SIP message framed from a stream by its Content-Length."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    message = parse(head)
    length = int(message.header("Content-Length") or 0)
    if length:
        message = parse(head + await asyncio.wait_for(reader.readexactly(length), WAIT))
    return message


async def final_status(reader: asyncio.StreamReader) -> int:
    message = await read_message(reader)
    assert isinstance(message, SipResponse)
    return message.status


async def ws_status(ws: ClientConnection) -> int:
    data = await asyncio.wait_for(ws.recv(), WAIT)
    message = parse(data.encode() if isinstance(data, str) else data)
    assert isinstance(message, SipResponse)
    return message.status


def sample(name: str, **labels: str) -> Key:
    return (name, frozenset(labels.items()))


async def settled(server: Server, expected: Mapping[Key, float]) -> Samples:
    """Scrapes until every sample of ``expected`` has its value (a counter
    moves just after the write its peer may already have read), then checks
    them all."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        samples = await scrape(server)
        got = {key: samples.get(key) for key in expected}
        if got == expected or asyncio.get_running_loop().time() > deadline:
            assert got == expected
            return samples
        await asyncio.sleep(0.02)


def connections(open_: dict[str, int], closed: dict[str, int]) -> Expected:
    """Every inbound and outbound sample of the three connection metrics:
    ``open_`` and ``closed`` give the inbound counts by transport; no
    outbound connection is expected."""
    expected: Expected = {}
    for t in STREAMS:
        opened = open_.get(t, 0) + closed.get(t, 0)
        for direction, (now, was_opened, gone) in {
            "inbound": (open_.get(t, 0), opened, closed.get(t, 0)),
            "outbound": (0, 0, 0),
        }.items():
            labels = {"transport": t, "direction": direction}
            expected[sample("drachtio_sip_connections", **labels)] = now
            expected[sample("drachtio_sip_connections_opened_total", **labels)] = was_opened
            expected[sample("drachtio_sip_connections_closed_total", **labels)] = gone
    return expected


def messages() -> Expected:
    """One 503 read for each OPTIONS sent, on each transport."""
    expected: Expected = {}
    for t, n in SENDS.items():
        expected[sample("drachtio_sip_messages_received_total", transport=t)] = n
        expected[sample("drachtio_sip_messages_sent_total", transport=t)] = n
    return expected


@needs_openssl
async def test_messages_and_connections_are_counted_by_transport(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    client_tls = ssl.create_default_context(cafile=str(certs.ca))
    server = await metrics_server(
        sip=[f"{t}:127.0.0.1:0" for t in SENDS],
        tls_certificate=str(certs.certificate),
        tls_key=str(certs.key),
    )
    udp = await SipPeer.open("udp", sip_port(server, "udp"))
    streams: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
    sockets: dict[str, ClientConnection] = {}
    try:
        await settled(server, connections({}, {}))
        udp.send(options("udp", 0))
        assert (await udp.final_response("metrics-udp-0")).status == 503
        for t, tls in (("tcp", None), ("tls", client_tls)):
            port = sip_port(server, t)
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=tls, server_hostname="127.0.0.1" if tls else None
            )
            streams[t] = (reader, writer)
            for n in range(SENDS[t]):
                writer.write(options(t, n))
                assert await final_status(reader) == 503
        for t, tls in (("ws", None), ("wss", client_tls)):
            url = f"{t}://127.0.0.1:{sip_port(server, t)}"
            ws = await connect(url, subprotocols=[Subprotocol("sip")], ssl=tls)
            sockets[t] = ws
            for n in range(SENDS[t]):
                await ws.send(options(t, n).decode())
                assert await ws_status(ws) == 503
        every_one = dict.fromkeys(STREAMS, 1)
        samples = await settled(server, messages() | connections(every_one, {}))
        assert value(samples, "drachtio_sip_responses_sent_total", status="503") == sum(
            SENDS.values()
        )

        # The TLS and WSS clients hang up: their connections leave the gauge
        # and are counted closed; the TCP and WS ones stay.
        streams["tls"][1].close()
        await sockets["wss"].close()
        still = {"tcp": 1, "ws": 1}
        await settled(server, messages() | connections(still, {"tls": 1, "wss": 1}))
        assert server.stats["connections_open"] == 2
    finally:
        udp.close()
        for _, writer in streams.values():
            writer.close()
        for ws in sockets.values():
            await ws.close()
        await server.stop()


async def test_a_connection_the_server_opens_is_outbound_until_the_peer_closes_it() -> None:
    server = await metrics_server()
    app = await App.authenticated(server)
    hang_up = asyncio.Event()

    async def answer_200(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answers one request 200 over its connection, then hangs up when told."""
        request = await read_message(reader)
        assert isinstance(request, SipRequest)
        lines = [f"{n}: {request.header(n)}" for n in ("Via", "From", "To", "Call-ID", "CSeq")]
        lines[2] += ";tag=peer"
        head = "SIP/2.0 200 OK\r\n" + "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"
        writer.write(head.encode())
        await hang_up.wait()
        writer.close()

    peer = await asyncio.start_server(answer_200, "127.0.0.1", 0)
    port = peer.sockets[0].getsockname()[1]
    outbound = {"transport": "tcp", "direction": "outbound"}
    try:
        sent = await app.request(
            "sendSipRequest",
            {"method": "OPTIONS", "uri": f"sip:peer@127.0.0.1:{port};transport=tcp"},
        )
        assert sent["success"] is True, sent
        response = await app.next_sip_of(sent["transactionId"])
        assert response["message"]["status_line"]["status_code"] == 200
        tcp = {
            sample("drachtio_sip_messages_sent_total", transport="tcp"): 1,
            sample("drachtio_sip_messages_received_total", transport="tcp"): 1,
            sample("drachtio_sip_connections_opened_total", **outbound): 1,
            sample(
                "drachtio_sip_connections_opened_total", transport="tcp", direction="inbound"
            ): 0,
        }
        # Open while the peer holds it; closed, and out of the gauge, once it hangs up.
        for is_open in (1, 0):
            if not is_open:
                hang_up.set()
            await settled(
                server,
                tcp
                | {
                    sample("drachtio_sip_connections", **outbound): is_open,
                    sample("drachtio_sip_connections_closed_total", **outbound): 1 - is_open,
                },
            )
    finally:
        hang_up.set()
        peer.close()
        await app.close()
        await server.stop()
