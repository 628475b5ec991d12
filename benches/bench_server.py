"""End-to-end benchmark of the drachtio server and its applications, beside sipp's own ``uas``.

sipp's built-in ``uac`` scenario (INVITE, ACK, BYE over UDP) places the same
calls, one rate after another, on each subject (``--apps``, default all):

- ``json``: ``drachtio serve`` with ``benches/apps/json_app.py``, a minimal
  application on the raw JSON control protocol (its frame encoder and
  decoder, nothing else of the package): INVITE answered 200 + SDP, BYE 200;
- ``srf``: ``drachtio serve`` with ``benches/apps/srf_app.py``, the same
  application on the ``drachtio.Srf`` API (``create_uas``; the BYE answered
  by the dialog's default), connected over the control port (remote mode);
- ``embedded``: ``benches/apps/srf_embedded.py``, one process running
  ``Server(config, app=srf)`` with that same ``Srf`` application, on uvloop
  like ``drachtio serve``: its CPU is the server's and the application's
  together;
- ``node`` (only when asked for): ``drachtio serve`` with
  ``benches/apps/srf_node_app.js``, the same application written for
  node.js drachtio-srf (``createUAS``), speaking the drachtio-srf dialect:
  what a drachtio deployment moving to this server runs;
- ``cppnode`` (only when asked for, with ``--drachtio-cpp PATH``): the C++
  drachtio server (the binary at PATH, configured by
  ``benches/data/drachtio-cpp.conf.xml`` and its command line) with that
  same node.js application: the server ``node`` is held to, measured the
  same way in the same run.

Then sipp's ``uas`` scenario takes the same calls, as the baseline, in the
same run. Each subject gets fresh processes at each rate, so that peak RSS
and CPU belong to that rate alone. After the rates asked, ``embedded`` (and
the baseline) run once more at ``--stretch`` (1.5) times the highest rate
the first remote pair measured kept clean (no failed call, no
retransmission).

Reported per rate and subject: successful and failed calls and
retransmissions (sipp's final ``-trace_stat`` counters), the server's and
the app's CPU µs per successful call (utime + stime of all threads from
``/proc/<pid>/stat``) while sipp runs and including the ``--tail`` seconds
after it (default 35 s: ended transactions are kept 64*T1 = 32 s and their
timers still run), their total as a multiple of sipp's ``uas`` (whose CPU is
counted while sipp runs only: it polls when idle), and peak RSS
(``VmHWM``); in the notes, the server's CPU split by thread (the Python loop
and ``drachtio-io``), the context switches per call while sipp ran (about
one per wake-up), the server's RSS after the tail and what the application
counted. Then the targets: the server's on ``json`` (server ≤ 400 µs, app ≤ 300
µs, ...), the application API's on ``srf`` (its app ≤ 1.3 times json_app's CPU per
call, 0 failed and 0 retransmissions at 1,000 calls/s) and on ``embedded``
(≤ half the CPU per call of server + json_app, 0 failed at the stretch
rate), and the drachtio-srf dialect's on ``node`` (0 failed and 0
retransmissions at 2,000 calls/s, server CPU per call ≤ 3.2 times sipp's
``uas``; with ``cppnode``, at most half the C++ server's). A benchmark, not
a test: it asserts nothing.

Run (after ``maturin develop --release``; ``sipp`` from the Debian package
``sip-tester``): ``python benches/bench_server.py [--rates 300 1000 2000]
[--apps json,srf,embedded,node,cppnode] [--seconds 10] [--tail 35]
[--stretch 1.5] [--no-baseline] [--server-config FILE] [--drachtio-cpp PATH]``;
a short trial: ``--seconds 5 --tail 5``; the old benchmark alone: ``--apps
json``. Process helpers and sipp are in ``benches/measure.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from measure import (
    HOST,
    Calls,
    context_switches,
    cpu_seconds,
    free_tcp_port,
    free_udp_port,
    sipp_uac,
    sipp_uas,
    status_kib,
    stop_process,
    thread_cpu_seconds,
)

APPS = Path(__file__).parent / "apps"
SUBJECTS = ("json", "srf", "embedded", "node", "cppnode")
DEFAULT_SUBJECTS = ("json", "srf", "embedded")
LABELS = {
    "json": "server+json_app",
    "srf": "server+srf_app",
    "embedded": "embedded",
    "node": "server+node srf",
    "cppnode": "C++ drachtio+srf",
    "uas": "sipp uas",
}
APP_COMMANDS = {
    "json": [sys.executable, str(APPS / "json_app.py")],
    "srf": [sys.executable, str(APPS / "srf_app.py")],
    "node": ["node", str(APPS / "srf_node_app.js")],
    "cppnode": ["node", str(APPS / "srf_node_app.js")],
}
CPP_CONFIG = Path(__file__).parent / "data" / "drachtio-cpp.conf.xml"

# Targets of the server (on server + json_app).
TARGET_SERVER_US = 400.0
TARGET_APP_US = 300.0
TARGET_RSS_MIB = 100.0
# Targets of the application API.
TARGET_SRF_VS_JSON = 1.3  # srf_app's CPU per call over json_app's, at most
TARGET_EMBEDDED_VS_PAIR = 0.5  # embedded over server + json_app, at most
# Target of the drachtio-srf dialect: half the C++ server's CPU per
# call, measured at 6.4 times sipp's uas: the server at most 3.2 times it.
TARGET_NODE_SERVER_VS_UAS = 3.2
# The same target checked directly, when cppnode ran in the same run.
TARGET_NODE_SERVER_VS_CPP = 0.5


# --------------------------------------------------------------------------
# subjects


@dataclass
class Running:
    """A subject's processes (``server``, and ``app`` unless embedded) and its SIP port."""

    procs: dict[str, subprocess.Popen[bytes]]
    sip_port: int
    logs: list[Path]


_LISTENING = re.compile(rb"udp/[^ ]*:(\d+) .*control (\S+):(\d+)")


def start_server(
    stack: contextlib.ExitStack, command: list[str], log: Path
) -> tuple[subprocess.Popen[bytes], int, str]:
    """Start a server that prints its ``listening`` line; it, its SIP port, its control address."""
    with open(log, "wb") as log_file:  # the child keeps its own descriptor
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file)
    stack.callback(stop_process, server)
    assert server.stdout is not None
    line = server.stdout.readline()
    match = _LISTENING.search(line)
    if match is None:
        raise RuntimeError(f"the server did not start: {line!r}, see {log}")
    return server, int(match[1]), f"{match[2].decode()}:{int(match[3])}"


def start_cpp_server(
    stack: contextlib.ExitStack, binary: str, secret: str, log: Path
) -> tuple[subprocess.Popen[bytes], int, str]:
    """Start the C++ drachtio server on free ports; it, its SIP port, its control address.

    It prints no line to wait for: it is up once its control port takes a connection.
    """
    sip_port, control_port = free_udp_port(), free_tcp_port()
    command = [
        binary, "-f", str(CPP_CONFIG),
        "--contact", f"sip:{HOST}:{sip_port};transport=udp",
        "--address", HOST, "--port", str(control_port), "--secret", secret,
    ]  # fmt: skip
    with open(log, "wb") as log_file:  # it logs to the console: both streams
        server = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    stack.callback(stop_process, server)
    deadline = time.monotonic() + 10.0
    while server.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, control_port), timeout=1.0).close()
        except OSError:
            time.sleep(0.1)
        else:
            return server, sip_port, f"{HOST}:{control_port}"
    ended = "" if server.poll() is None else f" (exit status {server.returncode})"
    raise RuntimeError(f"the C++ drachtio server did not start{ended}, see {log}")


def start_app(
    stack: contextlib.ExitStack, command: list[str], control: str, secret: str, log: Path
) -> subprocess.Popen[bytes]:
    """Start an application that prints ``READY`` once routed."""
    script = Path(command[-1]).name
    with open(log, "wb") as log_file:
        app = subprocess.Popen(
            [*command, "--control", control, "--secret", secret],
            stdout=subprocess.PIPE,
            stderr=log_file,
        )
    stack.callback(stop_process, app)
    assert app.stdout is not None
    ready = app.stdout.readline()
    if ready.strip() != b"READY":
        raise RuntimeError(f"{script} did not start: {ready!r}, see {log}")
    return app


@dataclass
class Servers:
    """How the servers start: ``drachtio serve``'s TOML file, the C++ server's binary."""

    config: str | None
    drachtio_cpp: str | None


@contextlib.contextmanager
def running(workdir: Path, subject: str, tag: str, servers: Servers) -> Iterator[Running]:
    """Start ``subject`` on free ports; stop its processes at the end."""
    secret = secrets.token_hex(16)
    settings = [
        "--sip", f"udp:{HOST}:0", "--control", f"{HOST}:0",
        "--secret", secret, "--log-level", "info",
        *(["--config", servers.config] if servers.config else []),
    ]  # fmt: skip
    if subject == "embedded":
        command = [sys.executable, str(APPS / "srf_embedded.py"), *settings]
    else:
        command = [sys.executable, "-m", "drachtio", "serve", *settings]
    logs = [workdir / f"server-{tag}.log"]
    with contextlib.ExitStack() as stack:
        if subject == "cppnode":
            if servers.drachtio_cpp is None:
                raise ValueError("cppnode needs the C++ server's binary")
            server, sip_port, control = start_cpp_server(
                stack, servers.drachtio_cpp, secret, logs[0]
            )
        else:
            server, sip_port, control = start_server(stack, command, logs[0])
        procs = {"server": server}
        if subject != "embedded":
            logs.append(workdir / f"app-{tag}.log")
            procs["app"] = start_app(stack, APP_COMMANDS[subject], control, secret, logs[1])
        yield Running(procs, sip_port, logs)


def final_words(proc: subprocess.Popen[bytes]) -> str:
    """SIGTERM ``proc`` and what it prints on stdout until it exits."""
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode(errors="replace").strip()


# --------------------------------------------------------------------------
# one subject at one rate


@dataclass
class Measure:
    subject: str  # a key of LABELS
    rate: int
    calls: Calls
    cpu_run: dict[str, float]  # process -> CPU seconds while sipp ran
    cpu_tail: dict[str, float]  # ... plus the tail (sipp's uas: while it ran only)
    hwm_kib: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def us(self, seconds: float) -> float:
        ok = self.calls.successful
        return seconds / ok * 1e6 if ok else float("nan")

    def run_us(self, process: str | None = None) -> float:
        """CPU µs per call while sipp ran: of ``process``, or of all the subject's."""
        cpu = self.cpu_run
        return self.us(sum(cpu.values()) if process is None else cpu.get(process, 0.0))

    def tail_us(self, process: str | None = None) -> float:
        """CPU µs per call including the tail: of ``process``, or of all the subject's."""
        cpu = self.cpu_tail
        return self.us(sum(cpu.values()) if process is None else cpu.get(process, 0.0))


def measure_subject(
    workdir: Path, subject: str, rate: int, seconds: int, tail: float, servers: Servers
) -> Measure:
    tag = f"{subject}-{rate}"
    with running(workdir, subject, tag, servers) as run:
        pids = {name: proc.pid for name, proc in run.procs.items()}
        server = pids["server"]
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        threads0 = thread_cpu_seconds(server)
        switches0 = {k: context_switches(p) for k, p in pids.items()}
        logged0 = run.logs[0].stat().st_size
        calls = sipp_uac(workdir, run.sip_port, rate, seconds, tag)
        cpu_run = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
        switches = {k: context_switches(p) - switches0[k] for k, p in pids.items()}
        time.sleep(tail)
        cpu_tail = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
        hwm = {k: status_kib(p, "VmHWM") for k, p in pids.items()}
        rss_after = status_kib(server, "VmRSS")
        threads = thread_cpu_seconds(server)
        logged = run.logs[0].read_bytes()[logged0:]
        # The app prints its counts as it stops; embedded, the server does.
        counts = final_words(run.procs.get("app", run.procs["server"]))
    ok = calls.successful or 1
    split = ", ".join(
        f"{name} {(cpu - threads0.get(name, 0.0)) / ok * 1e6:.0f}"
        for name, cpu in sorted(threads.items(), key=lambda item: -item[1])
        if cpu - threads0.get(name, 0.0) > 0
    )
    notes = [
        f"server CPU µs/call by thread (+tail): {split}",
        "context switches per call while sipp ran: "
        + ", ".join(f"{k} {n / ok:.1f}" for k, n in switches.items()),
        f"server RSS {tail:.0f} s after the run: {rss_after / 1024:.1f} MiB",
    ]
    if counts:
        notes.append(f"{'server' if subject == 'embedded' else 'app'} {counts}")
    for log in run.logs:
        lines = log.read_text(errors="replace").splitlines()
        what = "warning lines"
        if subject == "cppnode" and log.name.startswith("server-"):
            # It logs at notice, its lines without a level: all it wrote while measured.
            lines, what = logged.decode(errors="replace").splitlines(), "lines while measured"
        elif log.name.startswith("server-"):  # the server logs at info: its warnings
            lines = [line for line in lines if " WARNING " in line or " ERROR " in line]
        if lines:  # an app writes to stderr only what went wrong
            notes.append(f"{log.name}: {len(lines)} {what}, first: {lines[0]}")
    return Measure(subject, rate, calls, cpu_run, cpu_tail, hwm, notes)


def measure_sipp_uas(workdir: Path, rate: int, seconds: int) -> Measure:
    tag = f"uas-{rate}"
    with sipp_uas(workdir) as (proc, port):
        cpu0 = cpu_seconds(proc.pid)
        switches0 = context_switches(proc.pid)
        calls = sipp_uac(workdir, port, rate, seconds, tag)
        cpu = cpu_seconds(proc.pid) - cpu0
        switches = context_switches(proc.pid) - switches0
        hwm = status_kib(proc.pid, "VmHWM")
    note = f"sipp uas context switches per call: {switches / (calls.successful or 1):.1f}"
    usage = {"server": cpu}
    return Measure("uas", rate, calls, usage, usage, {"server": hwm}, [note])


def measure_rate(
    workdir: Path, rate: int, subjects: list[str], args: argparse.Namespace
) -> list[Measure]:
    """Each subject at ``rate``, one after the other, then sipp's ``uas``."""
    out = []
    servers = Servers(args.server_config, args.drachtio_cpp)
    for subject in subjects:
        m = measure_subject(workdir, subject, rate, args.seconds, args.tail, servers)
        out.append(m)
        c = m.calls
        print(
            f"  {LABELS[subject]:>16} {rate:5d}/s: ok {c.successful} failed {c.failed} "
            f"retrans {c.retransmissions} server {m.tail_us('server'):.0f} "
            f"app {m.tail_us('app'):.0f} µs/call (+tail)",
            file=sys.stderr,
        )
    if not args.no_baseline:
        base = measure_sipp_uas(workdir, rate, args.seconds)
        out.append(base)
        c = base.calls
        print(
            f"  {LABELS['uas']:>16} {rate:5d}/s: ok {c.successful} failed {c.failed} "
            f"retrans {c.retransmissions} {base.run_us():.0f} µs/call",
            file=sys.stderr,
        )
    return out


# --------------------------------------------------------------------------
# report


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def find(results: list[Measure], subject: str, rate: int) -> Measure | None:
    return next((m for m in results if m.subject == subject and m.rate == rate), None)


def server_targets(m: Measure) -> list[str]:
    """The server's targets that apply to server + json_app at this rate, with verdicts."""
    c = m.calls
    out = []
    if m.rate >= 1000:
        out.append(f"0 failed: {mark(c.failed == 0)}")
    if m.rate == 1000:
        out.append(f"0 retrans.: {mark(c.retransmissions == 0)}")
        rss = m.hwm_kib["server"] / 1024
        out.append(f"server RSS < {TARGET_RSS_MIB:.0f} MB: {mark(rss < TARGET_RSS_MIB)}")
    server, app = m.tail_us("server"), m.tail_us("app")
    out.append(f"server ≤ {TARGET_SERVER_US:.0f} µs: {mark(server <= TARGET_SERVER_US)}")
    out.append(f"app ≤ {TARGET_APP_US:.0f} µs: {mark(app <= TARGET_APP_US)}")
    return out


def app_api_targets(results: list[Measure], rate: int, stretch: int | None) -> list[str]:
    """The application API's targets at this rate, on the subjects measured, with verdicts."""
    json, srf, emb = (find(results, s, rate) for s in ("json", "srf", "embedded"))
    out = []
    if srf is not None and json is not None:
        ratio = srf.tail_us("app") / json.tail_us("app")
        out.append(
            f"srf_app / json_app {ratio:.2f}x (≤ {TARGET_SRF_VS_JSON}x): "
            f"{mark(ratio <= TARGET_SRF_VS_JSON)}"
        )
    if srf is not None and rate == 1000:
        c = srf.calls
        out.append(f"srf 0 failed, 0 retrans.: {mark(c.failed == 0 and c.retransmissions == 0)}")
    if emb is not None and json is not None:
        ratio = emb.tail_us() / json.tail_us()
        out.append(
            f"embedded / (server+json_app) {ratio:.2f}x (≤ {TARGET_EMBEDDED_VS_PAIR}x): "
            f"{mark(ratio <= TARGET_EMBEDDED_VS_PAIR)}"
        )
    if emb is not None and srf is not None:
        out.append(f"embedded / (server+srf_app) {emb.tail_us() / srf.tail_us():.2f}x")
    if emb is not None and rate == stretch:
        out.append(f"embedded 0 failed at the stretch rate: {mark(emb.calls.failed == 0)}")
    return out


def srf_dialect_targets(results: list[Measure], rate: int) -> list[str]:
    """The drachtio-srf dialect's targets on ``node`` at this rate, with verdicts; with
    ``cppnode``, the node's server against the C++ server's."""
    node, uas = find(results, "node", rate), find(results, "uas", rate)
    cpp = find(results, "cppnode", rate)
    out = []
    if node is not None and rate >= 2000:
        c = node.calls
        out.append(f"node 0 failed, 0 retrans.: {mark(c.failed == 0 and c.retransmissions == 0)}")
    if node is not None and uas is not None:
        ratio = node.tail_us("server") / uas.run_us()
        out.append(
            f"node's server / sipp uas {ratio:.2f}x (≤ {TARGET_NODE_SERVER_VS_UAS}x): "
            f"{mark(ratio <= TARGET_NODE_SERVER_VS_UAS)}"
        )
    if node is not None and cpp is not None:
        ratio = node.tail_us("server") / cpp.tail_us("server")
        out.append(
            f"node's server / C++ server {ratio:.2f}x (≤ {TARGET_NODE_SERVER_VS_CPP}x): "
            f"{mark(ratio <= TARGET_NODE_SERVER_VS_CPP)}"
        )
    if cpp is not None and uas is not None:
        out.append(f"C++ server / sipp uas {cpp.tail_us('server') / uas.run_us():.2f}x")
    return out


def table(results: list[Measure]) -> None:
    print(
        f"{'rate/s':>6} {'subject':<16} | {'ok':>6} {'failed':>6} {'retrans':>7} {'calls/s':>7} "
        f"| {'server':>6} {'+tail':>6} | {'app':>5} {'+tail':>5} | {'total':>5} {'+tail':>6} "
        f"{'x uas':>5} | {'RSS':>5} {'app':>5}"
    )
    for rate in sorted({m.rate for m in results}):
        base = find(results, "uas", rate)
        uas_us = base.run_us() if base else None
        for subject in (*SUBJECTS, "uas"):
            m = find(results, subject, rate)
            if m is None:
                continue
            c = m.calls
            app = "app" in m.cpu_run
            app_us = f"{m.run_us('app'):5.0f} {m.tail_us('app'):5.0f}" if app else f"{'':11}"
            app_mib = f"{m.hwm_kib['app'] / 1024:5.1f}" if app else ""
            times = f"{m.tail_us() / uas_us:5.2f}" if uas_us else f"{'-':>5}"
            print(
                f"{rate:6d} {LABELS[subject]:<16} | {c.successful:6d} {c.failed:6d} "
                f"{c.retransmissions:7d} {c.per_second:7.0f} "
                f"| {m.run_us('server'):6.0f} {m.tail_us('server'):6.0f} | {app_us} "
                f"| {m.run_us():5.0f} {m.tail_us():6.0f} {times} "
                f"| {m.hwm_kib['server'] / 1024:5.1f} {app_mib}"
            )


def report(
    results: list[Measure], args: argparse.Namespace, subjects: list[str], stretch: int | None
) -> None:
    print(
        f"\nServer end to end: sipp -sn uac (INVITE, ACK, BYE over UDP), {args.seconds} s per "
        f"rate, on {', '.join(LABELS[s] for s in subjects)}, beside sipp -sn uas.\n"
        f"CPU in µs per successful call while sipp ran, and (+tail) including the "
        f"{args.tail:.0f} s after it (sipp uas: while it ran only); total = server + app "
        f"(embedded: the one process); x uas = total +tail / sipp uas; peak RSS (VmHWM) in MiB."
    )
    table(results)
    rates = sorted({m.rate for m in results})
    at = f"{stretch}/s" if stretch else ("not asked" if not args.stretch else "not run")
    print(
        f"\nTargets, CPU including the tail. The server, on server+json_app: server "
        f"≤ {TARGET_SERVER_US:.0f} µs, app ≤ {TARGET_APP_US:.0f} µs, 0 failed at 1,000 and "
        f"2,000/s, 0 retrans. and server RSS < {TARGET_RSS_MIB:.0f} MB at 1,000/s. "
        f"The application API: srf_app ≤ {TARGET_SRF_VS_JSON}x json_app, srf 0 failed and "
        f"0 retrans. at 1,000/s; "
        f"embedded ≤ {TARGET_EMBEDDED_VS_PAIR}x server+json_app, 0 failed at {args.stretch}x "
        f"the remote pair's highest clean rate ({at}). The drachtio-srf dialect, on node: "
        f"0 failed and 0 retrans. at 2,000/s, server ≤ {TARGET_NODE_SERVER_VS_UAS}x sipp uas"
        + (
            f" and ≤ {TARGET_NODE_SERVER_VS_CPP}x the C++ server (cppnode)."
            if "cppnode" in subjects
            else "."
        )
    )
    for rate in rates:
        json = find(results, "json", rate)
        lines = (server_targets(json) if json is not None and rate in args.rates else []) + (
            app_api_targets(results, rate, stretch) + srf_dialect_targets(results, rate)
        )
        print(f"  {rate:5d}/s: " + "; ".join(lines))
    print("\nNotes:")
    for rate in rates:
        for m in results:
            if m.rate == rate:
                for note in m.notes:
                    print(f"  {rate:5d}/s {LABELS[m.subject]}: {note}")
    if "cppnode" not in subjects:
        print(
            "The C++ drachtio server with the node app, in the same run: --apps node,cppnode "
            "--drachtio-cpp PATH (docs/performance.md)."
        )


def stretch_rate(results: list[Measure], factor: float) -> int | None:
    """``factor`` times the highest clean rate of the first remote pair measured."""
    for subject in ("json", "srf"):
        clean = [m.rate for m in results if m.subject == subject and m.calls.clean]
        if any(m.subject == subject for m in results):
            return round(max(clean) * factor) if clean and factor > 0 else None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[300, 1000, 2000])
    parser.add_argument(
        "--apps",
        default=",".join(DEFAULT_SUBJECTS),
        help=f"the subjects to run among {','.join(SUBJECTS)}, comma-separated "
        f"(default {','.join(DEFAULT_SUBJECTS)})",
    )
    parser.add_argument("--seconds", type=int, default=10, help="seconds of calls per rate")
    parser.add_argument(
        "--tail", type=float, default=35.0, help="seconds of CPU counted after sipp ends"
    )
    parser.add_argument(
        "--stretch",
        type=float,
        default=1.5,
        help="embedded also runs at this times the remote pair's highest clean rate (0: not)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip sipp's uas")
    parser.add_argument(
        "--server-config", metavar="FILE", help="a TOML file for drachtio serve (e.g. t1)"
    )
    parser.add_argument(
        "--drachtio-cpp", metavar="PATH", help="the C++ drachtio server's binary (for cppnode)"
    )
    args = parser.parse_args()
    subjects = [s.strip() for s in args.apps.split(",") if s.strip()]
    unknown = sorted(set(subjects) - set(SUBJECTS))
    if unknown or not subjects:
        parser.error(f"--apps: choose among {', '.join(SUBJECTS)} (got {args.apps!r})")
    subjects = [s for s in SUBJECTS if s in subjects]
    if "cppnode" in subjects and args.drachtio_cpp is None:
        parser.error("--apps cppnode needs --drachtio-cpp PATH, the C++ drachtio server's binary")
    if args.drachtio_cpp is not None and not (
        Path(args.drachtio_cpp).is_file() and os.access(args.drachtio_cpp, os.X_OK)
    ):
        parser.error(f"--drachtio-cpp: {args.drachtio_cpp!r} is not an executable file")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if shutil.which("sipp") is None:
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 1
    results: list[Measure] = []
    stretch = None
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for rate in args.rates:
            results += measure_rate(workdir, rate, subjects, args)
        if "embedded" in subjects:
            stretch = stretch_rate(results, args.stretch)
            if stretch is not None and stretch not in args.rates:
                results += measure_rate(workdir, stretch, ["embedded"], args)
    report(results, args, subjects, stretch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
