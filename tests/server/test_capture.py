"""SIP capture: copies of the messages in and out, as HEP v3, received by a
real collector (sngrep listening for HEP and writing what it decodes to a
pcap file), compared with what the peer sent and received."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from server_harness import App, free_port, sip_port, start_server
from sip_peer import SipPeer

from drachtio.server import ConfigError, load_config

SNGREP = shutil.which("sngrep")
needs_sngrep = pytest.mark.skipif(SNGREP is None, reason="sngrep is not on PATH (package sngrep)")


@dataclass(frozen=True)
class Captured:
    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def read_pcap(path: Path) -> list[Captured]:
    """The IPv4 packets of an Ethernet pcap file, with their UDP or TCP payloads."""
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, linktype) == (0xA1B2C3D4, 1)
    out = []
    at = 24
    while at < len(data):
        sec, usec, length, _ = struct.unpack_from("<IIII", data, at)
        frame = data[at + 16 : at + 16 + length]
        at += 16 + length
        assert frame[12:14] == b"\x08\x00"  # IPv4
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        proto = ip[9]
        src = socket.inet_ntoa(ip[12:16])
        dst = socket.inet_ntoa(ip[16:20])
        l4 = ip[header:]
        sport, dport = struct.unpack_from("!HH", l4)
        body = l4[8:] if proto == 17 else l4[(l4[12] >> 4) * 4 :]
        out.append(Captured(sec + usec / 1e6, (src, sport), (dst, dport), body))
    return out


async def listening_udp(port: int) -> None:
    """Wait until a socket is bound to UDP ``port`` on 127.0.0.1 (sngrep has started)."""
    wanted = f"0100007F:{port:04X}"
    for _ in range(200):
        if any(
            line.split()[1] == wanted
            for line in Path("/proc/net/udp").read_text().split("\n")[1:]
            if line.strip()
        ):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"nothing listens on UDP {port}")


def options(peer: SipPeer, call_id: str) -> bytes:
    return (
        "OPTIONS sip:app@127.0.0.1 SIP/2.0\r\n"
        f"Via: {peer.via}\r\nMax-Forwards: 70\r\n"
        "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:app@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@needs_sngrep
async def test_every_message_in_and_out_reaches_the_collector(tmp_path: Path) -> None:
    assert SNGREP is not None
    collector = free_port()
    pcap = tmp_path / "capture.pcap"
    sngrep = await asyncio.create_subprocess_exec(
        SNGREP,
        *("-N", "-q", "-F", "-L", f"udp:127.0.0.1:{collector}", "-O", str(pcap)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await listening_udp(collector)
    started = time.time()
    server = await start_server(capture=f"127.0.0.1:{collector}", capture_id=2002)
    app = await App.authenticated(server, "OPTIONS")
    udp = await SipPeer.open("udp", sip_port(server, "udp"))
    tcp = await SipPeer.open("tcp", sip_port(server, "tcp"))
    sent = {}
    try:
        for peer, call_id in ((udp, "capture-udp"), (tcp, "capture-tcp")):
            sent[call_id] = options(peer, call_id)
            peer.send(sent[call_id])
            request = await app.next_sip("OPTIONS")
            await app.respond(request["transactionId"], 200)
            assert (await peer.final_response(call_id)).status == 200
        # The copies leave together, within some 30 ms of the first.
        async with asyncio.timeout(10):
            while server.stats["capture_sent"] < 4:
                await asyncio.sleep(0.01)
        assert server.stats["capture_sent"] == 4
        assert server.stats["capture_failed"] == 0
    finally:
        udp.close()
        tcp.close()
        await app.close()
        await server.stop()
        await asyncio.sleep(0.3)  # the last copies on their way to sngrep
        sngrep.send_signal(signal.SIGTERM)
        await sngrep.wait()
    captured = read_pcap(pcap)
    assert len(captured) == 4
    udp_port, tcp_port = sip_port(server, "udp"), sip_port(server, "tcp")
    # sngrep writes each copy it decodes as a UDP packet, whatever the
    # transport (the IP protocol chunk is checked by the encoder's unit tests).
    for peer, server_port, call_id in (
        (udp, udp_port, "capture-udp"),
        (tcp, tcp_port, "capture-tcp"),
    ):
        mine = [c for c in captured if call_id.encode() in c.payload]
        request, response = mine
        # In: from the peer to the server's listener, exactly as sent.
        assert (request.src, request.dst) == (
            ("127.0.0.1", peer.port),
            ("127.0.0.1", server_port),
        )
        assert request.payload == sent[call_id]
        # Out: from the listener back to the peer.
        assert (response.src, response.dst) == (
            ("127.0.0.1", server_port),
            ("127.0.0.1", peer.port),
        )
        assert response.payload.startswith(b"SIP/2.0 200 OK\r\n")
        assert started <= request.time <= response.time <= time.time()


def test_capture_settings_are_checked_and_the_password_never_shown() -> None:
    config = load_config(
        secrets=["x"],
        capture="127.0.0.1:9060",
        capture_id=7,
        env={"DRACHTIO_CAPTURE_PASSWORD": "homer-secret"},
    )
    assert config.capture_address == ("127.0.0.1", 9060)
    assert (config.capture_id, config.capture_password) == (7, "homer-secret")
    assert "homer-secret" not in repr(config)
    with pytest.raises(ConfigError, match="capture: '9060' is not HOST:PORT"):
        load_config(secrets=["x"], capture="9060")
    with pytest.raises(ConfigError, match="capture_id: must be an integer 0-4294967295"):
        load_config(secrets=["x"], capture_id=-1)
    with pytest.raises(ConfigError, match="capture_id: must be an integer"):
        load_config(secrets=["x"], env={"DRACHTIO_CAPTURE_ID": "seven"})
