"""Control connections that have not authenticated: at most ``max_unauthenticated``
(the oldest makes room), a small bounded cost each, freed when they close,
warnings about them summarized."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import os
import re
import resource
import socket
import sys
import tracemalloc
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from server_harness import SECRET, App, start_server, until

from drachtio.protocol import FrameDecoder, encode_frame
from drachtio.server import Server, log_summary
from drachtio.server import session as session_module

LIMIT_LINE = "unauthenticated control connections reached, dropped the oldest"


async def idle_connection(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = server.control_address
    return await asyncio.open_connection(host, port)


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = 10.0) -> bool:
    """Whether the server closes the connection within ``timeout`` (EOF or reset)."""
    try:
        return await asyncio.wait_for(reader.read(), timeout) == b""
    except ConnectionError:
        return True
    except asyncio.TimeoutError:
        return False


def auth_frame(secret: str = SECRET) -> bytes:
    return encode_frame(
        {"type": "request", "rid": "a", "command": "auth", "data": {"secret": secret}}
    )


async def authenticates(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Send ``auth`` on an open connection; whether the server accepts it."""
    writer.write(auth_frame())
    return await auth_accepted(reader)


async def auth_accepted(reader: asyncio.StreamReader) -> bool:
    """Whether the server's response to the ``auth`` sent says authenticated."""
    decoder = FrameDecoder()
    while True:
        data = await asyncio.wait_for(reader.read(4096), 10)
        if not data:
            return False
        for frame in decoder.receive_data(data):
            return frame["data"].get("authenticated") is True


def raise_open_file_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"needs {need} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


async def test_the_oldest_unauthenticated_connection_makes_room() -> None:
    server = await start_server(max_unauthenticated=4)
    idle = []
    for n in range(4):
        idle.append(await idle_connection(server))
        await until(lambda n=n: server.stats["control_unauthenticated"] == n + 1)
    assert server.stats["control_unauthenticated_dropped"] == 0
    # An application connecting while the limit is full gets in: the oldest
    # idle connection is dropped to make room, and authenticating frees its place.
    app = await App.authenticated(server)
    assert await closed_by_server(idle[0][0])
    stats = server.stats
    assert (stats["control_unauthenticated"], stats["control_unauthenticated_dropped"]) == (3, 1)
    # A flood: each new connection pushes the oldest out, in the order they came.
    for _ in range(10):
        idle.append(await idle_connection(server))
    await until(lambda: server.stats["control_unauthenticated_dropped"] == 10)
    assert server.stats["control_unauthenticated"] == 4
    for reader, _ in idle[1:10]:
        assert await closed_by_server(reader)
    # The four newest are still held and may authenticate.
    for reader, writer in idle[10:]:
        assert await authenticates(reader, writer)
    stats = server.stats
    assert (stats["control_unauthenticated"], stats["control_unauthenticated_dropped"]) == (0, 10)
    assert stats["sessions"] == 5
    assert await app.request("ping") == {"pong": True}
    for _, writer in idle:
        writer.close()
    await app.close()
    await until(lambda: server.stats["sessions"] == 0)
    await server.stop()


async def test_a_flood_is_logged_in_summary_lines(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    interval = 1.0
    monkeypatch.setattr(log_summary, "LOG_INTERVAL", interval)
    caplog.set_level(logging.INFO, logger="drachtio.server")
    server = await start_server(max_unauthenticated=2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    idle = [await idle_connection(server) for _ in range(22)]
    await until(lambda: server.stats["control_unauthenticated_dropped"] == 20)

    def reported() -> list[str]:
        return [r.getMessage() for r in caplog.records if LIMIT_LINE in r.getMessage()]

    def total(lines: list[str]) -> int:
        # The first line is one connection; each summary says how many more.
        more = (re.search(r": (\d+) more in the last", line) for line in lines)
        return sum(int(m[1]) if m else 1 for m in more)

    # Every drop is counted in the lines, whatever the timing.
    await until(lambda: total(reported()) == 20, timeout=10 * interval + 10)
    elapsed = loop.time() - start
    lines = reported()
    assert lines[0].startswith(f"limit of 2 {LIMIT_LINE} peer=127.0.0.1:"), lines
    assert any(" more in the last " in line for line in lines[1:]), lines
    # At most one line per interval (the first at once).
    assert len(lines) <= 2 + elapsed / interval, lines
    # Nothing per connection above debug level: no line names each of them.
    others = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.INFO and LIMIT_LINE not in r.getMessage()
    ]
    assert [m for m in others if not m.startswith("listening ")] == []
    for _, writer in idle:
        writer.close()
    await until(lambda: server.stats["sessions"] == 0)
    await server.stop()


async def test_auth_timeout_frees_the_place_of_a_silent_and_a_trickling_client() -> None:
    server = await start_server(auth_timeout=0.5)
    loop = asyncio.get_running_loop()
    start = loop.time()
    silent_reader, silent_writer = await idle_connection(server)
    reader, writer = await idle_connection(server)
    await until(lambda: server.stats["control_unauthenticated"] == 2)

    async def trickle() -> None:
        # An auth frame announced, one byte every 50 ms: never complete in time.
        writer.write(b"900#")
        with contextlib.suppress(ConnectionError):
            while not writer.is_closing():
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.05)

    trickling = asyncio.ensure_future(trickle())
    assert await closed_by_server(silent_reader)
    assert await closed_by_server(reader)
    # The timeout runs from the accept, whatever the client sends meanwhile.
    assert 0.4 <= loop.time() - start < 5.0
    trickling.cancel()
    await until(lambda: server.stats["control_unauthenticated"] == 0)
    assert server.stats["sessions"] == 0
    assert server.stats["control_unauthenticated_dropped"] == 0
    silent_writer.close()
    writer.close()
    await server.stop()


async def test_an_auth_frame_larger_than_the_first_read_buffer() -> None:
    # The first reads go into a small buffer; the frame decoder gathers them.
    secret = "k" * 10_000
    server = await start_server(secrets=[secret])
    app = await App.connect(server)
    await until(lambda: server.stats["control_unauthenticated"] == 1)
    data = await app.request("auth", {"secret": secret})
    assert data["authenticated"] is True
    assert server.stats["control_unauthenticated"] == 0
    # Authenticated, a frame may be as large as max_frame_size again.
    verb = "x" * 100_000
    assert await app.request("unroute", {"verb": verb}) == {"success": True}
    assert await app.request("ping") == {"pong": True}
    await app.close()
    await server.stop()


async def test_more_than_the_allowed_bytes_before_auth_is_refused() -> None:
    server = await start_server()
    bystander = await App.authenticated(server)
    app = await App.connect(server)
    limit = session_module.MAX_BYTES_BEFORE_AUTH
    # A frame announced larger than any auth frame, and one byte more than allowed.
    prefix = b"100000#"
    app.send_raw(prefix + b" " * (limit + 1 - len(prefix)))
    await app.wait_closed()
    assert app.frames == [
        {
            "type": "response",
            "rid": None,
            "data": {
                "success": False,
                "reason": f"more than {limit} bytes before auth",
                "error": "frame_too_large",
            },
        }
    ]
    await until(lambda: server.stats["control_unauthenticated"] == 0)
    assert await bystander.request("ping") == {"pong": True}
    await bystander.close()
    await server.stop()


async def test_sessions_are_freed_without_the_garbage_collector() -> None:
    """Python's share of 2,000 idle connections, and what is left once they close."""
    count = 2000
    raise_open_file_limit(2 * count + 200)
    server = await start_server(max_unauthenticated=count + 100)
    host, port = server.control_address
    loop = asyncio.get_running_loop()
    clients: list[socket.socket] = []
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            await loop.sock_connect(sock, (host, port))
            clients.append(sock)
        # Silent connections: their dialect is not known yet, none is a session.
        await until(lambda: server.stats["control_unauthenticated"] == count)
        held = tracemalloc.get_traced_memory()[0] - base
        # Server and client sides together, some 3 KiB per connection (a
        # 64 KiB read buffer each before).
        assert held / count < 16 * 1024, held / count
        sessions = [weakref.ref(s) for s in server.unauthenticated._sessions]
        gc.disable()
        try:
            for sock in clients:
                sock.close()
            clients.clear()
            await until(lambda: server.stats["control_unauthenticated"] == 0)
            # No cycle keeps a session: each goes as its connection does.
            await until(lambda: all(ref() is None for ref in sessions))
        finally:
            gc.enable()
        gc.collect()
        left = tracemalloc.get_traced_memory()[0] - base
        assert left < 1024 * 1024, left
    finally:
        tracemalloc.stop()
        for sock in clients:
            sock.close()
    await server.stop()


# ---------------------------------------------------------------- drachtio serve


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@contextlib.asynccontextmanager
async def drachtio_serve(
    tmp_path: Path,
    env: dict[str, str],
    open_files: int | None = None,
    secrets: tuple[str, ...] = (SECRET,),
) -> AsyncIterator[tuple[int, str, int]]:
    """``drachtio serve`` as a process; yields its pid and control address."""
    config = tmp_path / "drachtio.toml"
    # auth_timeout: nothing reaped during the test.
    config.write_text(f"auth_timeout = 600\nsecrets = {json.dumps(list(secrets))}\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DRACHTIO_")}
    environ.update(env)
    # The open file limit as the first argument (0: inherited), then the command's.
    code = (
        "import resource, sys\n"
        "n = int(sys.argv.pop(1))\n"
        "if n: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))\n"
        "from drachtio.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *(
            "-c",
            code,
            str(open_files or 0),
            "serve",
            "--sip",
            "udp:127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
        ),
        *("--log-level", "warning", "--config", str(config)),
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        host, port = line.split()[-1].rsplit(":", 1)
        yield proc.pid, host, int(port)
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def open_idle(host: str, port: int, count: int) -> list[socket.socket]:
    """Up to ``count`` connections that send nothing; fewer if connecting stalls."""
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), 10)
        except (asyncio.TimeoutError, OSError):
            sock.close()
            break
        clients.append(sock)
    return clients


async def test_serve_rss_with_2000_idle_connections_and_after(tmp_path: Path) -> None:
    count = 2000
    raise_open_file_limit(2 * count + 200)
    env = {"DRACHTIO_MAX_UNAUTHENTICATED": str(count + 100)}  # hold them all
    async with drachtio_serve(tmp_path, env) as (pid, host, port):
        await asyncio.sleep(0.5)
        fds = open_fds(pid)
        baseline = status_kib(pid, "VmRSS")
        clients = await open_idle(host, port, count)
        try:
            assert len(clients) == count
            await until(lambda: open_fds(pid) >= fds + count)
            held = status_kib(pid, "VmRSS") - baseline
            # Some 5 MiB; 130 MiB when each had a 64 KiB read buffer.
            assert held < 40 * 1024, f"{held} KiB for {count} connections"
            reader, writer = await asyncio.open_connection(host, port)
            assert await authenticates(reader, writer)
            writer.close()
        finally:
            for sock in clients:
                sock.close()
        await until(lambda: open_fds(pid) <= fds)
        left = status_kib(pid, "VmRSS") - baseline
        # Some 4 MiB; all 130 MiB stayed before.
        assert left < 20 * 1024, f"{left} KiB left after they closed"


async def test_serve_at_a_low_open_file_limit_still_takes_an_application(
    tmp_path: Path,
) -> None:
    # 1,500 idle connections against a server allowed 1,024 files: it holds
    # the default 256 of them, so an application still connects.
    count = 1500
    raise_open_file_limit(count + 200)
    async with drachtio_serve(tmp_path, {}, open_files=1024) as (pid, host, port):
        clients = await open_idle(host, port, count)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
            assert await authenticates(reader, writer)
            assert open_fds(pid) < 400
            writer.close()
        finally:
            for sock in clients:
                sock.close()


async def test_auth_frames_arriving_interleaved_on_serve(tmp_path: Path) -> None:
    """Unauthenticated connections share one read buffer: 50 clients' auth
    frames, each larger than it, sent in interleaved pieces, are each read
    whole (``drachtio serve`` runs on uvloop)."""
    secrets = tuple((hashlib.sha256(str(n).encode()).hexdigest() * 200)[:10_000] for n in range(50))
    async with drachtio_serve(tmp_path, {}, secrets=secrets) as (_, host, port):
        clients = [await asyncio.open_connection(host, port) for _ in secrets]
        frames = [auth_frame(secret) for secret in secrets]
        piece = 1000
        for start in range(0, max(map(len, frames)), piece):
            for (_, writer), frame in zip(clients, frames, strict=True):
                writer.write(frame[start : start + piece])
            await asyncio.gather(*(writer.drain() for _, writer in clients))
            await asyncio.sleep(0.002)
        results = await asyncio.gather(*(auth_accepted(reader) for reader, _ in clients))
        assert results == [True] * len(secrets)
        for _, writer in clients:
            writer.close()
