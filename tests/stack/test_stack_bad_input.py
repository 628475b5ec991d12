"""Bad input on the wire: the RFC 4475 invalid requests over UDP get their
400/505, garbage on TCP is disconnected, all of it is counted, and a normal
sipp call right after still succeeds."""

from __future__ import annotations

import asyncio
import random
import socket
from pathlib import Path

from peers import Uas, address, free_port, needs_sipp, run_sipp

from drachtio import MalformedEvent, SipStack

pytestmark = needs_sipp

RFC4475 = Path(__file__).parent.parent / "data" / "sip" / "rfc4475"
LISTEN = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]

# Requests answered by the stack from their bytes (RFC 4475 §3.1.2, §3.3).
ANSWERED = {
    "badinv01": 400,
    "clerr": 400,
    "ncl": 400,
    "scalar02": 400,
    "quotbal": 400,
    "ltgtruri": 400,
    "lwsruri": 400,
    "lwsstart": 400,
    "trws": 400,
    "escruri": 400,
    "regbadct": 400,
    "badvers": 505,
    "mismatch01": 400,
    "mismatch02": 400,
    "mcl01": 400,
}
# Invalid responses: never answered, dropped.
DROPPED = ["bigcode", "scalarlg"]


async def one_sipp_call(tmp_path: Path, stack: SipStack, transport: str) -> None:
    _, port = address(stack, transport)
    flag = {"udp": "u1", "tcp": "t1"}[transport]
    run = await run_sipp(
        tmp_path,
        *f"-sn uac -m 1 -d 10 -t {flag} -i 127.0.0.1 -p {free_port()}".split(),
        f"127.0.0.1:{port}",
    )
    assert run.returncode == 0, run.log
    assert (run.successful, run.failed) == (1, 0)


async def test_rfc4475_invalid_requests_over_udp(tmp_path: Path) -> None:
    uas = Uas()
    uas.stack = stack = await SipStack.start(LISTEN, uas.on_event)
    host, port = address(stack, "udp")
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        for name, status in ANSWERED.items():
            data = (RFC4475 / f"{name}.dat").read_bytes()
            await loop.sock_sendto(peer, data, (host, port))
            reply = await asyncio.wait_for(loop.sock_recv(peer, 65535), 5)
            assert reply.startswith(f"SIP/2.0 {status} ".encode()), (name, reply[:200])
        for name in DROPPED:
            await loop.sock_sendto(peer, (RFC4475 / f"{name}.dat").read_bytes(), (host, port))
        try:
            extra = await asyncio.wait_for(loop.sock_recv(peer, 65535), 0.3)
        except asyncio.TimeoutError:
            extra = None
        assert extra is None
    malformed = [e for e in uas.events if isinstance(e, MalformedEvent)]
    assert [e.answered for e in malformed] == [*ANSWERED.values(), None, None]
    assert {e.source[0] for e in malformed} == {"udp"}
    assert malformed[-1].kind == "bad_cseq"
    assert uas.methods == {}
    stats = stack.stats()
    assert (stats["parse_errors"], stats["malformed_answered"], stats["malformed_dropped"]) == (
        17,
        15,
        2,
    )
    await one_sipp_call(tmp_path, stack, "udp")
    assert uas.methods == {"INVITE": 1, "BYE": 1}
    await stack.close(grace=1.0)


async def disconnected(reader: asyncio.StreamReader) -> bool:
    try:
        rest = await asyncio.wait_for(reader.read(), 5)
    except ConnectionError:
        # Reset, or our own writes failing once the stack has closed it.
        return True
    return rest == b""


async def test_tcp_garbage_and_endless_header_section_are_disconnected(tmp_path: Path) -> None:
    uas = Uas()
    uas.stack = stack = await SipStack.start(LISTEN, uas.on_event)
    host, port = address(stack, "tcp")
    # A connection that stays well-behaved must survive the others' garbage.
    _, bystander = await asyncio.open_connection(host, port)

    reader, writer = await asyncio.open_connection(host, port)
    garbage = random.Random(4475).randbytes(2000).replace(b"\r\n\r\n", b"")
    writer.write(garbage + b"\r\n\r\n")
    assert await disconnected(reader)
    writer.close()

    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n")
    # Past the 16 KiB header limit, and never the empty line.
    for i in range(400):
        writer.write(f"X-Filler-{i}: {'a' * 40}\r\n".encode())
    assert await disconnected(reader)
    writer.close()

    stats = stack.stats()
    assert stats["tcp_garbage_disconnects"] == 2
    assert stats["connections_open"] == stats["tcp_inbound_open"] == 1
    assert uas.methods == {}
    bystander.close()
    await one_sipp_call(tmp_path, stack, "tcp")
    assert uas.methods == {"INVITE": 1, "BYE": 1}
    await stack.close(grace=1.0)


async def test_idle_tcp_connections_do_not_lock_callers_out(tmp_path: Path) -> None:
    # A peer holds every inbound TCP place with connections that send nothing
    # but keep-alives: a caller still gets in (a silent one makes room).
    uas = Uas()
    uas.stack = stack = await SipStack.start(LISTEN, uas.on_event, max_tcp_connections=8)
    host, port = address(stack, "tcp")
    hogs = [await asyncio.open_connection(host, port) for _ in range(8)]
    for reader, writer in hogs:
        writer.write(b"\r\n\r\n")
        assert await asyncio.wait_for(reader.read(2), 5) == b"\r\n"
    assert stack.stats()["tcp_inbound_open"] == 8
    await one_sipp_call(tmp_path, stack, "tcp")
    assert uas.methods == {"INVITE": 1, "BYE": 1}
    stats = stack.stats()
    assert stats["tcp_evicted"] >= 1
    assert stats["tcp_connections_rejected"] == 0
    for _, writer in hogs:
        writer.close()
    await stack.close(grace=1.0)
