"""The examples as a user runs them: subprocesses against a real server, sipp at the far end.

The server is started in the test's process on free ports (the harness's
``start_server``); an example connects to its control port with the
command-line options a user gives, and the test checks what a user would:
sipp's calls, the example's output and exit status. ``embedded_service.py``
runs its own server.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from server_harness import (
    SECRET,
    SIPP,
    Sipp,
    free_port,
    needs_sipp,
    sipp_uac,
    sipp_uas,
    start_server,
)
from sipp_scenarios.parts import checked_recv, scenario_of
from sipp_scenarios.proxy import callee as proxied_callee
from sipp_scenarios.proxy import caller as proxied_caller
from sipp_scenarios.uac import (
    request_scenario,
    send_register,
    uac_hung_up_by_server_scenario,
    uac_scenario,
)
from sipp_scenarios.uas import (
    rejecting_callee,
    ringing_then_cancelled_scenario,
    uas_in_dialog_scenario,
)

from drachtio.server import Server

pytestmark = needs_sipp

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Generous: these bound waits for something that should come; none measures speed.
TIMEOUT = 30.0


class Example:
    """An example running as a subprocess; its log (stderr) is read line by line as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.log: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        self._stdout = asyncio.ensure_future(proc.stdout.read())
        self._stderr = asyncio.ensure_future(self._read_log(proc.stderr))

    @classmethod
    async def start(cls, name: str, *args: str, env: dict[str, str] | None = None) -> Example:
        environment = {k: v for k, v in os.environ.items() if k != "DRACHTIO_SECRET"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / name),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**environment, **(env or {})},
        )
        return cls(proc)

    async def _read_log(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self.log.append(line.decode(errors="replace").rstrip())

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.log)

    async def wait_for_log(self, text: str) -> str:
        """Poll the log until a line contains ``text``; that line."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for line in self.log:
                if text in line:
                    return line
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never logged:\n" + "\n".join(self.log))
            await asyncio.sleep(0.05)

    async def wait(self) -> int:
        """Wait for the example to exit; its status."""
        try:
            status = await asyncio.wait_for(self.proc.wait(), TIMEOUT)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        await self._stderr
        return status

    async def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit status."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.wait()

    async def output(self) -> str:
        """What it printed to stdout (once it has exited)."""
        return (await self._stdout).decode()


Start = Callable[..., Awaitable[Example]]


@pytest.fixture
async def example() -> AsyncIterator[Start]:
    """``await example("uas.py", *args)``: an example started; killed after the test if
    still up. None may have logged an error or a traceback."""
    started: list[Example] = []

    async def start(name: str, *args: str, env: dict[str, str] | None = None) -> Example:
        started.append(await Example.start(name, *args, env=env))
        return started[-1]

    yield start
    for running in started:
        if running.proc.returncode is None:
            running.proc.kill()
            await running.proc.wait()
    for running in started:
        errors = [line for line in running.log if " ERROR " in line or "Traceback" in line]
        assert not errors, "\n".join(running.log)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    server = await start_server()
    yield server
    await server.stop()


def control(server: Server) -> list[str]:
    """The options that point an example at ``server``."""
    host, port = server.control_address
    return ["--control", f"{host}:{port}", "--secret", SECRET]


def from_user(scenario: str, user: str) -> str:
    """A harness scenario whose caller is ``user`` instead of ``sipp``."""
    return scenario.replace("<sip:sipp@", f"<sip:{user}@")


# ---------------------------------------------------------------- uas.py


async def test_uas_answers_and_hangs_up_after_the_delay(
    server: Server, example: Start, tmp_path: Path
) -> None:
    uas = await example("uas.py", *control(server), "--hangup-after", "2")
    await uas.wait_for_log("ready")
    started = time.monotonic()
    # sipp calls, is answered 200, acknowledges, then waits for the BYE.
    caller = await sipp_uac(tmp_path, server, uac_hung_up_by_server_scenario(ack=True))
    result = await caller.result()
    assert result.successful == 1, result.log
    assert time.monotonic() - started >= 2.0  # the BYE came no sooner than --hangup-after
    await uas.wait_for_log("hung up after 2 s")
    assert await uas.stop() == 0
    assert uas.logged("stopped")


async def test_uas_lets_the_caller_hang_up_first(
    server: Server, example: Start, tmp_path: Path
) -> None:
    uas = await example("uas.py", *control(server), "--hangup-after", "60")
    await uas.wait_for_log("ready")
    caller = await sipp_uac(tmp_path, server, uac_scenario(200))
    assert (await caller.result()).successful == 1
    await uas.wait_for_log("ended: BYE received")
    assert await uas.stop() == 0


# ---------------------------------------------------------------- uac.py


async def test_uac_calls_waits_and_hangs_up(server: Server, example: Start, tmp_path: Path) -> None:
    callee, port = await sipp_uas(tmp_path, uas_in_dialog_scenario([("BYE", 200)]))
    started = time.monotonic()
    uac = await example("uac.py", *control(server), "--duration", "1", f"sip:bob@127.0.0.1:{port}")
    assert await uac.wait() == 0, uac.log
    assert time.monotonic() - started >= 1.0
    output = await uac.output()
    assert "answered: call " in output
    assert "hanging up after 1 s" in output
    result = await callee.result()
    assert result.successful == 1, result.log  # sipp got the BYE and answered it


async def test_uac_reports_a_rejected_call(server: Server, example: Start, tmp_path: Path) -> None:
    callee, port = await sipp_uas(tmp_path, rejecting_callee(486, "Busy Here"))
    uac = await example("uac.py", *control(server), f"sip:bob@127.0.0.1:{port}")
    assert await uac.wait() == 1
    assert "failed: 486 Busy Here" in await uac.output()
    assert (await callee.result()).successful == 1


async def test_uac_without_a_secret_says_so(example: Start) -> None:
    uac = await example("uac.py", "sip:bob@127.0.0.1:5080")
    assert await uac.wait() == 2
    assert uac.logged("give --secret or set DRACHTIO_SECRET")


# ---------------------------------------------------------------- b2bua.py


async def test_b2bua_bridges_the_call_to_the_configured_uri(
    server: Server, example: Start, tmp_path: Path
) -> None:
    callee, port = await sipp_uas(tmp_path, uas_in_dialog_scenario([("BYE", 200)]))
    b2bua = await example("b2bua.py", *control(server), "--to", f"sip:bob@127.0.0.1:{port}")
    await b2bua.wait_for_log("ready")
    # The caller gets the callee's SDP answer (the harness's "o=app"), then hangs up.
    caller = await sipp_uac(tmp_path, server, uac_scenario(200, check_headers=("o=app 1 1",)))
    result = await caller.result()
    assert result.successful == 1, result.log
    result = await callee.result()
    assert result.successful == 1, result.log  # the caller's BYE reached the callee
    await b2bua.wait_for_log("ended: BYE received")
    assert await b2bua.stop() == 0


async def test_b2bua_passes_the_callees_rejection_back(
    server: Server, example: Start, tmp_path: Path
) -> None:
    callee, port = await sipp_uas(tmp_path, rejecting_callee(486, "Busy Here"))
    b2bua = await example("b2bua.py", *control(server), "--to", f"sip:bob@127.0.0.1:{port}")
    await b2bua.wait_for_log("ready")
    caller = await sipp_uac(tmp_path, server, uac_scenario(486))
    result = await caller.result()
    assert result.successful == 1, result.log
    assert (await callee.result()).successful == 1
    await b2bua.wait_for_log("failed: 486")
    assert await b2bua.stop() == 0


# ---------------------------------------------------------------- proxy.py


async def test_proxy_tries_the_next_destination_after_a_rejection(
    server: Server, example: Start, tmp_path: Path
) -> None:
    busy_dir, ok_dir = tmp_path / "busy", tmp_path / "ok"
    busy_dir.mkdir()
    ok_dir.mkdir()
    busy, busy_port = await sipp_uas(busy_dir, proxied_callee(486))
    ok, ok_port = await sipp_uas(ok_dir, proxied_callee(200))
    proxy = await example(
        "proxy.py",
        *control(server),
        "--to",
        f"sip:a@127.0.0.1:{busy_port}",
        "--to",
        f"sip:b@127.0.0.1:{ok_port}",
    )
    await proxy.wait_for_log("ready")
    caller_run = await sipp_uac(tmp_path, server, proxied_caller(200, may_ring=2))
    for sipp in (caller_run, busy, ok):
        result = await sipp.result()
        assert result.successful == 1, result.log
    line = await proxy.wait_for_log("call ")
    assert line.endswith(f"200 (sip:a@127.0.0.1:{busy_port} 486, sip:b@127.0.0.1:{ok_port} 200)")
    assert await proxy.stop() == 0


# ---------------------------------------------------------------- registrar.py


async def test_registrar_routes_a_call_to_the_registered_user(
    server: Server, example: Start, tmp_path: Path
) -> None:
    registrar = await example("registrar.py", *control(server))
    await registrar.wait_for_log("ready")
    # sipp's calls go to sip:service@<server>: no one has registered that yet.
    caller = await sipp_uac(tmp_path, server, uac_scenario(404))
    assert (await caller.result()).successful == 1
    # A phone registers sip:service@127.0.0.1 at its port, then takes the call there.
    port = free_port()
    phone = await sipp_uac(tmp_path, server, register_scenario("service", port))
    result = await phone.result()
    assert result.successful == 1, result.log
    callee, _ = await sipp_uas(tmp_path, uas_in_dialog_scenario([("BYE", 200)]), port=port)
    caller = await sipp_uac(tmp_path, server, uac_scenario(200, check_headers=("o=app 1 1",)))
    result = await caller.result()
    assert result.successful == 1, result.log
    result = await callee.result()
    assert result.successful == 1, result.log
    await registrar.wait_for_log(f"bridged to sip:service@127.0.0.1:{port}")
    assert await registrar.stop() == 0


async def test_registrar_answers_480_when_the_registered_user_fails(
    server: Server, example: Start, tmp_path: Path
) -> None:
    registrar = await example("registrar.py", *control(server))
    await registrar.wait_for_log("ready")
    port = free_port()
    phone = await sipp_uac(tmp_path, server, register_scenario("service", port))
    assert (await phone.result()).successful == 1
    callee, _ = await sipp_uas(tmp_path, rejecting_callee(486, "Busy Here"), port=port)
    caller = await sipp_uac(
        tmp_path, server, uac_scenario(480, check_headers=("480 Temporarily Unavailable",))
    )
    result = await caller.result()
    assert result.successful == 1, result.log
    assert (await callee.result()).successful == 1
    assert await registrar.stop() == 0


async def test_registrar_relays_ringing_and_the_callers_cancel(
    server: Server, example: Start, tmp_path: Path
) -> None:
    registrar = await example("registrar.py", *control(server))
    await registrar.wait_for_log("ready")
    port = free_port()
    phone = await sipp_uac(tmp_path, server, register_scenario("service", port))
    assert (await phone.result()).successful == 1
    # The registered phone rings; the caller hears it and cancels; the phone is cancelled.
    callee, _ = await sipp_uas(tmp_path, ringing_then_cancelled_scenario(), port=port)
    caller = await sipp_uac(
        tmp_path, server, uac_scenario(487, provisional=(180,), cancel_after=180)
    )
    result = await caller.result()
    assert result.successful == 1, result.log
    result = await callee.result()
    assert result.successful == 1, result.log
    assert await registrar.stop() == 0


# ---------------------------------------------------------------- options_responder.py


async def test_options_responder_answers_with_the_capabilities(
    server: Server, example: Start, tmp_path: Path
) -> None:
    host, port = server.control_address
    responder = await example(
        "options_responder.py",
        "--control",
        f"{host}:{port}",
        "--supported",
        "timer",
        env={"DRACHTIO_SECRET": SECRET},  # the secret from the environment this time
    )
    await responder.wait_for_log("ready")
    checks = (
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS",
        "Accept: application/sdp",
        "Supported: timer",
    )
    asker = await sipp_uac(
        tmp_path, server, request_scenario("OPTIONS", "Accept: application/sdp", checks=checks)
    )
    result = await asker.result()
    assert result.successful == 1, result.log
    await responder.wait_for_log("OPTIONS from 127.0.0.1")
    assert await responder.stop() == 0


# ---------------------------------------------------------------- call_screen.py


async def test_call_screen_declines_blocked_numbers_and_answers_the_others(
    server: Server, example: Start, tmp_path: Path
) -> None:
    screen = await example(
        "call_screen.py", *control(server), "--block", "1001", "1002", "--hangup-after", "60"
    )
    await screen.wait_for_log("ready")
    declined = from_user(uac_scenario(603, check_headers=("603 Declined",)), "1001")
    caller = await sipp_uac(tmp_path, server, declined)
    result = await caller.result()
    assert result.successful == 1, result.log
    caller = await sipp_uac(tmp_path, server, from_user(uac_scenario(200), "2000"))
    result = await caller.result()
    assert result.successful == 1, result.log
    assert screen.logged("declined a call from 1001")
    await screen.wait_for_log("from 2000")
    assert not screen.logged("declined a call from 2000")
    assert await screen.stop() == 0


# ---------------------------------------------------------------- embedded_service.py


async def test_embedded_service_reports_its_calls_over_http(example: Start, tmp_path: Path) -> None:
    service = await example(
        "embedded_service.py",
        *("--sip", "udp:127.0.0.1:0", "--control", "127.0.0.1:0", "--secret", SECRET),
        *("--http", "127.0.0.1:0", "--hangup-after", "5"),
    )
    # Port 0 everywhere: the service says where it listens.
    ready = re.search(
        r"sip udp:127.0.0.1:(\d+), calls at (\S+)/calls", await service.wait_for_log("ready")
    )
    assert ready is not None
    sip, url = int(ready[1]), ready[2]
    assert await get_json(f"{url}/calls") == {"calls": []}
    with pytest.raises(urllib.error.HTTPError) as missing:
        await get_json(f"{url}/elsewhere")
    assert missing.value.code == 404
    # sipp calls; the service answers and hangs up after 5 s.
    caller = await sipp_call(tmp_path, sip, uac_hung_up_by_server_scenario(ack=True))
    calls = await poll(lambda: get_json(f"{url}/calls"), lambda body: body["calls"] != [])
    [call] = calls["calls"]
    assert (call["from"], call["to"]) == ("sipp", "service")
    result = await caller.result()
    assert result.successful == 1, result.log
    await poll(lambda: get_json(f"{url}/calls"), lambda body: body["calls"] == [])
    assert await service.stop() == 0


# ---------------------------------------------------------------- helpers


async def get_json(url: str) -> Any:
    """GET ``url`` with the standard library's HTTP client; the JSON body."""

    def get() -> Any:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            assert response.headers["Content-Type"] == "application/json"
            return json.load(response)

    return await asyncio.to_thread(get)


async def poll(fetch: Callable[[], Awaitable[Any]], done: Callable[[Any], bool]) -> Any:
    """``await fetch()`` every 50 ms until ``done`` says yes; the last value."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        value = await fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r}"
        await asyncio.sleep(0.05)


async def sipp_call(tmp_path: Path, port: int, scenario: str) -> Sipp:
    """sipp as a UAC running ``scenario`` against the SIP port ``port`` (UDP)."""
    assert SIPP is not None
    path = tmp_path / f"scenario-{len(list(tmp_path.glob('scenario-*.xml')))}.xml"
    path.write_text(scenario)
    return await Sipp.start(
        tmp_path,
        *f"-sf {path} -m 1 -t u1 -i 127.0.0.1 -p {free_port()} 127.0.0.1:{port}".split(),
    )


def register_scenario(user: str, port: int) -> str:
    """sipp registers ``sip:<user>@127.0.0.1`` at ``127.0.0.1:<port>`` for 300 s; the 200
    must list that binding."""
    return scenario_of(
        "register",
        send_register(f"sip:{user}@127.0.0.1", f"<sip:{user}@127.0.0.1:{port}>;expires=300"),
        checked_recv(
            'response="200"',
            (f"Contact: .sip:{user}@127.0.0.1:{port}.;expires=",),
            "ok",
            timeout=None,
        ),
    )
