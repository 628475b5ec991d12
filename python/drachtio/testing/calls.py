"""A call from a scripted phone's side: its dialog, and what the phone can do in it.

:class:`Call` holds the dialog (tags, route, remote target, CSeq) and sends
and receives requests in it; :class:`OutgoingCall` adds what comes before
the answer of a call the phone placed (provisional and final responses, the
ACK, CANCEL), :class:`IncomingCall` that of a call it receives (ringing,
answering, rejecting, the caller's CANCEL).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from drachtio._core import RequestEvent, SipRequest, SipResponse
from drachtio.errors import LocalError
from drachtio.protocol import method_named
from drachtio.testing.inbox import ClientTx, Inbox, final_response
from drachtio.testing.incoming import IncomingRequest
from drachtio.testing.messages import (
    Headers,
    decode_text,
    encode_body,
    header_list,
    own_contact,
)

if TYPE_CHECKING:
    from drachtio.testing.phone import SipPhone

__all__ = ["Call", "IncomingCall", "OutgoingCall"]


class Call:
    """A call from the phone's side: its dialog, and what the phone can do in it.

    :class:`OutgoingCall` (the phone called) and :class:`IncomingCall` (the
    phone was called) add what happens before the answer.
    """

    def __init__(self, phone: SipPhone, call_id: str, local_tag: str) -> None:
        self.phone = phone
        """The phone the call is on."""
        self.call_id = call_id
        """The Call-ID."""
        self.local_tag = local_tag
        """The phone's tag (From of an outgoing call, To of an incoming one)."""
        self.remote_tag: str | None = None
        """The other end's tag, once known."""
        self.local_sdp: str | None = None
        """The SDP the phone offered or answered last."""
        self.remote_sdp: str | None = None
        """The SDP the other end offered or answered last."""
        self._local_uri = ""
        self._remote_uri = ""
        self._remote_target = ""
        self._route: list[str] = []
        self._cseq = 0
        self._established = False
        self._ended = False
        self._requests: Inbox[IncomingRequest] = Inbox()
        self._byes: Inbox[SipRequest] = Inbox()
        self._awaiting_ack: IncomingCall | IncomingRequest | None = None

    def __repr__(self) -> str:
        state = "ended" if self._ended else "established" if self._established else "setting up"
        return f"<{type(self).__name__} {self.call_id} {state}>"

    @property
    def established(self) -> bool:
        """Whether the call was answered 2xx (and may have ended since)."""
        return self._established

    @property
    def ended(self) -> bool:
        """Whether a BYE was sent or received."""
        return self._ended

    # ------------------------------------------------------------ requests in the dialog

    async def request(
        self,
        method: str,
        *,
        headers: Headers | None = None,
        body: str | bytes | None = None,
        sdp: str | None = None,
        timeout: float | None = None,
    ) -> SipResponse:
        """Send ``method`` in the call (INFO, UPDATE, a re-INVITE...); its final response.

        A 2xx to a re-INVITE is acknowledged here. ``sdp`` is a body with its
        Content-Type.

        Raises:
            LocalError: the call is not established, or is over.
            TimeoutError: no final response in time.
        """
        method = method_named(method)
        if method in ("ACK", "CANCEL"):
            raise LocalError(f"{method} is not sent with request()")
        if not self._established or not self._remote_target:
            raise LocalError(f"{self!r} is not established: no {method} in it yet")
        if self._ended:
            raise LocalError(f"{self!r} is over")
        extra = header_list(headers)
        raw = encode_body(extra, sdp, body)
        self._cseq += 1
        cseq = self._cseq
        own = [*self._in_dialog(cseq, method)]
        if method in ("INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"):
            own.extend(own_contact(self.phone, extra))
        request = SipRequest(method, self._remote_target, headers=[*own, *extra], body=raw)
        if method == "BYE":
            self._ended = True
        tx = ClientTx(request, None)
        tx_id = self.phone._send(tx, None)
        response = await final_response(tx, self.phone._limit(timeout))
        if method == "INVITE":
            if 200 <= response.status < 300:
                if sdp is not None:
                    self.local_sdp = sdp
                if response.body:
                    self.remote_sdp = decode_text(response.body)
                if response.contacts:
                    self._remote_target = str(response.contacts[0].uri)
                self.phone._stack_or_fail().send_ack(tx_id, self._ack(cseq))
            self.phone._client.pop(tx_id, None)
        return response

    async def reinvite(
        self, sdp: str | None, *, headers: Headers | None = None, timeout: float | None = None
    ) -> SipResponse:
        """A re-INVITE offering ``sdp``; its final response (a 2xx is acknowledged here)."""
        return await self.request("INVITE", headers=headers, sdp=sdp, timeout=timeout)

    async def bye(
        self, *, headers: Headers | None = None, timeout: float | None = None
    ) -> SipResponse:
        """End the call with BYE; the BYE's final response."""
        return await self.request("BYE", headers=headers, timeout=timeout)

    async def expect_request(self, method: str, *, timeout: float | None = None) -> IncomingRequest:
        """The next request of ``method`` the other end sent in the call (a re-INVITE, INFO...),
        for the test to answer with :meth:`IncomingRequest.respond`. BYE is
        answered by the phone: see :meth:`wait_bye`.

        Raises:
            TimeoutError: none came in time.
        """
        method = method_named(method)
        if method == "BYE":
            raise LocalError("the phone answers BYE itself: use wait_bye()")
        return await self._requests.take(
            lambda r: r.request.method == method,
            self.phone._limit(timeout),
            f"{self!r}: no {method} came",
        )

    async def wait_bye(self, *, timeout: float | None = None) -> SipRequest:
        """Wait until the other end hangs up; its BYE (which the phone answered 200).

        Raises:
            TimeoutError: no BYE came in time.
        """
        return await self._byes.take(
            lambda _: True, self.phone._limit(timeout), f"{self!r}: no BYE came", keep=True
        )

    # ------------------------------------------------------------ plumbing

    def _closed(self, error: BaseException) -> None:
        self._requests.fail(error)
        self._byes.fail(error)

    def _identity(self, cseq: int, method: str) -> list[tuple[str, str]]:
        """From, To, Call-ID and CSeq of a request the phone sends in this call."""
        to = f"<{self._remote_uri}>"
        if self.remote_tag is not None:
            to += f";tag={self.remote_tag}"
        return [
            ("From", f"<{self._local_uri}>;tag={self.local_tag}"),
            ("To", to),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]

    def _in_dialog(self, cseq: int, method: str) -> list[tuple[str, str]]:
        return [*self._identity(cseq, method), *(("Route", r) for r in self._route)]

    def _ack(self, cseq: int) -> SipRequest:
        # SipStack.send_ack adds no Max-Forwards (send_request does), and a
        # request without one is dropped by the receiving stack (RFC 3261 §8.1.1).
        headers = [*self._in_dialog(cseq, "ACK"), ("Max-Forwards", "70")]
        return SipRequest("ACK", self._remote_target, headers=headers)

    def _on_request(self, event: RequestEvent) -> None:
        """A request in this call (not ACK, which the stack reports apart)."""
        stack = self.phone._stack_or_fail()
        request = event.request
        if request.method == "BYE":
            self._ended = True
            stack.respond(event.tx_id, SipResponse(200))
            self._byes.put(request)
            return
        if request.method == "INVITE":
            if request.body:
                self.remote_sdp = decode_text(request.body)
            if request.contacts:
                self._remote_target = str(request.contacts[0].uri)
        incoming = IncomingRequest(self.phone, event, self)
        if request.method == "INVITE":
            self.phone._reinvites_in[event.tx_id] = incoming
        self._requests.put(incoming)


class OutgoingCall(Call):
    """A call the phone placed (:meth:`SipPhone.invite`)."""

    def __init__(self, phone: SipPhone, local_tag: str, uri: str) -> None:
        super().__init__(phone, f"{uuid.uuid4().hex}@{phone.address[1]}", local_tag)
        self._local_uri = phone._from_uri()
        self._remote_uri = uri
        self._remote_target = ""
        self._cseq = 1
        self.invite: SipRequest
        """The INVITE as the phone built it."""
        self._tx: ClientTx
        self._tx_id = 0

    def _on_response(self, response: SipResponse) -> None:
        """A response to the INVITE, as it comes: a 2xx establishes the call."""
        if not 200 <= response.status < 300 or self.remote_tag is not None:
            return
        to = response.to
        self.remote_tag = to.tag if to is not None else None
        self._established = True
        if response.contacts:
            self._remote_target = str(response.contacts[0].uri)
        self._route = [str(r) for r in reversed(response.record_route)]
        if response.body:
            self.remote_sdp = decode_text(response.body)

    async def provisional(
        self, status: int | None = None, *, timeout: float | None = None
    ) -> SipResponse:
        """The next provisional response (of ``status``, if given) not returned before.

        Raises:
            TimeoutError: none came in time (a final response came instead, say).
        """
        what = f"no {status or 'provisional'} response to {self._tx.what}"
        return await self._tx.responses.take(
            lambda r: r.status < 200 and (status is None or r.status == status),
            self.phone._limit(timeout),
            what,
        )

    async def final(self, *, timeout: float | None = None) -> SipResponse:
        """The INVITE's final response (a 2xx must then be acknowledged with :meth:`ack`).

        A non-2xx is acknowledged by the phone's transaction layer.

        Raises:
            TimeoutError: none came in time.
        """
        return await final_response(self._tx, self.phone._limit(timeout))

    async def ack(self, *, timeout: float | None = None) -> None:
        """Acknowledge the INVITE's 2xx (waiting for it first).

        Raises:
            LocalError: the final response was not a 2xx.
        """
        response = await self.final(timeout=timeout)
        if not 200 <= response.status < 300:
            raise LocalError(f"the INVITE failed with {response.status}: nothing to ACK")
        self.phone._stack_or_fail().send_ack(self._tx_id, self._ack(1))
        self.phone._client.pop(self._tx_id, None)

    async def cancel(self, *, timeout: float | None = None) -> SipResponse:
        """CANCEL the INVITE; the CANCEL's final response (200). The INVITE's own
        final response (487, unless the answer crossed the CANCEL) follows:
        :meth:`final`.

        Raises:
            LocalError: the INVITE already has a final response.
        """
        stack = self.phone._stack_or_fail()
        cancel_id = stack.cancel(self._tx_id)
        tx = ClientTx(SipRequest("CANCEL", self.invite.uri), None)
        self.phone._client[cancel_id] = tx
        return await final_response(tx, self.phone._limit(timeout))


class IncomingCall(Call):
    """A call to the phone (:meth:`SipPhone.expect_invite`), to ring, answer or reject.

    The phone's transaction layer has answered it 100 Trying.
    """

    def __init__(self, phone: SipPhone, event: RequestEvent, local_tag: str) -> None:
        request = event.request
        super().__init__(phone, request.call_id or "", local_tag)
        self.invite = request
        """The INVITE."""
        self.source = event.source
        """Where the INVITE came from: ``(transport, ip, port)``."""
        from_, to = request.from_, request.to
        self.remote_tag = from_.tag if from_ is not None else None
        self._remote_uri = str(from_.uri) if from_ is not None else ""
        self._local_uri = str(to.uri) if to is not None else ""
        self._remote_target = str(request.contacts[0].uri) if request.contacts else ""
        self._route = list(request.header_all("Record-Route"))
        self.remote_sdp = decode_text(request.body)
        self._tx_id = event.tx_id
        self._acks: Inbox[SipRequest] = Inbox()
        self._cancelled: Inbox[SipRequest] = Inbox()

    @property
    def cancelled(self) -> bool:
        """Whether the caller cancelled the INVITE (the phone's stack answered it 487)."""
        return len(self._cancelled) > 0

    def _response(
        self,
        status: int,
        reason: str | None,
        sdp: str | None,
        headers: Headers | None,
    ) -> SipResponse:
        extra = header_list(headers)
        body = encode_body(extra, sdp, None)
        own = [("To", f"{self.invite.header('To')};tag={self.local_tag}")]
        if status < 300:
            own.extend(own_contact(self.phone, extra))
            own.extend(("Record-Route", r) for r in self._route)
        return SipResponse(status, reason, headers=[*own, *extra], body=body)

    async def ringing(
        self,
        status: int = 180,
        *,
        sdp: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Send a provisional response: 180 Ringing, or 183 with ``sdp`` (early media).

        Raises:
            TransactionFinished: the INVITE already has its final response
                (or was cancelled).
        """
        if not 100 < status < 200:
            raise LocalError(f"{status} is not a provisional status")
        self.phone._stack_or_fail().respond(self._tx_id, self._response(status, None, sdp, headers))

    async def answer(
        self,
        *,
        sdp: str | None = None,
        headers: Headers | None = None,
        timeout: float | None = None,
    ) -> SipRequest:
        """Answer 200 (with ``sdp``) and wait for the caller's ACK; the ACK.

        Raises:
            TransactionFinished: the INVITE was cancelled first.
            TimeoutError: no ACK came in time.
        """
        response = self._response(200, None, sdp, headers)
        self.phone._stack_or_fail().respond(self._tx_id, response)
        self._established = True
        self.local_sdp = sdp
        self._awaiting_ack = self
        try:
            return await self._acks.take(
                lambda _: True, self.phone._limit(timeout), f"{self!r}: no ACK for the 200"
            )
        finally:
            self._awaiting_ack = None

    async def reject(
        self, status: int = 486, reason: str | None = None, *, headers: Headers | None = None
    ) -> None:
        """Refuse the call with ``status`` (486 Busy Here by default); the
        phone's transaction layer absorbs the ACK.

        Raises:
            TransactionFinished: the INVITE already has its final response
                (or was cancelled).
        """
        if status < 300:
            raise LocalError(f"{status} does not refuse a call: use answer()")
        self.phone._stack_or_fail().respond(
            self._tx_id, self._response(status, reason, None, headers)
        )
        self.phone._invites_in.pop(self._tx_id, None)

    async def wait_cancel(self, *, timeout: float | None = None) -> SipRequest:
        """Wait until the caller cancels; the CANCEL (the phone's stack answered
        it 200 and the INVITE 487).

        Raises:
            TimeoutError: no CANCEL came in time.
        """
        return await self._cancelled.take(
            lambda _: True, self.phone._limit(timeout), f"{self!r}: no CANCEL came", keep=True
        )
