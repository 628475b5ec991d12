"""The requests the server proxies, and what they send through the stack.

:class:`Proxies` starts a :class:`~drachtio.server.proxy.ProxiedRequest`
when an application answers a request with ``proxy``, carries out its
actions (a branch forwarded, cancelled, a response relayed upstream), feeds
it the stack's events for its transactions, and answers the application's
``proxy`` command (a :class:`~drachtio.protocol.Later`) once the request is
settled. After that a proxied INVITE is kept 64*T1 more, so that the 2xx the
UAS retransmits, or another branch's, still go upstream (RFC 6026 §7.2).

A proxied INVITE outside any dialog is a call with its records
(``docs/cdr.md``): it starts with the first 2xx relayed upstream, stops
with the caller's final response otherwise, and, record-routed, stops when
its BYE passes through.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

from drachtio._core import (
    SipRequest,
    SipResponse,
    Uri,
    proxy_check,
    proxy_forward,
    proxy_upstream_response,
)
from drachtio.errors import DrachtioError
from drachtio.protocol import Later, ProxyRequest, ProxyResult, SimpleHeaders
from drachtio.server.cdr import CallRecorder
from drachtio.server.deadlines import Alarm, Deadlines
from drachtio.server.dialog import Listener, build_response, contact_for, uri_host
from drachtio.server.proxy import CancelBranch, ProxiedRequest, Relay, SendBranch, Settled
from drachtio.stack import SipStack

__all__ = ["Proxied", "Proxies", "ProxyWatcher"]

log = logging.getLogger("drachtio.server")

_Owner = TypeVar("_Owner")

_REFUSALS = {
    400: "Bad Request",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    482: "Loop Detected",
    483: "Too Many Hops",
}


@runtime_checkable
class ProxyWatcher(Protocol):
    """An owner told of each final response a branch gets, as it comes (drachtio-srf
    applications see every one); ``answer`` is the :class:`Later` its ``proxy`` got."""

    def proxied_response(self, answer: Later, destination: str, response: SipResponse) -> None:
        """Branch ``destination`` of the request answered ``answer`` got final ``response``."""


@dataclass(slots=True, eq=False)
class Proxied(Generic[_Owner]):
    """A proxied request: its machine, its server transaction, its branches' transactions."""

    call: ProxiedRequest
    # The application that asked; None for a request routed by the server itself.
    owner: _Owner | None
    stack_id: int
    request: SipRequest
    listener: Listener
    answer: Later
    to_tag: str | None = None
    branch_txs: dict[int, int] = field(default_factory=dict)
    final_response: SipResponse | None = None
    # Whether each destination becomes the Request-URI (an application's
    # proxy); a request routed onward keeps its own (§16.12).
    retarget: bool = True
    # The call's key in the call detail records until its outcome is
    # recorded (a start or a stop); None for a request that is no call.
    cdr_key: str | None = None


class Proxies(Generic[_Owner]):
    """Every request being proxied, by its server transaction and by its branches'."""

    __slots__ = ("_by_branch", "_by_server", "_cdrs", "_due", "_forget", "linger", "timer_c")

    def __init__(
        self, timer_c: float, linger: float, cdrs: CallRecorder, alarm: Alarm | None = None
    ) -> None:
        self.timer_c = timer_c
        self.linger = linger
        self._cdrs = cdrs
        self._by_server: dict[int, Proxied[_Owner]] = {}
        self._by_branch: dict[int, tuple[Proxied[_Owner], int]] = {}
        self._due: Deadlines[Proxied[_Owner]] = Deadlines(alarm)
        self._forget: Deadlines[Proxied[_Owner]] = Deadlines(alarm)

    def __len__(self) -> int:
        return len(self._by_server)

    def start(
        self,
        stack: SipStack,
        owner: _Owner | None,
        stack_id: int,
        request: SipRequest,
        listener: Listener,
        to_tag: str | None,
        options: ProxyRequest,
        now: float,
        *,
        retarget: bool = True,
        cdr_key: str | None = None,
    ) -> ProxyResult | Later:
        """Proxy ``request`` (server transaction ``stack_id``) as ``options`` say.

        A request the proxy core refuses (RFC 3261 §16.3: 483, 482, 416, 420,
        400) is answered at once and reported with no branch. ``cdr_key``
        names the call of an INVITE outside any dialog in the call detail
        records: it is proxied from now on.
        """
        sent_by = [f"{uri_host(ip)}:{port}" for ip, port in own_addresses(stack)]
        refusal = proxy_check(request, sent_by, [])
        if cdr_key is not None and request.method == "INVITE":
            self._cdrs.proxied(cdr_key)
        else:
            cdr_key = None
        if refusal is not None:
            status, detail = refusal
            headers: SimpleHeaders = {"Unsupported": ", ".join(detail)} if status == 420 else {}
            response = build_response(
                request,
                status,
                _REFUSALS[status],
                headers,
                None,
                to_tag or stack.new_tag(),
                contact_for(*listener),
            )
            stack.respond(stack_id, response)
            if cdr_key is not None:
                self._cdrs.refused(cdr_key, status, time.time(), response)
            return ProxyResult(status, response, ())
        stack.answer_as_proxy(stack_id)
        call = ProxiedRequest(options, request.method == "INVITE", now, self.timer_c)
        entry = Proxied(
            call,
            owner,
            stack_id,
            request,
            listener,
            Later(),
            to_tag,
            retarget=retarget,
            cdr_key=cdr_key,
        )
        self._by_server[stack_id] = entry
        call.start(now)
        self._run(stack, entry, now)
        return entry.answer

    def route_onward(
        self,
        stack: SipStack,
        stack_id: int,
        request: SipRequest,
        listener: Listener,
        now: float,
    ) -> bool:
        """Route ``request`` onward without asking any application, when its route says so.

        A request in no dialog of ours (it has a To tag) whose first Route
        names us, or whose Request-URI does (a strict router before us), is
        in a dialog we record-routed (RFC 3261 §16.12); a new request whose
        first Route names us with ``lr`` and whose Request-URI, or a further
        Route, is another's was routed through us (a preloaded route). Either
        is forwarded to its next hop; ``False`` for any other request.
        """
        if not _routed_here(stack, request):
            return False
        to = request.to
        cdr_key = None
        if request.method == "INVITE" and (to is None or to.tag is None):
            # A new call routed through the server: role proxy from its attempt.
            cdr_key = f"onward;{stack_id}"
            self._cdrs.invite(cdr_key, request, role="proxy", now=time.time())
        elif request.method == "BYE":
            self._cdrs.passed_bye(request, time.time())
        elif to is not None and to.tag is not None:
            self._cdrs.passed_in_dialog(request, time.time())
        options = ProxyRequest("-", (str(request.uri),))
        self.start(
            stack,
            None,
            stack_id,
            request,
            listener,
            None,
            options,
            now,
            retarget=False,
            cdr_key=cdr_key,
        )
        return True

    def route_ack(self, stack: SipStack, ack: SipRequest) -> bool:
        """The ACK of a 2xx in a dialog we record-routed: forwarded statelessly (§16.11)."""
        if not _routed_here(stack, ack):
            return False
        own = own_addresses(stack)
        try:
            forwarded = proxy_forward(ack, None, f"z9hG4bK{os.urandom(8).hex()}", own)
            stack.send_stateless(forwarded)
        except (DrachtioError, ValueError) as exc:
            log.info("ACK not forwarded: %s", exc)
        return True

    # ------------------------------------------------------------ the stack's events

    def on_response(
        self, stack: SipStack, stack_id: int, response: SipResponse, now: float
    ) -> bool:
        """A response in a client transaction; ``False`` when it is no branch of ours."""
        found = self._by_branch.get(stack_id)
        if found is None:
            return False
        entry, index = found
        owner = entry.owner
        if response.status >= 200 and isinstance(owner, ProxyWatcher):
            destination = entry.call.branches()[index].destination
            owner.proxied_response(entry.answer, destination, response)
        entry.call.on_response(index, response, now)
        self._run(stack, entry, now)
        return True

    def on_failure(self, stack: SipStack, stack_id: int, status: int, why: str, now: float) -> bool:
        """A client transaction ended without a response; ``False`` when it is no branch of ours."""
        found = self._by_branch.pop(stack_id, None)
        if found is None:
            return False
        entry, index = found
        entry.call.on_branch_failure(index, status, why, now)
        self._run(stack, entry, now)
        return True

    def on_cancel(self, stack: SipStack, stack_id: int, now: float) -> bool:
        """The caller's CANCEL matched server transaction ``stack_id``; ``False`` when not ours."""
        entry = self._by_server.get(stack_id)
        if entry is None:
            return False
        entry.call.on_cancel(now)
        self._run(stack, entry, now)
        return True

    def expire(self, stack: SipStack, now: float) -> None:
        """The timeouts due by ``now``, and the settled requests kept long enough."""
        for entry in self._due.pop_due(now):
            entry.call.handle_timeout(now)
            self._run(stack, entry, now)
        for entry in self._forget.pop_due(now):
            self._drop(entry)

    def next_deadline(self) -> float | None:
        """The earliest deadline, or ``None``."""
        times = [t for t in (self._due.next_at(), self._forget.next_at()) if t is not None]
        return min(times) if times else None

    # ------------------------------------------------------------ carrying out

    def _run(self, stack: SipStack, entry: Proxied[_Owner], now: float) -> None:
        """Carry out what ``entry``'s machine asks for, until it asks for nothing more."""
        call = entry.call
        while actions := call.poll_actions():
            for action in actions:
                if isinstance(action, SendBranch):
                    self._send(stack, entry, action, now)
                elif isinstance(action, CancelBranch):
                    self._cancel(stack, entry, action.index)
                elif isinstance(action, Relay):
                    self._relay(stack, entry, action)
                else:
                    self._settle(entry, action, now)
        status = call.final_status
        if entry.cdr_key is not None and status is not None and status >= 300:
            # Refused, timed out (Timer C), or cancelled by the caller.
            timed_out = call.timed_out and not call.cancelled_by_caller
            self._cdrs.refused(
                entry.cdr_key, status, time.time(), entry.final_response, timed_out=timed_out
            )
            entry.cdr_key = None
        at = call.next_deadline()
        if at is None:
            self._due.cancel(entry)
        else:
            self._due.set(entry, at)

    def _send(
        self, stack: SipStack, entry: Proxied[_Owner], action: SendBranch, now: float
    ) -> None:
        listener = entry.listener
        record_route = None
        if entry.call.options.record_route:
            transport, ip, port = listener
            param = "" if transport == "udp" else f";transport={transport}"
            record_route = f"sip:{uri_host(ip)}:{port}{param}"
        own = own_addresses(stack)
        try:
            request = proxy_forward(
                entry.request,
                action.destination if entry.retarget else None,
                f"z9hG4bK{os.urandom(8).hex()}",
                own,
                record_route,
            )
            extra = entry.call.options.headers
            if extra:
                request = _with_headers(request, extra)
            tx = stack.send_request(request, None, proxy=True)
        except (DrachtioError, ValueError) as exc:
            log.info("proxy branch not sent destination=%s: %s", action.destination, exc)
            entry.call.on_branch_failure(action.index, 503, f"not sent: {exc}", now)
            return
        entry.branch_txs[action.index] = tx
        self._by_branch[tx] = (entry, action.index)

    def _cancel(self, stack: SipStack, entry: Proxied[_Owner], index: int) -> None:
        tx = entry.branch_txs.get(index)
        if tx is None:
            return
        try:
            stack.cancel(tx)
        except DrachtioError as exc:
            # Answered meanwhile, or cancelled already: nothing to cancel.
            log.debug("proxy branch not cancelled: %s", exc)

    def _relay(self, stack: SipStack, entry: Proxied[_Owner], action: Relay) -> None:
        if action.response is not None:
            response = proxy_upstream_response(action.response)
            if response is None:
                return
            if entry.cdr_key is not None and 200 <= action.status < 300:
                record_routed = entry.call.options.record_route
                self._cdrs.relayed_answer(
                    entry.cdr_key, response, time.time(), record_routed=record_routed
                )
                entry.cdr_key = None
        else:
            if entry.to_tag is None:
                entry.to_tag = stack.new_tag()
            response = build_response(
                entry.request,
                action.status,
                None,
                {},
                None,
                entry.to_tag,
                contact_for(*entry.listener),
            )
        try:
            stack.respond(entry.stack_id, response)
        except DrachtioError as exc:
            log.debug("proxied response %d not relayed: %s", action.status, exc)
            return
        if action.status >= 200 and entry.final_response is None:
            entry.final_response = response

    def _settle(self, entry: Proxied[_Owner], settled: Settled, now: float) -> None:
        entry.answer.resolve(
            ProxyResult(settled.final_status, entry.final_response, settled.branches)
        )
        if entry.request.method == "INVITE" and 200 <= settled.final_status < 300:
            self._forget.set(entry, now + self.linger)
        else:
            self._drop(entry)

    def _drop(self, entry: Proxied[_Owner]) -> None:
        self._due.cancel(entry)
        self._forget.cancel(entry)
        self._by_server.pop(entry.stack_id, None)
        for tx in entry.branch_txs.values():
            self._by_branch.pop(tx, None)


def _with_headers(request: SipRequest, extra: SimpleHeaders) -> SipRequest:
    """``request`` with the application's ``extra`` headers added (values checked already)."""
    pairs = list(request.headers)
    for name, value in extra.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, item))
    return SipRequest(request.method, request.uri, pairs, request.body)


def own_addresses(stack: SipStack) -> list[tuple[str, int]]:
    """The ``(host, port)`` pairs that name this server in Vias and Routes.

    Each listener's bound address, and the one it advertises (its external
    address behind NAT, which its Via sent-by and Record-Route carry): a
    Route or Via naming either is ours.
    """
    out: list[tuple[str, int]] = []
    for transport, ip, port in stack.local_addresses:
        for address in ((ip, port), stack.advertised(transport, (ip, port), None)):
            if address not in out:
                out.append(address)
    return out


def _routed_here(stack: SipStack, request: SipRequest) -> bool:
    """Whether ``request``'s route passes through us to another (:meth:`Proxies.route_onward`)."""
    own = set(own_addresses(stack))

    def ours(uri: Uri) -> bool:
        return uri.scheme in ("sip", "sips") and (uri.host, uri.port or 5060) in own

    routes = request.route
    to = request.to
    in_dialog = to is not None and to.tag is not None
    first = routes[0].uri if routes else None
    if first is not None and ours(first) and "lr" in {name for name, _ in first.params}:
        return in_dialog or len(routes) > 1 or not ours(request.uri)
    # A strict router before us put our Record-Route in the Request-URI.
    return in_dialog and bool(routes) and ours(request.uri)
