"""The control listener over TLS: applications connect with ``Srf.connect(tls=...)``,
plain TCP clients and clients without the required certificate are refused,
bad certificate files are configuration errors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

import pytest
from server_harness import SECRET, start_server
from sip_peer import SipPeer

from drachtio import Srf
from drachtio.app import Request, Response
from drachtio.cli import main
from drachtio.errors import DrachtioError
from drachtio.protocol import FrameDecoder, encode_frame
from drachtio.server import ConfigError

sys.path.insert(0, str(Path(__file__).parent.parent / "stack"))

from certs import CertFiles, make_certs, needs_openssl

pytestmark = needs_openssl

AUTH = encode_frame({"type": "request", "rid": "a", "command": "auth", "data": {"secret": SECRET}})


def client_context(certs: CertFiles, client: CertFiles | None = None) -> ssl.SSLContext:
    """Trusts ``certs``' authority; presents ``client``'s certificate when given."""
    context = ssl.create_default_context(cafile=str(certs.ca))
    if client is not None:
        context.load_cert_chain(client.certificate, client.key)
    return context


async def auth_over(address: tuple[str, int], tls: ssl.SSLContext | None) -> list[dict[str, Any]]:
    """Connect, send ``auth`` and read until the server answers or closes; the frames read.

    A TLS failure on the client's side, or bytes that are not frames (a TLS
    alert to a plain client), end the read as a close does.
    """
    host, port = address
    reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    writer.write(AUTH)
    decoder = FrameDecoder()
    frames: list[dict[str, Any]] = []
    try:
        while not frames:
            data = await asyncio.wait_for(reader.read(4096), 10)
            if not data:
                break
            frames += decoder.receive_data(data)
    except (ssl.SSLError, ConnectionError, DrachtioError):
        pass
    writer.close()
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        await writer.wait_closed()
    return frames


async def test_an_application_connects_over_tls_to_drachtio_serve(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRACHTIO_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "drachtio", "serve", "--sip", "udp:127.0.0.1:0", "--control", "127.0.0.1:0"),
        *("--control-tls-certificate", str(certs.certificate)),
        env={**clean, "DRACHTIO_SECRET": SECRET, "DRACHTIO_CONTROL_TLS_KEY": str(certs.key)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    words = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().split()
    # "drachtio <version> listening: sip udp/127.0.0.1:P control 127.0.0.1:P"
    sip_port = int(words[4].rsplit(":", 1)[1])
    control_host, control_port = words[words.index("control") + 1].rsplit(":", 1)
    control = (control_host, int(control_port))
    srf = Srf()

    @srf.options
    async def on_options(req: Request, res: Response) -> None:
        await res.send(200, headers={"X-Seen": req.get("X-Probe") or ""})

    peer = await SipPeer.open("udp", sip_port)
    try:
        # A plain TCP client is refused: no answer to its auth, the connection closed.
        assert await auth_over(control, None) == []
        link = await srf.connect(*control, SECRET, tls=client_context(certs))
        assert link.connected
        peer.send(
            (
                "OPTIONS sip:app@127.0.0.1 SIP/2.0\r\n"
                f"Via: {peer.via}\r\nMax-Forwards: 70\r\n"
                "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:app@127.0.0.1>\r\n"
                "Call-ID: control-tls\r\nCSeq: 1 OPTIONS\r\nX-Probe: over tls\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
        )
        answer = await peer.final_response("control-tls")
        assert (answer.status, answer.header("X-Seen")) == (200, "over tls")
    finally:
        peer.close()
        await srf.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0


async def test_client_certificates_are_required_with_a_client_ca(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "server")
    client = make_certs(tmp_path / "client", "client")
    stranger = make_certs(tmp_path / "stranger", "stranger")
    server = await start_server(
        control_tls_certificate=str(certs.certificate),
        control_tls_key=str(certs.key),
        control_tls_client_ca=str(client.ca),
    )
    try:
        # No certificate, or one of another authority: the handshake fails, auth is not read.
        address = server.control_address
        assert await auth_over(address, client_context(certs)) == []
        assert await auth_over(address, client_context(certs, stranger)) == []
        assert await auth_over(address, None) == []
        frames = await auth_over(address, client_context(certs, client))
        assert frames[0]["data"]["authenticated"] is True
    finally:
        await server.stop()


async def test_a_tls_handshake_not_done_by_auth_timeout_is_closed(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    server = await start_server(
        control_tls_certificate=str(certs.certificate),
        control_tls_key=str(certs.key),
        auth_timeout=0.2,
    )
    try:
        host, port = server.control_address
        reader, writer = await asyncio.open_connection(host, port)
        # Silent: no ClientHello. The server closes the connection.
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"control_tls_certificate": "missing.pem", "control_tls_key": "missing.key"},
            r"control_tls_certificate: cannot use '\S*/missing.pem' with control_tls_key "
            r"'\S*/missing.key': No such file or directory",
        ),
        (
            {"control_tls_key": "other"},
            "control_tls_certificate: cannot use .* with control_tls_key .*: KEY_VALUES_MISMATCH",
        ),
        ({"control_tls_client_ca": "missing-ca.pem"}, "control_tls_client_ca: cannot use"),
        ({"control_tls_client_ca": "garbage"}, "control_tls_client_ca: cannot use .*garbage"),
    ],
)
async def test_unusable_tls_files_are_config_errors_before_anything_is_bound(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    certs = make_certs(tmp_path / "certs")
    other = make_certs(tmp_path / "other", "other")
    (tmp_path / "garbage").write_text("not a certificate\n")
    known = {"other": str(other.key), "garbage": str(tmp_path / "garbage")}
    settings = {
        "control_tls_certificate": str(certs.certificate),
        "control_tls_key": str(certs.key),
        **{name: known.get(value, str(tmp_path / value)) for name, value in files.items()},
    }
    with pytest.raises(ConfigError, match=message):
        await start_server(**settings)


def test_serve_with_a_missing_certificate_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            *("serve", "--secret", SECRET, "--sip", "udp:127.0.0.1:0"),
            *("--control", "127.0.0.1:0", "--control-tls-certificate", "no-such.pem"),
            *("--control-tls-key", "no-such.key"),
        ]
    )
    assert status == 2
    assert "drachtio: control_tls_certificate: cannot use 'no-such.pem'" in capsys.readouterr().err
