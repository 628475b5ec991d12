"""Proxy throughput: sipp calls through the server's stateful proxy to a sipp callee.

sipp places INVITE, ACK, BYE calls (a scenario of its ``uac`` kind whose ACK
and BYE follow the route set of the 2xx) on ``benches/apps/proxy_embedded.py``
(the server and a ``Srf`` application in one process, each INVITE proxied
record-routed to the callee, so the ACK and BYE pass through the server as
well); the callee is sipp running its ``uas`` kind with the Record-Route
copied into its responses. The same calls then go from the same sipp caller
straight to the callee, as the baseline of the run: what sipp alone achieves.

Reported per rate: successful and failed calls, retransmissions, and the
proxy process's CPU µs per successful call (utime + stime of all its
threads, ``/proc/<pid>/stat``) while sipp runs and ``--tail`` seconds after.
A benchmark, not a test: it asserts nothing. Comparing with another proxy
(Kamailio's ``t_relay``) needs that proxy installed, and is not done here.

Run (after ``maturin develop --release``): ``python benches/bench_proxy.py
[--rates 200 500 1000] [--seconds 10] [--tail 5]``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import HOST, Calls, cpu_seconds, free_udp_port, last_stats, stop_process

APP = Path(__file__).parent / "apps" / "proxy_embedded.py"

CALLER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller through a proxy">
  <send retrans="500"><![CDATA[
INVITE sip:callee@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: callee <sip:callee@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true" rtd="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: callee <sip:callee@[remote_ip]:[remote_port]>[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: callee <sip:callee@[remote_ip]:[remote_port]>[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""

CALLEE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="callee behind a proxy">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:callee@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:callee@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""


def place_calls(workdir: Path, port: int, rate: int, seconds: int, tag: str) -> Calls:
    """``rate * seconds`` calls of the caller scenario to ``port``; sipp's final counters."""
    stats = workdir / f"caller-{tag}.csv"
    command = [
        "sipp", "-sf", str(workdir / "caller.xml"), f"{HOST}:{port}", "-i", HOST,
        "-p", str(free_udp_port()), "-r", str(rate), "-m", str(rate * seconds),
        "-l", str(max(100, rate * 5)), "-recv_timeout", "10000",
        "-timeout", f"{seconds + 60}s", "-nostdin", "-trace_stat", "-stf", str(stats),
        "-fd", "1",
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir)
    elapsed = time.perf_counter() - t0
    row = last_stats(stats) if stats.exists() else {}
    return Calls(
        int(row.get("SuccessfulCall(C)") or 0),
        int(row.get("FailedCall(C)") or 0),
        int(row.get("Retransmissions(C)") or 0),
        elapsed,
    )


def callee(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_udp_port()
    proc = subprocess.Popen(
        ["sipp", "-sf", str(workdir / "callee.xml"), "-i", HOST, "-p", str(port), "-nostdin"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    time.sleep(0.5)
    return proc, port


def proxy(workdir: Path, destination: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_udp_port()
    env = {**os.environ, "PROXY_TO": destination}
    command = [
        sys.executable, str(APP), "--sip", f"udp:{HOST}:{port}", "--secret",
        secrets.token_hex(8), "--control", f"{HOST}:0",
    ]  # fmt: skip
    with open(workdir / "proxy.log", "ab") as log:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
    assert proc.stdout is not None
    if b"listening" not in proc.stdout.readline():
        raise RuntimeError("the proxy did not start: see proxy.log")
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[200, 500, 1000])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tail", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "caller.xml").write_text(CALLER.replace("\n", "\r\n"))
        (workdir / "callee.xml").write_text(CALLEE.replace("\n", "\r\n"))
        print(f"{'rate':>6} {'subject':>9} {'ok':>7} {'failed':>6} {'retrans':>7} "
              f"{'calls/s':>8} {'proxy µs/call':>13}")  # fmt: skip
        for rate in args.rates:
            uas, uas_port = callee(workdir)
            server, port = proxy(workdir, f"sip:callee@{HOST}:{uas_port}")
            try:
                cpu0 = cpu_seconds(server.pid)
                calls = place_calls(workdir, port, rate, args.seconds, f"proxy-{rate}")
                time.sleep(args.tail)
                cpu = cpu_seconds(server.pid) - cpu0
            finally:
                stop_process(server)
                stop_process(uas)
            per_call = cpu / calls.successful * 1e6 if calls.successful else float("nan")
            print(
                f"{rate:>6} {'proxy':>9} {calls.successful:>7} {calls.failed:>6} "
                f"{calls.retransmissions:>7} {calls.per_second:>8.0f} {per_call:>13.0f}"
            )
            uas, uas_port = callee(workdir)
            try:
                direct = place_calls(workdir, uas_port, rate, args.seconds, f"direct-{rate}")
            finally:
                stop_process(uas)
            print(
                f"{rate:>6} {'direct':>9} {direct.successful:>7} {direct.failed:>6} "
                f"{direct.retransmissions:>7} {direct.per_second:>8.0f} {'-':>13}"
            )


if __name__ == "__main__":
    main()
