"""Reliable provisional responses as UAS (RFC 3262 §3), sans-IO.

An application makes a provisional response to an INVITE reliable by
putting ``100rel`` in its Require (and the server does so for every one
when the caller's Require lists it). Such a response gets an RSeq here;
the core's transaction layer retransmits it until its PRACK
(:meth:`drachtio.stack.SipStack.prack`). While one waits for its PRACK,
a later reliable provisional response and a 2xx are held (§3: neither
may go out before that PRACK), and sent in order once it comes.

:class:`ReliableResponses` keeps, per INVITE server transaction (by its
stack id), the RSeq counter and the responses held; a PRACK finds its
INVITE by Call-ID, the tags and its RAck.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from drachtio._core import SipRequest, SipResponse
from drachtio.errors import ParseError
from drachtio.protocol import SimpleHeaders

__all__ = ["RELIABLE_TAG", "Reliability", "ReliableResponses"]

RELIABLE_TAG = "100rel"
"""The option tag of reliable provisional responses (RFC 3262 §3), in Supported and Require."""

Reliability = Literal["reliable", "unreliable"]
"""Whether a provisional response is made reliable or sent as it is."""

# RSeq starts anywhere from 1 to 2**31 - 1 (§7.1), leaving room to count up.
_FIRST_RSEQ_MAX = 2**31 - 1


def _tags(message: SipRequest | SipResponse, name: str) -> list[str]:
    try:
        values = message.require if name == "require" else message.supported
    except ParseError:
        return []
    return [tag.lower() for tag in values]


def _rseq(response: SipResponse) -> int | None:
    """The RSeq of a reliable provisional response, else ``None``."""
    if response.status >= 200:
        return None
    try:
        return response.rseq
    except ParseError:
        return None


def _app_requires_100rel(headers: SimpleHeaders) -> bool:
    for name, value in headers.items():
        if name.lower() != "require":
            continue
        values = value if isinstance(value, list) else [value]
        if any(t.strip().lower() == RELIABLE_TAG for v in values for t in v.split(",")):
            return True
    return False


@dataclass(slots=True)
class _Invite:
    """One INVITE's reliable provisional responses."""

    key: tuple[str, str, str]
    cseq: int
    next_rseq: int
    awaited: int | None = None
    held: list[SipResponse] = field(default_factory=list)


class ReliableResponses:
    """The INVITE server transactions with reliable provisional responses, by stack id."""

    __slots__ = ("_by_key", "_invites", "_randint")

    def __init__(self, rng: random.Random | None = None) -> None:
        self._invites: dict[int, _Invite] = {}
        self._by_key: dict[tuple[str, str, str], int] = {}
        self._randint = (rng or random.Random()).randint

    def __len__(self) -> int:
        return len(self._invites)

    @staticmethod
    def reliability(request: SipRequest, code: int, headers: SimpleHeaders) -> Reliability:
        """Whether an application's ``code`` response to ``request`` is sent reliably (§3).

        A 101-199 to an INVITE is reliable when the caller requires it, or
        when the application asks (``100rel`` in its Require) and the caller
        supports it; asked by the application of a caller that does not
        support it, it is sent unreliably (the caller could not PRACK it).
        """
        if request.method != "INVITE" or not 100 < code < 200:
            return "unreliable"
        required = RELIABLE_TAG in _tags(request, "require")
        if required:
            return "reliable"
        if _app_requires_100rel(headers) and RELIABLE_TAG in _tags(request, "supported"):
            return "reliable"
        return "unreliable"

    @staticmethod
    def headers(headers: SimpleHeaders, reliability: Reliability) -> SimpleHeaders:
        """The application's headers, with ``Require: 100rel`` exactly when reliable."""
        kept: SimpleHeaders = {}
        for name, value in headers.items():
            if name.lower() != "require":
                kept[name] = value
                continue
            values = value if isinstance(value, list) else [value]
            tags = [t.strip() for v in values for t in v.split(",")]
            others = [t for t in tags if t and t.lower() != RELIABLE_TAG]
            if others:
                kept[name] = ", ".join(others)
        if reliability == "reliable":
            present = kept.get("Require")
            kept["Require"] = RELIABLE_TAG if present is None else f"{present}, {RELIABLE_TAG}"
        return kept

    def next_rseq(self, stack_id: int, request: SipRequest, to_tag: str) -> int:
        """The RSeq of the next reliable provisional response to ``request`` (§7.1).

        The first is random (1 to 2**31 - 1); each next one is one more.
        """
        invite = self._invites.get(stack_id)
        if invite is None:
            cseq = request.cseq
            from_ = request.from_
            key = (request.call_id or "", to_tag, "" if from_ is None else from_.tag or "")
            invite = _Invite(
                key, 0 if cseq is None else cseq.seq, self._randint(1, _FIRST_RSEQ_MAX)
            )
            self._invites[stack_id] = invite
            self._by_key[key] = stack_id
        rseq = invite.next_rseq
        invite.next_rseq += 1
        return rseq

    def hold_or_send(self, stack_id: int, response: SipResponse) -> bool:
        """Whether ``response`` may go out now; else it is held until the awaited PRACK.

        While a reliable provisional response awaits its PRACK, another
        reliable one and a 2xx are held (§3), and anything after a held
        response (to keep the order); a 3xx-6xx goes out at once. A reliable
        one that goes out becomes the awaited one.
        """
        invite = self._invites.get(stack_id)
        if invite is None:
            return True
        rseq = _rseq(response)
        status = response.status
        waiting = invite.awaited is not None and status < 300
        if waiting and (invite.held or rseq is not None or status >= 200):
            invite.held.append(response)
            return False
        if rseq is not None:
            invite.awaited = rseq
        return True

    def match(self, prack: SipRequest) -> tuple[int, int] | None:
        """The INVITE (stack id) and RSeq a PRACK acknowledges, or ``None`` (§3, §7.2).

        It names the INVITE by Call-ID, its To tag (ours) and From tag, and
        by its RAck: the awaited RSeq, the INVITE's CSeq number and method.
        """
        to, from_ = prack.to, prack.from_
        if to is None or to.tag is None:
            return None
        key = (prack.call_id or "", to.tag, "" if from_ is None else from_.tag or "")
        stack_id = self._by_key.get(key)
        if stack_id is None:
            return None
        invite = self._invites[stack_id]
        try:
            rack = prack.rack
        except ParseError:
            return None
        if rack is None or invite.awaited is None:
            return None
        if (rack.response_num, rack.cseq_num, rack.method.upper()) != (
            invite.awaited,
            invite.cseq,
            "INVITE",
        ):
            return None
        return stack_id, rack.response_num

    def pracked(self, stack_id: int) -> list[SipResponse]:
        """The awaited PRACK came: the responses held, to send now, in order.

        Sending stops after the next reliable one (which is awaited in turn).
        """
        invite = self._invites.get(stack_id)
        if invite is None:
            return []
        invite.awaited = None
        released: list[SipResponse] = []
        while invite.held:
            response = invite.held.pop(0)
            released.append(response)
            rseq = _rseq(response)
            if rseq is not None:
                invite.awaited = rseq
                break
        return released

    def forget(self, stack_id: int) -> list[SipResponse]:
        """The INVITE is over (final response sent, timed out): its held responses, dropped."""
        invite = self._invites.pop(stack_id, None)
        if invite is None:
            return []
        if self._by_key.get(invite.key) == stack_id:
            del self._by_key[invite.key]
        return invite.held
