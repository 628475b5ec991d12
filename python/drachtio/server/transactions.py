"""The transactions between the server and its applications, and the rules of their lifetimes.

A server transaction (:class:`ServerTx`) is a request the server received
and handed to an application; a client transaction (:class:`ClientTx`) is
a request an application sent through the server. Each registry keeps its
transactions under the protocol's transaction id (what applications name)
and under the stack's (what SIP events name), and remembers the ids of
those recently finished, so that their owner is told "already answered"
rather than "unknown".

Sans-IO: every time-bound rule takes ``now`` (seconds on a monotonic
clock) and the server asks :meth:`ServerTransactions.overdue` /
:meth:`ClientTransactions.expire` when the earliest deadline comes.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from drachtio._core import SipRequest
from drachtio.protocol import Source
from drachtio.server.deadlines import Alarm, Deadlines
from drachtio.server.dialog import Dialog, Listener
from drachtio.server.session_timer import Accept, UacOffer

__all__ = [
    "RECENTLY_FINISHED",
    "ClientTransactions",
    "ClientTx",
    "RecentlyFinished",
    "ServerTransactions",
    "ServerTx",
]

_Owner = TypeVar("_Owner")

RECENTLY_FINISHED = 4096
"""How many finished transactions each registry remembers, the oldest forgotten first."""


class RecentlyFinished(Generic[_Owner]):
    """The ids of the last transactions finished, and their owners then.

    Owners are held weakly (a closed session is not kept for this), so that
    only the owner learns that a transaction existed.
    """

    __slots__ = ("_owners", "_size")

    def __init__(self, size: int = RECENTLY_FINISHED) -> None:
        self._owners: OrderedDict[str, weakref.ref[_Owner] | None] = OrderedDict()
        self._size = size

    def __contains__(self, tx_id: str) -> bool:
        return tx_id in self._owners

    def add(self, tx_id: str, owner: _Owner | None) -> None:
        """``tx_id`` finished, ``owner``'s; the oldest remembered is forgotten beyond the size."""
        self._owners[tx_id] = None if owner is None else weakref.ref(owner)
        if len(self._owners) > self._size:
            self._owners.popitem(last=False)

    def owned_by(self, tx_id: str, owner: _Owner) -> bool:
        """Whether ``tx_id`` finished recently and was ``owner``'s."""
        ref = self._owners.get(tx_id)
        return ref is not None and ref() is owner


@dataclass(slots=True, eq=False)
class ServerTx(Generic[_Owner]):
    """A SIP request the server received and handed to an application."""

    id: str
    stack_id: int
    request: SipRequest
    owner: _Owner | None
    listener: Listener
    source: Source
    received: float
    dialog: Dialog[_Owner] | None = None
    to_tag: str | None = None
    # The loop's time it was received, until the application's first response.
    awaiting_app_since: float | None = None
    # An INVITE or UPDATE: the session timer its 2xx sets up (RFC 4028 §9).
    session_timer: Accept | None = None
    # An INVITE outside any dialog answered provisionally: its early dialog.
    early: Dialog[_Owner] | None = None


class ServerTransactions(Generic[_Owner]):
    """The server transactions waiting for their application's final response.

    Each is pending (under both ids) from :meth:`add` to :meth:`finish`; an
    INVITE answered 2xx stays under its stack id until its ACK comes
    (:meth:`pop_by_stack`). The application has ``answer_within`` seconds to
    answer a request, except that an INVITE it answered provisionally may
    ring as long as the caller waits (:meth:`ringing`).
    """

    __slots__ = ("_answer_due", "_by_id", "_by_stack", "_finished", "answer_within")

    def __init__(
        self,
        answer_within: float,
        remembered: int = RECENTLY_FINISHED,
        alarm: Alarm | None = None,
    ) -> None:
        self.answer_within = answer_within
        self._by_id: dict[str, ServerTx[_Owner]] = {}
        self._by_stack: dict[int, ServerTx[_Owner]] = {}
        self._finished: RecentlyFinished[_Owner] = RecentlyFinished(remembered)
        self._answer_due: Deadlines[ServerTx[_Owner]] = Deadlines(alarm)

    def __len__(self) -> int:
        """How many the stack still reports on: pending, or a 2xx waiting for its ACK."""
        return len(self._by_stack)

    def get(self, tx_id: str) -> ServerTx[_Owner] | None:
        """The pending transaction ``tx_id``."""
        return self._by_id.get(tx_id)

    def get_by_stack(self, stack_id: int) -> ServerTx[_Owner] | None:
        """The transaction the stack calls ``stack_id``."""
        return self._by_stack.get(stack_id)

    def pop_by_stack(self, stack_id: int) -> ServerTx[_Owner] | None:
        """The transaction the stack calls ``stack_id``, no longer looked up by it."""
        return self._by_stack.pop(stack_id, None)

    def owned_by(self, owner: _Owner) -> list[ServerTx[_Owner]]:
        """The pending transactions of ``owner``."""
        return [tx for tx in self._by_id.values() if tx.owner is owner]

    def add(self, tx: ServerTx[_Owner], now: float) -> None:
        """``tx`` was handed to its owner at ``now``: its answer is due ``answer_within`` later."""
        self._by_id[tx.id] = tx
        self._by_stack[tx.stack_id] = tx
        self._answer_due.set(tx, now + self.answer_within)

    def ringing(self, tx: ServerTx[_Owner]) -> None:
        """An INVITE was answered provisionally: no answer is due from the application any more."""
        self._answer_due.cancel(tx)

    def finish(self, tx: ServerTx[_Owner], *, keep_for_ack: bool = False) -> None:
        """``tx`` has its final response (pending or not, it is remembered as finished).

        ``keep_for_ack``: a 2xx to an INVITE, whose ACK still finds it by its stack id.
        """
        self._answer_due.cancel(tx)
        self._by_id.pop(tx.id, None)
        self._finished.add(tx.id, tx.owner)
        if not keep_for_ack:
            self._by_stack.pop(tx.stack_id, None)

    def is_pending(self, tx: ServerTx[_Owner]) -> bool:
        """Whether ``tx`` is still waiting for its final response."""
        return self._by_id.get(tx.id) is tx

    def was_finished(self, tx_id: str) -> bool:
        """Whether ``tx_id`` is among those finished recently."""
        return tx_id in self._finished

    def finished_by(self, tx_id: str, owner: _Owner) -> bool:
        """Whether ``tx_id`` finished recently and was ``owner``'s."""
        return self._finished.owned_by(tx_id, owner)

    def overdue(self, now: float) -> list[ServerTx[_Owner]]:
        """The pending transactions whose application did not answer in time, by ``now``."""
        return [tx for tx in self._answer_due.pop_due(now) if self.is_pending(tx)]

    def next_deadline(self) -> float | None:
        """When the next answer is due, or ``None``."""
        return self._answer_due.next_at()


@dataclass(slots=True, eq=False)
class ClientTx(Generic[_Owner]):
    """A SIP request an application sent through the server."""

    id: str
    stack_id: int
    request: SipRequest
    owner: _Owner | None
    contact: str
    dialog: Dialog[_Owner] | None = None
    # A SUBSCRIBE outside any dialog: its Call-ID and From tag, which a
    # NOTIFY arriving before its 2xx carries (RFC 6665 §4.1.2.4), and the
    # remote tags of the dialogs it created, which no later message creates again.
    subscribe_key: tuple[str, str] | None = None
    subscribe_tags: set[str] | None = None
    # A final response came (an INVITE's is kept ``linger`` for forked 2xx).
    answered: bool = False
    # The application cancelled it (an INVITE).
    cancelled: bool = False
    # An INVITE outside any dialog: the loop's time it was sent, until its
    # first response other than 100 (post-dial delay).
    dialled_at: float | None = None
    # An INVITE or UPDATE: the session timer it asks for (RFC 4028 §7).
    session_offer: UacOffer | None = None


class ClientTransactions(Generic[_Owner]):
    """The client transactions waiting for responses, and the SUBSCRIBEs NOTIFYs may match.

    After a 2xx, an INVITE's transaction is kept ``linger`` seconds (64*T1)
    for the 2xx of other forks (RFC 3261 §13.2.2.4), and a SUBSCRIBE is
    matched that long by the NOTIFYs of other forks (RFC 6665 §4.1.2.4).
    """

    __slots__ = (
        "_by_id",
        "_by_stack",
        "_finished",
        "_forget_due",
        "_subscribe_ends",
        "_subscribing",
        "linger",
    )

    def __init__(
        self, linger: float, remembered: int = RECENTLY_FINISHED, alarm: Alarm | None = None
    ) -> None:
        self.linger = linger
        self._by_id: dict[str, ClientTx[_Owner]] = {}
        self._by_stack: dict[int, ClientTx[_Owner]] = {}
        self._finished: RecentlyFinished[_Owner] = RecentlyFinished(remembered)
        self._subscribing: dict[tuple[str, str], ClientTx[_Owner]] = {}
        self._forget_due: Deadlines[ClientTx[_Owner]] = Deadlines(alarm)
        self._subscribe_ends: Deadlines[ClientTx[_Owner]] = Deadlines(alarm)

    def __len__(self) -> int:
        return len(self._by_stack)

    def get(self, tx_id: str) -> ClientTx[_Owner] | None:
        """The transaction ``tx_id``, until it is forgotten."""
        return self._by_id.get(tx_id)

    def get_by_stack(self, stack_id: int) -> ClientTx[_Owner] | None:
        """The transaction the stack calls ``stack_id``."""
        return self._by_stack.get(stack_id)

    def owned_by(self, owner: _Owner) -> list[ClientTx[_Owner]]:
        """The transactions of ``owner``."""
        return [ctx for ctx in self._by_id.values() if ctx.owner is owner]

    def in_dialog(self, dialog: Dialog[_Owner]) -> list[ClientTx[_Owner]]:
        """The transactions of requests sent in ``dialog``."""
        return [ctx for ctx in self._by_id.values() if ctx.dialog is dialog]

    def subscribing(self, key: tuple[str, str]) -> ClientTx[_Owner] | None:
        """The SUBSCRIBE with Call-ID and From tag ``key`` that NOTIFYs may still match."""
        return self._subscribing.get(key)

    def add(self, ctx: ClientTx[_Owner]) -> None:
        """``ctx``'s request was sent."""
        self._by_id[ctx.id] = ctx
        self._by_stack[ctx.stack_id] = ctx
        if ctx.subscribe_key is not None:
            self._subscribing[ctx.subscribe_key] = ctx

    def resent(self, ctx: ClientTx[_Owner], stack_id: int) -> None:
        """``ctx``'s request was sent again (after a 422) as client transaction ``stack_id``."""
        self._by_stack.pop(ctx.stack_id, None)
        ctx.stack_id = stack_id
        self._by_stack[stack_id] = ctx

    def final_response(self, ctx: ClientTx[_Owner], status: int, now: float) -> None:
        """A final response came at ``now``: ``ctx`` is forgotten, now or after ``linger``."""
        ctx.answered = True
        if ctx.request.method == "INVITE" and status < 300:
            self._forget_due.set(ctx, now + self.linger)
        else:
            self.forget(ctx)
        if ctx.subscribe_key is not None:
            if status < 300:
                self._subscribe_ends.set(ctx, now + self.linger)
            else:
                self.end_subscribe(ctx)

    def failed(self, stack_id: int) -> ClientTx[_Owner] | None:
        """The stack gave up on ``stack_id`` (no response, transport error): it is forgotten."""
        ctx = self._by_stack.pop(stack_id, None)
        if ctx is not None:
            self.forget(ctx)
            self.end_subscribe(ctx)
        return ctx

    def forget(self, ctx: ClientTx[_Owner]) -> None:
        """``ctx`` is over: only its id is remembered, as finished."""
        self._forget_due.cancel(ctx)
        if self._by_id.pop(ctx.id, None) is not None:
            self._finished.add(ctx.id, ctx.owner)
        self._by_stack.pop(ctx.stack_id, None)

    def end_subscribe(self, ctx: ClientTx[_Owner]) -> None:
        """NOTIFYs no longer match ``ctx``'s SUBSCRIBE."""
        self._subscribe_ends.cancel(ctx)
        key = ctx.subscribe_key
        if key is not None and self._subscribing.get(key) is ctx:
            del self._subscribing[key]

    def finished_by(self, tx_id: str, owner: _Owner) -> bool:
        """Whether ``tx_id`` finished recently and was ``owner``'s."""
        return self._finished.owned_by(tx_id, owner)

    def expire(self, now: float) -> None:
        """Forget what has lingered long enough by ``now``."""
        for ctx in self._forget_due.pop_due(now):
            self.forget(ctx)
        for ctx in self._subscribe_ends.pop_due(now):
            self.end_subscribe(ctx)

    def next_deadline(self) -> float | None:
        """When something is next forgotten, or ``None``."""
        times = [
            t for t in (self._forget_due.next_at(), self._subscribe_ends.next_at()) if t is not None
        ]
        return min(times) if times else None
