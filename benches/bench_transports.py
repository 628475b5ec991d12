"""The server's CPU per call over UDP, TCP, TLS and WSS, and with metrics and capture on.

``drachtio serve`` (listening on all four transports, with
``benches/apps/json_app.py`` answering INVITE 200 + SDP and BYE 200) takes
the calls of ``benches/apps/uac_load.py`` (INVITE, ACK, BYE; Debian's sipp
has no TLS and no WebSocket, so one generator serves every transport) at
each rate, over each subject in turn, each with fresh processes:

- ``udp``: one socket; the baseline of every ratio;
- ``tcp``, ``tls``, ``wss``: one persistent connection;
- ``observed``: UDP with ``metrics`` on (scraped every 5 s, three times as
  often as Prometheus does by default) and ``capture`` to a HEP collector (a
  socket of this process that counts the copies); ``metrics`` and
  ``capture``: UDP with only the one on, to tell their costs apart;
- ``tls-new``: a new TLS connection per call (handshake included), closed
  after the BYE's 200: new TLS connections per second;
- ``kamailio-tls-new``: the same load on Debian's Kamailio with its ``tls``
  module (packages ``kamailio`` and ``kamailio-tls-modules``), answering
  INVITE and BYE 200 statelessly (``sl``) with the same certificate: its
  process tree's CPU per connection and call, beside ``tls-new``'s server.

Reported per subject and rate: calls placed, successful, failed and timed
out, the server's and the app's CPU µs per successful call (utime + stime of
all threads from ``/proc``, while the load runs and ``--tail`` seconds
after; the server's also split between its Python thread and the SIP
stack's), and the server's CPU per call as a multiple of UDP's at the same
rate. ``--rounds N`` runs the subjects N times over, alternating (every
other round in the reverse order), so that the machine's noise falls on
every subject alike: each subject is then
compared with the ``udp`` run of its own round, and the median of the
rounds' ratios is reported beside each round's, with the pooled ratio (all
the subject's CPU over all its calls, beside the same for those rounds'
``udp`` runs). Then the targets (TLS and
WSS within 1.5x UDP's server CPU per call and at least 0.7x its highest
clean rate; metrics and capture together at most +5% over UDP), on the
medians. A benchmark, not a test: it asserts nothing. The
generator runs on the same machine: its CPU is not counted, but on two
cores it competes with the server, which caps the rates worth asking.

Run (after ``maturin develop --release``; ``openssl`` on the PATH):
``python benches/bench_transports.py [--rates 300 600] [--seconds 10]
[--tail 5] [--rounds 1] [--fresh-rate 100]
[--subjects udp,tcp,tls,wss,observed,metrics,capture,tls-new,kamailio-tls-new]``.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench_proxy import MODULES, tree_cpu, tree_pids
from bench_server import APPS, final_words, start_app, start_server
from measure import HOST, cpu_seconds, stop_process, thread_cpu_seconds

sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "stack"))

from certs import CertFiles, make_certs

SUBJECTS = (
    "udp",
    "tcp",
    "tls",
    "wss",
    "observed",
    "metrics",
    "capture",
    "tls-new",
    "kamailio-tls-new",
)
KAMAILIO_TLS = Path(MODULES) / "tls.so"
# The subjects loaded with a new TLS connection per call, at --fresh-rate.
FRESH = ("tls-new", "kamailio-tls-new")
TRANSPORT = {
    "udp": "udp",
    "tcp": "tcp",
    "tls": "tls",
    "wss": "wss",
    "observed": "udp",
    "metrics": "udp",
    "capture": "udp",
}
# The subjects with the metrics endpoint on, and those with capture on.
WITH_METRICS = ("observed", "metrics")
WITH_CAPTURE = ("observed", "capture")
# The thread that runs the SIP stack's tokio runtime (drachtio-io's lib.rs).
STACK_THREAD = "drachtio-io"
TARGET_SECURE_CPU = 1.5  # TLS and WSS server CPU per call over UDP's, at most
TARGET_SECURE_RATE = 0.7  # their highest clean rate over UDP's, at least
TARGET_OBSERVED = 1.05  # metrics + capture over UDP, at most
# Prometheus scrapes every 15 s by default; every 5 s is a keen one.
SCRAPE_INTERVAL = 5.0
KAMAILIO_TLS_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
fork=yes
children=2
tcp_children=2
auto_aliases=no
enable_tls=yes
listen=tls:{host}:{port}
mpath="{modules}"
loadmodule "tls.so"
loadmodule "sl.so"
modparam("tls", "config", "{tls_cfg}")

request_route {{
    if (method == "ACK") {{
        exit;
    }}
    if (method == "INVITE" || method == "BYE") {{
        sl_send_reply("200", "OK");
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""
KAMAILIO_TLS_PROFILES = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = {certificate}
private_key = {key}
"""
_RESULT = re.compile(r"RESULT placed=(\d+) ok=(\d+) failed=(\d+) timeouts=(\d+) seconds=(\S+)")
_PORTS = re.compile(rb"(udp|tcp|tls|wss)/127\.0\.0\.1:(\d+)")


@dataclass
class Result:
    subject: str
    rate: int
    placed: int
    ok: int
    failed: int
    timeouts: int
    seconds: float
    server_s: float
    app_s: float
    stack_s: float  # of server_s, the stack thread's
    round: int = 1
    note: str = ""

    @property
    def clean(self) -> bool:
        return self.ok == self.placed and self.ok > 0

    def us(self, seconds: float) -> float:
        return seconds / self.ok * 1e6 if self.ok else float("nan")


class Collector:
    """A UDP socket that counts the HEP packets sent to it, on a thread of its own."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Room for the server's bursts (a batch of copies at a time) while
        # this thread waits for the interpreter; the system may give less.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                if self.sock.recv(65536).startswith(b"HEP3"):
                    self.packets += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


class Scraper:
    """GETs ``/metrics`` every ``interval`` seconds on a thread, as Prometheus would."""

    def __init__(self, address: str, interval: float) -> None:
        self.url = f"http://{address}/metrics"
        self.interval = interval
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with urllib.request.urlopen(self.url, timeout=5) as answer:
                answer.read()
            self.scrapes += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def server_and_app(
    workdir: Path, certs: CertFiles, subject: str, tag: str
) -> Iterator[tuple[dict[str, subprocess.Popen[bytes]], dict[str, int], list[str]]]:
    """``drachtio serve`` on the four transports and json_app; their processes and SIP ports."""
    secret = secrets.token_hex(16)
    extra: list[str] = []
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        if subject in WITH_CAPTURE:
            collector = Collector()
            stack.callback(lambda: notes.append(f"HEP copies received: {collector.packets}"))
            stack.callback(collector.close)
            extra += ["--capture", f"{HOST}:{collector.port}"]
        if subject in WITH_METRICS:
            metrics_port = _free_tcp_port()
            extra += ["--metrics", f"{HOST}:{metrics_port}"]
        command = [
            sys.executable, "-m", "drachtio", "serve",
            *(arg for t in ("udp", "tcp", "tls", "wss") for arg in ("--sip", f"{t}:{HOST}:0")),
            "--control", f"{HOST}:0", "--secret", secret,
            "--tls-certificate", str(certs.certificate), "--tls-key", str(certs.key),
            *extra,
        ]  # fmt: skip
        log = workdir / f"server-{tag}.log"
        server, _, control = start_server(stack, command, log)
        ports = _ports(log, server)
        app_command = [sys.executable, str(APPS / "json_app.py")]
        app = start_app(stack, app_command, control, secret, workdir / f"app-{tag}.log")
        if subject in WITH_METRICS:
            scraper = Scraper(f"{HOST}:{metrics_port}", SCRAPE_INTERVAL)
            stack.callback(lambda: notes.append(f"scrapes: {scraper.scrapes}"))
            stack.callback(scraper.close)
        yield {"server": server, "app": app}, ports, notes


def _ports(log: Path, server: subprocess.Popen[bytes]) -> dict[str, int]:
    """The SIP port of each transport, from the server's ``listening`` log line."""
    for _ in range(100):
        found = dict(_PORTS.findall(log.read_bytes()))
        if len(found) == 4:
            return {t.decode(): int(p) for t, p in found.items()}
        time.sleep(0.05)
    raise RuntimeError(f"no listening line in {log} (server {server.pid})")


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _load(
    transport: str, port: int, rate: int, seconds: int, certs: CertFiles, fresh: bool
) -> tuple[int, int, int, int, float]:
    """uac_load against ``port``: calls placed, successful, failed, timed out, and seconds."""
    load = subprocess.run(
        [
            sys.executable, str(APPS / "uac_load.py"),
            "--transport", transport, "--target", f"{HOST}:{port}",
            "--rate", str(rate), "--seconds", str(seconds), "--ca", str(certs.ca),
            *(["--fresh"] if fresh else []),
        ],
        capture_output=True, text=True, timeout=seconds + 120,
    )  # fmt: skip
    match = _RESULT.search(load.stdout)
    if match is None:
        raise RuntimeError(f"uac_load failed: {load.stdout} {load.stderr}")
    placed, ok, failed, timeouts = (int(match[i]) for i in range(1, 5))
    return placed, ok, failed, timeouts, float(match[5])


def measure(
    workdir: Path,
    certs: CertFiles,
    subject: str,
    rate: int,
    seconds: int,
    tail: float,
    round: int = 1,
) -> Result:
    tag = f"{subject}-{rate}-{round}"
    if subject == "kamailio-tls-new":
        return measure_kamailio(workdir, certs, rate, seconds, tail, tag)
    fresh = subject == "tls-new"
    transport = "tls" if fresh else TRANSPORT[subject]
    with server_and_app(workdir, certs, subject, tag) as (procs, ports, notes):
        pids = {name: proc.pid for name, proc in procs.items()}
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        stack0 = thread_cpu_seconds(pids["server"]).get(STACK_THREAD, 0.0)
        calls = _load(transport, ports[transport], rate, seconds, certs, fresh)
        time.sleep(tail)
        cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
        stack_s = thread_cpu_seconds(pids["server"]).get(STACK_THREAD, 0.0) - stack0
        counts = final_words(procs["app"])
    note = "; ".join([*notes, counts])
    return Result(subject, rate, *calls, cpu["server"], cpu["app"], stack_s, round, note)


@contextlib.contextmanager
def kamailio_tls(workdir: Path, certs: CertFiles, tag: str) -> Iterator[tuple[list[int], int]]:
    """Kamailio answering on TLS with ``certs``: its process tree and its port."""
    port = _free_tcp_port()
    profiles = workdir / f"kamailio-tls-{tag}.cfg"
    profiles.write_text(KAMAILIO_TLS_PROFILES.format(certificate=certs.certificate, key=certs.key))
    cfg = workdir / f"kamailio-{tag}.cfg"
    cfg.write_text(KAMAILIO_TLS_CFG.format(host=HOST, port=port, modules=MODULES, tls_cfg=profiles))
    log = workdir / f"kamailio-{tag}.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            ["kamailio", "-f", str(cfg), "-DD", "-E", "-m", "64", "-M", "8", "-w", str(workdir)],
            stdout=log_file,
            stderr=log_file,
        )
    try:
        _until_listening(port, proc, log)
        time.sleep(1.0)  # its workers are forked around the time it listens
        yield tree_pids(proc.pid), port
    finally:
        stop_process(proc)


def _until_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until something accepts TCP connections on ``port``, or ``proc`` has ended."""
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"kamailio exited with {proc.returncode}: {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"kamailio does not listen on {port}, see {log}")


def measure_kamailio(
    workdir: Path, certs: CertFiles, rate: int, seconds: int, tail: float, tag: str
) -> Result:
    """``kamailio-tls-new``: a new TLS connection per call to Kamailio."""
    with kamailio_tls(workdir, certs, tag) as (pids, port):
        cpu0 = tree_cpu(pids)
        calls = _load("tls", port, rate, seconds, certs, fresh=True)
        time.sleep(tail)
        cpu = tree_cpu(pids) - cpu0
    note = f"Kamailio: {len(pids)} processes, server µs is their sum; no application"
    return Result("kamailio-tls-new", rate, *calls, cpu, 0.0, 0.0, 1, note)


def _baseline(results: list[Result], r: Result) -> Result | None:
    """The ``udp`` run of ``r``'s round and rate, when it had successful calls."""
    for base in results:
        if base.subject == "udp" and base.rate == r.rate and base.round == r.round and base.ok:
            return base
    return None


def ratio(results: list[Result], r: Result) -> float:
    """``r``'s server CPU per call over that of the ``udp`` run of its round and rate."""
    base = _baseline(results, r)
    if base is None or not r.ok:
        return float("nan")
    return r.us(r.server_s) / base.us(base.server_s)


def median_ratio(results: list[Result], subject: str, rate: int) -> float:
    """The median over the rounds of ``subject``'s :func:`ratio` at ``rate``."""
    ratios = [ratio(results, r) for r in results if r.subject == subject and r.rate == rate]
    ratios = [x for x in ratios if x == x]  # without the NaNs
    return statistics.median(ratios) if ratios else float("nan")


def pooled_ratio(results: list[Result], subject: str, rate: int) -> float:
    """``subject``'s server CPU per call over all its rounds at ``rate``, over ``udp``'s in
    the same rounds: every call weighs the same, whichever round it was in."""
    pairs = [(r, _baseline(results, r)) for r in results if r.subject == subject and r.rate == rate]
    kept = [(r, base) for r, base in pairs if base is not None and r.ok]
    if not kept:
        return float("nan")
    ours = sum(r.server_s for r, _ in kept) / sum(r.ok for r, _ in kept)
    theirs = sum(base.server_s for _, base in kept) / sum(base.ok for _, base in kept)
    return ours / theirs


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\n## Transports ({args.seconds} s per rate, tail {args.tail} s, "
        f"{args.rounds} round(s); CPU µs per successful call)\n"
    )
    print(
        "| subject | rate/s | round | placed | ok | failed | timeouts | server µs "
        "| of which stack µs | app µs | server / udp |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r.subject} | {r.rate} | {r.round} | {r.placed} | {r.ok} | {r.failed} "
            f"| {r.timeouts} | {r.us(r.server_s):.0f} | {r.us(r.stack_s):.0f} "
            f"| {r.us(r.app_s):.0f} | {ratio(results, r):.3f} |"
        )
    print()
    for r in results:
        if r.note:
            print(f"- {r.subject} {r.rate}/s round {r.round}: {r.note}")
    pairs = [
        (subject, rate)
        for subject in SUBJECTS
        for rate in args.rates
        if subject != "udp"
        and subject not in FRESH
        and any(r.subject == subject and r.rate == rate for r in results)
    ]
    if pairs:
        print("\n## Beside UDP, round by round (server CPU per call)\n")
        for subject, rate in pairs:
            each = ", ".join(
                f"{ratio(results, r) - 1:+.1%}"
                for r in results
                if r.subject == subject and r.rate == rate
            )
            median = median_ratio(results, subject, rate) - 1
            pooled = pooled_ratio(results, subject, rate) - 1
            print(f"- {subject} at {rate}/s: {each}; median {median:+.1%}, pooled {pooled:+.1%}")
    print("\n## Targets\n")

    def best_clean(subject: str) -> int:
        return max((r.rate for r in results if r.subject == subject and r.clean), default=0)

    for subject in ("tls", "wss", "observed"):
        for rate in args.rates:
            median = median_ratio(results, subject, rate)
            if median != median:
                continue
            limit = TARGET_OBSERVED if subject == "observed" else TARGET_SECURE_CPU
            verdict = "ok" if median <= limit else "MISSED"
            print(
                f"- {subject} server CPU per call at {rate}/s: {median:.3f}x UDP "
                f"(median of the rounds; target at most {limit}x): {verdict}"
            )
    for subject in ("tls", "wss"):
        if best_clean("udp") and any(r.subject == subject for r in results):
            clean = best_clean(subject) / best_clean("udp")
            verdict = "ok" if clean >= TARGET_SECURE_RATE else "MISSED"
            print(
                f"- {subject} highest clean rate asked: {best_clean(subject)}/s, {clean:.2f}x "
                f"UDP's {best_clean('udp')}/s (target at least {TARGET_SECURE_RATE}x; only the "
                f"rates asked are tried): {verdict}"
            )
    fresh = {r.subject: r for r in results if r.subject in FRESH}
    for r in fresh.values():
        who = "Kamailio" if r.subject == "kamailio-tls-new" else "drachtio"
        print(
            f"- new TLS connections to {who}: {r.ok / r.seconds:.0f}/s clean={r.clean} at "
            f"{r.rate}/s asked, server {r.us(r.server_s):.0f} µs per connection and call"
        )
    if len(fresh) == 2 and all(r.ok for r in fresh.values()):
        ours, theirs = fresh["tls-new"], fresh["kamailio-tls-new"]
        print(
            f"- drachtio's server per new TLS connection and call: "
            f"{ours.us(ours.server_s) / theirs.us(theirs.server_s):.2f}x Kamailio's"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[300, 600])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tail", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1, help="times over the subjects")
    parser.add_argument("--fresh-rate", type=int, default=100, help="calls/s for tls-new")
    parser.add_argument("--subjects", default=",".join(SUBJECTS))
    args = parser.parse_args()
    subjects = [s for s in args.subjects.split(",") if s]
    unknown = set(subjects) - set(SUBJECTS)
    if unknown:
        parser.error(f"unknown subjects: {', '.join(sorted(unknown))}")
    if "kamailio-tls-new" in subjects and not KAMAILIO_TLS.exists():
        print(
            f"Kamailio's TLS module is not installed ({KAMAILIO_TLS}: Debian packages "
            "kamailio and kamailio-tls-modules): kamailio-tls-new skipped",
            file=sys.stderr,
        )
        subjects.remove("kamailio-tls-new")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-transports-") as tmp:
        workdir = Path(tmp)
        certs = make_certs(workdir / "certs")
        for rate in args.rates:
            for round in range(1, args.rounds + 1):
                # Every other round backwards: no subject always runs first.
                order = subjects if round % 2 else subjects[::-1]
                for subject in order:
                    if subject in FRESH:
                        continue
                    r = measure(workdir, certs, subject, rate, args.seconds, args.tail, round)
                    results.append(r)
                    print(
                        f"  {subject:>8} {rate:5d}/s round {round}: ok {r.ok}/{r.placed} "
                        f"server {r.us(r.server_s):.0f} (stack {r.us(r.stack_s):.0f}) "
                        f"app {r.us(r.app_s):.0f} µs/call",
                        file=sys.stderr,
                    )
        for subject in (s for s in FRESH if s in subjects):
            r = measure(workdir, certs, subject, args.fresh_rate, args.seconds, args.tail)
            results.append(r)
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
