"""Dialogs an application creates by sending a request: calls and subscriptions.

:func:`create_uac` is :meth:`Srf.create_uac <drachtio.Srf.create_uac>`: an
INVITE, with its early dialogs (:class:`~drachtio.app.early.UacDialogs`),
a digest retry and the following of 3xx responses, then the ACK of the
2xx. :func:`create_subscription` is :meth:`Srf.create_subscription
<drachtio.Srf.create_subscription>`: a SUBSCRIBE (RFC 6665) whose dialog may
begin with a NOTIFY that overtakes its 2xx.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from drachtio._core import SipResponse
from drachtio.app.dialog import Dialog
from drachtio.app.digest import Credentials, with_credentials
from drachtio.app.early import OnEarly, UacDialogs
from drachtio.app.message import Headers, simple_headers
from drachtio.errors import LocalError, SipError
from drachtio.protocol import SendSipRequest

if TYPE_CHECKING:
    from drachtio.app.handlers import Handler
    from drachtio.app.link import Link
    from drachtio.app.srf import Srf

__all__ = ["create_subscription", "create_uac"]

# How many 3xx responses create_uac follows before it gives up.
_MAX_REDIRECTS = 5


async def create_uac(
    srf: Srf,
    uri: str,
    *,
    local_sdp: str | None = None,
    headers: Headers | None = None,
    auth: Credentials | None = None,
    on_provisional: Callable[[SipResponse], Any] | None = None,
    on_early: OnEarly | None = None,
    prack: Literal["server", "app"] = "server",
    follow_redirects: bool = False,
    link: Link | None = None,
) -> Dialog:
    """Call ``uri``: an INVITE offering ``local_sdp``; the dialog once answered 2xx and ACKed.

    ``on_provisional(response)`` gets every provisional response;
    ``on_early(dialog, response)`` those with a To tag, each with its
    early dialog (one per To tag when the INVITE forks), in which the
    application may :meth:`~Dialog.update`, :meth:`~Dialog.request`
    (INFO) and, with ``prack="app"``, :meth:`~Dialog.prack` the reliable
    provisional responses (RFC 3262) itself: the server then sends no
    PRACK of its own. The dialog returned is the early one of the 2xx's
    To tag, confirmed; the other early dialogs end (``another fork
    answered the INVITE``), all of them on a failure.

    Cancelling the task that awaits this sends CANCEL. With ``auth`` a
    401/407 is answered once; with ``follow_redirects`` the first Contact
    of a 3xx is called instead (at most 5 times).

    Raises:
        SipError: the call failed (the final response is ``exc.response``).
        LocalError: ``prack="app"`` without ``on_early`` (the PRACKs are
            sent in the early dialogs it gets).
    """
    if prack == "app" and on_early is None:
        raise LocalError(
            'prack="app" needs on_early: the application sends each PRACK '
            "in the early dialog on_early gets"
        )
    target = srf._link(link)
    own = simple_headers(headers)
    if local_sdp is not None:
        own.setdefault("Content-Type", "application/sdp")
    authenticated = False
    for _ in range(_MAX_REDIRECTS + 2):
        dialogs = UacDialogs(srf, target, local_sdp, on_early)
        command = SendSipRequest("INVITE", uri, own, local_sdp, prack=prack)
        sent, response = await srf._outgoing.exchange(target, command, on_provisional, dialogs)
        status = response.status
        if 200 <= status < 300:
            answered = dialogs.answered
            if answered is None:
                raise SipError(status, "2xx that created no dialog", response)
            await target.call(SendSipRequest("ACK", None, dialog_id=answered.id))
            return answered
        if status in (401, 407) and auth is not None and not authenticated:
            retry = with_credentials(sent, response, own, local_sdp, auth)
            if retry is not None:
                own, authenticated = retry, True
                continue
        if 300 <= status < 400 and follow_redirects and response.contacts:
            uri = str(response.contacts[0].uri)
            continue
        raise SipError(status, response.reason, response)
    raise SipError(482, "too many redirections")


async def create_subscription(
    srf: Srf,
    uri: str,
    *,
    event: str,
    expires: int = 3600,
    headers: Headers | None = None,
    on_notify: Handler | None = None,
    auth: Credentials | None = None,
    link: Link | None = None,
) -> Dialog:
    """Subscribe to ``event`` at ``uri`` (RFC 6665); the subscription's dialog.

    ``on_notify(req, res)`` gets every NOTIFY of the subscription, the
    first ones too (one may come before the 2xx); without it they go to
    the dialog's handlers, events or default answer (200). A NOTIFY
    saying ``terminated`` and answered 2xx ends the dialog;
    :meth:`Dialog.destroy` unsubscribes (``Expires: 0``) and waits for it.

    Raises:
        SipError: the SUBSCRIBE was refused (the final response is ``exc.response``).
    """
    target = srf._link(link)
    own: dict[str, str | list[str]] = {
        "Event": event,
        "Expires": str(expires),
        **simple_headers(headers),
    }
    made: list[Dialog] = []

    def created(dialog_id: str, _: SipResponse | None) -> Dialog:
        if made:
            return made[0]
        dialog = Dialog(
            srf,
            target,
            dialog_id,
            role="uac",
            method="SUBSCRIBE",
            local_sdp=None,
            remote_sdp=None,
            event=event,
        )
        if on_notify is not None:
            dialog.on("notify", on_notify)
        srf._keep(dialog)
        made.append(dialog)
        return dialog

    command = SendSipRequest("SUBSCRIBE", uri, own)
    sent, response = await srf._outgoing.exchange(target, command, None, created)
    retry = with_credentials(sent, response, own, None, auth)
    if retry is not None:
        command = SendSipRequest("SUBSCRIBE", uri, retry)
        sent, response = await srf._outgoing.exchange(target, command, None, created)
    if not 200 <= response.status < 300 or not made:
        raise SipError(response.status, response.reason, response)
    return made[0]
