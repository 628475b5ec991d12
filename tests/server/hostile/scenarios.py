"""The scenarios of a fuzz run: valid exchanges whose messages are spoiled on the way.

Each runs on a peer of its own with a generator of its own (a
:class:`Context`): a request outside any dialog, a call with its PRACKs and
requests in the dialog, a cancelled call, a subscription, and a call the
application places to the peer, which answers with spoiled responses.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from server_harness import SDP

from drachtio import SipRequest, SipResponse
from hostile.peer import Copied, Leg, Peer, branch_of
from hostile.report import PROXY_TO, RECORD_ROUTE, AnsweringApp, Outcome, Report
from hostile.values import Message, Mutator

Scenario = Callable[["Context"], Awaitable[None]]


@dataclass
class Context:
    """What a scenario needs: a peer, the app, the mutator, where to record outcomes."""

    peer: Peer
    app: AnsweringApp
    mutator: Mutator
    report: Report
    name: str
    wait: float

    @property
    def rng(self) -> random.Random:
        return self.mutator.rng

    def leg(self) -> Leg:
        return Leg(self.peer)

    def send(self, message: Message, changes: list[str] | None = None) -> Message:
        self.peer.send(message.encode())
        if self.peer.transport == "tcp" and message.content_length is not None:
            self.peer.misframed = True
        self.report.messages += 1
        if changes:
            method = message.start.split(" ", 1)[0]
            self.report.outcomes.append(Outcome(self.name, method, changes, "not expected"))
        return message

    async def final(
        self, sent: Message, *, on: Callable[[SipResponse], Awaitable[None]] | None = None
    ) -> SipResponse | Copied | None:
        """The final response to ``sent`` (matched by its branch; ``on`` sees each provisional
        one); requests the server sends meanwhile are answered 200."""
        branch = branch_of(sent)
        method = sent.start.split(" ", 1)[0]
        # A CANCEL has its INVITE's branch: the CSeq tells their responses apart.
        other = {"INVITE": "CANCEL", "CANCEL": "INVITE"}.get(method)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        while (left := deadline - loop.time()) > 0:
            message = await self.peer.poll(left)
            if message is None:
                break
            if isinstance(message, SipRequest):
                await self.answer_request(message)
                continue
            if isinstance(message, Copied):
                if message.branch == branch:
                    self.report.copied += 1
                    return message
                continue
            assert isinstance(message, SipResponse)
            via, cseq = message.top_via, message.cseq
            if via is None or via.branch != branch or (cseq is not None and cseq.method == other):
                continue
            if message.status >= 200:
                return message
            if on is not None:
                await on(message)
        return None

    async def answer_request(self, request: SipRequest) -> None:
        """A request from the server (a BYE, a NOTIFY...): 200, perhaps spoiled."""
        if request.method == "ACK":
            return
        leg = Leg(self.peer)
        response = leg.response(request, 200)
        changes = self.mutator.maybe(response, 0.3)
        self.send(response, changes)

    def outcome(
        self, method: str, changes: list[str], response: SipResponse | Copied | None
    ) -> None:
        if not changes:
            return
        answer = "none" if response is None else str(response.status)
        if any(c.lower().startswith(("via", "no via", "second via")) for c in changes):
            answer = f"{answer} (Via spoiled)"
        elif self.peer.cut:
            answer = f"{answer} (the server had closed the TCP connection)"
        elif self.peer.misframed:
            answer = f"{answer} (a wrong Content-Length misframed the TCP stream)"
        elif any(c.startswith("Content-Length") for c in changes):
            answer = f"{answer} (Content-Length spoiled)"
        exchange = list(self.peer.log) if response is None else []
        self.report.outcomes.append(Outcome(self.name, method, changes, answer, exchange))

    async def exchange(self, message: Message, changes: list[str]) -> SipResponse | Copied | None:
        """Send the spoiled request ``message``, wait for its final response, record
        what became of it; that response."""
        self.send(message)
        response = await self.final(message)
        self.outcome(message.start.split(" ", 1)[0], changes, response)
        return response


def _dialog_remote(response: SipResponse) -> str:
    return response.header("To") or ""


def _needed(method: str, event: str) -> list[tuple[str, str]]:
    """The headers a valid ``method`` request carries beside the usual ones."""
    needed = {
        "SUBSCRIBE": [("Event", event), ("Expires", "60")],
        "NOTIFY": [("Event", event), ("Subscription-State", "active;expires=60")],
        "PUBLISH": [("Event", event)],
        "REFER": [("Refer-To", "<sip:carol@127.0.0.1>")],
        "PRACK": [("RAck", "1 1 INVITE")],
    }
    return needed.get(method, [])


async def out_of_dialog(ctx: Context) -> None:
    """One spoiled request outside any dialog, of any method; a 2xx INVITE is then ended."""
    method = ctx.rng.choice(
        [
            "OPTIONS",
            "REGISTER",
            "MESSAGE",
            "INFO",
            "NOTIFY",
            "PUBLISH",
            "SUBSCRIBE",
            "REFER",
            "UPDATE",
            "BYE",
            "PRACK",
            "INVITE",
        ]
    )
    leg = ctx.leg()
    body = SDP if method == "INVITE" else ""
    message = leg.request(method, *_needed(method, "presence"), body=body)
    response = await ctx.exchange(message, ctx.mutator.spoil(message))
    if method == "INVITE" and isinstance(response, SipResponse) and 200 <= response.status < 300:
        leg.remote = _dialog_remote(response)
        ctx.send(leg.request("ACK", cseq=leg.cseq))
        await ctx.final(ctx.send(leg.request("BYE")))


async def call(ctx: Context) -> None:
    """A call from the peer: INVITE (perhaps spoiled, perhaps asking for timers or 100rel),
    PRACKs, ACK, then spoiled requests in the dialog, then a plain BYE."""
    leg = ctx.leg()
    extra = []
    if ctx.rng.random() < 0.3:
        extra.append(("Supported", "timer"))
        extra.append(("Session-Expires", ctx.rng.choice(["90", "1800", "1800;refresher=uac"])))
    if ctx.rng.random() < 0.2:
        extra.append(("Supported", "100rel"))
    invite = leg.request("INVITE", *extra, body=SDP)
    changes = ctx.mutator.maybe(invite, 0.4)
    ctx.send(invite)  # its final response is awaited below, PRACKing on the way

    async def prack(provisional: SipResponse) -> None:
        rseq = provisional.header("RSeq")
        if rseq is None or provisional.header("To") is None:
            return
        leg.remote = _dialog_remote(provisional)
        message = leg.request("PRACK", ("RAck", f"{rseq} 1 INVITE"))
        await ctx.exchange(message, ctx.mutator.maybe(message, 0.5))

    response = await ctx.final(invite, on=prack)
    ctx.outcome("INVITE", changes, response)
    if not isinstance(response, SipResponse) or not 200 <= response.status < 300:
        return
    leg.remote = _dialog_remote(response)
    contact = response.contacts
    if contact:
        leg.target = str(contact[0].uri)
    ack = leg.request("ACK", cseq=1)
    ctx.send(ack, ctx.mutator.maybe(ack, 0.2))
    for _ in range(ctx.rng.randint(1, 4)):
        method = ctx.rng.choice(
            [
                "INFO",
                "UPDATE",
                "INVITE",
                "OPTIONS",
                "MESSAGE",
                "NOTIFY",
                "REFER",
                "SUBSCRIBE",
                "PRACK",
                "BYE",
            ]
        )
        extra = _needed(method, "talk")
        if method in ("INVITE", "UPDATE") and ctx.rng.random() < 0.5:
            extra.append(("Session-Expires", "1800"))
        message = leg.request(method, *extra, body=SDP if method == "INVITE" else "")
        reply = await ctx.exchange(message, ctx.mutator.spoil(message))
        if method == "INVITE" and reply is not None and reply.status >= 200:
            ctx.send(leg.request("ACK", cseq=leg.cseq))
    await ctx.final(ctx.send(leg.request("BYE")))


async def cancelled_call(ctx: Context) -> None:
    """An INVITE, then a CANCEL (perhaps spoiled) once it rings."""
    leg = ctx.leg()
    via = leg.via()
    invite = leg.request("INVITE", body=SDP, via=via)
    ctx.send(invite)
    cancel = leg.request("CANCEL", cseq=1, via=via)
    await ctx.exchange(cancel, ctx.mutator.mutate(cancel))
    response = await ctx.final(invite)
    if isinstance(response, SipResponse) and 200 <= response.status < 300:
        leg.remote = _dialog_remote(response)
        ctx.send(leg.request("ACK", cseq=1))
        await ctx.final(ctx.send(leg.request("BYE")))


async def subscription(ctx: Context) -> None:
    """SUBSCRIBE, then NOTIFY and re-SUBSCRIBE with spoiled values, then unsubscribe."""
    leg = ctx.leg()
    subscribe = leg.request("SUBSCRIBE", *_needed("SUBSCRIBE", "presence"))
    response = await ctx.exchange(subscribe, ctx.mutator.maybe(subscribe, 0.5))
    if not isinstance(response, SipResponse) or not 200 <= response.status < 300:
        return
    leg.remote = _dialog_remote(response)
    for _ in range(ctx.rng.randint(1, 3)):
        method = ctx.rng.choice(["NOTIFY", "SUBSCRIBE"])
        message = leg.request(method, *_needed(method, "presence"))
        await ctx.exchange(message, ctx.mutator.spoil(message))
    await ctx.final(ctx.send(leg.request("SUBSCRIBE", ("Event", "presence"), ("Expires", "0"))))


async def placed_call(ctx: Context) -> None:
    """The application calls the peer, which answers with spoiled responses
    (provisional, reliable or not, and final), then each hangs up."""
    await ctx.app.call(f"sip:peer@127.0.0.1:{ctx.peer.port};transport={ctx.peer.transport}")
    await _answer_call(ctx, ctx.leg())


async def _answer_call(ctx: Context, leg: Leg, *, expected: bool = True) -> None:
    """The peer, called: spoiled provisional responses (reliable at times), a
    spoiled final one (200 or 486), then the server's requests answered until
    its BYE. That no INVITE came is a failed check when one is ``expected``."""
    invite = await _next_request(ctx, "INVITE")
    if invite is None:
        if expected:
            ctx.report.errors.append(f"{ctx.name}: the INVITE never reached the called peer")
        return
    for status in ctx.rng.sample([100, 180, 183], ctx.rng.randint(0, 2)):
        extra: list[tuple[str, str]] = []
        if status > 100 and ctx.rng.random() < 0.4:
            extra = [("Require", "100rel"), ("RSeq", str(ctx.rng.randint(1, 100)))]
        provisional = leg.response(invite, status, *extra)
        ctx.send(provisional, ctx.mutator.maybe(provisional, 0.5))
    status = ctx.rng.choice([200, 200, 200, 486])
    final = leg.response(invite, status, body=SDP if status == 200 else "")
    changes = ctx.mutator.maybe(final, 0.6)
    ctx.send(final, changes)
    # The server's PRACKs, ACK and BYE come to the peer; each is answered.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.wait
    while (left := deadline - loop.time()) > 0:
        message = await ctx.peer.poll(left)
        if isinstance(message, SipRequest):
            await ctx.answer_request(message)
            if message.method == "BYE":
                break
        if status != 200 and isinstance(message, SipRequest) and message.method == "ACK":
            break


async def proxied_call(ctx: Context) -> None:
    """A call the application proxies (record-routed or not) from one peer to
    another: the INVITE spoiled at times, the callee's responses too; the
    caller then ACKs and hangs up through the route the 200 gave."""
    callee = await Peer.open(ctx.peer.transport, ctx.peer.server_port)
    called = Context(callee, ctx.app, ctx.mutator, ctx.report, ctx.name, ctx.wait)
    try:
        leg = ctx.leg()
        target = f"sip:callee@127.0.0.1:{callee.port};transport={callee.transport}"
        record_route = ctx.rng.choice(["yes", "no"])
        invite = leg.request("INVITE", (PROXY_TO, target), (RECORD_ROUTE, record_route), body=SDP)
        changes = ctx.mutator.maybe(invite, 0.5)
        ctx.send(invite)
        # A spoiled INVITE may be refused before it is proxied.
        answering = asyncio.ensure_future(_answer_call(called, Leg(callee), expected=False))
        response = await ctx.final(invite)
        ctx.outcome("INVITE", changes, response)
        if isinstance(response, SipResponse) and 200 <= response.status < 300:
            leg.remote = _dialog_remote(response)
            contacts = response.contacts
            leg.target = str(contacts[0].uri) if contacts else target
            routes = [("Route", route) for route in response.header_all("Record-Route")]
            ctx.send(leg.request("ACK", *routes, cseq=1))
            bye = leg.request("BYE", *routes)
            await ctx.exchange(bye, ctx.mutator.maybe(bye, 0.3))
        await answering
    finally:
        callee.close()


async def _next_request(ctx: Context, method: str) -> SipRequest | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.wait
    while (left := deadline - loop.time()) > 0:
        message = await ctx.peer.poll(left)
        if message is None:
            return None
        if isinstance(message, SipRequest) and message.method == method:
            return message
    return None


SCENARIOS: list[tuple[Scenario, int]] = [
    (out_of_dialog, 35),
    (call, 30),
    (cancelled_call, 10),
    (subscription, 15),
    (placed_call, 10),
    (proxied_call, 10),
]
