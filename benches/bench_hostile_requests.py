"""Memory of ``drachtio serve`` after requests crafted to go unanswered, beside plain ones.

A quoted string may carry any control character but CR and LF as a
quoted-pair (RFC 3261 §25.1). A server that parses such a request but cannot
build a response copying its To header leaves the request unanswered and its
transaction held forever: memory grows with each one and never comes back.
This bench sends ``--count`` OPTIONS over UDP to a fresh ``drachtio serve``
(no application routes OPTIONS, so the server answers each itself with
``no_route_status``), first plain ones (the baseline, same run), then ones
whose To carries BEL, NUL and DEL as quoted-pairs, and prints for each: how
many were answered, and the server's RSS before, right after, and once the
ended transactions have been dropped (64*T1 later; T1 is 50 ms here).

Run (after ``maturin develop --release``): ``python benches/bench_hostile_requests.py
[--count 10000]``. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"
T1 = 0.05
KINDS = {
    "plain To": "<sip:bob@example.com>",
    "quoted-pair BEL, NUL, DEL in To": '"b\\\x07o\\\x00b\\\x7f" <sip:bob@example.com>',
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_server(tmp: Path, sip_port: int) -> subprocess.Popen[bytes]:
    config = tmp / "server.toml"
    config.write_text(f"t1 = {T1}\n")
    env = {**os.environ, "DRACHTIO_SECRET": secrets.token_hex(16)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "drachtio",
            "serve",
            "--config",
            str(config),
            "--sip",
            f"udp:{HOST}:{sip_port}",
            "--control",
            f"{HOST}:{free_port()}",
            "--log-level",
            "error",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((HOST, 0))
    probe.settimeout(0.2)
    try:
        for n in range(100):
            if proc.poll() is not None:
                raise RuntimeError("drachtio serve exited")
            probe.sendto(
                options(-n - 1, "<sip:probe@example.com>", sip_port, probe.getsockname()[1]),
                (HOST, sip_port),
            )
            try:
                probe.recv(65536)
                return proc
            except TimeoutError:
                continue
    finally:
        probe.close()
    raise RuntimeError("drachtio serve did not start")


def options(n: int, to: str, port: int, local: int) -> bytes:
    return (
        f"OPTIONS sip:bob@{HOST}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {HOST}:{local};branch=z9hG4bK-hostile-{n};rport\r\n"
        f"Max-Forwards: 70\r\nTo: {to}\r\nFrom: <sip:a@example.com>;tag=t{n}\r\n"
        f"Call-ID: hostile-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def run(kind: str, to: str, count: int) -> tuple[int, int, int, int]:
    """Answered, RSS KiB before, after sending, after the transactions' linger."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = start_server(Path(tmp), port)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        sock.settimeout(2.0)
        local = sock.getsockname()[1]
        try:
            time.sleep(1.0)
            before = rss_kib(server.pid)
            answered = 0
            for start in range(0, count, 100):
                batch = range(start, min(start + 100, count))
                for n in batch:
                    sock.sendto(options(n, to, port, local), (HOST, port))
                for _ in batch:
                    try:
                        sock.recv(65536)
                    except TimeoutError:
                        break
                    answered += 1
            after = rss_kib(server.pid)
            time.sleep(64 * T1 + 2.0)
            settled = rss_kib(server.pid)
        finally:
            sock.close()
            server.terminate()
            server.wait(10)
        return answered, before, after, settled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    print(f"{args.count} OPTIONS per kind, no application routed: the server answers each")
    print(f"{'kind':34} {'answered':>9} {'RSS before':>11} {'after':>9} {'settled':>9}")
    for kind, to in KINDS.items():
        answered, before, after, settled = run(kind, to, args.count)
        print(
            f"{kind:34} {answered:>9} {before / 1024:>8.1f}MiB {after / 1024:>6.1f}MiB"
            f" {settled / 1024:>6.1f}MiB"
        )


if __name__ == "__main__":
    main()
