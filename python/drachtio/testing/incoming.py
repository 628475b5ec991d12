"""A request a scripted phone received, for the test to answer.

:class:`IncomingRequest` is a request outside any dialog
(:meth:`SipPhone.expect_request <drachtio.testing.SipPhone.expect_request>`)
or in a call (:meth:`Call.expect_request
<drachtio.testing.Call.expect_request>`); a 2xx to a re-INVITE waits for
its ACK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drachtio._core import RequestEvent, SipRequest, SipResponse
from drachtio.testing.inbox import Inbox
from drachtio.testing.messages import Headers, encode_body, header_list, own_contact

if TYPE_CHECKING:
    from drachtio.testing.calls import Call
    from drachtio.testing.phone import SipPhone

__all__ = ["IncomingRequest"]


class IncomingRequest:
    """A request the phone received, for the test to answer with :meth:`respond`."""

    def __init__(self, phone: SipPhone, event: RequestEvent, call: Call | None) -> None:
        self.request = event.request
        """The request."""
        self.source = event.source
        """Where it came from: ``(transport, ip, port)``."""
        self.call = call
        """The call it came in, or None."""
        self.response: SipResponse | None = None
        """The final response the test sent, once it has."""
        self._phone = phone
        self._tx_id = event.tx_id
        self._to_tag: str | None = None
        self._acks: Inbox[SipRequest] = Inbox()

    def __repr__(self) -> str:
        return f"<IncomingRequest {self.request.method} {self.request.uri}>"

    @property
    def method(self) -> str:
        """The request's method."""
        return self.request.method

    async def respond(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: Headers | None = None,
        body: str | bytes | None = None,
        sdp: str | None = None,
        timeout: float | None = None,
    ) -> SipResponse:
        """Answer the request; a 2xx to a re-INVITE returns once its ACK came.

        Provisional responses (1xx) may come first. The response is returned as built.

        Raises:
            TransactionFinished: it already has a final response.
            TimeoutError: no ACK came in time for a 2xx to a re-INVITE.
        """
        stack = self._phone._stack_or_fail()
        extra = header_list(headers)
        raw = encode_body(extra, sdp, body)
        own: list[tuple[str, str]] = []
        to = self.request.header("To") or ""
        if self.call is None and status > 100 and ";tag=" not in to:
            if self._to_tag is None:
                self._to_tag = stack.new_tag()
            own.append(("To", f"{to};tag={self._to_tag}"))
        reinvite = self.call is not None and self.request.method == "INVITE"
        if 200 <= status < 300 and (reinvite or self.request.method in ("SUBSCRIBE", "UPDATE")):
            own.extend(own_contact(self._phone, extra))
        response = SipResponse(status, reason, headers=[*own, *extra], body=raw)
        stack.respond(self._tx_id, response)
        if status < 200:
            return response
        self.response = response
        if not (reinvite and status < 300):
            self._phone._reinvites_in.pop(self._tx_id, None)
            return response
        assert self.call is not None
        if sdp is not None:
            self.call.local_sdp = sdp
        self.call._awaiting_ack = self
        try:
            await self._acks.take(
                lambda _: True,
                self._phone._limit(timeout),
                f"{self.call!r}: no ACK for the 2xx to the re-INVITE",
            )
        finally:
            self.call._awaiting_ack = None
        return response
