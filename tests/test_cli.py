"""The ``drachtio`` command, run as a real process and in-process."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drachtio.cli import main

VERSION = importlib.metadata.version("drachtio")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def console_script() -> str:
    # pip puts the entry point next to the interpreter of the environment.
    found = shutil.which("drachtio", path=str(Path(sys.executable).parent))
    assert found is not None, "the drachtio console script is not installed"
    return found


def test_module_version() -> None:
    proc = run(sys.executable, "-m", "drachtio", "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"drachtio {VERSION}\n"


def test_console_script_version() -> None:
    proc = run(console_script(), "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"drachtio {VERSION}\n"


NO_SECRET = (
    "drachtio: no secret configured: give --secret, DRACHTIO_SECRET, or 'secrets' in the "
    "config file (or --dev for the documented development secret)\n"
)


def without_secret() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DRACHTIO_")}


def test_console_script_serve_without_secret_is_a_clear_error() -> None:
    proc = subprocess.run(
        [console_script(), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=without_secret(),
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == NO_SECRET


def test_module_serve_with_a_bad_listen_address() -> None:
    proc = run(
        sys.executable, "-m", "drachtio", "serve", "--secret", "s", "--sip", "sctp:1.2.3.4:5"
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "drachtio: sip: 'sctp:1.2.3.4:5' is not TRANSPORT:HOST:PORT "
        "with TRANSPORT one of udp, tcp, tls, ws, wss\n"
    )


def test_version_matches_cargo_workspace() -> None:
    # The wheel's version comes from the Rust workspace (maturin, dynamic version).
    cargo_toml = Path(__file__).resolve().parents[1] / "Cargo.toml"
    assert f'version = "{VERSION}"' in cargo_toml.read_text(encoding="utf-8")


def test_main_serve_without_secret_in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRACHTIO_SECRET", raising=False)
    monkeypatch.delenv("DRACHTIO_CONFIG", raising=False)
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == NO_SECRET


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_serve_flags() -> None:
    proc = run(console_script(), "serve", "--help")
    assert proc.returncode == 0, proc.stderr
    options = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  -")]
    assert options == [
        "-h,",
        "--sip",
        "--control",
        "--secret",
        "--config",
        "--log-level",
        "--log-format",
        "--sip-trace",
        "--loop",
        "--max-unauthenticated",
        "--max-tcp-connections",
        "--max-tcp-connections-per-ip",
        "--max-tcp-outbound",
        "--tcp-message-timeout",
        "--tls-certificate",
        "--tls-key",
        "--tls-ca",
        "--tls-client-ca",
        "--answer-options,",
        "--tls-system-roots,",
        "--nameserver",
        "--control-tls-certificate",
        "--control-tls-key",
        "--control-tls-client-ca",
        "--metrics",
        "--capture",
        "--cdr-file",
        "--capture-id",
        "--ping-interval",
        "--ping-timeout",
        "--session-timer,",
        "--session-expires",
        "--min-se",
        "--session-refresher",
        "--max-422-retries",
        "--request-handler",
        "--request-handler-method",
        "--outbound-idle-timeout",
        "--dev",
    ]
