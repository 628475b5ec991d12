"""Memory of ``drachtio serve`` holding idle, unauthenticated control connections.

Starts ``drachtio serve`` (log level warning, ``auth_timeout`` 600 s so that
nothing is reaped during the run), reads its RSS once idle (the baseline, in
the same run), opens N TCP connections to the control port that send nothing,
waits until the server has accepted them (its open descriptors stop
changing), reads its RSS, checks that an application can still authenticate,
closes the N connections, waits until the server has closed its ends and
reads the RSS again. ``/proc/<pid>/status`` gives ``VmRSS`` and the peak
``VmHWM``. A benchmark, not a test: it asserts nothing.

Run: ``python benches/bench_control_memory.py [--connections 2000 8000]
[--limit N]``; ``--limit`` is passed to the server as
``--max-unauthenticated`` (without it the server's default applies).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from drachtio.protocol import FrameDecoder, encode_frame

HOST = "127.0.0.1"
_LISTENING = re.compile(rb"control (\S+):(\d+)")


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmHWM``, ``VmRSS``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settle(read: Callable[[], int], quiet: float = 1.0, timeout: float = 120.0) -> int:
    """Poll ``read`` until its value has not changed for ``quiet`` seconds; return it."""
    deadline = time.monotonic() + timeout
    value = read()
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = read()
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return value


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    control: tuple[str, int]
    secret: str


@contextlib.contextmanager
def drachtio_serve(workdir: Path, limit: int | None) -> Iterator[Server]:
    secret = secrets.token_hex(16)
    config = workdir / "drachtio.toml"
    config.write_text("auth_timeout = 600\n")
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "drachtio", "serve",
            "--sip", f"udp:{HOST}:0", "--control", f"{HOST}:0",
            "--secret", secret, "--log-level", "warning", "--config", str(config),
            *(["--max-unauthenticated", str(limit)] if limit is not None else []),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = _LISTENING.search(line)
        if match is None:
            raise RuntimeError(f"drachtio serve did not start: {line!r}")
        yield Server(proc, (match[1].decode(), int(match[2])), secret)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def authenticates(server: Server) -> float | None:
    """Seconds an application takes to connect and authenticate; ``None`` if refused."""
    start = time.perf_counter()
    try:
        with socket.create_connection(server.control, timeout=10) as sock:
            request = {"type": "request", "rid": "a", "command": "auth"}
            sock.sendall(encode_frame({**request, "data": {"secret": server.secret}}))
            decoder = FrameDecoder()
            while True:
                data = sock.recv(4096)
                if not data:
                    return None
                for frame in decoder.receive_data(data):
                    if frame["data"].get("authenticated") is True:
                        return time.perf_counter() - start
                    return None
    except OSError:
        return None


def measure(connections: int, limit: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp, drachtio_serve(Path(tmp), limit) as server:
        pid = server.proc.pid
        time.sleep(1.0)
        fds_idle = settle(lambda: open_fds(pid))
        rss_idle = status_kib(pid, "VmRSS")
        clients: list[socket.socket] = []
        try:
            for _ in range(connections):
                clients.append(socket.create_connection(server.control, timeout=10))
            fds_held = settle(lambda: open_fds(pid))
            rss_held = status_kib(pid, "VmRSS")
            auth = authenticates(server)
        finally:
            for sock in clients:
                sock.close()
        fds_after = settle(lambda: open_fds(pid))
        time.sleep(1.0)
        rss_after = status_kib(pid, "VmRSS")
        hwm = status_kib(pid, "VmHWM")
    held = fds_held - fds_idle
    per_conn = (rss_held - rss_idle) / held if held > 0 else 0.0
    setting = f"max_unauthenticated {limit}" if limit is not None else "default setting"
    print(f"{connections} idle connections ({setting}): the server holds {held}")
    print(f"  RSS idle (baseline)     {rss_idle / 1024:8.1f} MiB")
    print(
        f"  RSS with them open      {rss_held / 1024:8.1f} MiB  "
        f"(+{(rss_held - rss_idle) / 1024:.1f} MiB, {per_conn:.1f} KiB per connection held)"
    )
    print(
        f"  RSS after they closed   {rss_after / 1024:8.1f} MiB  "
        f"(+{(rss_after - rss_idle) / 1024:.1f} MiB over the baseline; "
        f"descriptors {fds_after - fds_idle:+d})"
    )
    print(f"  peak RSS (VmHWM)        {hwm / 1024:8.1f} MiB")
    print(
        "  an application authenticates meanwhile: "
        + (f"yes, in {auth * 1000:.1f} ms" if auth is not None else "NO")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[2000, 8000])
    parser.add_argument(
        "--limit", type=int, help="passed as --max-unauthenticated (default: the server's)"
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(args.connections) + 256
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            print(f"open file limit {hard} is below {need}", file=sys.stderr)
            return 1
        # The server inherits the raised limit.
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    for n in args.connections:
        measure(n, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
