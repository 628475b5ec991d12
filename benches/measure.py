"""What the end-to-end benchmarks measure of the processes they run, and sipp.

CPU time is utime + stime of all of a process's threads from
``/proc/<pid>/stat``; memory is read from ``/proc/<pid>/status``. sipp runs
as the load (``sipp_uac``: its built-in ``uac`` scenario, INVITE, ACK, BYE
over UDP, with its final ``-trace_stat`` counters) and as a baseline
(``sipp_uas``: its built-in ``uas`` scenario).
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"


# --------------------------------------------------------------------------
# processes


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces; the fields after it are fixed.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """utime + stime of each thread of a process, summed by thread name."""
    out: dict[str, float] = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        name = head.split("(", 1)[1]
        fields = rest.split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return out


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of all of a process's threads:
    nearly one per wake-up for a process that sleeps between messages."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return total


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmHWM``, ``VmRSS``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} for {pid}")


def free_udp_port() -> int:
    """A UDP port free at the time of the call (sipp needs a number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def free_tcp_port() -> int:
    """A TCP port free at the time of the call (for a server that needs a number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is still there 15 s later."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------
# sipp


@dataclass
class Calls:
    """sipp's final counters for one run of the ``uac`` scenario."""

    successful: int
    failed: int
    retransmissions: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.successful / self.seconds if self.seconds else 0.0

    @property
    def clean(self) -> bool:
        """Every call placed succeeded, none retransmitted."""
        return self.successful > 0 and self.failed == 0 and self.retransmissions == 0


def last_stats(path: Path) -> dict[str, str]:
    """The last row of a sipp ``-trace_stat`` file, by column name."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) > 1 else {}


def sipp_uac(
    workdir: Path, port: int, rate: int, seconds: int, tag: str, scenario: Path | None = None
) -> Calls:
    """Place ``rate * seconds`` calls at ``rate`` calls/s and wait for sipp to end.

    The calls follow sipp's built-in ``uac`` scenario, or the XML file ``scenario``.
    """
    calls = rate * seconds
    stats = workdir / f"uac-{tag}.csv"
    which = ["-sn", "uac"] if scenario is None else ["-sf", str(scenario)]
    command = [
        "sipp", *which, f"{HOST}:{port}", "-i", HOST, "-p", str(free_udp_port()),
        # Up to 5 s of calls open at once: an overloaded server shows as failures.
        "-r", str(rate), "-m", str(calls), "-l", str(max(100, rate * 5)),
        "-recv_timeout", "10000", "-timeout", f"{seconds + 60}s",
        "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1",
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir, check=False
    )
    elapsed = time.perf_counter() - t0
    row = last_stats(stats) if stats.exists() else {}
    return Calls(
        int(row.get("SuccessfulCall(C)") or 0),
        int(row.get("FailedCall(C)") or 0),
        int(row.get("Retransmissions(C)") or 0),
        elapsed,
    )


@contextlib.contextmanager
def sipp_uas(
    workdir: Path, scenario: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """sipp's built-in ``uas`` scenario, or the XML file ``scenario``, on a free port."""
    port = free_udp_port()
    which = ["-sn", "uas"] if scenario is None else ["-sf", str(scenario)]
    proc = subprocess.Popen(
        ["sipp", *which, "-i", HOST, "-p", str(port), "-nostdin"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    try:
        time.sleep(0.5)
        if proc.poll() is not None:
            raise RuntimeError(f"sipp uas exited with {proc.returncode}")
        yield proc, port
    finally:
        stop_process(proc)
