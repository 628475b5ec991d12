"""Early dialogs in the application API (RFC 3261 §12.1, §13.2.2.4; RFC 3262; RFC 3311).

A provisional response with a To tag to an INVITE makes an early dialog:
the server gives it the ``dialogId`` the 2xx then gives the call. On both
sides the application gets it as a :class:`~drachtio.app.Dialog` with
``early`` set, in which it sends and receives UPDATE, INFO and PRACK; the
2xx confirms that same object.

- Calling (:meth:`Srf.create_uac <drachtio.Srf.create_uac>`):
  :class:`UacDialogs` keeps the early dialogs of one INVITE, one per To tag
  when it forks, hands each provisional response in one to ``on_early``,
  and makes the 2xx's dialog the early one of its To tag. The server ends
  the others (``another fork answered the INVITE``), or all of them on a
  final failure.
- Answering (:func:`create_early_uas`): a provisional response the
  application sends with its tag makes the early dialog the 2xx of
  :meth:`Srf.create_uas <drachtio.Srf.create_uas>` confirms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from drachtio._core import SipResponse
from drachtio.app.dialog import Dialog
from drachtio.app.message import Headers, Request, Response
from drachtio.errors import LocalError, RequestFailed, SipError

if TYPE_CHECKING:
    from drachtio.app.link import Link
    from drachtio.app.srf import Srf

__all__ = ["OnEarly", "UacDialogs", "create_early_uas"]

OnEarly = Callable[[Dialog, SipResponse], Any]
"""``on_early(dialog, response)``: a provisional response in an early dialog
(a coroutine function too: it runs as a task)."""


def _sdp(response: SipResponse) -> str | None:
    return response.body.decode("utf-8", "replace") if response.body else None


class UacDialogs:
    """The dialogs one INVITE of ``create_uac`` makes: an early dialog per To
    tag of its provisional responses, then the dialog of its 2xx (the early
    one of that To tag, confirmed, or a new one)."""

    __slots__ = ("_dialogs", "_link", "_local_sdp", "_on_early", "_srf", "answered")

    def __init__(
        self, srf: Srf, link: Link, local_sdp: str | None, on_early: OnEarly | None
    ) -> None:
        self._srf = srf
        self._link = link
        self._local_sdp = local_sdp
        self._on_early = on_early
        self._dialogs: dict[str, Dialog] = {}
        self.answered: Dialog | None = None
        """The dialog of the first 2xx."""

    def __call__(self, dialog_id: str, response: SipResponse | None) -> Dialog:
        """The dialog ``response`` (a tagged 1xx or a 2xx) carries ``dialog_id`` of."""
        assert response is not None  # an INVITE's dialogs come with its responses
        provisional = response.status < 200
        sdp = _sdp(response)
        dialog = self._dialogs.get(dialog_id)
        if dialog is None or dialog.destroyed:
            dialog = Dialog(
                self._srf,
                self._link,
                dialog_id,
                role="uac",
                method="INVITE",
                local_sdp=self._local_sdp,
                remote_sdp=sdp,
                early=provisional,
            )
            self._dialogs[dialog_id] = dialog
            self._srf._keep(dialog)
        elif not provisional:
            dialog._confirmed(sdp)
        elif sdp is not None:
            dialog.remote_sdp = sdp
        if not provisional:
            self.answered = self.answered or dialog
        elif self._on_early is not None:
            self._srf._callback("on_early", self._on_early, dialog, response)
        return dialog


async def create_early_uas(
    srf: Srf,
    req: Request,
    res: Response,
    *,
    status: int = 183,
    local_sdp: str | None = None,
    headers: Headers | None = None,
) -> Dialog:
    """Send ``req`` (an INVITE) a provisional response with our To tag (183
    with ``local_sdp``, say); its early dialog (``dialog.early``).

    ``srf.create_early_uas(req, res, ...)``. The caller's UPDATE, INFO... in
    it reach the dialog's handlers and events; :meth:`Dialog.update
    <drachtio.app.Dialog.update>` sends one to the caller. Sent again (180,
    then 183), the same dialog. :meth:`Srf.create_uas
    <drachtio.Srf.create_uas>` answers 200 and confirms it; a final failure
    sent with ``res`` or the caller's CANCEL ends it
    (``dialog.destroy_reason``).

    Raises:
        LocalError: not an INVITE outside a dialog, or a status not 101-199.
        SipError: 487 when the caller cancelled first; 500 when the INVITE's
            Contact or Record-Route is unusable (no dialog can be built from
            it; the response went out without one).
        RequestFailed: the server refused the response.
    """
    if req.method != "INVITE" or req.dialog_id is not None:
        raise LocalError(f"an early dialog is made by an INVITE outside a dialog, not {req.method}")
    if not 100 < status < 200:
        raise LocalError(f"an early dialog is made by a provisional response 101-199, not {status}")
    own: dict[str, Any] = dict(headers or {})
    if local_sdp is not None:
        own.setdefault("Content-Type", "application/sdp")
    made: list[Dialog] = []

    def created(dialog_id: str) -> None:
        dialog = srf._dialog(dialog_id)
        if dialog is None or dialog.destroyed or not dialog.early:
            dialog = Dialog(
                srf,
                req.link,
                dialog_id,
                role="uas",
                method="INVITE",
                local_sdp=local_sdp,
                remote_sdp=req.text if req.body else None,
                early=True,
            )
            srf._keep(dialog)
        elif local_sdp is not None:
            dialog.local_sdp = local_sdp
        made.append(dialog)

    if req.cancelled:
        raise SipError(487, "Request Terminated")
    try:
        await res._send(status, None, own, local_sdp, created)
    except RequestFailed:
        if req.cancelled:
            raise SipError(487, "Request Terminated") from None
        raise
    if not made:
        # The INVITE's Contact or Record-Route is unusable: no dialog can be built from it.
        raise SipError(500, f"the {status} created no early dialog")
    return made[0]
