"""The ``drachtio`` command, run as a real process and in-process."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drachtio.cli import SERVER_NOT_AVAILABLE, main

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


def test_console_script_serve() -> None:
    proc = run(console_script(), "serve")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"drachtio {VERSION}\n{SERVER_NOT_AVAILABLE}\n"


def test_module_serve() -> None:
    proc = run(sys.executable, "-m", "drachtio", "serve")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"drachtio {VERSION}", SERVER_NOT_AVAILABLE]


def test_version_matches_cargo_workspace() -> None:
    # The wheel's version comes from the Rust workspace (maturin, dynamic version).
    cargo_toml = Path(__file__).resolve().parents[1] / "Cargo.toml"
    assert f'version = "{VERSION}"' in cargo_toml.read_text(encoding="utf-8")


def test_main_serve_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve"]) == 0
    assert capsys.readouterr().out == f"drachtio {VERSION}\n{SERVER_NOT_AVAILABLE}\n"


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


def test_serve_has_only_the_help_flag() -> None:
    proc = run(console_script(), "serve", "--help")
    assert proc.returncode == 0, proc.stderr
    options = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  -")]
    assert options == ["-h,"]
