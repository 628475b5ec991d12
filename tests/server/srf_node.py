"""drachtio-srf applications (``tests/srfproto/node/app.js``) run by the server tests.

:class:`NodeApp` runs one as a subprocess and reads the JSON lines it
prints; :func:`call` runs one beside sipp callers and callees;
:func:`listening_app` runs one the server connects to (``srf.listen``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from server_harness import SECRET, Sipp, needs_sipp, own_dir, sipp_uac, sipp_uas, start_server

from drachtio.server import Server

NODE_DIR = Path(__file__).parent.parent / "srfproto" / "node"

needs_node = [
    needs_sipp,
    pytest.mark.skipif(shutil.which("node") is None, reason="node.js is not installed"),
]
"""The marks of a test that runs a drachtio-srf application with sipp."""


class NodeApp:
    """``node app.js`` as a subprocess; its JSON lines as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(
        cls,
        server: Server,
        role: str,
        target: str = "",
        secret: str = SECRET,
        env: dict[str, str] | None = None,
    ) -> NodeApp:
        """``role`` connecting to ``server`` (``srf.connect``)."""
        _, port = server.control_address
        return await cls.run(port, secret, role, target, env)

    @classmethod
    async def run(
        cls, port: int, secret: str, role: str, target: str = "", env: dict[str, str] | None = None
    ) -> NodeApp:
        """``node app.js <port> <secret> <role> [<target>]``, ``env`` added to its environment."""
        assert (NODE_DIR / "node_modules" / "drachtio-srf").is_dir(), "run scripts/test.sh"
        process = await asyncio.create_subprocess_exec(
            "node",
            str(NODE_DIR / "app.js"),
            str(port),
            secret,
            role,
            target,
            cwd=NODE_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        return cls(process)

    async def next(self, event: str, timeout: float = 20.0) -> dict[str, Any]:
        """The next line of ``event``; the lines before it are kept in :attr:`lines`."""
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
            assert raw, f"the application ended before {event!r}: {self.lines}"
            line = json.loads(raw)
            self.lines.append(line)
            if line["event"] == event:
                return line

    async def finish(self, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Every line, once the application has exited by itself."""
        stdout, stderr = await asyncio.wait_for(self.process.communicate(), timeout)
        self.lines += [json.loads(line) for line in stdout.decode().splitlines()]
        assert self.process.returncode == 0, stderr.decode()
        return self.lines

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


def events(lines: list[dict[str, Any]]) -> list[str]:
    return [line["event"] for line in lines]


async def connected(
    server: Server, role: str, target: str = "", env: dict[str, str] | None = None
) -> NodeApp:
    app = await NodeApp.start(server, role, target, env=env)
    connect = await app.next("connect")
    assert connect["version"] == "v0.9.3"
    assert connect["hostport"] == ",".join(server.hostport)
    # The routes go out right after the connect event, unanswered by design:
    # a round trip of the server makes sure they are in.
    await asyncio.sleep(0.2)
    return app


async def call(
    tmp_path: Path,
    role: str,
    *,
    uac: str = "",
    uas: str = "",
    transport: str = "udp",
    env: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Run application ``role`` with sipp running ``uac`` (calling the server)
    or ``uas`` (called by the application), or both; each sipp must succeed.
    ``env`` is added to the application's environment. Returns what the
    application printed."""
    server = await start_server()
    try:
        target = ""
        runs: list[Sipp] = []
        if uas:
            sipp, port = await sipp_uas(tmp_path, uas, transport)
            runs.append(sipp)
            target = f"sip:sipp@127.0.0.1:{port}" + (";transport=tcp" if transport == "tcp" else "")
        app = await connected(server, role, target, env)
        try:
            if uac:
                runs.append(await sipp_uac(tmp_path, server, uac, transport))
            return await finished(app, *runs)
        finally:
            app.kill()
    finally:
        await server.stop()


async def finished(app: NodeApp, *runs: Sipp) -> list[dict[str, Any]]:
    """What ``app`` printed once it exited, after each sipp of ``runs`` succeeded."""
    for sipp in runs:
        result = await sipp.result()
        assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.log
    return await app.finish()


async def listening_app(
    port: int,
    secret: str = SECRET,
    role: str = "listen-uas",
    target: str = "",
    env: dict[str, str] | None = None,
) -> NodeApp:
    """``node app.js`` in ``role`` listening on ``port`` (``srf.listen``) for the
    server's connections; ``env`` is added to its environment."""
    app = await NodeApp.run(port, secret, role, target, env)
    await app.next("listening")
    return app


async def stopped(app: NodeApp) -> None:
    """Kill a listening application and wait for its end."""
    app.kill()
    await app.process.communicate()


async def answered(tmp_path: Path, server: Server, scenario: str, transport: str = "udp") -> None:
    """sipp calls the server with ``scenario``; it must succeed."""
    sipp = await sipp_uac(own_dir(tmp_path), server, scenario, transport)
    result = await sipp.result()
    assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.log


async def sessions_closed(server: Server) -> None:
    """Until the server holds no application connection (closed by either side)."""
    for _ in range(400):
        if not server.stats["sessions"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{server.stats['sessions']} connections still open after 20 s")
