"""The ``proxy`` command and its result: a request the client received, forwarded by the server.

The client answers a ``sip`` request by asking the server to proxy it
(RFC 3261 §16) to one or more destinations; the response comes once the
caller has its final response (or the caller cancelled) and every branch
has ended, with the outcome and a report of each branch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from drachtio.protocol._checks import (
    URI,
    JsonObject,
    SimpleHeaders,
    SipJson,
    check_bool,
    check_choice,
    check_headers,
    check_int,
    check_line,
    check_object,
    check_seconds,
    check_sip_message,
    check_true,
    invalid,
    kind,
    message_json,
    require,
    shown,
)

__all__ = [
    "MAX_DESTINATIONS",
    "PROXY_OWNED_HEADERS",
    "BranchReport",
    "ProxyRequest",
    "ProxyResult",
]

MAX_DESTINATIONS = 32
"""The most destinations one ``proxy`` command may name."""

PROXY_OWNED_HEADERS = frozenset(
    {
        "via",
        "v",
        "max-forwards",
        "record-route",
        "call-id",
        "i",
        "cseq",
        "from",
        "f",
        "to",
        "t",
        "content-length",
        "l",
    }
)
"""Headers (lower case, compact forms too) the proxy writes or must keep as received."""

Forking = Literal["serial", "parallel"]


@dataclass(slots=True, frozen=True)
class ProxyRequest:
    """``proxy``: forward a request the client received to ``destinations``.

    ``forking`` ``"serial"`` tries them in order, the next when one fails;
    ``"parallel"`` sends to all at once. ``provisional_timeout``: seconds a
    destination has to send a provisional response before the next is
    tried; ``final_timeout``: seconds it has to send a final one.
    ``follow_redirects``: the Contacts of a 3xx become destinations (a few at
    most). ``headers`` are added to each forwarded request.
    """

    COMMAND: ClassVar[str] = "proxy"
    transaction_id: str
    destinations: tuple[str, ...]
    record_route: bool = False
    forking: Forking = "serial"
    provisional_timeout: float | None = None
    final_timeout: float | None = None
    follow_redirects: bool = False
    headers: SimpleHeaders = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_line(self.transaction_id, "data.transactionId")
        destinations = self.destinations
        if not isinstance(destinations, (list, tuple)):
            raise invalid("data.destinations", f"must be an array, got {kind(destinations)}")
        if not 1 <= len(destinations) <= MAX_DESTINATIONS:
            raise invalid(
                "data.destinations",
                f"must hold 1 to {MAX_DESTINATIONS} URIs, got {len(destinations)}",
            )
        for index, uri in enumerate(destinations):
            path = f"data.destinations[{index}]"
            if not URI.fullmatch(check_line(uri, path)):
                raise invalid(path, f"{shown(uri)} is not a URI")
        object.__setattr__(self, "destinations", tuple(destinations))
        check_bool(self.record_route, "data.recordRoute")
        check_choice(self.forking, ("serial", "parallel"), "data.forking")
        for value, path in (
            (self.provisional_timeout, "data.provisionalTimeout"),
            (self.final_timeout, "data.finalTimeout"),
        ):
            if value is not None and check_seconds(value, path) == 0:
                raise invalid(path, "must be a positive number of seconds")
        check_bool(self.follow_redirects, "data.followRedirects")
        check_headers(self.headers, "data.headers")
        for name in self.headers:
            if name.lower() in PROXY_OWNED_HEADERS:
                raise invalid("data.headers", f"{shown(name)} is the proxy's to write")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        data: JsonObject = {
            "transactionId": self.transaction_id,
            "destinations": list(self.destinations),
            "recordRoute": self.record_route,
            "forking": self.forking,
            "followRedirects": self.follow_redirects,
        }
        if self.provisional_timeout is not None:
            data["provisionalTimeout"] = self.provisional_timeout
        if self.final_timeout is not None:
            data["finalTimeout"] = self.final_timeout
        if self.headers:
            data["headers"] = self.headers
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> ProxyRequest:
        return cls(
            require(data, "transactionId"),
            require(data, "destinations"),
            data.get("recordRoute", False),
            data.get("forking", "serial"),
            data.get("provisionalTimeout"),
            data.get("finalTimeout"),
            data.get("followRedirects", False),
            dict(check_object(data.get("headers", {}), "data.headers")),
        )


@dataclass(slots=True, frozen=True)
class BranchReport:
    """One destination tried: the status and reason of each response it sent.

    ``error`` says why a branch ended without a final response of its own
    (it could not be sent, it timed out, it was abandoned for the next).
    """

    destination: str
    responses: tuple[tuple[int, str], ...] = ()
    error: str | None = None

    def __post_init__(self) -> None:
        check_line(self.destination, "data.branches[].destination")
        if not isinstance(self.responses, (list, tuple)):
            raise invalid(
                "data.branches[].responses", f"must be an array, got {kind(self.responses)}"
            )
        for status, reason in self.responses:
            check_int(status, "data.branches[].responses[].status", 100, 699)
            if reason:
                check_line(reason, "data.branches[].responses[].reason")
        object.__setattr__(self, "responses", tuple(tuple(r) for r in self.responses))
        if self.error is not None:
            check_line(self.error, "data.branches[].error")

    def to_json(self) -> JsonObject:
        """This branch as an object of ``branches``."""
        data: JsonObject = {
            "destination": self.destination,
            "responses": [{"status": s, "reason": r} for s, r in self.responses],
        }
        if self.error is not None:
            data["error"] = self.error
        return data

    @classmethod
    def _from_json(cls, data: object) -> BranchReport:
        branch = check_object(data, "data.branches[]")
        responses = []
        for item in require(branch, "responses", "data.branches[]"):
            response = check_object(item, "data.branches[].responses[]")
            responses.append(
                (
                    require(response, "status", "data.branches[].responses[]"),
                    response.get("reason", ""),
                )
            )
        return cls(
            require(branch, "destination", "data.branches[]"), tuple(responses), branch.get("error")
        )


@dataclass(slots=True, frozen=True)
class ProxyResult:
    """The response to ``proxy``, once the request is settled.

    ``final_status`` is the final response the caller got (487 when it
    cancelled), ``final_response`` that response as sent, in JSON form (or
    the :class:`~drachtio.SipResponse` itself on the sending side), absent
    when the caller's CANCEL ended the request; ``branches`` reports every
    destination tried, in the order tried.
    """

    final_status: int
    final_response: SipJson | None
    branches: tuple[BranchReport, ...]

    def __post_init__(self) -> None:
        check_int(self.final_status, "data.finalStatus", 200, 699)
        if self.final_response is not None:
            check_sip_message(self.final_response, "data.finalResponse", "status_line")
        object.__setattr__(self, "branches", tuple(self.branches))

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        data: JsonObject = {"success": True, "finalStatus": self.final_status}
        if self.final_response is not None:
            data["finalResponse"] = message_json(self.final_response)
        data["branches"] = [b.to_json() for b in self.branches]
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> ProxyResult:
        check_true(require(data, "success"), "data.success")
        branches = require(data, "branches")
        if not isinstance(branches, list):
            raise invalid("data.branches", f"must be an array, got {kind(branches)}")
        return cls(
            require(data, "finalStatus"),
            data.get("finalResponse"),
            tuple(BranchReport._from_json(b) for b in branches),
        )
