"""The requests an application sends, and their responses: its client transactions.

:class:`ClientTransactions` keeps every request sent through a link until
its final response: it hands provisional responses to ``on_provisional``,
builds the dialogs the responses carry a ``dialogId`` of (early ones from a
tagged 1xx, the call from the 2xx), cancels an INVITE nobody waits for any
more, and ends the calls of extra forks. :func:`request` is
:meth:`Srf.request <drachtio.Srf.request>`: a request outside any dialog,
retried once with digest credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drachtio._core import SipRequest, SipResponse
from drachtio.app.dialog import Dialog
from drachtio.app.digest import Credentials, with_credentials
from drachtio.app.message import Headers, body_text, simple_headers
from drachtio.errors import ConnectionLost, LocalError, RequestFailed
from drachtio.protocol import (
    CancelSipRequest,
    ResponseData,
    SendResult,
    SendSipRequest,
    Sip,
    method_named,
)

if TYPE_CHECKING:
    from drachtio.app.link import Link
    from drachtio.app.srf import Srf

__all__ = ["ClientTransactions", "OnDialog", "request"]

OnDialog = Callable[[str, SipResponse | None], Dialog]
"""Builds the dialog a response (or, for SUBSCRIBE, a NOTIFY: ``None``)
carries the ``dialogId`` of, as soon as it comes."""


@dataclass(slots=True)
class _ClientTx:
    """A request this application sent, waiting for its final response."""

    final: asyncio.Future[SipResponse]
    on_provisional: Callable[[SipResponse], Any] | None = None
    # Builds the dialog of a 2xx that carries a dialogId, as soon as it comes.
    on_dialog: OnDialog | None = None
    link: Link | None = None
    id: str = ""
    dialog: Dialog | None = None
    request: SipRequest | None = None
    # Nobody waits for its final response any more (see ClientTransactions._give_up).
    abandoned: bool = False


class ClientTransactions:
    """The requests ``srf`` sent that wait for their final response, by transaction id."""

    __slots__ = ("_srf", "_waiting")

    def __init__(self, srf: Srf) -> None:
        self._srf = srf
        self._waiting: dict[str, _ClientTx] = {}

    async def exchange(
        self,
        link: Link,
        command: SendSipRequest,
        on_provisional: Callable[[SipResponse], Any] | None = None,
        on_dialog: OnDialog | None = None,
    ) -> tuple[SipRequest, SipResponse]:
        """Send ``command``; the request as sent and its final response. The
        request is cancelled (INVITE) if the caller is cancelled while it waits,
        for the server's result as for the response."""
        tx = _ClientTx(self._srf.loop.create_future(), on_provisional, on_dialog, link)

        def sent(result: ResponseData) -> None:
            assert isinstance(result, SendResult)
            tx.id = result.transaction_id
            message = link.sip_message(result.message)
            assert isinstance(message, SipRequest)
            tx.request = message
            self._waiting[tx.id] = tx
            if tx.abandoned:
                self._give_up(link, tx, command.method)

        try:
            await link.call(command, on_result=sent)
        except asyncio.CancelledError:
            # Cancelled while the server's result is on its way: the request
            # may have gone, and is known by its transaction id only then.
            tx.abandoned = True
            raise
        try:
            response = await asyncio.shield(tx.final)
            assert tx.request is not None
            return tx.request, response
        except asyncio.CancelledError:
            if not tx.final.done():
                self._give_up(link, tx, command.method)
            raise
        finally:
            if tx.final.done():
                self._waiting.pop(tx.id, None)

    def _give_up(self, link: Link, tx: _ClientTx, method: str) -> None:
        """Nobody waits for ``tx`` any more: an INVITE is cancelled; another
        request is forgotten when its final response comes."""
        tx.abandoned = True
        if method == "INVITE":
            self._srf.spawn(self._abandon(link, tx))

    async def _abandon(self, link: Link, tx: _ClientTx) -> None:
        """CANCEL an INVITE nobody waits for; end the call should a 2xx cross the CANCEL.

        When the link goes meanwhile, the server cancels or ends it itself.
        """
        with contextlib.suppress(ConnectionLost):
            await self._abandon_on(link, tx)

    async def _abandon_on(self, link: Link, tx: _ClientTx) -> None:
        with contextlib.suppress(RequestFailed):  # the final response is on its way
            await link.call(CancelSipRequest(tx.id))
        try:
            response = await asyncio.wait_for(tx.final, 64.0)
        finally:
            self._waiting.pop(tx.id, None)
        if 200 <= response.status < 300 and tx.dialog is not None:
            await link.call(SendSipRequest("ACK", None, dialog_id=tx.dialog.id))
            await tx.dialog.destroy()

    def on_response(self, sip: Sip, response: SipResponse) -> None:
        """A response the server relayed to a request sent here."""
        tx = self._waiting.get(sip.transaction_id)
        if tx is None:
            return
        if response.status < 200:
            if sip.dialog_id is not None and tx.on_dialog is not None:
                # Its early dialog (RFC 3261 §12.1.2), which the 2xx of its To tag confirms.
                tx.on_dialog(sip.dialog_id, response)
            if tx.on_provisional is not None:
                self._srf._callback("on_provisional", tx.on_provisional, response)
            return
        if sip.dialog_id is not None and tx.on_dialog is not None and tx.dialog is None:
            tx.dialog = tx.on_dialog(sip.dialog_id, response)
        if not tx.final.done():
            tx.final.set_result(response)
            if tx.abandoned and tx.request is not None and tx.request.method != "INVITE":
                # Its waiter is gone, and with it the one who would forget it.
                del self._waiting[sip.transaction_id]
        elif tx.dialog is not None and response.status < 300 and sip.dialog_id != tx.dialog.id:
            # Another fork answered too: this application keeps the first call only.
            self._srf.spawn(_end_extra_fork(tx, sip))

    def early_subscription(self, dialog_id: str) -> Dialog | None:
        """The dialog a NOTIFY creates before its SUBSCRIBE's 2xx (RFC 6665 §4.1.2.4)."""
        call_id = dialog_id.split(";from-tag=", 1)[0]
        for tx in self._waiting.values():
            request = tx.request
            if (
                request is not None
                and request.method == "SUBSCRIBE"
                and request.call_id == call_id
                and tx.on_dialog is not None
            ):
                tx.dialog = tx.on_dialog(dialog_id, None)
                return tx.dialog
        return None

    def lost(self, link: Link, reason: str) -> None:
        """The requests sent through ``link`` fail with :class:`~drachtio.ConnectionLost`."""
        for tx_id, tx in list(self._waiting.items()):
            if tx.link is link:
                del self._waiting[tx_id]
                if not tx.final.done():
                    tx.final.set_exception(ConnectionLost(reason))
                    # Whoever waited may be gone already (a cancelled call).
                    tx.final.add_done_callback(_retrieve)


async def _end_extra_fork(tx: _ClientTx, sip: Sip) -> None:
    assert sip.dialog_id is not None and tx.link is not None
    link = tx.link
    await link.call(SendSipRequest("ACK", None, dialog_id=sip.dialog_id))
    await link.call(SendSipRequest("BYE", None, dialog_id=sip.dialog_id))


def _retrieve(future: asyncio.Future[SipResponse]) -> None:
    if not future.cancelled():
        future.exception()


async def request(
    srf: Srf,
    uri: str,
    method: str = "OPTIONS",
    *,
    headers: Headers | None = None,
    body: str | bytes | None = None,
    auth: Credentials | None = None,
    on_provisional: Callable[[SipResponse], Any] | None = None,
    link: Link | None = None,
) -> SipResponse:
    """Send a request outside any dialog; its final response, whatever its status.

    With ``auth``, a 401 or 407 is answered once with digest credentials
    (RFC 7616: MD5 or SHA-256, qop=auth). INVITE is
    :meth:`create_uac`'s (it creates a dialog and needs an ACK).

    Raises:
        LocalError: INVITE, ACK or CANCEL.
        RequestFailed: the server refused the request (the reason says why).
        ConnectionLost: no server, or the link went down.
    """
    method = method_named(method)
    if method in ("INVITE", "ACK", "CANCEL"):
        raise LocalError(f"{method} is not sent with request(): use create_uac()")
    target = srf._link(link)
    own = simple_headers(headers)
    command = SendSipRequest(method, uri, own, body_text(body))
    sent, response = await srf._outgoing.exchange(target, command, on_provisional)
    retry = with_credentials(sent, response, own, body, auth)
    if retry is not None:
        command = SendSipRequest(method, uri, retry, body_text(body))
        response = await srf.send_and_wait(target, command, on_provisional)
    return response
