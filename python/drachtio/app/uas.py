"""Answering a call: :meth:`Srf.create_uas <drachtio.Srf.create_uas>`.

:func:`create_uas` answers an INVITE 200 and returns its dialog once the
ACK came; after :func:`~drachtio.app.early.create_early_uas` the 2xx
confirms that early dialog (RFC 3261 §12.1.1) instead of making a new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drachtio.app.dialog import Dialog
from drachtio.app.message import Headers, Request, Response
from drachtio.errors import RequestFailed, SipError

if TYPE_CHECKING:
    from drachtio.app.srf import Srf

__all__ = ["create_uas"]


async def create_uas(
    srf: Srf,
    req: Request,
    res: Response,
    *,
    local_sdp: str | None = None,
    headers: Headers | None = None,
) -> Dialog:
    """Answer ``req`` (an INVITE) 200 with ``local_sdp``; the dialog once the ACK came.

    After :meth:`create_early_uas` the dialog is that early one, confirmed.

    Raises:
        SipError: 487 when the caller cancelled first; 408 when no ACK came.
    """
    own: dict[str, Any] = dict(headers or {})
    if local_sdp is not None:
        own.setdefault("Content-Type", "application/sdp")
    remote_sdp = req.text if req.body else None

    made: list[Dialog] = []

    def created(dialog_id: str) -> None:
        dialog = srf._dialog(dialog_id)
        if dialog is not None and dialog.early and not dialog.destroyed:
            # The 2xx confirms the early dialog of the 1xx (RFC 3261 §12.1.1).
            dialog._confirmed(None)
            if local_sdp is not None:
                dialog.local_sdp = local_sdp
        else:
            dialog = Dialog(
                srf,
                req.link,
                dialog_id,
                role="uas",
                method=req.method,
                local_sdp=local_sdp,
                remote_sdp=remote_sdp,
            )
            srf._keep(dialog)
        made.append(dialog)

    if req.cancelled:
        raise SipError(487, "Request Terminated")
    try:
        await res._send(200, None, own, local_sdp, created)
    except RequestFailed as exc:
        if req.cancelled:
            raise SipError(487, "Request Terminated") from None
        raise SipError(500, str(exc)) from exc
    if not made:
        raise SipError(500, "the 2xx created no dialog")
    # Kept from the result rather than looked up again: the ACK, a BYE and
    # the dialog's end may all have come before this coroutine resumed.
    dialog = made[0]
    if req.method == "INVITE":
        await dialog.wait_acked()
        if not dialog._was_acked:
            raise SipError(408, dialog.destroy_reason or "no ACK for the 2xx")
    return dialog
