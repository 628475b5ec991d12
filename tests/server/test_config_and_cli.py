"""Settings from a TOML file, the environment and flags; ``drachtio serve`` as a process."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from server_harness import SECRET, start_server

from drachtio.cli import main
from drachtio.protocol import FrameDecoder, encode_frame
from drachtio.server import DEV_SECRET, ConfigError, ServerConfig, load_config
from drachtio.server.config import parse_listen


def test_defaults() -> None:
    config = load_config(secrets=["x"])
    assert config.sip == ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
    assert (config.control_host, config.control_port) == ("127.0.0.1", 9022)
    assert (config.app_response_timeout, config.no_route_status) == (32.0, 503)
    assert config.max_frame_size == 1024 * 1024
    assert (config.ping_interval, config.ping_timeout, config.on_disconnect) == (
        30.0,
        10.0,
        "handoff",
    )
    assert (config.loop, config.udp_on_loop) == ("auto", True)
    assert config.max_unauthenticated == 256
    assert (
        config.max_tcp_connections,
        config.max_tcp_connections_per_ip,
        config.max_tcp_outbound,
        config.tcp_message_timeout,
    ) == (1024, 64, 1024, 20.0)


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "drachtio.toml"
    path.write_text(
        'sip = ["udp:127.0.0.1:5070"]\n'
        'control = "127.0.0.1:9100"\n'
        'secrets = ["from-file", "older"]\n'
        "no_route_status = 480\n"
        'log_level = "debug"\n'
        "ping_interval = 5\n"
        "ping_timeout = 2.5\n"
        'on_disconnect = "bye"\n'
    )
    config = load_config(config_file=path)
    assert (config.ping_interval, config.ping_timeout, config.on_disconnect) == (5, 2.5, "bye")
    assert config.sip == ["udp:127.0.0.1:5070"]
    assert (config.control_port, config.no_route_status, config.log_level) == (9100, 480, "debug")
    assert config.secrets == ["from-file", "older"]
    env = {"DRACHTIO_SECRET": "from-env", "DRACHTIO_CONTROL": "127.0.0.1:9200"}
    config = load_config(config_file=path, env=env)
    assert (config.secrets, config.control_port) == (["from-env"], 9200)
    config = load_config(config_file=path, env=env, secrets=["flag"], control="[::1]:9300")
    assert (config.secrets, config.control_host, config.control_port) == (["flag"], "::1", 9300)
    assert load_config(secrets=["x"], env={"DRACHTIO_LOOP": "asyncio"}).loop == "asyncio"
    assert load_config(secrets=["x"], env={"DRACHTIO_LOOP": "asyncio"}, loop="uvloop").loop == (
        "uvloop"
    )


def test_max_unauthenticated_from_file_environment_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "drachtio.toml"
    path.write_text('secret = "x"\nmax_unauthenticated = 10\n')
    assert load_config(config_file=path).max_unauthenticated == 10
    env = {"DRACHTIO_MAX_UNAUTHENTICATED": "20"}
    assert load_config(config_file=path, env=env).max_unauthenticated == 20
    assert load_config(config_file=path, env=env, max_unauthenticated=30).max_unauthenticated == 30
    with pytest.raises(ConfigError, match="max_unauthenticated: must be an integer, got 'lots'"):
        load_config(secrets=["x"], env={"DRACHTIO_MAX_UNAUTHENTICATED": "lots"})


def test_serve_flag_max_unauthenticated_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--secret", "x", "--max-unauthenticated", "0"]) == 2
    assert capsys.readouterr().err == "drachtio: max_unauthenticated: must be at least 1\n"


def test_tcp_limits_from_file_environment_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "drachtio.toml"
    path.write_text(
        'secret = "x"\n'
        "max_tcp_connections = 10\n"
        "max_tcp_connections_per_ip = 2\n"
        "max_tcp_outbound = 30\n"
        "tcp_message_timeout = 5\n"
    )
    config = load_config(config_file=path)
    limits = ("max_tcp_connections", "max_tcp_connections_per_ip", "max_tcp_outbound")
    assert [getattr(config, n) for n in limits] == [10, 2, 30]
    assert config.tcp_message_timeout == 5
    env = {"DRACHTIO_MAX_TCP_CONNECTIONS_PER_IP": "3", "DRACHTIO_TCP_MESSAGE_TIMEOUT": "2.5"}
    config = load_config(config_file=path, env=env)
    assert [getattr(config, n) for n in limits] == [10, 3, 30]
    assert config.tcp_message_timeout == 2.5
    config = load_config(
        config_file=path, env=env, max_tcp_outbound=40, max_tcp_connections_per_ip=4
    )
    assert [getattr(config, n) for n in limits] == [10, 4, 40]
    with pytest.raises(ConfigError, match="max_tcp_outbound: must be an integer, got 'many'"):
        load_config(secrets=["x"], env={"DRACHTIO_MAX_TCP_OUTBOUND": "many"})


def test_keepalive_from_file_environment_and_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "drachtio.toml"
    path.write_text('secret = "x"\nping_interval = 60\nping_timeout = 5\n')
    config = load_config(config_file=path)
    assert (config.ping_interval, config.ping_timeout) == (60, 5)
    env = {"DRACHTIO_PING_INTERVAL": "12.5", "DRACHTIO_PING_TIMEOUT": "3"}
    config = load_config(config_file=path, env=env)
    assert (config.ping_interval, config.ping_timeout) == (12.5, 3)
    config = load_config(config_file=path, env=env, ping_interval=1.5, ping_timeout=0.5)
    assert (config.ping_interval, config.ping_timeout) == (1.5, 0.5)
    with pytest.raises(ConfigError, match="ping_timeout: must be a positive number of seconds"):
        load_config(secrets=["x"], env={"DRACHTIO_PING_TIMEOUT": "0"})
    assert main(["serve", "--secret", "x", "--ping-interval", "-1"]) == 2
    assert capsys.readouterr().err == (
        "drachtio: ping_interval: must be a positive number of seconds, got -1.0\n"
    )


def test_outbound_idle_timeout_from_file_environment_and_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_config(secrets=["x"]).outbound_idle_timeout == 30.0
    path = tmp_path / "drachtio.toml"
    path.write_text('secret = "x"\noutbound_idle_timeout = 0\n')
    assert load_config(config_file=path).outbound_idle_timeout == 0
    env = {"DRACHTIO_OUTBOUND_IDLE_TIMEOUT": "7.5"}
    assert load_config(config_file=path, env=env).outbound_idle_timeout == 7.5
    flagged = load_config(config_file=path, env=env, outbound_idle_timeout=120)
    assert flagged.outbound_idle_timeout == 120
    message = "outbound_idle_timeout: must be a number of seconds, 0 for never, got "
    for bad in ("-1", "true", '"soon"', "inf", "nan"):
        path.write_text(f'secret = "x"\noutbound_idle_timeout = {bad}\n')
        with pytest.raises(ConfigError, match=message):
            load_config(config_file=path)
    with pytest.raises(ConfigError, match=message + "'later'"):
        load_config(secrets=["x"], env={"DRACHTIO_OUTBOUND_IDLE_TIMEOUT": "later"})
    assert main(["serve", "--secret", "x", "--outbound-idle-timeout", "-0.5"]) == 2
    assert capsys.readouterr().err == f"drachtio: {message}-0.5\n"


def test_proxy_timer_c_from_file(tmp_path: Path) -> None:
    assert load_config(secrets=["x"]).proxy_timer_c == 185.0
    path = tmp_path / "drachtio.toml"
    path.write_text('secret = "x"\nproxy_timer_c = 200.5\n')
    assert load_config(config_file=path).proxy_timer_c == 200.5
    # RFC 3261 §16.6 item 11: over 3 minutes.
    for bad in ("180", "0", "true", '"200"'):
        path.write_text(f'secret = "x"\nproxy_timer_c = {bad}\n')
        with pytest.raises(ConfigError, match="proxy_timer_c: must be over 180 seconds"):
            load_config(config_file=path)


async def test_proxy_timer_c_is_the_proxy_cores() -> None:
    server = await start_server(proxy_timer_c=240.0)
    try:
        assert server._tu.core.proxies.timer_c == 240.0
    finally:
        await server.stop()


def test_secrets_are_not_in_repr() -> None:
    assert "hunter2" not in repr(load_config(secrets=["hunter2"]))


def test_no_secret_is_an_error_unless_dev() -> None:
    with pytest.raises(ConfigError, match="no secret configured"):
        load_config()
    assert load_config(dev=True).secrets == [DEV_SECRET]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("bogus = 1\n", "bogus: unknown setting"),
        ('sip = ["sctp:1.2.3.4:5"]\n', "is not TRANSPORT:HOST:PORT"),
        ('sip = ["sctp:1.2.3.4:5"]\n', "with TRANSPORT one of udp, tcp, tls, ws, wss"),
        ('sip = ["wss:1.2.3.4:5"]\n', "sip: a wss listener needs tls_certificate and tls_key"),
        ('sip = ["tls:1.2.3.4:5"]\n', "sip: a tls listener needs tls_certificate and tls_key"),
        ('sip = ["tls:1.2.3.4:5"]\ntls_certificate = "c.pem"\n', "needs tls_certificate and"),
        ("tls_ca = 5\n", "tls_ca: must be a file name, got 5"),
        ('control = "nope"\n', "control: 'nope' is not HOST:PORT"),
        ("no_route_status = 200\n", "no_route_status: must be a final error status"),
        ('auth_timeout = "x"\n', "auth_timeout: must be a positive number"),
        ("sip = [\n", "not valid TOML"),
        ('on_disconnect = "drop"\n', "on_disconnect: must be one of handoff, bye, got 'drop'"),
        ("ping_timeout = 0\n", "ping_timeout: must be a positive number"),
        ("ping_interval = -1\n", "ping_interval: must be a positive number"),
        ('loop = "trio"\n', "loop: must be one of auto, asyncio, uvloop, got 'trio'"),
        ('udp_on_loop = "yes"\n', "udp_on_loop: must be true or false, got 'yes'"),
        ("max_unauthenticated = 0\n", "max_unauthenticated: must be at least 1"),
        ("max_unauthenticated = 1.5\n", "max_unauthenticated: must be an integer, got 1.5"),
        ("max_tcp_connections_per_ip = 0\n", "max_tcp_connections_per_ip: must be at least 1"),
        ("max_tcp_outbound = 1.5\n", "max_tcp_outbound: must be an integer, got 1.5"),
        ("tcp_message_timeout = 0\n", "tcp_message_timeout: must be a positive number"),
    ],
)
def test_invalid_settings(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml + 'secret = "x"\n')
    with pytest.raises(ConfigError, match=message):
        load_config(config_file=path)


def test_server_config_validates() -> None:
    with pytest.raises(ConfigError, match="log_level"):
        ServerConfig(secrets=["x"], log_level="loud").validate()


async def test_serve_process_listens_and_stops_on_sigterm() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRACHTIO_")}
    env["DRACHTIO_SECRET"] = SECRET
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drachtio",
        "serve",
        "--sip",
        "udp:127.0.0.1:0",
        "--sip",
        "tcp:127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
    # "drachtio <version> listening: sip udp/127.0.0.1:P tcp/127.0.0.1:P control 127.0.0.1:P"
    words = line.split()
    assert words[2:4] == ["listening:", "sip"]
    assert words[4].startswith("udp/127.0.0.1:") and words[5].startswith("tcp/127.0.0.1:")
    assert words[6] == "control"
    host, port = words[7].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        encode_frame({"type": "request", "rid": "a", "command": "auth", "data": {"secret": SECRET}})
    )
    decoder = FrameDecoder()
    frames: list[dict[str, object]] = []
    while not frames:
        frames += decoder.receive_data(await asyncio.wait_for(reader.read(4096), 5))
    assert frames[0]["data"] == {"authenticated": True, "hostport": [words[4], words[5]]}
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the server closed the session
    writer.close()
    logs = (await proc.stderr.read()).decode()
    assert SECRET not in logs
    assert "stopped" in logs
    # uvloop is a dependency: the default ("auto") loop is uvloop's.
    assert "loop=uvloop" in logs


async def test_serve_on_asyncio_loop_from_flag() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRACHTIO_")}
    env["DRACHTIO_LOOP"] = "uvloop"  # the flag wins
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "drachtio", "serve", "--sip", "udp:127.0.0.1:0", "--control", "127.0.0.1:0"),
        *("--secret", SECRET, "--loop", "asyncio"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
    assert "listening:" in line
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    logs = (await proc.stderr.read()).decode()
    assert "loop=asyncio" in logs


async def test_serve_with_uvloop_asked_and_missing_is_a_config_error() -> None:
    # uvloop hidden from the import system: "--loop uvloop" names what is missing.
    code = (
        "import sys; sys.modules['uvloop'] = None\n"
        "from drachtio.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-c", code, "serve", "--sip", "udp:127.0.0.1:0", "--control", "127.0.0.1:0"),
        *("--secret", SECRET, "--loop", "uvloop"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert err.decode().strip() == "drachtio: loop: uvloop is not installed (pip install uvloop)"
    assert out == b""


async def serve_one_listener(
    listener: str, *flags: str, env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, str, int]:
    """``drachtio serve`` on SIP listener ``listener`` (port 0) with ``flags``;
    the process and the listener's host and port, once it listens."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRACHTIO_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "drachtio", "serve", "--sip", listener, "--control", "127.0.0.1:0"),
        *("--secret", SECRET, *flags),
        env={**clean, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
    host, port = line.split()[4].split("/", 1)[1].rsplit(":", 1)
    return proc, host, int(port)


async def test_serve_applies_the_tcp_limits_from_flags() -> None:
    # One connection per address, and none without a SIP message for 0.5 s.
    proc, host, port = await serve_one_listener(
        "tcp:127.0.0.1:0",
        *("--max-tcp-connections-per-ip", "1", "--tcp-message-timeout", "0.5"),
        env={"DRACHTIO_MAX_TCP_CONNECTIONS_PER_IP": "5"},  # the flag wins
    )
    loop = asyncio.get_running_loop()
    first_reader, first = await asyncio.open_connection(host, port)
    opened = loop.time()
    second_reader, second = await asyncio.open_connection(host, port)
    # The second from 127.0.0.1 is closed at once, the first when no SIP
    # message came in time, keep-alives or not.
    assert await asyncio.wait_for(second_reader.read(), 5) == b""
    first.write(b"\r\n\r\n")
    assert await asyncio.wait_for(first_reader.read(100), 10) == b"\r\n"
    assert await asyncio.wait_for(first_reader.read(), 10) == b""
    assert loop.time() - opened >= 0.3
    first.close()
    second.close()
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0


def test_tls_files_from_file_environment_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "drachtio.toml"
    path.write_text(
        'secret = "x"\nsip = ["tls:127.0.0.1:5061"]\n'
        'tls_certificate = "file.pem"\ntls_key = "file.key"\ntls_ca = "file-ca.pem"\n'
    )
    files = ("tls_certificate", "tls_key", "tls_ca")
    config = load_config(config_file=path)
    assert [getattr(config, n) for n in files] == ["file.pem", "file.key", "file-ca.pem"]
    env = {"DRACHTIO_TLS_KEY": "env.key", "DRACHTIO_TLS_CA": "env-ca.pem"}
    config = load_config(config_file=path, env=env, tls_ca="flag-ca.pem")
    assert [getattr(config, n) for n in files] == ["file.pem", "env.key", "flag-ca.pem"]


async def test_serve_answers_over_tls_with_the_certificate_from_flags(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1", "-newkey", "ec"),
            *("-pkeyopt", "ec_paramgen_curve:prime256v1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    proc, host, port = await serve_one_listener(
        "tls:127.0.0.1:0", "--tls-certificate", str(cert), "--tls-key", str(key)
    )
    client = ssl.create_default_context(cafile=str(cert))
    reader, writer = await asyncio.open_connection(
        host, port, ssl=client, server_hostname="127.0.0.1"
    )
    writer.write(
        b"OPTIONS sip:nobody@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bKtlsserve\r\n"
        b"Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:nobody@127.0.0.1>\r\n"
        b"Call-ID: tls-serve\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    # No application: the server's no-route answer, over TLS.
    status = await asyncio.wait_for(reader.readline(), 10)
    assert status == b"SIP/2.0 503 Service Unavailable\r\n"
    writer.close()
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0


def test_a_listen_transport_is_named_in_any_case() -> None:
    assert parse_listen("TCP:127.0.0.1:5070") == ("tcp", "127.0.0.1", 5070)
    assert parse_listen("Udp:[::1]:0") == ("udp", "::1", 0)
    assert parse_listen("WS:127.0.0.1:8080") == ("ws", "127.0.0.1", 8080)
    assert parse_listen("wss:[::1]:8443") == ("wss", "::1", 8443)
