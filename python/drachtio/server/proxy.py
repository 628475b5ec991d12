"""One request the server proxies (RFC 3261 §16), sans-IO: its targets, branches and timers.

An application answers a request with ``proxy``; :class:`ProxiedRequest`
decides what to send where and when, on the time the caller passes in, and
the caller (:class:`~drachtio.server.proxies.Proxies`) carries its
:class:`Action`\\ s out through the stack and tells it what came back. The
rules of §16 themselves (best response, which branches to CANCEL, Timer C)
are the core's :class:`~drachtio._core.ProxyContext`; here are what the
application chose: the order of the destinations, serial or parallel, its
provisional and final timeouts, redirects followed, and the report of
every branch.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from drachtio._core import ProxyContext, SipResponse
from drachtio.protocol import BranchReport, ProxyRequest

__all__ = [
    "MAX_REDIRECT_TARGETS",
    "Action",
    "CancelBranch",
    "ProxiedRequest",
    "Relay",
    "SendBranch",
    "Settled",
]

MAX_REDIRECT_TARGETS = 8
"""The most destinations the 3xx responses of one proxied request may add."""


@dataclass(slots=True, frozen=True)
class SendBranch:
    """Forward the request to ``destination`` as branch ``index``."""

    index: int
    destination: str


@dataclass(slots=True, frozen=True)
class CancelBranch:
    """CANCEL branch ``index`` (its INVITE client transaction)."""

    index: int


@dataclass(slots=True, frozen=True)
class Relay:
    """Send upstream ``response`` (as received, our Via on top), or a response of ``status``."""

    response: SipResponse | None
    status: int


@dataclass(slots=True, frozen=True)
class Settled:
    """The request is settled: report to the application."""

    final_status: int
    branches: tuple[BranchReport, ...]


Action = SendBranch | CancelBranch | Relay | Settled


@dataclass(slots=True, eq=False)
class _Branch:
    destination: str
    responses: list[tuple[int, str]] = field(default_factory=list)
    # No final response expected any more (one came, or the branch was given up).
    over: bool = False
    # Given up before its final response: only a 2xx of it still matters.
    abandoned: bool = False
    provisional: bool = False
    provisional_due: float | None = None
    final_due: float | None = None
    error: str | None = None

    def report(self) -> BranchReport:
        return BranchReport(self.destination, tuple(self.responses), self.error)


class ProxiedRequest:
    """The proxy core's state for one request: feed it events with ``now``, carry out its actions.

    Inputs: :meth:`start`, :meth:`on_response`, :meth:`on_branch_failure`,
    :meth:`on_cancel`, :meth:`handle_timeout`; outputs: :meth:`poll_actions`
    and :meth:`next_deadline`. ``timer_c`` is Timer C in seconds (§16.8).
    """

    __slots__ = (
        "_actions",
        "_branches",
        "_closed",
        "_context",
        "_final_status",
        "_invite",
        "_over",
        "_redirects",
        "_settled",
        "_targets",
        "cancelled_by_caller",
        "options",
        "timed_out",
    )

    def __init__(self, options: ProxyRequest, invite: bool, now: float, timer_c: float) -> None:
        self.options = options
        self._invite = invite
        self._context = ProxyContext(invite, now, timer_c)
        self._targets: deque[str] = deque(options.destinations)
        self._branches: list[_Branch] = []
        self._actions: list[Action] = []
        self._redirects = 0
        # The search is over (a 2xx, a 6xx, the caller's CANCEL): no new branch.
        self._over = False
        self._closed = False
        self._final_status: int | None = None
        self._settled = False
        self.cancelled_by_caller = False
        """Whether the caller's CANCEL ended the search."""
        self.timed_out = False
        """Whether a branch was given up or cancelled because it was not answered
        in time (the application's timeouts, Timer C)."""

    # ------------------------------------------------------------ inputs

    def start(self, now: float) -> None:
        """Send to the first destination (serial) or to all (parallel)."""
        self._advance(now)

    def on_response(self, index: int, response: SipResponse, now: float) -> None:
        """Branch ``index`` received ``response`` at ``now``."""
        branch = self._branches[index]
        status = response.status
        branch.responses.append((status, response.reason))
        if branch.abandoned and not 200 <= status < 300:
            return
        if status < 200:
            branch.provisional = True
            branch.provisional_due = None
        else:
            branch.over = True
            branch.provisional_due = branch.final_due = None
            if status < 300 or status >= 600:
                self._over = True
            elif 300 <= status < 400 and self.options.follow_redirects:
                self._follow(response)
        self._context.on_response(index, response, now)
        self._drain()
        if status >= 200:
            self._advance(now)

    def on_branch_failure(self, index: int, status: int, error: str, now: float) -> None:
        """Branch ``index`` ended without a response: ``status`` stands for it (408, 503)."""
        branch = self._branches[index]
        if branch.over:
            return
        branch.over = True
        branch.provisional_due = branch.final_due = None
        branch.error = error
        self._context.on_branch_failure(index, status)
        self._drain()
        self._advance(now)

    def on_cancel(self, now: float) -> None:
        """The caller cancelled (§16.10): the stack answered it 487; the branches are cancelled."""
        self.cancelled_by_caller = True
        self._over = True
        self._targets.clear()
        if self._final_status is None:
            self._final_status = 487
        self._context.on_cancel()
        self._drain()
        self._check_settled()

    def handle_timeout(self, now: float) -> None:
        """The application's timeouts and Timer C, at ``now``."""
        for index, branch in enumerate(self._branches):
            if branch.over:
                continue
            if branch.provisional_due is not None and now >= branch.provisional_due:
                self._give_up(index, "no provisional response in time", now)
            elif branch.final_due is not None and now >= branch.final_due:
                branch.final_due = None
                self.timed_out = True
                if branch.provisional and self._invite:
                    # Its 487 ends it and the next destination is tried then.
                    branch.error = "no final response in time: cancelled"
                    self._actions.append(CancelBranch(index))
                else:
                    self._give_up(index, "no final response in time", now)
        due = self._context.poll_timeout()
        if due is not None and now >= due:
            # Timer C: a ringing branch is cancelled, a silent one counts as 408.
            self.timed_out = True
            self._context.handle_timeout(now)
            self._drain()
            self._advance(now)

    # ------------------------------------------------------------ outputs

    def poll_actions(self) -> list[Action]:
        """What to do now, in order."""
        actions, self._actions = self._actions, []
        return actions

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` is next due, or ``None``."""
        times = [self._context.poll_timeout()]
        for branch in self._branches:
            if not branch.over:
                times.extend((branch.provisional_due, branch.final_due))
        due = [t for t in times if t is not None]
        return min(due) if due else None

    @property
    def settled(self) -> bool:
        """Whether the caller has its final response and every branch has ended."""
        return self._settled

    @property
    def final_status(self) -> int | None:
        """The final response the caller got, once it has one."""
        return self._final_status

    def branches(self) -> tuple[BranchReport, ...]:
        """Every destination tried so far, in order."""
        return tuple(b.report() for b in self._branches)

    # ------------------------------------------------------------ the search

    def _advance(self, now: float) -> None:
        """Start the next branches the forking mode allows; close when no more can come."""
        parallel = self.options.forking == "parallel"
        while self._targets and not self._over:
            if not parallel and any(not b.over for b in self._branches):
                break
            self._start_branch(self._targets.popleft(), now)
        pending = any(not b.over for b in self._branches)
        redirects_possible = self.options.follow_redirects and pending and not self._over
        if not self._closed and not self._targets and not redirects_possible:
            self._closed = True
            self._context.close()
            self._drain()
        self._check_settled()

    def _start_branch(self, destination: str, now: float) -> None:
        index = len(self._branches)
        branch = _Branch(destination)
        self._branches.append(branch)
        if not self._context.add_branch(index, now):
            branch.over = True
            branch.error = "not sent: the search was over"
            return
        options = self.options
        if options.provisional_timeout is not None:
            branch.provisional_due = now + options.provisional_timeout
        if options.final_timeout is not None:
            branch.final_due = now + options.final_timeout
        self._actions.append(SendBranch(index, destination))

    def _give_up(self, index: int, why: str, now: float) -> None:
        """Stop waiting for branch ``index``: it counts as 408; a CANCEL follows if it rings."""
        self.timed_out = True
        branch = self._branches[index]
        branch.abandoned = True
        if self._invite:
            self._actions.append(CancelBranch(index))
        self.on_branch_failure(index, 408, why, now)

    def _follow(self, response: SipResponse) -> None:
        """The Contacts of a 3xx become destinations, a bounded number, none tried twice."""
        tried = {b.destination for b in self._branches} | set(self._targets)
        for contact in response.contacts:
            if self._redirects >= MAX_REDIRECT_TARGETS:
                return
            uri = str(contact.uri)
            if uri in tried or not uri.startswith(("sip:", "sips:")):
                continue
            tried.add(uri)
            self._redirects += 1
            self._targets.append(uri)

    def _drain(self) -> None:
        """Turn what the core's context asks for into actions."""
        for action in self._context.poll_actions():
            if action[0] == "cancel":
                index = action[1]
                if not self._branches[index].abandoned:
                    self._actions.append(CancelBranch(index))
            elif action[0] == "forward":
                response = action[1]
                self._upstream(response, response.status)
            else:
                self._upstream(None, action[1])

    def _upstream(self, response: SipResponse | None, status: int) -> None:
        if status >= 200 and self._final_status is None:
            self._final_status = status
        elif status >= 200 and not (200 <= status < 300):
            return  # the caller's CANCEL was answered 487 already
        self._actions.append(Relay(response, status))

    def _check_settled(self) -> None:
        if self._settled or self._final_status is None:
            return
        if any(not b.over for b in self._branches):
            return
        self._settled = True
        self._actions.append(Settled(self._final_status, self.branches()))
