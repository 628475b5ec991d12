"""The back-to-back user agent: :meth:`Srf.create_b2bua <drachtio.Srf.create_b2bua>`.

:func:`create_b2bua` calls the callee with the caller's offer, relays its
provisional responses, answers the caller with its answer (or passes its
failure back), and pairs the two dialogs: when either call ends, the other
is hung up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from drachtio._core import SipResponse
from drachtio.app.digest import Credentials
from drachtio.app.handlers import answer_error
from drachtio.app.message import Headers, Request, Response
from drachtio.errors import DrachtioError, LocalError, RequestFailed, SipError

if TYPE_CHECKING:
    from drachtio.app.dialog import Dialog
    from drachtio.app.srf import Srf

__all__ = ["create_b2bua", "pair"]

log = logging.getLogger("drachtio.app")


async def create_b2bua(
    srf: Srf,
    req: Request,
    res: Response,
    uri: str,
    *,
    headers: Headers | None = None,
    local_sdp_b: str | None = None,
    auth: Credentials | None = None,
    copy_headers: Iterable[str] = (),
    pass_failure: bool = True,
) -> tuple[Dialog, Dialog]:
    """Bridge ``req`` to ``uri``: ``(uas, uac)`` dialogs once the callee answered.

    The callee is offered the caller's SDP (or ``local_sdp_b``); its
    provisional responses with SDP are relayed as 183, and its answer
    becomes the caller's 200. A CANCEL from the caller cancels the
    callee; a failure of the callee is passed back to the caller (same
    status and reason; with ``pass_failure=False`` the caller is left for
    the application to answer) and raised. ``copy_headers`` names headers of the
    caller's INVITE to copy onto the callee's. When either call ends,
    the other is hung up.

    Raises:
        SipError: the callee failed (passed back), or the caller cancelled (487).
    """
    own: dict[str, Any] = dict(headers or {})
    for name in copy_headers:
        values = req.get_all(name)
        if values and name not in own:
            own[name] = values if len(values) > 1 else values[0]
    offer = local_sdp_b if local_sdp_b is not None else (req.text if req.body else None)

    async def relay(provisional: SipResponse) -> None:
        if provisional.status > 100 and not res.finished:
            sdp = provisional.body.decode("utf-8", "replace") if provisional.body else None
            status = 183 if sdp else provisional.status
            ctype = {"Content-Type": "application/sdp"} if sdp else None
            with contextlib.suppress(RequestFailed, LocalError):
                await res.send(status, headers=ctype, body=sdp)

    # Kept as spawn() keeps tasks, but not logged by it: the callee's
    # failure is an outcome, passed back and raised below.
    calling = asyncio.ensure_future(
        srf.create_uac(uri, local_sdp=offer, headers=own, auth=auth, on_provisional=relay)
    )
    srf._tasks.add(calling)
    calling.add_done_callback(srf._tasks.discard)
    cancelled = srf.spawn(req.wait_cancelled())
    await asyncio.wait([calling, cancelled], return_when=asyncio.FIRST_COMPLETED)
    if not calling.done():
        calling.cancel()
        await asyncio.wait([calling])
        raise SipError(487, "Request Terminated")
    cancelled.cancel()
    try:
        uac = calling.result()
    except SipError as exc:
        if pass_failure:
            await answer_error(res, exc.status, exc.reason)
        raise
    try:
        uas = await srf.create_uas(req, res, local_sdp=uac.remote_sdp)
    except SipError:
        await uac.destroy()
        raise
    pair(uas, uac)
    return uas, uac


def pair(a: Dialog, b: Dialog) -> None:
    """When either of ``a`` and ``b`` ends, hang up the other."""

    async def hang_up(other: Dialog) -> None:
        if not other.destroyed:
            try:
                await other.destroy()
            except (DrachtioError, OSError) as exc:
                log.info("could not end the other call leg %s: %s", other.id, exc)

    a.on("destroy", lambda reason: hang_up(b))
    b.on("destroy", lambda reason: hang_up(a))
