"""The release wheel, as a user gets it: built by scripts/build-wheel.sh, installed
in a fresh virtualenv with no Rust toolchain on the PATH, and placing a call.

``drachtio serve`` and ``examples/uas.py`` run from that virtualenv (its own
Python, its own ``drachtio`` command); sipp calls the server and hangs up.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from server_harness import SECRET, Sipp, free_port, needs_sipp
from sipp_scenarios.uac import uac_scenario

ROOT = Path(__file__).resolve().parents[2]
pytestmark = needs_sipp


def run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


async def wait_for_line(stream: asyncio.StreamReader, text: str, seen: list[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(stream.readline(), deadline - time.monotonic())
        if not line:
            break
        seen.append(line.decode(errors="replace").rstrip())
        if text in seen[-1]:
            return
    raise AssertionError(f"{text!r} never logged:\n" + "\n".join(seen))


async def test_the_wheel_installs_without_rust_and_serves_a_call(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    run("bash", ROOT / "scripts" / "build-wheel.sh", out)
    wheels = list(out.glob("drachtio-*-abi3-*manylinux_2_17_*.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    assert list(out.glob("drachtio-*.tar.gz")), "no sdist"
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
    assert any(n.startswith("drachtio/_core.") and n.endswith(".so") for n in names)
    assert "drachtio/py.typed" in names

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    # Only the new virtualenv on the PATH: no cargo, no rustc, no compiler.
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path), "PIP_ONLY_BINARY": ":all:"}
    for tool in ("cargo", "rustc", "cc"):
        assert shutil.which(tool, path=env["PATH"]) is None
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheels[0], env=env)
    assert "drachtio" in run(venv / "bin" / "drachtio", "--help", env=env)

    sip, control = free_port(), free_port()
    server = await asyncio.create_subprocess_exec(
        venv / "bin" / "drachtio",
        *("serve", "--sip", f"udp:127.0.0.1:{sip}", "--control", f"127.0.0.1:{control}"),
        env={**env, "DRACHTIO_SECRET": SECRET},
        stderr=asyncio.subprocess.PIPE,
    )
    assert server.stderr is not None
    log: list[str] = []
    await wait_for_line(server.stderr, "listening", log)
    uas = await asyncio.create_subprocess_exec(
        venv / "bin" / "python",
        ROOT / "examples" / "uas.py",
        *("--control", f"127.0.0.1:{control}", "--secret", SECRET, "--hangup-after", "30"),
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert uas.stderr is not None
        await wait_for_line(uas.stderr, "ready", log)
        scenario = tmp_path / "uac.xml"
        scenario.write_text(uac_scenario(200))
        caller = await Sipp.start(
            tmp_path,
            *("-sf", str(scenario), "-m", "1", "-i", "127.0.0.1", "-p", str(free_port())),
            f"127.0.0.1:{sip}",
        )
        result = await caller.result()
        assert result.successful == 1, result.log
        await wait_for_line(uas.stderr, "ended: BYE received", log)
    finally:
        for proc in (uas, server):
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
