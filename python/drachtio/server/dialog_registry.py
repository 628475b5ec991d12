"""The dialogs the server is a UA of, found by id (applications) or by key (SIP).

An application names a dialog by its id; a request received in a dialog
names it by Call-ID and tags (RFC 3261 §12.2.2). Each dialog has one owner,
the application that receives its requests; when that application goes
away, its dialogs are shared out among the heirs the server names
(:meth:`Dialogs.share_out`).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from drachtio._core import SipRequest
from drachtio.server.dialog import Dialog

__all__ = ["Dialogs"]

_Owner = TypeVar("_Owner")


class Dialogs(Generic[_Owner]):
    """The live dialogs, by id and by key (Call-ID, local tag, remote tag)."""

    __slots__ = ("_by_id", "_by_key")

    def __init__(self) -> None:
        self._by_id: dict[str, Dialog[_Owner]] = {}
        self._by_key: dict[tuple[str, str, str], Dialog[_Owner]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, dialog_id: str) -> bool:
        return dialog_id in self._by_id

    def get(self, dialog_id: str) -> Dialog[_Owner] | None:
        """The dialog ``dialog_id``."""
        return self._by_id.get(dialog_id)

    def add(self, dialog: Dialog[_Owner]) -> None:
        """``dialog`` was created."""
        self._by_id[dialog.id] = dialog
        self._by_key[dialog.key] = dialog

    def remove(self, dialog: Dialog[_Owner]) -> bool:
        """``dialog`` is over; ``False`` when it was over already."""
        if self._by_id.pop(dialog.id, None) is None:
            return False
        self._by_key.pop(dialog.key, None)
        return True

    def on_flow(self, flow: tuple[str, str, int] | None) -> list[Dialog[_Owner]]:
        """The dialogs whose peer is reached over the WebSocket connection ``flow``."""
        if flow is None:
            return []
        return [dialog for dialog in self._by_id.values() if dialog.flow == flow]

    def receiving(self, request: SipRequest) -> Dialog[_Owner] | None:
        """The dialog a received request with a To tag is in (RFC 3261 §12.2.2).

        Its To tag is our tag, its From tag the peer's (none from an RFC
        2543 peer: the empty tag).
        """
        to, from_ = request.to, request.from_
        if to is None or to.tag is None:
            return None
        remote = from_.tag if from_ is not None and from_.tag else ""
        return self._by_key.get((request.call_id or "", to.tag, remote))

    def names_other(self, owner: _Owner, request: SipRequest) -> bool:
        """Whether ``request``, to be sent, names a dialog ``owner`` does not own.

        Named by its Call-ID and tags, either way round: as the dialog's own
        requests, or as its peer's.
        """
        to = request.to
        if to is None or to.tag is None:
            return False  # no To tag: no dialog is named (the usual new request)
        from_ = request.from_
        from_tag = from_.tag if from_ is not None and from_.tag else ""
        call_id = request.call_id or ""
        for key in ((call_id, from_tag, to.tag), (call_id, to.tag, from_tag)):
            dialog = self._by_key.get(key)
            if dialog is not None and dialog.owner is not owner:
                return True
        return False

    def owned_by(self, owner: _Owner) -> list[Dialog[_Owner]]:
        """The dialogs of ``owner``, early or confirmed."""
        return [dialog for dialog in self._by_id.values() if dialog.owner is owner]

    def share_out(
        self, owner: _Owner, heirs: list[_Owner]
    ) -> list[tuple[Dialog[_Owner], _Owner | None]]:
        """``owner``'s dialogs, each with the heir whose turn it is (``None`` without heirs).

        The dialogs lose their owner here; the caller hands each to its heir
        (who becomes its owner) or ends it.
        """
        dialogs = self.owned_by(owner)
        shares: list[tuple[Dialog[_Owner], _Owner | None]] = []
        for index, dialog in enumerate(dialogs):
            dialog.owner = None
            shares.append((dialog, heirs[index % len(heirs)] if heirs else None))
        return shares
