"""The fuzz run: batches of scenarios against a server, and the checks after each.

After each batch the server must answer an OPTIONS, have logged no error
and let no exception reach the loop, and still hold its application; once
every call is over (:meth:`Fuzzer.settle`) it must hold no transaction and
no dialog.
"""

from __future__ import annotations

import asyncio
import random

from server_harness import sip_port

from drachtio.server import Server
from hostile.peer import Leg, Peer
from hostile.report import AnsweringApp, ErrorLog, Report
from hostile.scenarios import SCENARIOS, Context
from hostile.values import Mutator


class Fuzzer:
    """Runs seeded batches of scenarios against ``server``, checking after each."""

    def __init__(
        self, server: Server, seed: int, *, wait: float = 1.0, only: str | None = None
    ) -> None:
        self.server = server
        self.scenarios = [(s, w) for s, w in SCENARIOS if only is None or s.__name__ == only]
        self.rng = random.Random(seed)
        self.report = Report()
        self.wait = wait
        self.errors = ErrorLog()
        self.app: AnsweringApp | None = None

    async def __aenter__(self) -> Fuzzer:
        self.app = await AnsweringApp.attach(self.server, self.report)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.app is not None:
            await self.app.close()

    async def batch(self, transport: str, size: int) -> None:
        """``size`` scenarios, a few at once, each on a peer of its own; then the checks."""
        assert self.app is not None
        scenarios, weights = zip(*self.scenarios, strict=True)
        port = sip_port(self.server, transport)
        with self.errors.installed():
            pending = []
            for _ in range(size):
                scenario = self.rng.choices(scenarios, weights)[0]
                peer = await Peer.open(transport, port)
                name = f"{scenario.__name__}/{transport}"
                # A generator of its own: what a scenario sends does not
                # depend on how the scenarios running beside it interleave.
                mutator = Mutator(random.Random(self.rng.getrandbits(64)))
                ctx = Context(peer, self.app, mutator, self.report, name, self.wait)
                pending.append((peer, asyncio.ensure_future(scenario(ctx))))
            for peer, task in pending:
                try:
                    await task
                except Exception as exc:
                    self.report.errors.append(f"driver: {exc!r}")
                finally:
                    peer.close()
                self.report.errors.extend(
                    f"unparsable from the server: {u}" for u in peer.unparsable
                )
            self.report.batches += 1
            await self.check(transport)

    async def check(self, transport: str) -> None:
        """The server answers an OPTIONS, logged no error, still has its application."""
        assert self.app is not None
        peer = await Peer.open(transport, sip_port(self.server, transport))
        try:
            leg = Leg(peer)
            ctx = Context(peer, self.app, Mutator(self.rng), self.report, "check", 5.0)
            response = await ctx.final(ctx.send(leg.request("OPTIONS")))
            if response is None or response.status != 200:
                self.report.errors.append(
                    f"batch {self.report.batches}: OPTIONS over {transport} answered "
                    f"{None if response is None else response.status}"
                )
        finally:
            peer.close()
        if self.app.app.closed.is_set():
            self.report.errors.append(f"batch {self.report.batches}: the application was cut off")
        self.report.errors.extend(self.errors.records)
        self.errors.records.clear()

    async def settle(self, timeout: float = 15.0) -> None:
        """End every call left and wait until the server holds nothing of them."""
        assert self.app is not None
        await self.app.hang_up_all()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            held = {name: n for name, n in self.held().items() if n}
            if not held:
                return
            await asyncio.sleep(0.2)
        self.report.errors.append(f"still held once every call ended: {held}")

    def held(self) -> dict[str, int]:
        """What the server holds per call: its transactions, dialogs, and the
        registries of its parts (proxied requests, subscriptions, reliable
        provisional responses, early dialogs of INVITEs sent, session timers).
        Call records are left out: a proxied call whose BYE never passed is
        followed for ``proxy_dialog_timeout``, as it should."""
        stats = self.server.stats
        core = self.server._tu.core
        return {
            **{k: stats[k] for k in ("server_transactions", "client_transactions", "dialogs")},
            "proxied": len(core.proxies),
            "subscriptions": len(core.subscriptions),
            "reliable": len(core.reliable),
            "early": len(core.early),
            "session_timers": len(core.sessions.timers),
        }
