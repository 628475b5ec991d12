"""End-to-end benchmarks of the SIP stack, each beside a baseline in the same run.

Three parts, each printing a table (benchmarks, not tests: nothing asserts a
time):

``bridge``
    Rust -> Python -> Rust: a load generator sends OPTIONS requests (distinct
    branches and Call-IDs) over UDP with a fixed window in flight and counts
    the 200s. The responder is ``benches/apps/stack_uas.py`` (``SipStack``,
    each request answered from Python) and, as baselines, the pure-asyncio
    responder ``benches/apps/asyncio_responder.py`` (copies five headers, no
    SIP parsing) and ``benches/apps/aiosipua_responder.py`` (aiosipua's
    ``SipUAS`` on its UDP transport; measured when ``aiosipua`` is
    installed). Reports events/s, wall µs per event, the responder process's
    CPU µs per event (utime + stime from ``/proc``) and the ratio of each
    responder's events/s to each baseline's; the responders alternate round
    by round so they see the same machine load.
``sipp``
    Core ceiling: sipp's built-in ``uac`` scenario (INVITE, ACK, BYE) at rising
    rates against ``stack_uas.py`` and against sipp's own ``uas`` scenario.
    Reports successful and failed calls, retransmissions and the server
    process's CPU µs per call.
``memory``
    RSS of the server after the first 10,000 calls and after 100,000 calls
    of ``sipp -sn uac`` at one rate, for ``stack_uas.py`` and sipp's ``uas``.

Run: ``python benches/bench_stack.py [bridge|sipp|memory|all] [options]``
(``--help`` for the options). Needs Linux (``/proc``) and, for ``sipp`` and
``memory``, the ``sipp`` program (Debian package ``sip-tester``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

APPS = Path(__file__).parent / "apps"
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


def rss_bytes(pid: int) -> int:
    """Resident set size of a process."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def children_cpu_seconds() -> float:
    """CPU time of the children waited for so far (sipp as client)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_udp_port() -> int:
    """A UDP port free at the time of the call (for programs that need a number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A responder or UAS running as a child process."""

    label: str
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def rss(self) -> int:
        return rss_bytes(self.proc.pid)


@contextlib.contextmanager
def python_app(label: str, script: str, *args: str) -> Iterator[Server]:
    """Start ``benches/apps/<script>``; it prints ``READY <port>`` when bound."""
    proc = subprocess.Popen(
        [sys.executable, str(APPS / script), *args],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("READY "):
            raise RuntimeError(f"{script} did not start: {line!r}")
        yield Server(label, proc, int(line.split()[1]))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def sipp_uas(workdir: Path) -> Iterator[Server]:
    """sipp's built-in ``uas`` scenario on a free port."""
    port = free_udp_port()
    proc = subprocess.Popen(
        ["sipp", "-sn", "uas", "-i", HOST, "-p", str(port), "-nostdin"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    try:
        time.sleep(0.5)
        if proc.poll() is not None:
            raise RuntimeError(f"sipp uas exited with {proc.returncode}")
        yield Server("sipp uas", proc, port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stack_available() -> bool:
    try:
        import drachtio
    except ImportError:
        return False
    return hasattr(drachtio, "SipStack")


# --------------------------------------------------------------------------
# bridge: a windowed UDP load generator


@dataclass
class BlastResult:
    label: str
    sent: int
    answered: int
    lost: int
    other: dict[bytes, int]
    seconds: float
    server_cpu: float
    client_cpu: float

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds

    @property
    def wall_us(self) -> float:
        return self.seconds / self.answered * 1e6 if self.answered else float("nan")

    @property
    def cpu_us(self) -> float:
        return self.server_cpu / self.answered * 1e6 if self.answered else float("nan")


def blast(server: Server, count: int, window: int, run: int) -> BlastResult:
    """Send ``count`` OPTIONS to the server keeping ``window`` of them in flight.

    A request whose answer has not come within 0.5 s counts as lost and its
    slot is reused (the generator does not retransmit); answers other than
    200 are counted by status line.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((HOST, 0))
    sock.connect((HOST, server.port))
    # Blocking reads with a kernel timeout: one system call per read, where
    # Python's own socket timeout adds a poll() before each.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 500_000))
    lport = sock.getsockname()[1]
    head = (
        f"OPTIONS sip:bench@{HOST}:{server.port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {HOST}:{lport};rport;branch=z9hG4bK-r{run}-"
    ).encode()
    middle = (
        f"\r\nFrom: <sip:load@{HOST}>;tag=load{run}\r\nTo: <sip:bench@{HOST}>\r\nCall-ID: "
    ).encode()
    tail = (
        f"-r{run}@load\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:load@{HOST}:{lport}>\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    join = b"".join
    send = sock.send
    recv = sock.recv

    sent = answered = lost = 0
    other: dict[bytes, int] = {}
    cpu0 = server.cpu()
    own0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(min(window, count)):
        n = str(sent).encode()
        send(join((head, n, middle, n, tail)))
        sent += 1
    while answered + lost + sum(other.values()) < count:
        try:
            data = recv(65536)
        except BlockingIOError:  # 0.5 s without an answer
            in_flight = sent - answered - lost - sum(other.values())
            lost += in_flight
            for _ in range(min(in_flight, count - sent)):
                n = str(sent).encode()
                send(join((head, n, middle, n, tail)))
                sent += 1
            continue
        if data.startswith(b"SIP/2.0 200"):
            answered += 1
        else:
            status = data.split(b"\r\n", 1)[0]
            other[status] = other.get(status, 0) + 1
        if sent < count:
            n = str(sent).encode()
            send(join((head, n, middle, n, tail)))
            sent += 1
    seconds = time.perf_counter() - t0
    own = time.process_time() - own0
    server_cpu = server.cpu() - cpu0
    sock.close()
    return BlastResult(server.label, sent, answered, lost, other, seconds, server_cpu, own)


# (label, script, needed module) of the bridge baselines, in the order they run
BRIDGE_BASELINES = [
    ("asyncio responder", "asyncio_responder.py", None),
    ("aiosipua SipUAS", "aiosipua_responder.py", "aiosipua"),
]


def run_bridge(args: argparse.Namespace) -> None:
    loop_args = ["--loop", args.loop]
    apps = []
    for label, script, module in BRIDGE_BASELINES:
        if module is None or importlib.util.find_spec(module) is not None:
            apps.append((label, script))
        else:
            print(f"{module} is not installed: no {label!r} baseline\n")
    baselines = [label for label, _ in apps]
    if stack_available():
        apps.append(("drachtio SipStack", "stack_uas.py"))
    else:
        print("drachtio.SipStack is not available: measuring the baselines only\n")
    rounds: dict[str, list[BlastResult]] = {}
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(python_app(label, script, *loop_args)) for label, script in apps
        ]
        for server in servers:  # warm-up: imports, allocator, caches
            blast(server, min(5000, args.requests), args.window, run=0)
        for run in range(1, args.rounds + 1):
            for server in servers:
                r = blast(server, args.requests, args.window, run)
                print(
                    f"  round {run} {r.label:<20} {r.per_second:9.0f}/s "
                    f"cpu {r.cpu_us:6.1f} µs/event  lost {r.lost} other {r.other}",
                    file=sys.stderr,
                )
                rounds.setdefault(r.label, []).append(r)

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    best = {label: max(results, key=lambda r: r.per_second) for label, results in rounds.items()}
    print(
        f"\nBridge: {args.requests} OPTIONS over UDP, window {args.window}, "
        f"loop {args.loop}, {args.rounds} rounds per responder (best, median); "
        "vs: best events/s over the baseline's best"
    )
    print(
        f"{'responder':<20} {'events/s':>17} {'µs/event':>9} {'server CPU µs/event':>20} "
        f"{'lost':>5} {'not 200':>8} {'generator CPU':>14}"
        + "".join(f" {'vs ' + label.split()[0]:>12}" for label in baselines)
    )
    for label, results in rounds.items():
        top = best[label]
        mid = median([r.per_second for r in results])
        print(
            f"{label:<20} {top.per_second:8.0f} {mid:8.0f} {top.wall_us:9.1f} "
            f"{median([r.cpu_us for r in results]):20.1f} "
            f"{sum(r.lost for r in results):5d} "
            f"{sum(sum(r.other.values()) for r in results):8d} "
            f"{top.client_cpu / top.seconds * 100:13.0f}%"
            + "".join(f" {top.per_second / best[b].per_second:11.1f}x" for b in baselines)
        )


# --------------------------------------------------------------------------
# sipp


@dataclass
class SippResult:
    label: str
    rate: int
    successful: int
    failed: int
    retransmissions: int
    seconds: float
    server_cpu: float
    client_cpu: float

    @property
    def achieved(self) -> float:
        return self.successful / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.server_cpu / self.successful * 1e6 if self.successful else float("nan")


def last_stats(path: Path) -> dict[str, str]:
    """The last row of a sipp ``-trace_stat`` file, by column name."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    if len(rows) < 2:
        return {}
    # The last row may be half written while sipp runs: its missing fields are absent.
    return dict(zip(rows[0], rows[-1], strict=False))


def sipp_uac(
    server: Server,
    workdir: Path,
    rate: int,
    calls: int,
    on_progress: dict[int, list[int]] | None = None,
) -> SippResult:
    """Run sipp's ``uac`` scenario against ``server`` and read its statistics.

    ``on_progress`` maps a number of successful calls to a list that receives
    the server's RSS once sipp's statistics show that many calls done.
    """
    stats = workdir / f"uac-{server.pid}-{rate}-{calls}.csv"
    limit = max(100, rate * 5)  # enough for 5 s of calls: overload shows as failures
    command = [
        "sipp", "-sn", "uac", f"{HOST}:{server.port}",
        "-i", HOST, "-p", str(free_udp_port()),
        "-r", str(rate), "-l", str(limit), "-m", str(calls),
        "-recv_timeout", "10000", "-timeout", f"{calls // rate + 60}s",
        "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1",
    ]  # fmt: skip
    cpu0 = server.cpu()
    children0 = children_cpu_seconds()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir
    )
    pending = dict(sorted((on_progress or {}).items()))
    while proc.poll() is None:
        time.sleep(0.2)
        if pending and stats.exists():
            done = int(last_stats(stats).get("SuccessfulCall(C)", "0") or 0)
            for mark in [m for m in pending if m <= done]:
                pending.pop(mark).append(server.rss())
    # sipp's own ElapsedTime has a resolution of one second.
    seconds = time.perf_counter() - t0
    server_cpu = server.cpu() - cpu0
    row = last_stats(stats)
    return SippResult(
        server.label,
        rate,
        int(row.get("SuccessfulCall(C)", 0)),
        int(row.get("FailedCall(C)", 0)),
        int(row.get("Retransmissions(C)", 0)),
        seconds,
        server_cpu,
        children_cpu_seconds() - children0,
    )


def servers_for_sipp(
    stack: contextlib.ExitStack, workdir: Path, loop: str, t1: float = 0.5
) -> list[Server]:
    servers = [stack.enter_context(sipp_uas(workdir))]
    if stack_available():
        app = python_app("drachtio SipStack", "stack_uas.py", "--loop", loop, "--t1", str(t1))
        servers.append(stack.enter_context(app))
    else:
        print("drachtio.SipStack is not available: measuring sipp's uas only\n")
    return servers


def idle_cpu_percent(server: Server, seconds: float = 2.0) -> float:
    """CPU the server uses with no traffic (sipp polls; the stack should sleep)."""
    cpu0 = server.cpu()
    time.sleep(seconds)
    return (server.cpu() - cpu0) / seconds * 100


def run_sipp(args: argparse.Namespace) -> None:
    results: list[SippResult] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        servers = servers_for_sipp(stack, workdir, args.loop)
        idle = {server.label: idle_cpu_percent(server) for server in servers}
        for rate in args.rates:
            for server in servers:
                r = sipp_uac(server, workdir, rate, rate * args.seconds)
                print(
                    f"  {r.label:<18} {rate:5d}/s: ok {r.successful} failed {r.failed} "
                    f"retrans {r.retransmissions} cpu {r.cpu_us:.0f} µs/call",
                    file=sys.stderr,
                )
                results.append(r)

    print(
        f"\nCore ceiling: sipp -sn uac (INVITE, ACK, BYE over UDP), {args.seconds} s "
        f"per rate, loop {args.loop}; baseline: sipp -sn uas"
    )
    labels = list(dict.fromkeys(r.label for r in results))
    head = f"{'rate/s':>6}"
    for label in labels:
        head += f" | {label + ': ok':>22} {'failed':>6} {'retrans':>7}"
        head += f" {'calls/s':>7} {'CPU µs/call':>11}"
    if len(labels) > 1:
        head += f" | {'CPU vs sipp':>11}"
    print(head)
    for rate in args.rates:
        row = [r for r in results if r.rate == rate]
        line = f"{rate:6d}"
        for r in row:
            line += (
                f" | {r.successful:22d} {r.failed:6d} {r.retransmissions:7d} "
                f"{r.achieved:7.0f} {r.cpu_us:11.0f}"
            )
        if len(row) > 1:
            line += f" | {row[1].cpu_us / row[0].cpu_us:10.2f}x"
        print(line)
    for label in labels:
        print(f"{label}: {idle[label]:.1f}% CPU when idle")
    for label in labels:
        # Sustained: no failed call, and sipp kept within 5% of the rate asked.
        clean = [
            r for r in results if r.label == label and r.failed == 0 and r.achieved >= 0.95 * r.rate
        ]
        best = max(clean, key=lambda r: r.rate, default=None)
        if best is None:
            print(f"{label}: no rate sustained without failed calls")
        else:
            print(
                f"{label}: highest rate sustained with zero failed calls {best.rate}/s "
                f"({best.cpu_us:.0f} CPU µs/call, {best.retransmissions} retransmissions)"
            )


def run_memory(args: argparse.Namespace) -> None:
    first, total = args.memory_calls
    # Ended transactions are kept 64*T1 (Timers J and L) to absorb
    # retransmissions: with a short T1 that set reaches its steady size
    # before the first mark, so growth between the marks is growth per call.
    linger = 64 * args.memory_t1
    rows: list[tuple[str, list[int], SippResult]] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        for server in servers_for_sipp(stack, workdir, args.loop, args.memory_t1):
            start = server.rss()
            marks: dict[int, list[int]] = {first: [], total: []}
            r = sipp_uac(server, workdir, args.memory_rate, total, on_progress=marks)
            at_end = server.rss()
            time.sleep(linger + 2)
            rss = [start, marks[first][0] if marks[first] else 0, at_end, server.rss()]
            rows.append((server.label, rss, r))
            print(f"  {server.label}: {r.successful} ok, {r.failed} failed", file=sys.stderr)

    print(
        f"\nMemory: sipp -sn uac -m {total} -r {args.memory_rate}; SipStack T1 "
        f"{args.memory_t1} s (ended transactions kept {linger:.1f} s); RSS in MiB"
    )
    print(
        f"{'server':<20} {'at start':>9} {f'after {first}':>12} {f'after {total}':>13} "
        f"{'growth':>7} {f'{linger + 2:.0f} s later':>11} {'failed calls':>13}"
    )
    for label, (start, at_first, at_end, later), r in rows:
        growth = f"{(at_end - at_first) / at_first * 100:6.1f}%" if at_first else "    n/a"
        print(
            f"{label:<20} {start / 2**20:9.1f} {at_first / 2**20:12.1f} "
            f"{at_end / 2**20:13.1f} {growth:>7} {later / 2**20:11.1f} {r.failed:13d}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "part", nargs="?", default="all", choices=("bridge", "sipp", "memory", "all")
    )
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--requests", type=int, default=50_000, help="bridge: requests per round")
    parser.add_argument("--window", type=int, default=64, help="bridge: requests in flight")
    parser.add_argument("--rounds", type=int, default=3, help="bridge: rounds per side")
    parser.add_argument(
        "--rates",
        type=int,
        nargs="+",
        default=[500, 1000, 2000, 4000, 6000, 8000],
        help="sipp: calls/s",
    )
    parser.add_argument("--seconds", type=int, default=10, help="sipp: seconds per rate")
    parser.add_argument("--memory-rate", type=int, default=1000, help="memory: calls/s")
    parser.add_argument(
        "--memory-t1", type=float, default=0.1, help="memory: the SipStack's T1, seconds"
    )
    parser.add_argument(
        "--memory-calls",
        type=int,
        nargs=2,
        default=[10_000, 100_000],
        metavar=("FIRST", "TOTAL"),
        help="memory: RSS after FIRST and after TOTAL calls",
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if args.part in ("sipp", "memory", "all") and shutil.which("sipp") is None:
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        if args.part != "all":
            return 1
    if args.part in ("bridge", "all"):
        run_bridge(args)
    if args.part in ("sipp", "all") and shutil.which("sipp"):
        run_sipp(args)
    if args.part in ("memory", "all") and shutil.which("sipp"):
        run_memory(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
