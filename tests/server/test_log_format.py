"""``log_format = "json"``: every line drachtio serve logs is one JSON object."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import orjson
import pytest

from drachtio.protocol import encode_frame
from drachtio.server import ConfigError, load_config
from drachtio.server.log_format import JsonFormatter


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    r = logging.makeLogRecord(
        {"name": "drachtio.server", "levelno": 30, "levelname": "WARNING", "msg": msg}
    )
    r.args = args
    r.__dict__.update(extra)
    r.created, r.msecs = 1_700_000_000.25, 250.0
    return r


def test_a_record_is_one_line_of_json_with_its_fields() -> None:
    line = JsonFormatter().format(record("recv\n%s", "OPTIONS sip:a SIP/2.0\r\n", call_id="c1"))
    assert "\n" not in line
    assert orjson.loads(line) == {
        "time": "2023-11-14T22:13:20.250Z",
        "level": "WARNING",
        "logger": "drachtio.server",
        "message": "recv\nOPTIONS sip:a SIP/2.0\r\n",
        "call_id": "c1",
    }


def test_an_exception_is_kept_with_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        r = record("could not handle")
        r.exc_info = sys.exc_info()
    fields = orjson.loads(JsonFormatter().format(r))
    assert fields["message"] == "could not handle"
    assert fields["exception"].startswith("Traceback (most recent call last):")
    assert fields["exception"].endswith("ValueError: boom")


def test_an_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="log_format: must be one of text, json, got 'xml'"):
        load_config(secrets=["x"], log_format="xml")
    assert load_config(secrets=["x"], env={"DRACHTIO_LOG_FORMAT": "json"}).log_format == "json"


async def test_drachtio_serve_logs_json_lines() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRACHTIO_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "drachtio", "serve", "--sip", "udp:127.0.0.1:0", "--control", "127.0.0.1:0"),
        *("--log-format", "json", "--secret", "right"),
        env=clean,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        words = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().split()
        host, port = words[words.index("control") + 1].rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            encode_frame(
                {"type": "request", "rid": "a", "command": "auth", "data": {"secret": "wrong"}}
            )
        )
        await asyncio.wait_for(reader.read(), 10)  # answered, then closed
        writer.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    lines = [orjson.loads(line) for line in (await proc.stderr.read()).splitlines()]
    assert lines and all(line["logger"].startswith("drachtio") for line in lines)
    messages = [line["message"] for line in lines]
    assert any(m.startswith("listening sip=udp/127.0.0.1:") for m in messages)
    failed = [line for line in lines if line["message"].startswith("authentication failed")]
    assert failed and failed[0]["level"] == "WARNING"
    assert messages[-1] == "stopped"
    assert all("wrong" not in m and "right" not in m for m in messages)
