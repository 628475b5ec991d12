"""SipStack on its own (no sipp): binding, the calls down and their local
errors, events between two stacks, timeouts, transport errors, closing, and
the loops it runs on (default asyncio, uvloop, a host service's loop in
another thread)."""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
from peers import Uas, address, free_port

from drachtio import (
    ClosedEvent,
    LocalError,
    RequestEvent,
    ResponseEvent,
    SipRequest,
    SipResponse,
    SipStack,
    StackClosed,
    TimeoutEvent,
    TransactionFinished,
    TransportErrorEvent,
    UnknownTransaction,
)
from drachtio._core import next_hop
from drachtio.stack import StackEvent


def options(uri: str, call_id: str) -> SipRequest:
    return SipRequest(
        "OPTIONS",
        uri,
        headers=[
            ("From", "<sip:uac@127.0.0.1>;tag=a1"),
            ("To", f"<{uri}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 OPTIONS"),
        ],
    )


class Recorder:
    """Records events; ``wait_for`` returns the first of a kind."""

    def __init__(self) -> None:
        self.events: list[StackEvent] = []
        self.arrived = asyncio.Event()

    def on_event(self, event: StackEvent) -> None:
        self.events.append(event)
        self.arrived.set()

    async def wait_for(self, kind: type[Any], timeout: float = 5.0) -> Any:
        async def first() -> Any:
            while True:
                for e in self.events:
                    if isinstance(e, kind):
                        return e
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(first(), timeout)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def options_round_trip() -> tuple[int, list[StackEvent]]:
    """An OPTIONS from one stack to another, answered 200; returns the status
    and the UAS's events."""
    uas = Uas()
    uas.stack = server = await SipStack.start(["udp:127.0.0.1:0"], uas.on_event)
    client_events = Recorder()
    client = await SipStack.start(["udp:127.0.0.1:0"], client_events.on_event)
    _, port = address(server, "udp")
    tx = client.send_request(options(f"sip:uas@127.0.0.1:{port}", "rt-1"))
    response = await client_events.wait_for(ResponseEvent)
    assert response.tx_id == tx
    await client.close(grace=0.5)
    await server.close(grace=0.5)
    return response.response.status, uas.events


async def test_options_between_two_stacks() -> None:
    status, events = await options_round_trip()
    assert status == 200
    request = events[0]
    assert isinstance(request, RequestEvent)
    assert request.request.method == "OPTIONS"
    assert request.request.call_id == "rt-1"
    assert request.source[0:2] == ("udp", "127.0.0.1")
    assert isinstance(events[-1], ClosedEvent)


def test_runs_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> tuple[str, int]:
        assert "uvloop" in type(asyncio.get_running_loop()).__module__
        status, _ = await options_round_trip()
        return type(asyncio.get_running_loop()).__module__, status

    module, status = uvloop.run(main())
    assert module.startswith("uvloop")
    assert status == 200


def test_receives_on_uvloop_and_releases_its_sockets() -> None:
    # receive_on_loop: the loop watches duplicates of the UDP sockets; once
    # the stack has closed, none is left open and the port can be bound again.
    uvloop = pytest.importorskip("uvloop")

    async def main() -> tuple[list[int], int, list[int], int]:
        uas = Uas()
        uas.stack = server = await SipStack.start(
            ["udp:127.0.0.1:0"], uas.on_event, receive_on_loop=True
        )
        watched = list(server._udp_watched)
        _, port = address(server, "udp")
        client_events = Recorder()
        client = await SipStack.start(["udp:127.0.0.1:0"], client_events.on_event)

        def answered() -> int:
            return sum(isinstance(e, ResponseEvent) for e in client_events.events)

        for n in range(3):
            client.send_request(options(f"sip:uas@127.0.0.1:{port}", f"onloop-{n}"))
            await until(lambda: answered() > n)  # noqa: B023 - awaited at once
        statuses = [e.response.status for e in client_events.events if isinstance(e, ResponseEvent)]
        await client.close(grace=0)
        await server.close(grace=0)
        return statuses, len(watched), [fd for fd in watched if _is_open(fd)], port

    statuses, watched, still_open, port = uvloop.run(main())
    assert statuses == [200, 200, 200]
    assert watched == 1
    assert still_open == []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", port))


def test_unclosed_stack_on_a_closed_loop_releases_its_sockets() -> None:
    # receive_on_loop, the stack never closed and its loop closed first: the
    # duplicated descriptors go with the stack, so the port is free again.
    loop = asyncio.new_event_loop()
    stack = loop.run_until_complete(
        SipStack.start(["udp:127.0.0.1:0"], Recorder().on_event, receive_on_loop=True)
    )
    _, port = address(stack, "udp")
    watched = list(stack._udp_watched)
    loop.close()
    del stack
    gc.collect()
    assert [fd for fd in watched if _is_open(fd)] == []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", port))


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_runs_on_a_host_loop_in_another_thread() -> None:
    # A host service running its own loop in a worker thread.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="host-loop")
    thread.start()
    try:
        future = asyncio.run_coroutine_threadsafe(options_round_trip(), loop)
        status, events = future.result(timeout=10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
    assert status == 200
    assert isinstance(events[0], RequestEvent)


async def test_busy_port_raises_oserror() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as info:
            await SipStack.start([f"udp:127.0.0.1:{port}"], Recorder().on_event)
    assert info.value.errno == errno.EADDRINUSE


async def test_bad_arguments_raise_valueerror() -> None:
    with pytest.raises(ValueError, match='unknown transport "sctp": expected one of udp, tcp'):
        await SipStack.start(["sctp:127.0.0.1:0"], Recorder().on_event)
    with pytest.raises(OSError, match="a WSS listener needs a certificate and its key"):
        await SipStack.start(["wss:127.0.0.1:0"], Recorder().on_event)
    with pytest.raises(ValueError, match="listen address"):
        await SipStack.start(["udp:localhost:5060"], Recorder().on_event)
    with pytest.raises(ValueError, match="t1"):
        await SipStack.start(["udp:127.0.0.1:0"], Recorder().on_event, t1=0)
    stack = await SipStack.start(["udp:127.0.0.1:0"], Recorder().on_event)
    with pytest.raises(ValueError, match="neither an IP address nor a host name"):
        stack.send_request(options("sip:a@127.0.0.1", "c"), ("udp", "bad host!", 5060))
    # A transport the stack does not listen on is refused, never sent over another.
    with pytest.raises(LocalError, match=r"^the stack has no TLS listener$"):
        stack.send_request(options("sip:a@127.0.0.1", "c"), ("tls", "127.0.0.1", 5061))
    with pytest.raises(LocalError, match=r"^the stack has no TLS listener$"):
        stack.send_request(options("sips:a@127.0.0.1", "c"))
    with pytest.raises(LocalError, match=r"^the stack has no WSS listener$"):
        stack.send_request(options("sip:a@127.0.0.1;transport=wss", "c"))
    await stack.close(grace=0)


async def test_a_destination_named_by_host_name_is_resolved() -> None:
    uas = Uas()
    uas.stack = server = await SipStack.start(["udp:127.0.0.1:0"], uas.on_event)
    client_events = Recorder()
    client = await SipStack.start(["udp:127.0.0.1:0"], client_events.on_event)
    _, port = address(server, "udp")
    # The Request-URI names nobody: the destination given wins.
    tx = client.send_request(options("sip:uas@192.0.2.1", "dn-1"), ("udp", "localhost", port))
    response = await client_events.wait_for(ResponseEvent)
    assert (response.tx_id, response.response.status) == (tx, 200)
    await client.close(grace=0)
    await server.close(grace=0)


def test_next_hop_rfc3261_s8_1_2() -> None:
    routed = SipRequest(
        "OPTIONS",
        "sip:strict.example.com:5070;transport=tcp",
        headers=[("Route", "<sip:loose@192.0.2.2;lr>, <sip:target@192.0.2.3>")],
    )
    # Loose routing: the first Route; a strict router first: the Request-URI.
    assert next_hop(routed) == ("udp", "192.0.2.2", 5060)
    assert next_hop(routed, strict_router=True) == ("tcp", "strict.example.com", 5070)
    assert next_hop(SipRequest("OPTIONS", "sip:b@[2001:db8::1]")) == ("udp", "2001:db8::1", 5060)
    with pytest.raises(LocalError, match="not a SIP URI"):
        next_hop(SipRequest("OPTIONS", "tel:+15551234"))
    with pytest.raises(LocalError, match='unknown transport "sctp"'):
        next_hop(SipRequest("OPTIONS", "sip:b@192.0.2.1;transport=sctp"))


async def test_local_errors() -> None:
    uas = Recorder()
    server = await SipStack.start(["udp:127.0.0.1:0"], uas.on_event)
    client = await SipStack.start(["udp:127.0.0.1:0"], Recorder().on_event)
    _, port = address(server, "udp")
    ok = SipResponse(200, headers=[("To", "<sip:uas@127.0.0.1>;tag=b2")])

    with pytest.raises(UnknownTransaction):
        server.respond(12345, ok)
    with pytest.raises(UnknownTransaction):
        client.cancel(12345)
    no_cseq = SipRequest("OPTIONS", f"sip:uas@127.0.0.1:{port}", headers=[("Call-ID", "x")])
    with pytest.raises(LocalError, match="header"):
        client.send_request(no_cseq)

    options_tx = client.send_request(options(f"sip:uas@127.0.0.1:{port}", "le-1"))
    request = await uas.wait_for(RequestEvent)
    server.respond(request.tx_id, ok)
    with pytest.raises(TransactionFinished):
        server.respond(request.tx_id, ok)
    # Only an INVITE can be cancelled.
    with pytest.raises(LocalError):
        client.cancel(options_tx)

    await server.close(grace=0)
    with pytest.raises(StackClosed):
        server.send_request(options(f"sip:uas@127.0.0.1:{port}", "le-2"))
    await client.close(grace=0)


async def test_timeout_when_nobody_answers() -> None:
    events = Recorder()
    stack = await SipStack.start(["udp:127.0.0.1:0"], events.on_event, t1=0.01)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        tx = stack.send_request(options(f"sip:x@127.0.0.1:{port}", "to-1"))
        # Timer F = 64*T1 = 0.64 s.
        timeout = await events.wait_for(TimeoutEvent)
    assert timeout.tx_id == tx
    assert stack.stats()["timeouts"] == 1
    assert stack.stats()["retransmissions_sent"] >= 5
    await stack.close(grace=0)


async def test_transport_error_for_a_refused_tcp_connection() -> None:
    events = Recorder()
    stack = await SipStack.start(["tcp:127.0.0.1:0"], events.on_event)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    tx = stack.send_request(options(f"sip:x@127.0.0.1:{port}", "te-1"), ("tcp", "127.0.0.1", port))
    error = await events.wait_for(TransportErrorEvent)
    assert error.tx_id == tx
    assert error.dest == ("tcp", "127.0.0.1", port)
    assert error.reason != ""
    await stack.close(grace=0)


async def test_close_is_idempotent_and_removes_the_reader() -> None:
    events = Recorder()
    stack = await SipStack.start(["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], events.on_event)
    listeners = stack.local_addresses
    fd = stack._fd
    assert not stack.is_closed
    await asyncio.gather(stack.close(grace=0.5), stack.close(grace=0.5))
    await stack.close()
    assert stack.is_closed
    assert [type(e) for e in events.events] == [ClosedEvent]
    # Not registered any more: remove_reader reports there was nothing to remove.
    assert asyncio.get_running_loop().remove_reader(fd) is False
    # The ports are free again.
    again = await SipStack.start([f"{t}:{h}:{p}" for t, h, p in listeners], Recorder().on_event)
    assert again.local_addresses == listeners
    await again.close(grace=0)


async def test_an_exception_in_on_event_does_not_stop_delivery() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    seen: list[StackEvent] = []

    def on_event(event: StackEvent) -> None:
        seen.append(event)
        if isinstance(event, RequestEvent):
            raise RuntimeError("application bug")

    server = await SipStack.start(["udp:127.0.0.1:0"], on_event)
    client = await SipStack.start(["udp:127.0.0.1:0"], Recorder().on_event, t1=0.05)
    _, port = address(server, "udp")
    client.send_request(options(f"sip:uas@127.0.0.1:{port}", "ex-1"))
    client.send_request(options(f"sip:uas@127.0.0.1:{port}", "ex-2"))
    await until(lambda: len([e for e in seen if isinstance(e, RequestEvent)]) == 2)
    assert len(reported) == 2
    assert isinstance(reported[0]["exception"], RuntimeError)
    loop.set_exception_handler(None)
    await client.close(grace=0)
    await server.close(grace=0)


async def test_many_events_are_delivered_in_order_across_batches() -> None:
    # More requests than one batch (64), so the drain loop runs several times.
    uas = Uas()
    uas.stack = server = await SipStack.start(["udp:127.0.0.1:0"], uas.on_event)
    client_events = Recorder()
    client = await SipStack.start(["udp:127.0.0.1:0"], client_events.on_event)
    _, port = address(server, "udp")
    sent = [
        client.send_request(options(f"sip:uas@127.0.0.1:{port}", f"many-{i}")) for i in range(300)
    ]

    def responses() -> list[ResponseEvent]:
        return [e for e in client_events.events if isinstance(e, ResponseEvent)]

    await until(lambda: len(responses()) == 300, timeout=10)
    assert sorted(r.tx_id for r in responses()) == sorted(sent)
    assert all(r.response.status == 200 for r in responses())
    assert uas.methods == {"OPTIONS": 300}
    # The server allocates transaction ids in arrival order: the events came
    # up in the order the stack produced them, across 5 batches of 64.
    tx_ids = [e.tx_id for e in uas.events if isinstance(e, RequestEvent)]
    assert tx_ids == sorted(tx_ids)
    assert len(set(tx_ids)) == 300
    await client.close(grace=0)
    await server.close(grace=0)


async def test_a_response_too_large_for_udp() -> None:
    # Without a TCP listener it is refused, and the transaction can still be
    # answered; with one it goes over TCP to the Via's address and port.
    client_events = Recorder()
    port = free_port()
    client = await SipStack.start(
        [f"udp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}"], client_events.on_event
    )
    for listen in (["udp:127.0.0.1:0"], ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]):
        uas = Recorder()
        server = await SipStack.start(listen, uas.on_event)
        _, server_port = address(server, "udp")
        tx = client.send_request(
            options(f"sip:uas@127.0.0.1:{server_port}", f"big-{len(listen)}"),
            ("udp", "127.0.0.1", server_port),
        )
        request = await uas.wait_for(RequestEvent)
        headers = [("To", f"<sip:uas@127.0.0.1>;tag=big{len(listen)}")]
        big = SipResponse(200, headers=headers, body=b"x" * 70_000)
        if len(listen) == 1:
            with pytest.raises(
                LocalError, match=r"^response of 70\d{3} bytes is too large for UDP"
            ):
                server.respond(request.tx_id, big)
            server.respond(request.tx_id, SipResponse(500, headers=headers))
        else:
            server.respond(request.tx_id, big)
        response = await client_events.wait_for(ResponseEvent)
        client_events.events.clear()
        assert response.tx_id == tx
        if len(listen) == 1:
            assert (response.response.status, response.source[0]) == (500, "udp")
            assert server.stats()["too_large_for_udp"] == 1
        else:
            assert (response.response.status, response.source[0]) == (200, "tcp")
            assert response.response.body == big.body
            assert server.stats()["large_responses_over_tcp"] == 1
        await server.close(grace=0)
    await client.close(grace=0)
