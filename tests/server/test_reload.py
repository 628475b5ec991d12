"""Reloading secrets and certificates while the server runs (``Server.reload``,
SIGHUP to ``drachtio serve``): new connections see the new ones, what is
connected stays, a bad reload changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from server_harness import SECRET, App, sip_port, start_server
from test_control_tls import auth_over, client_context

from drachtio.protocol import FrameDecoder, encode_frame
from drachtio.server import ConfigError

sys.path.insert(0, str(Path(__file__).parent.parent / "stack"))

from certs import CertFiles, make_certs, needs_openssl

pytestmark = needs_openssl


def auth_frame(secret: str) -> bytes:
    return encode_frame(
        {"type": "request", "rid": "a", "command": "auth", "data": {"secret": secret}}
    )


async def authenticates(address: tuple[str, int], secret: str) -> bool:
    """Whether a new plain control connection is accepted with ``secret``."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(auth_frame(secret))
    decoder = FrameDecoder()
    frames: list[dict[str, object]] = []
    with contextlib.suppress(ConnectionError):
        while not frames:
            data = await asyncio.wait_for(reader.read(4096), 10)
            if not data:
                break
            frames += decoder.receive_data(data)
    writer.close()
    return (
        bool(frames)
        and frames[0].get("type") == "response"
        and frames[0]["data"]
        == {
            **frames[0]["data"],  # type: ignore[dict-item]
            "authenticated": True,
        }
    )


async def sip_tls_handshake(port: int, trusted: CertFiles) -> bool:
    """Whether a TLS handshake with the SIP listener succeeds trusting ``trusted``' authority."""
    try:
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ssl.create_default_context(cafile=str(trusted.ca))
        )
    except ssl.SSLError:
        return False
    writer.close()
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        await writer.wait_closed()
    return True


async def test_secrets_and_sip_certificates_change_for_new_connections_only(
    tmp_path: Path,
) -> None:
    one = make_certs(tmp_path / "one", "one")
    two = make_certs(tmp_path / "two", "two")
    server = await start_server(
        sip=["udp:127.0.0.1:0", "tls:127.0.0.1:0"],
        tls_certificate=str(one.certificate),
        tls_key=str(one.key),
    )
    app = await App.authenticated(server, "OPTIONS")
    try:
        tls_port = sip_port(server, "tls")
        assert await sip_tls_handshake(tls_port, one)
        applied = server.reload(
            replace(
                server.config,
                secrets=["rotated"],
                tls_certificate=str(two.certificate),
                tls_key=str(two.key),
            )
        )
        assert {"secrets", "tls"} <= set(applied)
        # New connections: the new secret and the new certificate.
        assert not await authenticates(server.control_address, SECRET)
        assert await authenticates(server.control_address, "rotated")
        assert await sip_tls_handshake(tls_port, two)
        assert not await sip_tls_handshake(tls_port, one)
        # The application connected before is still served.
        assert await app.request("ping") == {"pong": True}
        # A reload that cannot be done changes nothing, not even the secrets.
        with pytest.raises(ConfigError, match="tls_certificate"):
            server.reload(
                replace(
                    server.config,
                    secrets=["third"],
                    tls_certificate=str(tmp_path / "missing.pem"),
                )
            )
        assert await authenticates(server.control_address, "rotated")
        assert not await authenticates(server.control_address, "third")
        assert await sip_tls_handshake(tls_port, two)
    finally:
        await app.close()
        await server.stop()


async def test_the_control_listener_takes_its_new_certificate(tmp_path: Path) -> None:
    one = make_certs(tmp_path / "one", "one")
    two = make_certs(tmp_path / "two", "two")
    server = await start_server(
        control_tls_certificate=str(one.certificate), control_tls_key=str(one.key)
    )
    try:
        address = server.control_address
        frames = await auth_over(address, client_context(one))
        assert frames[0]["data"]["authenticated"] is True
        server.reload(
            replace(
                server.config,
                control_tls_certificate=str(two.certificate),
                control_tls_key=str(two.key),
            )
        )
        # A client trusting only the old authority refuses the new certificate.
        with pytest.raises(ssl.SSLCertVerificationError):
            await auth_over(address, client_context(one))
        frames = await auth_over(address, client_context(two))
        assert frames[0]["data"]["authenticated"] is True
        # TLS cannot be turned off by a reload: the listener was made with it.
        with pytest.raises(ConfigError, match="needs a restart"):
            server.reload(
                replace(server.config, control_tls_certificate=None, control_tls_key=None)
            )
    finally:
        await server.stop()


async def test_settings_that_need_a_restart_are_logged_and_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await start_server()
    try:
        with caplog.at_level(logging.WARNING, logger="drachtio.server"):
            server.reload(replace(server.config, sip=["udp:127.0.0.1:5999"], secrets=["x"]))
        assert "need a restart: sip" in caplog.text
        assert server.config.sip == ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]
        assert server.config.secrets == ["x"]
        assert "x" not in [r.getMessage() for r in caplog.records]
    finally:
        await server.stop()


async def test_sighup_makes_drachtio_serve_read_its_config_file_again(tmp_path: Path) -> None:
    config = tmp_path / "drachtio.toml"
    config.write_text('sip = ["udp:127.0.0.1:0"]\ncontrol = "127.0.0.1:0"\nsecret = "first"\n')
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRACHTIO_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "drachtio", "serve", "--config", str(config)),
        env=clean,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        words = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().split()
        host, port = words[words.index("control") + 1].rsplit(":", 1)
        address = (host, int(port))
        # A session authenticated with the first secret, kept open across the reload.
        reader, writer = await asyncio.open_connection(*address)
        writer.write(auth_frame("first"))
        decoder = FrameDecoder()
        frames: list[dict[str, object]] = []
        while not frames:
            frames += decoder.receive_data(await asyncio.wait_for(reader.read(4096), 10))
        config.write_text('sip = ["udp:127.0.0.1:0"]\ncontrol = "127.0.0.1:0"\nsecret = "second"\n')
        proc.send_signal(signal.SIGHUP)
        for _ in range(100):
            if await authenticates(address, "second"):
                break
            await asyncio.sleep(0.05)
        assert await authenticates(address, "second")
        assert not await authenticates(address, "first")
        writer.write(encode_frame({"type": "request", "rid": "p", "command": "ping"}))
        frames = []
        while not frames:
            frames += decoder.receive_data(await asyncio.wait_for(reader.read(4096), 10))
        assert (frames[0]["rid"], frames[0]["data"]) == ("p", {"pong": True})
        # A file that no longer parses: logged, nothing changes, the server runs on.
        config.write_text("secret = \n")
        proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.3)
        assert await authenticates(address, "second")
        writer.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    logs = (await proc.stderr.read()).decode()
    assert "reloaded: secrets, log_level" in logs
    assert "reload failed, nothing changed" in logs
    assert "first" not in logs and "second" not in logs
