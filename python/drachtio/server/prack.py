"""Reliable provisional responses as UAC (RFC 3262 §4), sans-IO: the PRACKs the server sends.

An INVITE an application sends offers ``100rel`` (Supported). A
provisional response to it that requires ``100rel`` and carries an RSeq is
acknowledged by the server with a PRACK, sent in the early dialog the
response's To tag names: the first RSeq seen there, then each one more (a
response out of that order, a retransmission among them, gets none, §4).
:class:`Pracks` keeps each early dialog (a :class:`~drachtio.server.dialog.Dialog`
built as the 2xx would build it, so that the PRACK follows its route set
and takes its next CSeq) and the PRACKs out, until the INVITE's final
response; the dialog the 2xx creates continues past the PRACKs' CSeqs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from drachtio._core import SipRequest, SipResponse
from drachtio.errors import ParseError
from drachtio.server.dialog import Dialog, build_in_dialog_request

__all__ = ["Pracks"]

_Owner = TypeVar("_Owner")

_TAG = "100rel"

EarlyKey = tuple[str, str, str]
"""An early dialog: Call-ID, our (From) tag, the peer's (To) tag."""


@dataclass(slots=True)
class _Early(Generic[_Owner]):
    dialog: Dialog[_Owner]
    rseq: int


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


class Pracks(Generic[_Owner]):
    """The early dialogs of the INVITEs applications sent, and the PRACKs out in them."""

    __slots__ = ("_early", "_out")

    def __init__(self) -> None:
        self._early: dict[EarlyKey, _Early[_Owner]] = {}
        self._out: set[int] = set()

    def __len__(self) -> int:
        return len(self._early)

    def prack(
        self, invite: SipRequest, response: SipResponse, contact: str
    ) -> tuple[Dialog[_Owner], SipRequest] | None:
        """The PRACK acknowledging ``response`` to ``invite``, and its early dialog; or ``None``.

        ``None`` when the response is not reliable, has no To tag, or is
        not the next in order in its early dialog (§4).

        Raises:
            ParseError: the response's Contact or Record-Route is malformed
                (no early dialog can be built from it).
        """
        rseq = _reliable_rseq(response)
        to, from_ = response.to, invite.from_
        if rseq is None or to is None or to.tag is None or from_ is None or from_.tag is None:
            return None
        key = (invite.call_id or "", from_.tag, to.tag)
        early = self._early.get(key)
        if early is None:
            dialog: Dialog[_Owner] = Dialog.for_uac(invite, response, contact, None)
            early = _Early(dialog, rseq)
            self._early[key] = early
        elif rseq != early.rseq + 1:
            return None
        early.rseq = rseq
        cseq = invite.cseq
        rack = f"{rseq} {0 if cseq is None else cseq.seq} INVITE"
        return early.dialog, build_in_dialog_request(early.dialog, "PRACK", {"RAck": rack}, None)

    def sent(self, stack_id: int) -> None:
        """A PRACK went out as client transaction ``stack_id``."""
        self._out.add(stack_id)

    def answered(self, stack_id: int) -> bool:
        """Whether client transaction ``stack_id`` is a PRACK of ours (then forgotten)."""
        if stack_id in self._out:
            self._out.discard(stack_id)
            return True
        return False

    def local_cseq(self, key: EarlyKey) -> int:
        """The last CSeq sent in the early dialog ``key`` (0 when none was)."""
        early = self._early.get(key)
        return 0 if early is None else early.dialog.local_cseq

    def ended(self, invite: SipRequest) -> None:
        """``invite`` got its final response: its early dialogs are over."""
        from_ = invite.from_
        call_id = invite.call_id or ""
        tag = None if from_ is None else from_.tag
        for key in [k for k in self._early if k[0] == call_id and k[1] == tag]:
            del self._early[key]
