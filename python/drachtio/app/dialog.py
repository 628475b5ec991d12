"""A dialog an application is part of: a call (INVITE) or a subscription (SUBSCRIBE).

A call's dialog may start early (RFC 3261 §12.1): made by a provisional
response with a To tag, it carries UPDATE, INFO and PRACK before the 2xx,
which confirms it (the same :class:`Dialog`, ``early`` then false).

Requests the far end sends in it reach the handler registered with
:meth:`Dialog.on` for their kind, else an ``async for`` over
:meth:`Dialog.events`, else a default answer (:data:`DEFAULT_ANSWERS`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drachtio._core import SipResponse
from drachtio.app.message import Headers, Request, Response, body_text, simple_headers
from drachtio.errors import LocalError, SipError
from drachtio.protocol import SendSipRequest

if TYPE_CHECKING:
    from drachtio.app.link import Link
    from drachtio.app.srf import Srf

__all__ = ["DEFAULT_ANSWERS", "Dialog", "DialogEvent"]

log = logging.getLogger("drachtio.app")

RequestHandler = Callable[[Request, Response], Awaitable[None]]
DestroyHandler = Callable[[str], Coroutine[Any, Any, None] | None]

DEFAULT_ANSWERS = {
    "BYE": 200,
    "INFO": 200,
    "MESSAGE": 200,
    "NOTIFY": 200,
    "OPTIONS": 200,
    "UPDATE": 200,
    "REFER": 603,
}
"""How a request in a dialog that nothing handles is answered; a re-INVITE
gets 200 with the dialog's local SDP, other methods 501."""

# The event kind of a request received in a dialog.
_KINDS = {"INVITE": "modify"}
# The requests that carry an SDP offer in their body (RFC 3264; RFC 3311 §5).
_OFFERS = ("INVITE", "UPDATE")


@dataclass(slots=True)
class DialogEvent:
    """One thing that happened in a dialog, as :meth:`Dialog.events` yields it.

    ``kind`` is ``"destroy"`` (with ``reason``; the last event) or the kind
    of a request the far end sent: ``"modify"`` (a re-INVITE), ``"info"``,
    ``"notify"``, ``"refer"``, ``"message"``, ``"update"``, ``"options"``...
    (the method in lower case). A request must be answered with ``res``.
    """

    kind: str
    req: Request | None = None
    res: Response | None = None
    reason: str | None = None


class Dialog:
    """A dialog: its identity, its SDP both ways, and what can be done in it."""

    def __init__(
        self,
        srf: Srf,
        link: Link,
        dialog_id: str,
        *,
        role: str,
        method: str,
        local_sdp: str | None,
        remote_sdp: str | None,
        event: str | None = None,
        early: bool = False,
    ) -> None:
        self.id = dialog_id
        """The server's dialogId: ``<Call-ID>;from-tag=<tag>;to-tag=<tag>``."""
        self.role = role
        """``"uas"`` (we answered the request that created it) or ``"uac"``."""
        self.method = method
        """``INVITE`` (a call) or ``SUBSCRIBE``."""
        self.local_sdp = local_sdp
        self.remote_sdp = remote_sdp
        self.event = event
        """A subscription's event package (``presence``...), for a subscriber."""
        self.early = early
        """Whether the dialog is early: made by a provisional response, not yet
        confirmed by the 2xx (RFC 3261 §12.1)."""
        self.destroy_reason: str | None = None
        """Why the dialog ended (the server's reason), once it has."""
        self._srf = srf
        self.link = link
        """The server link the dialog lives on."""
        self._handlers: dict[str, RequestHandler] = {}
        self._destroy_handlers: list[DestroyHandler] = []
        self._queues: list[asyncio.Queue[DialogEvent]] = []
        # Who waits for the end, for the ACK (futures; a cancelled one is skipped).
        self._destroy_waiters: list[asyncio.Future[None]] = []
        self._ack_waiters: list[asyncio.Future[None]] = []
        self._was_acked = False

    def __repr__(self) -> str:
        state = f" destroyed ({self.destroy_reason})" if self.destroyed else ""
        early = " early" if self.early else ""
        return f"<Dialog {self.role}{early} {self.method} {self.id}{state}>"

    @property
    def call_id(self) -> str:
        return self.id.split(";from-tag=", 1)[0]

    @property
    def destroyed(self) -> bool:
        return self.destroy_reason is not None

    # ------------------------------------------------------------ events

    def on(self, kind: str, handler: Any = None) -> Any:
        """Handle ``kind``: ``"destroy"`` (``handler(reason)``) or a request kind
        (``async handler(req, res)``): ``"modify"``, ``"info"``, ``"notify"``...

        Usable as a decorator: ``@dialog.on("info")``.
        """

        def register(fn: Any) -> Any:
            if kind == "destroy":
                self._destroy_handlers.append(fn)
            else:
                self._handlers[kind] = fn
            return fn

        return register if handler is None else register(handler)

    async def events(self) -> AsyncIterator[DialogEvent]:
        """The dialog's events from now on, until (and including) ``destroy``."""
        queue: asyncio.Queue[DialogEvent] = asyncio.Queue()
        self._queues.append(queue)
        try:
            if self.destroyed:
                yield DialogEvent("destroy", reason=self.destroy_reason)
                return
            while True:
                event = await queue.get()
                yield event
                if event.kind == "destroy":
                    return
        finally:
            self._queues.remove(queue)

    async def wait_destroyed(self) -> str:
        """Wait until the dialog ends; why it did."""
        if self.destroy_reason is None:
            await _waiter(self._srf.loop, self._destroy_waiters)
        assert self.destroy_reason is not None
        return self.destroy_reason

    async def wait_acked(self) -> None:
        """Wait until the ACK for the 2xx that confirmed the dialog came, or the dialog ended."""
        if not self._was_acked and self.destroy_reason is None:
            await _waiter(self._srf.loop, self._ack_waiters)

    def _request(self, req: Request, res: Response) -> None:
        """A request the far end sent in this dialog (not ACK)."""
        if req.method in _OFFERS and req.body:
            self.remote_sdp = req.text
        kind = _KINDS.get(req.method, req.method.lower())
        handler = self._handlers.get(kind)
        if handler is not None:
            self._srf.run_handler(handler, req, res)
        elif self._queues and req.method != "BYE":
            for queue in self._queues:
                queue.put_nowait(DialogEvent(kind, req, res))
        elif req.method == "INVITE" or (req.method == "UPDATE" and req.body):
            # An offer is answered in the 2xx (RFC 3264 §5; RFC 3311 §5.2).
            headers = {"Content-Type": "application/sdp"} if self.local_sdp else None
            res.answer_now(200, headers, self.local_sdp)
        else:
            res.answer_now(DEFAULT_ANSWERS.get(req.method, 501))

    def _confirmed(self, remote_sdp: str | None) -> None:
        """The 2xx confirmed the early dialog; its SDP, if any, is the far end's now."""
        self.early = False
        if remote_sdp is not None:
            self.remote_sdp = remote_sdp

    def _ack(self) -> None:
        self._was_acked = True
        _wake(self._ack_waiters)

    def _ended(self, reason: str) -> None:
        """The server says the dialog is over."""
        if self.destroy_reason is not None:
            return
        self.destroy_reason = reason
        _wake(self._destroy_waiters)
        _wake(self._ack_waiters)
        for queue in self._queues:
            queue.put_nowait(DialogEvent("destroy", reason=reason))
        for handler in self._destroy_handlers:
            result = handler(reason)
            if result is not None:
                self._srf.spawn(result)

    # ------------------------------------------------------------ acting in it

    async def request(
        self,
        method: str,
        *,
        headers: Headers | None = None,
        body: str | bytes | None = None,
    ) -> SipResponse:
        """Send ``method`` in the dialog; its final response (of any status).

        Raises:
            LocalError: the dialog is over.
            RequestFailed: the server refused the command.
        """
        if self.destroyed:
            raise LocalError(f"dialog {self.id} is over ({self.destroy_reason})")
        command = SendSipRequest(
            method, None, simple_headers(headers), body_text(body), dialog_id=self.id
        )
        return await self._srf.send_and_wait(self.link, command)

    async def destroy(self, *, headers: Headers | None = None) -> None:
        """End the dialog; returns once the server has ended it.

        A call: BYE. A subscription this application made: unsubscribe
        (SUBSCRIBE with ``Expires: 0``), then the notifier's terminating
        NOTIFY ends it. A notifier ends a subscription with a terminating
        NOTIFY it sends with :meth:`request`; ``destroy`` refuses it.
        """
        if self.destroyed:
            return
        if self.early:
            raise LocalError(
                f"dialog {self.id} is early: the caller ends it by cancelling the call, "
                "the callee by a final response"
            )
        if self.method == "INVITE":
            await self.request("BYE", headers=headers)
        elif self.event is not None:
            own = {"Event": self.event, "Expires": "0", **(headers or {})}
            await self.request("SUBSCRIBE", headers=own)
        else:
            raise LocalError("a notifier ends a subscription with a terminating NOTIFY")
        await self.wait_destroyed()

    async def modify(self, sdp: str, *, headers: Headers | None = None) -> SipResponse:
        """Re-INVITE with ``sdp`` as the new offer; the 2xx is acknowledged here.

        Returns the 2xx; its SDP becomes :attr:`remote_sdp`.

        Raises:
            SipError: the far end refused the new offer (the dialog goes on).
        """
        response = await self._offer("INVITE", sdp, headers)
        await self.link.call(SendSipRequest("ACK", None, dialog_id=self.id))
        return response

    async def update(
        self, sdp: str | None = None, *, headers: Headers | None = None
    ) -> SipResponse:
        """UPDATE (RFC 3311), in an early dialog or a confirmed one; the 2xx.

        With ``sdp``, a new offer: the answer in the 2xx becomes
        :attr:`remote_sdp`. Without, a bare UPDATE (a session refresh).

        Raises:
            SipError: the far end refused it (the dialog goes on).
            RequestFailed: the server refused to send it.
        """
        return await self._offer("UPDATE", sdp, headers)

    async def prack(self, sdp: str | None = None, *, headers: Headers | None = None) -> SipResponse:
        """PRACK the reliable provisional response (RFC 3262) awaiting it in this
        early dialog, for a call made with ``create_uac(..., prack="app")``; the 2xx.

        The server writes the RAck. With ``sdp``, the PRACK carries it: the
        answer to an offer in the provisional response, or a new offer.

        Raises:
            SipError: the far end refused it.
            RequestFailed: no reliable provisional response awaits a PRACK here
                (none came, or it was acknowledged already).
        """
        return await self._offer("PRACK", sdp, headers)

    async def _offer(self, method: str, sdp: str | None, headers: Headers | None) -> SipResponse:
        """Send ``method`` carrying ``sdp`` (if any); its 2xx, whose SDP is the far end's.

        Raises:
            SipError: a final response that is not 2xx.
        """
        own: dict[str, Any] = dict(headers or {})
        if sdp is not None:
            own.setdefault("Content-Type", "application/sdp")
        response = await self.request(method, headers=own, body=sdp)
        if not 200 <= response.status < 300:
            raise SipError(response.status, response.reason, response)
        if sdp is not None:
            self.local_sdp = sdp
        if response.body:
            self.remote_sdp = response.body.decode("utf-8", "replace")
        return response

    async def hold(self) -> SipResponse:
        """Put the call on hold: a re-INVITE offering ``a=sendonly`` (RFC 3264 §8.4)."""
        return await self.modify(_with_direction(self._sdp_or_fail(), "sendonly"))

    async def unhold(self) -> SipResponse:
        """Take the call off hold: a re-INVITE offering ``a=sendrecv``."""
        return await self.modify(_with_direction(self._sdp_or_fail(), "sendrecv"))

    def _sdp_or_fail(self) -> str:
        if not self.local_sdp:
            raise LocalError("the dialog has no local SDP to modify")
        return self.local_sdp


_DIRECTION = re.compile(r"^a=(sendrecv|sendonly|recvonly|inactive)\r?$", re.MULTILINE)


def _waiter(
    loop: asyncio.AbstractEventLoop, waiters: list[asyncio.Future[None]]
) -> asyncio.Future[None]:
    """A new future among ``waiters``, for the caller to await (no coroutine of its own)."""
    waiter = loop.create_future()
    waiters.append(waiter)
    return waiter


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
    waiters.clear()


def _with_direction(sdp: str, direction: str) -> str:
    """``sdp`` with each direction attribute set to ``direction`` (one added if it has none)."""
    if _DIRECTION.search(sdp):
        return _DIRECTION.sub(f"a={direction}", sdp)
    newline = "\r\n" if "\r\n" in sdp else "\n"
    head, sep, media = sdp.partition(f"{newline}m=")
    return f"{head}{newline}a={direction}{sep}{media}" if sep else f"{sdp}a={direction}{newline}"
