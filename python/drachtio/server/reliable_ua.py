"""Reliable provisional responses in the transaction user (RFC 3262), both ways.

As UAS the server numbers the reliable 1xx an application sends
(:class:`~drachtio.server.reliable.ReliableResponses` holds what awaits a
PRACK), takes the PRACKs and answers 504 when none comes; as UAC it sends
the PRACK for a reliable 1xx to an application's INVITE
(:class:`~drachtio.server.early.EarlyDialogs`). :class:`ReliableUa` does these
with the stack.
"""

from __future__ import annotations

import logging

from drachtio.errors import DrachtioError
from drachtio.protocol import SimpleHeaders
from drachtio.server.app_session import AppSession, PrackWatcher
from drachtio.server.dialog import Dialog, build_in_dialog_request
from drachtio.server.endings import NO_PRACK, NO_PRACK_TEXT
from drachtio.server.reliable import RELIABLE_TAG, ReliableResponses
from drachtio.server.session_timer.headers import merge_headers
from drachtio.server.transactions import ClientTx, ServerTx
from drachtio.server.ua_core import UaCore

__all__ = ["ReliableUa"]

log = logging.getLogger("drachtio.server")


class ReliableUa:
    """RFC 3262 in the server's transactions: RSeq and PRACK as UAS, PRACK as UAC."""

    __slots__ = ("_core",)

    def __init__(self, core: UaCore) -> None:
        self._core = core

    def headers(self, tx: ServerTx[AppSession], code: int, headers: SimpleHeaders) -> SimpleHeaders:
        """A 1xx or 2xx to an INVITE advertises 100rel; a reliable 1xx gets its RSeq (RFC 3262)."""
        headers = merge_headers(headers, (("Supported", RELIABLE_TAG),))
        if code >= 200:
            return headers
        reliability = ReliableResponses.reliability(tx.request, code, headers)
        headers = ReliableResponses.headers(headers, reliability)
        if reliability == "reliable":
            assert tx.to_tag is not None  # set for every response but 100
            rseq = self._core.reliable.next_rseq(tx.stack_id, tx.request, tx.to_tag)
            headers["RSeq"] = str(rseq)
        return headers

    def on_prack(self, tx: ServerTx[AppSession]) -> None:
        """A PRACK (RFC 3262 §3): the reliable provisional response it acknowledges
        is no longer retransmitted, and what was held for it goes out.

        It reaches the INVITE's owner when that application routes PRACK,
        with the ``dialogId`` of its early dialog; else the server answers it
        200. A PRACK that acknowledges nothing
        awaited is answered 481 (§3).
        """
        core = self._core
        matched = core.reliable.match(tx.request)
        stack = core.stack_or_fail()
        if matched is None:
            core.answer(tx, 481, "Call/Transaction Does Not Exist")
            return
        stack_id, rseq = matched
        stack.prack(stack_id, rseq)
        for response in core.reliable.pracked(stack_id):
            stack.respond(stack_id, response)
            core.trace_out(response)
            if response.status >= 200:
                core.reliable.forget(stack_id)
        invite = core.server_txs.get_by_stack(stack_id)
        owner = None if invite is None else invite.owner
        dialog = None if invite is None else invite.early or invite.dialog
        if dialog is not None:
            # The PRACK is in the early dialog of the response it acknowledges
            # (or in the call its held 2xx, now sent, confirmed).
            tx.dialog, tx.to_tag = dialog, dialog.local_tag
        if owner is None or not core.routes.routes(owner, "PRACK"):
            core.answer(tx, 200, None)
            if isinstance(owner, PrackWatcher):
                owner.pracked(core.sip_message(tx))
            return
        tx.owner = owner
        core.server_txs.add(tx, core.loop.time())
        if not owner.send_request(core.sip_message(tx)):
            tx.owner = None
            core.answer(tx, 200, None)
            return
        core.arm_timer()

    def on_prack_timeout(self, stack_id: int) -> None:
        """No PRACK came (RFC 3262 §3): the INVITE is answered 504, its owner told."""
        core = self._core
        tx = core.server_txs.get_by_stack(stack_id)
        if tx is None:
            # The INVITE ended meanwhile (a re-INVITE whose 2xx, held for
            # the PRACK, was given up when no ACK came): nothing is left to
            # answer, and what was held for it is dropped.
            core.reliable.forget(stack_id)
            return
        log.warning("no PRACK, answering 504 transaction=%s", tx.id)
        pending = core.server_txs.is_pending(tx)
        dialog = tx.dialog
        cancel = f"{NO_PRACK_TEXT}: answered 504" if pending else None
        core.answer(tx, 504, "No PRACK", cancel=cancel)
        if not pending and dialog is not None:
            # Its 2xx was held for the PRACK: the call never was.
            core.destroy_dialog(dialog, NO_PRACK)

    def send_prack(self, ctx: ClientTx[AppSession], dialog: Dialog[AppSession], rack: str) -> None:
        """Acknowledge a reliable provisional response to an application's INVITE
        in its early ``dialog`` (RFC 3262 §4)."""
        core = self._core
        try:
            request = build_in_dialog_request(dialog, "PRACK", {"RAck": rack}, None)
            core.early.prack_sent(core.send_own(dialog, request))
        except (DrachtioError, ValueError) as exc:
            log.warning("could not send PRACK transaction=%s: %s", ctx.id, exc)
