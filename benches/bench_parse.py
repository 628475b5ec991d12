"""Python-level speed of the SIP message core, beside a pure-Python baseline.

Measures, for a typical INVITE with SDP and for a 200 OK, in one run:
``drachtio.parse``, ``msg.to_bytes()``, ``msg.to_dict()`` and
``parse(...).to_dict()``, and the same work done by the pure-Python
``aiosipua`` parser (``SipMessage.parse``, ``serialize``, and its typed views
turned into an equivalent dict). Prints a table with the ratio per line.

Run: ``pip install aiosipua`` (benchmark only), then
``python benches/bench_parse.py``.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import drachtio

try:
    from aiosipua import SipMessage
except ImportError:  # pragma: no cover - the baseline is optional
    SipMessage = None

DATA = Path(__file__).parent / "data"


def best_us(fn: Callable[[], object], budget_s: float = 0.4) -> float:
    """Minimum time per call over several repeats, in microseconds."""
    timer = timeit.Timer(fn)
    n, t = timer.autorange()
    number = max(1, int(n * budget_s / max(t, 1e-9) / 5))
    runs = timer.repeat(repeat=7, number=number)
    return min(runs) / number * 1e6


def baseline_dict(m: Any) -> dict[str, Any]:
    """An aiosipua message turned into the same JSON form drachtio produces."""

    def uri(u: Any) -> dict[str, Any]:
        d: dict[str, Any] = {"scheme": u.scheme, "host": u.host}
        if u.user is not None:
            d["user"] = u.user
        if u.port is not None:
            d["port"] = str(u.port)
        if u.params:
            d["params"] = [k if v is None else f"{k}={v}" for k, v in u.params.items()]
        return d

    def addr(a: Any) -> dict[str, Any]:
        return {
            "display": a.display_name or "",
            "tag": a.tag,
            "url": uri(a.uri),
            "params": [k if v is None else f"{k}={v}" for k, v in a.params.items()],
        }

    headers: dict[str, Any] = {}
    for name, value in m.headers.items():
        headers[name.lower().replace("-", "_")] = value
    headers["via"] = [
        {
            "protocol": f"{v.protocol}/{v.transport}",
            "host": v.host,
            "port": str(v.port),
            "branch": v.branch,
            "params": [k if x is None else f"{k}={x}" for k, x in v.params.items()],
        }
        for v in m.via
    ]
    for key, a in (("from", m.from_addr), ("to", m.to_addr)):
        if a is not None:
            headers[key] = addr(a)
    contacts = m.contact
    if contacts:
        one = len(contacts) == 1
        headers["contact"] = addr(contacts[0]) if one else [addr(c) for c in contacts]
    if m.cseq is not None:
        headers["cseq"] = {"seq": str(m.cseq.seq), "method": m.cseq.method}
    out: dict[str, Any] = {"headers": headers}
    if hasattr(m, "method"):
        out["request_uri"] = {"method": m.method, "version": "SIP/2.0", "url": m.uri}
    else:
        out["status_line"] = {"version": "SIP/2.0", "status_code": m.status_code}
    if m.body:
        out["payload"] = {"type": m.content_type, "content": m.body.decode()}
    return out


def main() -> int:
    rows: list[tuple[str, str, float, float | None]] = []
    for label, file in (("INVITE+SDP", "invite.sip"), ("200 OK", "ok200.sip")):
        data = (DATA / file).read_bytes()
        msg = drachtio.parse(data)
        ours = {
            "parse": lambda d=data: drachtio.parse(d),
            "to_bytes": lambda m=msg: m.to_bytes(),
            "to_dict": lambda m=msg: m.to_dict(),
            "parse+to_dict": lambda d=data: drachtio.parse(d).to_dict(),
        }
        theirs: dict[str, Callable[[], object]] = {}
        if SipMessage is not None:
            base = SipMessage.parse(data)
            theirs = {
                "parse": lambda d=data: SipMessage.parse(d),
                "to_bytes": lambda m=base: bytes(m),
                "to_dict": lambda m=base: baseline_dict(m),
                "parse+to_dict": lambda d=data: baseline_dict(SipMessage.parse(d)),
            }
        for op, fn in ours.items():
            # Alternate the two sides so both see the same machine load.
            ours_us = []
            theirs_us = []
            for _ in range(3):
                ours_us.append(best_us(fn))
                if op in theirs:
                    theirs_us.append(best_us(theirs[op]))
            rows.append(
                (
                    label,
                    op,
                    min(ours_us),
                    min(theirs_us) if theirs_us else None,
                )
            )

    print(f"{'message':<12} {'operation':<14} {'drachtio µs':>12} {'aiosipua µs':>12} {'ratio':>7}")
    for label, op, ours_t, theirs_t in rows:
        base = f"{theirs_t:12.2f}" if theirs_t is not None else f"{'n/a':>12}"
        ratio = f"{theirs_t / ours_t:6.1f}x" if theirs_t is not None else f"{'':>7}"
        print(f"{label:<12} {op:<14} {ours_t:12.2f} {base} {ratio}")
    if SipMessage is None:
        print("(install aiosipua to measure the pure-Python baseline)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
