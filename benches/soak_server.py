"""Soak test of the drachtio server: a long run of mixed calls, with loss and app restarts.

For ``--minutes`` (default 30) at ``--rate`` calls/s (default 500), three
sipp ``uac`` processes call ``drachtio serve`` over UDP, each with its own
scenario and its share of the rate:

- **answered** (100% less the two below): INVITE, 200 + SDP, ACK, ``--hold``
  seconds (default 2), BYE, 200;
- **cancelled** (``--cancel``, 5%): the INVITE carries ``X-Soak: cancel``,
  the application answers 180 and nothing more; sipp waits for the 180 (at
  most 2 s: a lost 180 is not retransmitted), pauses 0.5 s, CANCELs and
  expects 200 and 487, which it ACKs;
- **never ACKed** (``--noack``, 5%): ``X-Soak: noack``, answered 200 + SDP,
  and sipp never ACKs. The server's ACK timeout (64*T1 = 32 s) ends the call
  with its own BYE, which the same scenario waits for (up to 60 s) and
  answers 200, then stays 4 s to answer the BYE again if its 200 was lost.

Every sipp process drops ``--loss`` percent (default 2) of the datagrams it
sends and receives (sipp's ``-lost``: a scenario message sent or received,
retransmissions included, is dropped at random), so both sides retransmit:
sipp its INVITEs, BYEs and CANCELs, the server its 2xx, 487s and BYEs. The
scenarios use sipp's transactions (``start_txn``, ``response_txn``,
``ack_txn``), so that a 2xx retransmitted after a lost ACK is acknowledged
again in any later state rather than taken for the BYE's 200. sipp's loss
needs no privileges; a ``netem`` queueing discipline (``tc qdisc ... netem
loss 2%`` in a network namespace) would drop inside the network instead, but
needs root and the ``sch_netem`` kernel module, which the development
machine lacks. sipp gives up on a response after 10 s (``-recv_timeout``;
60 s for the server's BYE).

The server is ``benches/apps/stats_server.py``, ``drachtio serve`` in a
process of its own that also appends ``server.stats`` to a file every 10 s
and on SIGUSR1. Two ``benches/apps/soak_app.py`` processes with the same
``appName`` take the calls, round robin; every ``--kill-every`` seconds
(default 60) one of them, in turn, is killed with SIGKILL and started again
at once (it reconnects): the server answers what the killed one had not
(480), hands its dialogs over to the other one (``on_disconnect =
"handoff"``), and calls keep flowing through the other. The apps keep their
counters in files that survive SIGKILL.

Reported, every minute (before the kill) and after a ``--tail`` (default
40 s) once sipp has ended: the server's VmRSS and peak (VmHWM), its open
file descriptors (``/proc/<pid>/fd``), its CPU, and what it holds
(``server.stats``: sessions, transactions, dialogs, the stack's transaction
counts). At the end: RSS and descriptors at minutes 1, 10 and the last
beside the steady state (minute 1), sipp's counts per scenario with its
failed calls classified from its error logs (a 480 for a call the killed
application had not answered, a timeout after a lost datagram, ...), the
applications' counters summed over all instances (dialogs created, handed
over and destroyed, cancels), the server's warnings and errors grouped, and
whether the server ended holding nothing. A soak test, not a test: it
asserts nothing. Its logs stay in the work directory it prints. The server
and the apps run on this interpreter with its environment (``PYTHONPATH``
chooses the copy of the package they load; the apps load it again at each
restart).

Run (after ``maturin develop --release``; ``sipp`` from the Debian package
``sip-tester``): ``python benches/soak_server.py [--minutes 30] [--rate 500]
[--loss 2] [--cancel 5] [--noack 5] [--hold 2] [--kill-every 60] [--tail 40]
[--workdir DIR]``; a short trial: ``--minutes 2 --rate 100``. For the full
run, in the background: ``nohup python benches/soak_server.py > soak.out
2>&1 &``, then read ``soak.out`` as it grows (one line a minute).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from measure import HOST, cpu_seconds, free_udp_port, last_stats, status_kib, stop_process

APPS = Path(__file__).parent / "apps"
APP_NAME = "soak"
CANCEL_PAUSE_MS = 500

# --------------------------------------------------------------------------
# sipp scenarios

_CALLER = """\
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      Call-ID: [call_id]
      Max-Forwards: 70"""

_SDP = """\
      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
"""


def _invite(kind: str, txn: bool = True) -> str:
    """The INVITE (message 0 of each scenario), telling the app what to do.

    With ``txn`` it starts sipp's transaction ``invite``: the responses are
    matched to it, so a 2xx retransmitted while sipp waits for another
    response (its ACK was lost) is acknowledged again instead of being taken
    for that response. sipp refuses an INVITE transaction without an ACK.
    """
    start = ' start_txn="invite"' if txn else ""
    return f"""\
  <send retrans="500"{start}>
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
{_CALLER}
      To: <sip:[service]@[remote_ip]:[remote_port]>
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      X-Soak: {kind}
      Content-Type: application/sdp
      Content-Length: [len]

{_SDP}
    ]]>
  </send>
"""


def _request(method: str, cseq: int, branch: str, txn: str, to_tag: bool = True) -> str:
    """A request of sipp's: ``txn`` is ``ack_txn=..`` for an ACK, else ``start_txn=..``."""
    retrans = "" if method == "ACK" else ' retrans="500"'
    tag = "[peer_tag_param]" if to_tag else ""
    return f"""\
  <send{retrans} {txn}>
    <![CDATA[

      {method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={branch}
{_CALLER}
      To: <sip:[service]@[remote_ip]:[remote_port]>{tag}
      CSeq: {cseq} {method}
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
"""


def scenario_answered(hold_ms: int) -> str:
    return f"""\
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="soak answered">
{_invite("answer")}
  <recv response="100" optional="true" response_txn="invite"/>
  <recv response="200" response_txn="invite"/>
{_request("ACK", 1, "[branch]", 'ack_txn="invite"')}
  <pause milliseconds="{hold_ms}"/>
{_request("BYE", 2, "[branch]", 'start_txn="bye"')}
  <recv response="200" response_txn="bye"/>
</scenario>
"""


def scenario_cancelled() -> str:
    # Message indexes: 0 INVITE, 1 100, 2 180, 3 pause, 4 CANCEL, 5 200, 6 487,
    # 7 ACK. The CANCEL and the ACK of the 487 carry the INVITE's branch.
    return f"""\
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="soak cancelled">
{_invite("cancel")}
  <recv response="100" optional="true" response_txn="invite"/>
  <recv response="180" timeout="2000" ontimeout="cancel" response_txn="invite"/>
  <pause milliseconds="{CANCEL_PAUSE_MS}"/>
  <label id="cancel"/>
{_request("CANCEL", 1, "[branch-4]", 'start_txn="cancel"', to_tag=False)}
  <recv response="200" optional="true" response_txn="cancel"/>
  <recv response="487" response_txn="invite"/>
{_request("ACK", 1, "[branch-7]", 'ack_txn="invite"')}
  <timewait milliseconds="4000"/>
</scenario>
"""


def scenario_noack() -> str:
    return f"""\
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="soak never ACKed">
{_invite("noack", txn=False)}
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <recv request="BYE" timeout="60000"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <timewait milliseconds="4000"/>
</scenario>
"""


# --------------------------------------------------------------------------
# processes


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def read_ready(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The first line a child prints, or b"" if none within ``timeout``."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else b""


def read_counters(path: Path) -> dict[str, int]:
    """An app's counters file (see ``benches/apps/soak_app.py``)."""
    data = path.read_bytes()
    header = 4096
    names = data[:header].rstrip(b"\0").decode().split("\n")
    values = memoryview(data[header : header + 8 * len(names)]).cast("Q")
    return dict(zip(names, values.tolist(), strict=True))


_LISTENING = re.compile(rb"udp/[^ ]*:(\d+) .*control (\S+):(\d+)")


@dataclass
class AppInstance:
    slot: str  # "A" or "B"
    number: int  # restarts of this slot so far
    proc: subprocess.Popen[bytes]
    counters: Path
    killed: bool = False


@dataclass
class Soak:
    """The server and the two app slots of one run."""

    workdir: Path
    secret: str
    server: subprocess.Popen[bytes]
    sip_port: int
    control: str
    stats_file: Path
    log: Path
    app_log: Any
    apps: dict[str, AppInstance] = field(default_factory=dict)
    history: list[AppInstance] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)  # seconds from kill to READY

    def start_app(self, slot: str) -> AppInstance:
        number = sum(1 for a in self.history if a.slot == slot)
        counters = self.workdir / f"app-{slot}{number}.counters"
        proc = subprocess.Popen(
            [
                sys.executable, str(APPS / "soak_app.py"), "--control", self.control,
                "--secret", self.secret, "--counters", str(counters), "--app-name", APP_NAME,
            ],
            stdout=subprocess.PIPE,
            stderr=self.app_log,
        )  # fmt: skip
        ready = read_ready(proc, 30)
        if ready.strip() != b"READY":
            proc.kill()
            raise RuntimeError(f"soak_app.py did not start: {ready!r}")
        instance = AppInstance(slot, number, proc, counters)
        self.apps[slot] = instance
        self.history.append(instance)
        return instance

    def kill_and_restart(self, slot: str) -> None:
        old = self.apps[slot]
        t0 = time.monotonic()
        old.proc.kill()
        old.proc.wait()
        old.killed = True
        self.start_app(slot)
        self.restarts.append(time.monotonic() - t0)

    def server_stats(self) -> dict[str, Any]:
        """Ask the server for its counters now and read them."""
        before = self.stats_file.stat().st_size if self.stats_file.exists() else 0
        self.server.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.stats_file.exists() and self.stats_file.stat().st_size > before:
                break
            time.sleep(0.05)
        lines = self.stats_file.read_text().splitlines() if self.stats_file.exists() else []
        return json.loads(lines[-1]) if lines else {}


@contextlib.contextmanager
def soak_setup(workdir: Path, config: str | None) -> Any:
    secret = secrets.token_hex(16)
    log = workdir / "server.log"
    stats_file = workdir / "server-stats.jsonl"
    with contextlib.ExitStack() as stack:
        log_file = stack.enter_context(open(log, "wb"))
        app_log = stack.enter_context(open(workdir / "apps.log", "wb"))
        server = subprocess.Popen(
            [
                sys.executable, str(APPS / "stats_server.py"), "--stats", str(stats_file),
                "--sip", f"udp:{HOST}:0", "--control", f"{HOST}:0",
                "--secret", secret, "--log-level", "info",
                *(["--config", config] if config else []),
            ],
            stdout=subprocess.PIPE,
            stderr=log_file,
        )  # fmt: skip
        stack.callback(stop_process, server)
        line = read_ready(server, 60)
        match = _LISTENING.search(line)
        if match is None:
            raise RuntimeError(f"the server did not start: {line!r}, see {log}")
        soak = Soak(
            workdir,
            secret,
            server,
            int(match[1]),
            f"{match[2].decode()}:{int(match[3])}",
            stats_file,
            log,
            app_log,
        )

        def stop_apps() -> None:
            for instance in soak.apps.values():
                stop_process(instance.proc)

        stack.callback(stop_apps)
        soak.start_app("A")
        soak.start_app("B")
        yield soak


# --------------------------------------------------------------------------
# sipp


@dataclass
class Caller:
    """One sipp uac process and its scenario."""

    name: str
    rate: float
    calls: int
    proc: subprocess.Popen[bytes]
    stats: Path
    errors: Path
    screen: Path


def start_caller(
    workdir: Path, name: str, xml: str, port: int, rate: float, seconds: int, args: Any
) -> Caller:
    scenario = workdir / f"{name}.xml"
    scenario.write_text(xml)
    calls = round(rate * seconds)
    # Calls open at once: the answered ones ``hold`` s, the unACKed ones 32 s
    # and more, the cancelled ones 4.5 s; room for twice that.
    limit = int(rate * (args.hold + 40) * 2) + 100
    stats, errors, screen = (workdir / f"{name}{ext}" for ext in (".csv", "-errors.log", ".screen"))
    command = [
        "sipp", f"{HOST}:{port}", "-sf", str(scenario), "-i", HOST, "-p", str(free_udp_port()),
        "-r", f"{rate:g}", "-m", str(calls), "-l", str(limit),
        *(["-lost", f"{args.loss:g}"] if args.loss > 0 else []),
        "-recv_timeout", "10000", "-timeout", f"{seconds + 180}s", "-nostdin",
        "-trace_stat", "-stf", str(stats), "-fd", "60",
        "-trace_err", "-error_file", str(errors),
        "-trace_screen", "-screen_file", str(screen),
    ]  # fmt: skip
    with open(workdir / f"{name}.stderr", "wb") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=workdir)
    return Caller(name, rate, calls, proc, stats, errors, screen)


def caller_counts(caller: Caller) -> dict[str, int]:
    row = last_stats(caller.stats) if caller.stats.exists() else {}

    def get(key: str) -> int:
        return int(row.get(key) or 0)

    return {
        "created": get("OutgoingCall(C)"),
        "ok": get("SuccessfulCall(C)"),
        "failed": get("FailedCall(C)"),
        "retrans": get("Retransmissions(C)"),
        "out_of_call": get("OutOfCallMsgs(C)"),
        "dead_call": get("DeadCallMsgs(C)"),
    } | {
        key.removeprefix("Failed").removesuffix("(C)"): get(key)
        for key in row
        if key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)" and get(key)
    }


_UNEXPECTED = re.compile(
    r"call on unexpected message for Call-Id '[^']*': while (expecting '([^']*)'|pausing|sending)"
    r" \(index (\d+)\), received '([^\r\n]*)"
)
_RECV_TIMEOUT = re.compile(r"receive timeout on message [^:]*:(\d+) without label")
_OUT_OF_CALL = re.compile(
    r"Discarding message which can't be mapped to a known SIPp call:\s*\n(.*)"
)


def classify_errors(path: Path) -> Counter[str]:
    """sipp's error log, counted by kind (the first line of an unexpected message)."""
    kinds: Counter[str] = Counter()
    if not path.exists():
        return kinds
    text = path.read_text(errors="replace")
    for m in _UNEXPECTED.finditer(text):
        where = f"expecting {m[2]}" if m[2] else m[1]
        kinds[f"unexpected '{m[4].strip()}' while {where} (message {m[3]})"] += 1
    for m in _RECV_TIMEOUT.finditer(text):
        kinds[f"receive timeout at message {m[1]}"] += 1
    kinds["UDP retransmission timeout"] += text.count("Aborting call on UDP retransmission")
    kinds["send timeout"] += text.count("send timeout on message")
    for m in _OUT_OF_CALL.finditer(text):
        kinds[f"out-of-call message discarded: '{m[1].strip()}'"] += 1
    return +kinds


def screen_messages(path: Path) -> list[str]:
    """The per-message table of sipp's last screen (counts, retransmissions, losses)."""
    if not path.exists():
        return []
    lines = path.read_text(errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("Messages  Retrans")]
    if not starts:
        return []
    table = []
    for line in lines[starts[-1] :]:
        if not line.strip() or line.startswith(("Last Error", "---")):
            break
        table.append(line.rstrip())
    return table


# --------------------------------------------------------------------------
# samples


@dataclass
class Sample:
    minute: float
    rss_kib: int
    hwm_kib: int
    fds: int
    cpu: float
    stats: dict[str, Any]
    apps_rss_kib: list[int]
    sipp: dict[str, dict[str, int]]


def take_sample(minute: float, soak: Soak, callers: list[Caller]) -> Sample:
    pid = soak.server.pid
    apps_rss = []
    for instance in soak.apps.values():
        with contextlib.suppress(OSError, RuntimeError):
            apps_rss.append(status_kib(instance.proc.pid, "VmRSS"))
    return Sample(
        minute,
        status_kib(pid, "VmRSS"),
        status_kib(pid, "VmHWM"),
        fd_count(pid),
        cpu_seconds(pid),
        soak.server_stats(),
        apps_rss,
        {c.name: caller_counts(c) for c in callers},
    )


def held(stats: dict[str, Any]) -> str:
    keys = ("sessions", "server_transactions", "client_transactions", "dialogs")
    return " ".join(f"{k}={stats.get(k, '?')}" for k in keys)


def print_sample(s: Sample, previous: Sample | None) -> None:
    ok = sum(c["ok"] for c in s.sipp.values())
    failed = sum(c["failed"] for c in s.sipp.values())
    cpu = ""
    if previous is not None and s.minute > previous.minute:
        share = (s.cpu - previous.cpu) / ((s.minute - previous.minute) * 60) * 100
        cpu = f" cpu={share:.0f}%"
    print(
        f"[{s.minute:5.1f} min] server rss={s.rss_kib / 1024:.1f} MiB "
        f"hwm={s.hwm_kib / 1024:.1f} MiB fds={s.fds}{cpu} {held(s.stats)} "
        f"| apps rss={'/'.join(f'{k / 1024:.0f}' for k in s.apps_rss_kib)} MiB "
        f"| sipp ok={ok} failed={failed} (sipp's last report)",
        flush=True,
    )


# --------------------------------------------------------------------------
# report


def growth(value: float, base: float) -> str:
    return f"{(value - base) / base * 100:+.1f}%" if base else "n/a"


def report(
    args: Any,
    soak: Soak,
    callers: list[Caller],
    samples: list[Sample],
    final: Sample,
    elapsed: float,
    load: tuple[float, float],
) -> None:
    print(
        f"\nSoak: {args.minutes} min at {args.rate:g} calls/s asked (answered "
        f"{100 - args.cancel - args.noack:g}%, cancelled {args.cancel:g}%, never ACKed "
        f"{args.noack:g}%), sipp loss {args.loss:g}% each way, "
        + (
            f"one app of two killed (SIGKILL) and restarted every {args.kill_every:g} s"
            if args.kill_every > 0
            else "no app killed"
        )
        + f"; sipp ran {elapsed / 60:.1f} min; "
        f"load average {load[0]:.2f} at the start, {load[1]:.2f} at the end."
    )
    base = samples[0] if samples else final
    points = [base]
    for minute in (10, args.minutes):
        at = next((s for s in samples if round(s.minute) == minute), None)
        if at is not None and at not in points:
            points.append(at)
    points.append(final)
    print("\nServer (the stats_server.py process):")
    print(
        f"{'':26} "
        + " ".join(f"{'after tail' if p is final else f'min {p.minute:.0f}':>11}" for p in points)
        + "   growth vs min 1"
    )
    rows = [
        ("VmRSS MiB", [p.rss_kib / 1024 for p in points], "{:11.1f}"),
        ("VmHWM MiB", [p.hwm_kib / 1024 for p in points], "{:11.1f}"),
        ("open fds", [p.fds for p in points], "{:11d}"),
        ("dialogs held", [p.stats.get("dialogs", -1) for p in points], "{:11d}"),
        ("server transactions", [p.stats.get("server_transactions", -1) for p in points], "{:11d}"),
        ("client transactions", [p.stats.get("client_transactions", -1) for p in points], "{:11d}"),
    ]
    for label, values, fmt in rows:
        line = f"{label:26} " + " ".join(fmt.format(v) for v in values)
        if label in ("VmRSS MiB", "open fds"):
            line += "   " + ", ".join(growth(v, values[0]) for v in values[1:])
        print(line)
    calls = sum(caller_counts(c)["created"] for c in callers)
    print(
        f"server CPU: {final.cpu:.0f} s in all, {final.cpu / (calls or 1) * 1e6:.0f} µs per "
        f"call (the tail included)"
    )
    print(
        "\nEvery minute (server VmRSS, open fds, CPU seconds since the last line, what it holds):"
    )
    previous = 0.0
    for p in [*samples, final]:
        label = "tail" if p is final else f"{p.minute:.0f}"
        print(
            f"  {label:>4} {p.rss_kib / 1024:7.1f} MiB {p.fds:4d} fds "
            f"{(p.cpu - previous):6.1f} s CPU  {held(p.stats)}"
        )
        previous = p.cpu

    print("\nsipp, per scenario (calls created, successful, failed, retransmissions):")
    total = Counter[str]()
    for c in callers:
        counts = caller_counts(c)
        total.update({k: counts[k] for k in ("created", "ok", "failed", "retrans")})
        extra = ", ".join(
            f"{k} {v}"
            for k, v in counts.items()
            if k not in ("created", "ok", "failed", "retrans", "out_of_call", "dead_call")
        )
        print(
            f"  {c.name:10} {c.rate:6g}/s asked {c.calls:8d}: created {counts['created']:8d} "
            f"ok {counts['ok']:8d} failed {counts['failed']:6d} retrans {counts['retrans']:7d} "
            f"out-of-call/dead-call msgs {counts['out_of_call']}/{counts['dead_call']}"
            + (f" ({extra})" if extra else "")
        )
        if c.proc.returncode not in (0, 1):  # 1: some calls failed
            tail = (c.stats.parent / f"{c.name}.stderr").read_text(errors="replace")[-300:]
            print(f"{'':14}sipp exited with {c.proc.returncode}: {tail.strip()}")
        for line in screen_messages(c.screen):
            print(f"{'':14}{line}")
        for kind, n in classify_errors(c.errors).most_common(12):
            print(f"{'':14}{n:7d}  {kind}")
    print(
        f"  {'all':10} created {total['created']} ok {total['ok']} failed {total['failed']} "
        f"retrans {total['retrans']}"
    )

    print("\nApplications (summed over every instance, the killed ones included):")
    sums: Counter[str] = Counter()
    held_at_kill: Counter[str] = Counter()
    for instance in soak.history:
        counts = read_counters(instance.counters)
        gauges = {"open_dialogs", "ringing"}
        sums.update({k: v for k, v in counts.items() if k not in gauges})
        target = held_at_kill if instance.killed else sums
        target.update({k: counts[k] for k in gauges})
    print("  " + ", ".join(f"{k} {v}" for k, v in sums.items()))
    created = sums["dialogs_own"]
    destroyed = sums["destroyed_bye"] + sums["destroyed_no_ack"] + sums["destroyed_other"]
    print(
        f"  dialogs: created {created}, destroyed {destroyed}, held by the live apps at the end "
        f"{sums['open_dialogs']}; killed apps held {held_at_kill['open_dialogs']} when killed, "
        f"handed over {sums['dialogs_handed_in']}; INVITEs ringing in killed apps "
        f"{held_at_kill['ringing']}, in the live apps at the end {sums['ringing']}"
    )
    print(
        f"  {len(soak.history) - 2} restarts, kill to READY "
        + (f"{min(soak.restarts):.2f}-{max(soak.restarts):.2f} s" if soak.restarts else "(none)")
    )

    print("\nServer after the tail (server.stats):")
    print("  " + ", ".join(f"{k} {v}" for k, v in final.stats.items() if k != "time"))
    left = {
        k: final.stats.get(k) for k in ("server_transactions", "client_transactions", "dialogs")
    }
    print(
        "  holds nothing: "
        + (
            "yes"
            if not any(left.values())
            else f"NO ({', '.join(f'{k} {v}' for k, v in left.items())})"
        )
    )
    noack = next((caller_counts(c)["created"] for c in callers if c.name == "noack"), 0)
    print(
        f"  2xx never ACKed (the stack's ack_timeouts) {final.stats.get('ack_timeouts')}, "
        f"never-ACKed calls placed {noack}, answered by the apps {sums['answered_noack']}"
    )
    kinds: Counter[str] = Counter()
    for line in soak.log.read_text(errors="replace").splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
            text = re.sub(r" \S+=\S*", "", parts[3])  # the key=value fields
            kinds[f"{parts[2]} {text}"] += 1
        elif line.startswith(("Traceback", "    ")) or "Error" in line.split(" ", 1)[0]:
            kinds[f"(traceback) {line.strip()[:100]}"] += 1
    print("Server log, warnings and errors by message:")
    for kind, n in kinds.most_common(15) or [("(none)", 0)]:
        print(f"  {n:7d}  {kind}")
    print(f"\nLogs and per-minute figures: {soak.workdir}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=500.0, help="calls/s, all scenarios")
    parser.add_argument("--loss", type=float, default=2.0, help="percent dropped by sipp")
    parser.add_argument("--cancel", type=float, default=5.0, help="percent of calls cancelled")
    parser.add_argument("--noack", type=float, default=5.0, help="percent never ACKed")
    parser.add_argument("--hold", type=float, default=2.0, help="seconds an answered call lasts")
    parser.add_argument("--kill-every", type=float, default=60.0, help="seconds (0: no kills)")
    parser.add_argument("--tail", type=float, default=40.0, help="seconds after sipp ends")
    parser.add_argument("--workdir", help="where logs go (default: a new temporary directory)")
    parser.add_argument("--server-config", metavar="FILE", help="a TOML file for the server")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if shutil.which("sipp") is None:
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 1
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="drachtio-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    seconds = round(args.minutes * 60)
    shares = {
        "answered": (100 - args.cancel - args.noack) / 100,
        "cancelled": args.cancel / 100,
        "noack": args.noack / 100,
    }
    xml = {
        "answered": scenario_answered(round(args.hold * 1000)),
        "cancelled": scenario_cancelled(),
        "noack": scenario_noack(),
    }
    print(f"work directory: {workdir}")
    load0 = os.getloadavg()[0]
    samples: list[Sample] = []
    with soak_setup(workdir, args.server_config) as soak:
        print(f"server pid {soak.server.pid}, SIP udp port {soak.sip_port}")
        callers: list[Caller] = []
        try:
            t0 = time.monotonic()
            for name, share in shares.items():
                if share > 0:
                    callers.append(
                        start_caller(
                            workdir,
                            name,
                            xml[name],
                            soak.sip_port,
                            args.rate * share,
                            seconds,
                            args,
                        )
                    )
            minute = 1
            slots = "AB"
            kills = 0
            while any(c.proc.poll() is None for c in callers):
                due = t0 + minute * 60
                kill_due = (
                    t0 + (kills + 1) * args.kill_every
                    if args.kill_every > 0 and (kills + 1) * args.kill_every < seconds
                    else float("inf")
                )
                wake = min(due, kill_due)
                while time.monotonic() < wake and any(c.proc.poll() is None for c in callers):
                    time.sleep(min(1.0, max(0.0, wake - time.monotonic())))
                now = time.monotonic()
                if now >= due:
                    samples.append(take_sample(minute, soak, callers))
                    print_sample(samples[-1], samples[-2] if len(samples) > 1 else None)
                    with open(workdir / "samples.jsonl", "a") as f:
                        f.write(json.dumps(samples[-1].__dict__) + "\n")
                    minute += 1
                if now >= kill_due:
                    slot = slots[kills % 2]
                    soak.kill_and_restart(slot)
                    kills += 1
                    print(
                        f"  killed app {slot} and restarted it in {soak.restarts[-1]:.2f} s",
                        flush=True,
                    )
            elapsed = time.monotonic() - t0
            print(f"sipp ended after {elapsed / 60:.1f} min; tail of {args.tail:g} s", flush=True)
            time.sleep(args.tail)
            final = take_sample(elapsed / 60 + args.tail / 60, soak, callers)
            print_sample(final, samples[-1] if samples else None)
            with open(workdir / "samples.jsonl", "a") as f:
                f.write(json.dumps(final.__dict__ | {"final": True}) + "\n")
        finally:
            for c in callers:
                if c.proc.poll() is None:
                    stop_process(c.proc)
        report(args, soak, callers, samples, final, elapsed, (load0, os.getloadavg()[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
