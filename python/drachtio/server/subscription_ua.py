"""Subscriptions in the transaction user (RFC 6665, RFC 3515): the dialogs they make and keep.

:class:`SubscriptionUa` turns what passes through the transaction user
into the subscription timers' events (:mod:`drachtio.server.subscriptions`):
a 2xx to a SUBSCRIBE or REFER starts a subscription, a NOTIFY either way
sets its expiry, and a NOTIFY that overtakes the 2xx of a SUBSCRIBE
creates its dialog.
"""

from __future__ import annotations

import logging

from drachtio._core import SipRequest, SipResponse
from drachtio.errors import ParseError
from drachtio.server.app_session import AppSession
from drachtio.server.dialog import SUBSCRIPTION_METHODS, Dialog, event_headers_match
from drachtio.server.subscriptions import expires_of, subscription_state
from drachtio.server.ua_core import UaCore

__all__ = ["SubscriptionUa"]

log = logging.getLogger("drachtio.server")


class SubscriptionUa:
    """The subscriptions of the dialogs the server is a UA of."""

    __slots__ = ("_core",)

    def __init__(self, core: UaCore) -> None:
        self._core = core

    def accepted(
        self, dialog_id: str, response: SipResponse, subscribe: SipRequest, *, subscriber: bool
    ) -> None:
        """A 2xx to a SUBSCRIBE or REFER: its subscription is on; in a dialog it
        created, the subscription's expiry (and the subscriber's Timer N) run."""
        core = self._core
        dialog = core.dialogs.get(dialog_id)
        if dialog is None:
            return
        dialog.subscribed(subscribe)
        if dialog.method in SUBSCRIPTION_METHODS:
            expires = expires_of(response, subscribe)
            core.subscriptions.accepted(dialog_id, expires, core.loop.time(), subscriber=subscriber)
            core.arm_timer()

    def notified(self, dialog: Dialog[AppSession], request: SipRequest) -> None:
        """A NOTIFY in a SUBSCRIBE-created dialog, either way, sets its subscription's expiry."""
        if request.method == "NOTIFY" and dialog.method in SUBSCRIPTION_METHODS:
            state = subscription_state(request)
            self._core.subscriptions.notified(dialog.id, state, self._core.loop.time())
            self._core.arm_timer()

    def notify_dialog(self, notify: SipRequest) -> Dialog[AppSession] | None:
        """The dialog a NOTIFY for a SUBSCRIBE still waiting for its 2xx creates.

        RFC 6665 §4.1.2.4: the NOTIFY may overtake the 2xx (or come from
        another fork). It matches the SUBSCRIBE by Call-ID, its To tag being
        the SUBSCRIBE's From tag, and its Event.
        """
        to, from_ = notify.to, notify.from_
        if to is None or to.tag is None or from_ is None or from_.tag is None:
            return None
        ctx = self._core.client_txs.subscribing((notify.call_id or "", to.tag))
        if ctx is None or ctx.owner is None or not event_headers_match(ctx.request, notify):
            return None
        if ctx.subscribe_tags is not None and from_.tag in ctx.subscribe_tags:
            return None  # that subscription has ended already
        try:
            dialog = Dialog.for_notify(ctx.request, notify, ctx.contact, ctx.owner)
        except ParseError as exc:
            log.warning("NOTIFY without a usable dialog transaction=%s: %s", ctx.id, exc)
            return None
        ctx.subscribe_tags = {from_.tag} | (ctx.subscribe_tags or set())
        self._core.dialogs.add(dialog)
        return dialog
