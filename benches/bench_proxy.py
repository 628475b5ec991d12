"""Proxy throughput: the drachtio server proxying calls, beside a Kamailio stateful proxy.

sipp places calls (INVITE, ACK, BYE over UDP: its ``uac`` and ``uas``
scenarios, with the route set a record-routing proxy asks for, which its
built-in ones ignore) through a proxy to a sipp ``uas``, at each rate, with fresh
processes per subject and rate:

- ``drachtio``: ``drachtio serve`` with ``benches/apps/proxy_app.py``, which
  answers each INVITE with the ``proxy`` command (one destination, the
  ``uas``, Record-Route on): the destination is decided by an application per
  call; the ACK and BYE pass through the server, which routes them on itself;
- ``embedded``: ``benches/apps/proxy_embedded.py``, the server and a ``Srf``
  application in one process, each INVITE proxied with ``srf.proxy_request``
  (record-routed);
- ``kamailio``: Debian's Kamailio with ``tm`` (``t_relay``) and ``rr``
  (``record_route``, ``loose_route``), the destination written in its
  configuration, two UDP worker processes.

Reported: successful and failed calls and retransmissions (sipp's final
counters), the proxy's CPU µs per successful call (utime + stime of every
process and thread, the Kamailio process tree, the drachtio server and its
application, while sipp runs and ``--tail`` seconds after), and drachtio's
CPU per call as a multiple of Kamailio's at the same rate. Targets: zero
failures at 1,000 calls/s; drachtio's CPU per proxied call at most 2x
Kamailio's. A benchmark, not a test: it asserts nothing.

Run (after ``maturin develop --release``; ``sipp`` from ``sip-tester``,
``kamailio`` from the Debian package of that name): ``python
benches/bench_proxy.py [--rates 300 1000] [--seconds 10] [--tail 5]
[--subjects drachtio,kamailio]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench_server import APPS, final_words, start_server
from measure import HOST, Calls, cpu_seconds, free_udp_port, sipp_uac, sipp_uas, stop_process

SUBJECTS = ("drachtio", "embedded", "kamailio")
_SIP_PORT = re.compile(rb"udp/[^ ]*:(\d+)")
TARGET_VS_KAMAILIO = 2.0
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
KAMAILIO_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
fork=yes
children=2
auto_aliases=no
listen=udp:{host}:{port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "textops.so"

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                t_relay();
            }}
            exit;
        }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    t_check_trans();
    record_route();
    $du = "sip:{host}:{uas}";
    t_relay();
}}
"""


# sipp's uac scenario, but with the route set the proxy's Record-Route asked
# for on the ACK and the BYE (its built-in one sends them without a Route).
UAC_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac through a record-routing proxy">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      [routes]
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="0"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      [routes]
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""


# sipp's uas scenario, but its 180 and 200 copy the Record-Route of the
# INVITE (RFC 3261 §12.1.1; its built-in one does not), so that the caller's
# ACK and BYE pass through the proxy.
UAS_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas behind a record-routing proxy">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv request="ACK" optional="true" rtd="true" crlf="true"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
  <timewait milliseconds="4000"/>
</scenario>
"""


@dataclass
class Result:
    subject: str
    rate: int
    calls: Calls
    cpu_s: float
    note: str = ""

    def us(self) -> float:
        ok = self.calls.successful
        return self.cpu_s / ok * 1e6 if ok else float("nan")


def tree_pids(root: int) -> list[int]:
    """``root`` and every process descended from it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            total += cpu_seconds(pid)
    return total


@contextlib.contextmanager
def drachtio(workdir: Path, uas: int, tag: str) -> Iterator[tuple[list[int], int, list[str]]]:
    """``drachtio serve`` and the proxy app: their pids and the server's SIP port."""
    secret = secrets.token_hex(16)
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        command = [
            sys.executable, "-m", "drachtio", "serve", "--sip", f"udp:{HOST}:0",
            "--control", f"{HOST}:0", "--secret", secret,
        ]  # fmt: skip
        server, port, control = start_server(stack, command, workdir / f"server-{tag}.log")
        with open(workdir / f"app-{tag}.log", "wb") as log:
            app = subprocess.Popen(
                [
                    sys.executable, str(APPS / "proxy_app.py"), "--control", control,
                    "--secret", secret, "--destination", f"sip:{HOST}:{uas}",
                ],
                stdout=subprocess.PIPE, stderr=log,
            )  # fmt: skip
        stack.callback(stop_process, app)
        assert app.stdout is not None
        if app.stdout.readline().strip() != b"READY":
            raise RuntimeError(f"proxy_app did not start, see {workdir}/app-{tag}.log")
        yield [server.pid, app.pid], port, notes
        notes.append(final_words(app))


@contextlib.contextmanager
def embedded(workdir: Path, uas: int, tag: str) -> Iterator[tuple[list[int], int, list[str]]]:
    """The server and its proxying ``Srf`` application in one process."""
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        command = [
            sys.executable, str(APPS / "proxy_embedded.py"), "--sip", f"udp:{HOST}:0",
            "--control", f"{HOST}:0", "--secret", secrets.token_hex(16),
        ]  # fmt: skip
        env = {**os.environ, "PROXY_TO": f"sip:uas@{HOST}:{uas}"}
        with open(workdir / f"server-{tag}.log", "wb") as log:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
        stack.callback(stop_process, proc)
        assert proc.stdout is not None
        match = _SIP_PORT.search(proc.stdout.readline())
        if match is None:
            raise RuntimeError(f"proxy_embedded did not start, see {workdir}/server-{tag}.log")
        yield [proc.pid], int(match[1]), notes
        notes.append(final_words(proc))


@contextlib.contextmanager
def kamailio(workdir: Path, uas: int, tag: str) -> Iterator[tuple[list[int], int, list[str]]]:
    """Kamailio proxying to ``uas``: its process tree and its SIP port."""
    port = free_udp_port()
    cfg = workdir / f"kamailio-{tag}.cfg"
    cfg.write_text(KAMAILIO_CFG.format(host=HOST, port=port, modules=MODULES, uas=uas))
    with open(workdir / f"kamailio-{tag}.log", "wb") as log:
        proc = subprocess.Popen(
            ["kamailio", "-f", str(cfg), "-DD", "-E", "-m", "64", "-M", "8", "-w", str(workdir)],
            stdout=log,
            stderr=log,
        )
    try:
        time.sleep(1.0)
        if proc.poll() is not None:
            raise RuntimeError(f"kamailio exited with {proc.returncode}, see {log.name}")
        yield tree_pids(proc.pid), port, []
    finally:
        stop_process(proc)


def measure(workdir: Path, subject: str, rate: int, seconds: int, tail: float) -> Result:
    tag = f"{subject}-{rate}"
    run = {"drachtio": drachtio, "embedded": embedded, "kamailio": kamailio}[subject]
    uac, uas_scenario = workdir / "uac-routes.xml", workdir / "uas-routes.xml"
    uac.write_text(UAC_SCENARIO)
    uas_scenario.write_text(UAS_SCENARIO)
    with sipp_uas(workdir, uas_scenario) as (_, uas), run(workdir, uas, tag) as (pids, port, notes):
        cpu0 = tree_cpu(pids)
        calls = sipp_uac(workdir, port, rate, seconds, tag, uac)
        time.sleep(tail)
        cpu = tree_cpu(pids) - cpu0
    return Result(subject, rate, calls, cpu, "; ".join(notes))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tail", type=float, default=5.0)
    parser.add_argument("--subjects", default=",".join(SUBJECTS))
    args = parser.parse_args()
    subjects = [s for s in args.subjects.split(",") if s]
    if "kamailio" in subjects and shutil.which("kamailio") is None:
        print("kamailio is not installed (Debian package kamailio): skipped", file=sys.stderr)
        subjects.remove("kamailio")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        for rate in args.rates:
            for subject in subjects:
                r = measure(Path(tmp), subject, rate, args.seconds, args.tail)
                results.append(r)
                c = r.calls
                print(
                    f"  {subject:>9} {rate:5d}/s: ok {c.successful} failed {c.failed} "
                    f"retrans {c.retransmissions} {r.us():.0f} µs/call",
                    file=sys.stderr,
                )
    print(f"\n## Proxy ({args.seconds} s per rate, tail {args.tail} s)\n")
    print("| subject | rate/s | ok | failed | retrans. | CPU µs per call | vs Kamailio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    kam = {r.rate: r for r in results if r.subject == "kamailio"}
    for r in results:
        base = kam.get(r.rate)
        ratio = r.us() / base.us() if base and base.calls.successful else float("nan")
        c = r.calls
        print(
            f"| {r.subject} | {r.rate} | {c.successful} | {c.failed} | {c.retransmissions} "
            f"| {r.us():.0f} | {ratio:.2f} |"
        )
    print()
    for r in results:
        if r.note:
            print(f"- {r.subject} {r.rate}/s: {r.note}")
    print("\n## Targets\n")
    for r in (r for r in results if r.subject in ("drachtio", "embedded")):
        if r.rate == 1000:
            ok = r.calls.failed == 0 and r.calls.successful > 0
            print(f"- {r.subject}: zero failures at 1,000 calls/s: {'ok' if ok else 'MISSED'}")
        base = kam.get(r.rate)
        if base and base.calls.successful and r.calls.successful:
            ratio = r.us() / base.us()
            verdict = "ok" if ratio <= TARGET_VS_KAMAILIO else "MISSED"
            print(
                f"- {r.subject}: CPU per proxied call at {r.rate}/s: {ratio:.2f}x Kamailio's "
                f"(target at most {TARGET_VS_KAMAILIO}x): {verdict}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
