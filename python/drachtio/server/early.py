"""Early dialogs of the INVITEs applications send (RFC 3261 §12.1.2, §13.2.2.4; RFC 3262 §4).

A provisional response with a To tag to an INVITE an application sent
creates an early dialog, one per To tag when the INVITE forks. The 2xx
whose To tag names one of them confirms it (the same
:class:`~drachtio.server.dialog.Dialog`, so the CSeqs sent in it go on);
the INVITE's first 2xx or its non-2xx final response ends the others.
A 2xx that comes later in one of those the first 2xx ended (RFC 3261
§13.2.2.4: each fork may answer) is known for 64*T1
(:meth:`EarlyDialogs.ended_fork`): its application was told that dialog
ended, and the server acknowledges the 2xx and hangs up on its own.

A reliable provisional response (Require: 100rel, with an RSeq) is
acknowledged by a PRACK in its early dialog: the first RSeq seen there,
then each one more (one out of that order, a retransmission among them,
gets none, §4). The server sends that PRACK itself, unless the INVITE was
sent for the application to send it (``prack: "app"``): the RAck then waits
for the application's PRACK in the dialog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from drachtio._core import SipRequest, SipResponse
from drachtio.errors import ParseError
from drachtio.server.dialog import Dialog

__all__ = ["EarlyDialogs"]

_Owner = TypeVar("_Owner")

_TAG = "100rel"

InviteKey = tuple[str, str]
"""An INVITE sent: its Call-ID and From tag (those of all its early dialogs)."""


@dataclass(slots=True)
class _Early(Generic[_Owner]):
    dialog: Dialog[_Owner]
    # The last RSeq acknowledged (or to be), and the RAck awaiting the application's PRACK.
    rseq: int | None = None
    rack: str | None = None


@dataclass(slots=True)
class _Invite(Generic[_Owner]):
    app_pracks: bool
    early: dict[str, _Early[_Owner]] = field(default_factory=dict)


def _invite_key(invite: SipRequest) -> InviteKey | None:
    from_ = invite.from_
    if from_ is None or from_.tag is None:
        return None
    return (invite.call_id or "", from_.tag)


def _reliable_rseq(response: SipResponse) -> int | None:
    """The RSeq of a reliable provisional response (Require lists 100rel), else ``None``."""
    if not 100 < response.status < 200:
        return None
    try:
        if _TAG not in (tag.lower() for tag in response.require):
            return None
        return response.rseq
    except ParseError:
        return None


@dataclass(slots=True)
class _Answered:
    # Until when a 2xx of another fork may come, and the early dialogs the
    # first 2xx ended: To tag -> the last CSeq sent in it.
    until: float
    ended: dict[str, int]


class EarlyDialogs(Generic[_Owner]):
    """The INVITEs applications sent that have no final response yet, and their early dialogs.

    ``linger`` is how long after an INVITE's first 2xx those of other forks
    may come (64*T1, as its client transaction lingers).
    """

    __slots__ = ("_answered", "_by_dialog", "_invites", "_linger", "_out")

    def __init__(self, linger: float) -> None:
        self._linger = linger
        self._invites: dict[InviteKey, _Invite[_Owner]] = {}
        self._by_dialog: dict[str, _Early[_Owner]] = {}
        self._out: set[int] = set()
        # In the order answered, so the first to forget is the first.
        self._answered: dict[InviteKey, _Answered] = {}

    def __len__(self) -> int:
        """How many early dialogs there are."""
        return len(self._by_dialog)

    def invite_sent(self, invite: SipRequest, *, app_pracks: bool) -> None:
        """An application sent ``invite`` (outside any dialog); it sends its own PRACKs or not."""
        key = _invite_key(invite)
        if key is not None:
            self._invites[key] = _Invite(app_pracks)

    def provisional(
        self, invite: SipRequest, response: SipResponse, contact: str, owner: _Owner | None
    ) -> tuple[Dialog[_Owner], bool] | None:
        """The early dialog the provisional ``response`` to ``invite`` is in, and
        whether the response created it.

        ``None`` for a response without To tag, or an INVITE not (or no
        longer) waiting for its final response.

        Raises:
            ParseError: the response's Contact or Record-Route is malformed
                (no dialog can be built from it).
        """
        key, to = _invite_key(invite), response.to
        if key is None or to is None or to.tag is None or not 100 < response.status < 200:
            return None
        sent = self._invites.get(key)
        if sent is None:
            return None
        early = sent.early.get(to.tag)
        if early is not None:
            return early.dialog, False
        dialog: Dialog[_Owner] = Dialog.for_uac(invite, response, contact, owner)
        dialog.early = True
        early = _Early(dialog)
        sent.early[to.tag] = early
        self._by_dialog[dialog.id] = early
        return dialog, True

    def reliable(
        self, dialog: Dialog[_Owner], invite: SipRequest, response: SipResponse
    ) -> str | None:
        """The RAck of a PRACK the server is to send for ``response`` in its early ``dialog``.

        ``None`` when the response is not reliable or not the next in order
        (§4), and when the application sends the PRACK: the RAck then waits
        for it (:meth:`rack_awaited`).
        """
        rseq = _reliable_rseq(response)
        early = self._by_dialog.get(dialog.id)
        key = _invite_key(invite)
        sent = None if key is None else self._invites.get(key)
        if rseq is None or early is None or sent is None:
            return None
        if early.rseq is not None and rseq != early.rseq + 1:
            return None
        early.rseq = rseq
        cseq = invite.cseq
        rack = f"{rseq} {0 if cseq is None else cseq.seq} INVITE"
        if sent.app_pracks:
            early.rack = rack
            return None
        return rack

    def rack_awaited(self, dialog: Dialog[_Owner]) -> str | None:
        """The RAck of the application's PRACK in ``dialog``, or ``None`` when none is awaited."""
        early = self._by_dialog.get(dialog.id)
        return None if early is None else early.rack

    def app_pracked(self, dialog: Dialog[_Owner]) -> None:
        """The application's PRACK went out in ``dialog``: no RAck is awaited there any more."""
        early = self._by_dialog.get(dialog.id)
        if early is not None:
            early.rack = None

    def local_cseq(self, dialog_id: str) -> int:
        """The last CSeq sent in the early dialog ``dialog_id`` (0 when none is known)."""
        early = self._by_dialog.get(dialog_id)
        return 0 if early is None else early.dialog.local_cseq

    def confirmed(self, invite: SipRequest, dialog_id: str, now: float) -> list[Dialog[_Owner]]:
        """``invite`` got a 2xx creating ``dialog_id`` at ``now``: the other early
        dialogs, now ended (a 2xx in one of them is then :meth:`ended_fork`)."""
        key = _invite_key(invite)
        ended = [dialog for dialog in self.ended(invite) if dialog.id != dialog_id]
        self._forget_answered(now)
        if key is not None and ended:
            tags = {dialog.remote_tag: dialog.local_cseq for dialog in ended}
            self._answered[key] = _Answered(now + self._linger, tags)
        return ended

    def ended_fork(self, invite: SipRequest, response: SipResponse, now: float) -> int | None:
        """Whether ``response``, a 2xx to ``invite`` after its first, is in an early
        dialog that first 2xx ended: then the last CSeq sent in that dialog
        (once: the dialog is forgotten), else ``None``."""
        self._forget_answered(now)
        key, to = _invite_key(invite), response.to
        answered = None if key is None else self._answered.get(key)
        if answered is None or to is None or to.tag is None:
            return None
        return answered.ended.pop(to.tag, None)

    def _forget_answered(self, now: float) -> None:
        """Forget the INVITEs whose 2xx came 64*T1 ago or more: no fork answers any more."""
        while self._answered:
            key, answered = next(iter(self._answered.items()))
            if answered.until > now:
                return
            del self._answered[key]

    def ended(self, invite: SipRequest) -> list[Dialog[_Owner]]:
        """``invite`` got its final response: its early dialogs, no longer early here."""
        key = _invite_key(invite)
        sent = None if key is None else self._invites.pop(key, None)
        if sent is None:
            return []
        for early in sent.early.values():
            self._by_dialog.pop(early.dialog.id, None)
        return [early.dialog for early in sent.early.values()]

    def prack_sent(self, stack_id: int) -> None:
        """A PRACK of the server's own went out as client transaction ``stack_id``."""
        self._out.add(stack_id)

    def prack_answered(self, stack_id: int) -> bool:
        """Whether client transaction ``stack_id`` is a PRACK of the server's (then forgotten)."""
        if stack_id in self._out:
            self._out.discard(stack_id)
            return True
        return False
