"""When the server closes a connection it opened to an application and that is left idle.

With a request handler, the server connects to a drachtio-srf application
listening (``srf.listen``) for each request it routes there
(:mod:`drachtio.server.outbound`). The application is meant to close the
connection once it is done (``srf.endSession``); one that never does would
hold a connection, and the server's session, per call for ever. So the
server closes it itself once it is idle: nothing of it in use
(:class:`Use`) and nothing passed over it for ``outbound_idle_timeout``
seconds.

:class:`IdleClock` decides, sans-IO: the caller says what time it is, tells
it of each message that passes (:meth:`IdleClock.active`), and asks at
:attr:`IdleClock.deadline` with what is in use then
(:meth:`IdleClock.check`). A look closes the connection only when nothing
is in use and nothing has passed for the timeout. Besides:

- A message is whatever the application sends, and whatever the server
  tells it, on the wire or not (a dialog's end, which drachtio-srf learns
  from its BYE, counts). Every end of a use comes with one: the BYE, the
  final response (one the server makes up when a request the application
  sent failed), the CANCEL the server sends when it answered a request for
  the application, the end of a dialog the server ended itself. So the
  wait counts from the end, and a look is due one timeout after a message.
- A look that finds something in use waits for the next message, which
  brings the next look forward to one timeout after it: a call that lasts
  costs nothing between its messages. In case an end came with no message
  after all, such a connection is also looked at again every
  :data:`BUSY_LOOKS` timeouts; the wait then counts from the look that
  finds it free.

Messages cost no timer: only the first after a look found something in
use moves the deadline (:meth:`IdleClock.active` says so). Keepalive (the
application's ``ping``, the server's ``pong``) is no message here: an
application that pings would otherwise hold its connections for ever. Nor
are the call detail records sent to it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BUSY_LOOKS", "IdleClock", "Use"]

BUSY_LOOKS = 10
"""While something is in use and nothing passes, a look every this many timeouts."""


@dataclass(frozen=True, slots=True)
class Use:
    """What of one application connection is in use now.

    A server transaction is a request the application was handed and has
    not answered finally; a client transaction, a request it sent that has
    had no final response (an INVITE answered 2xx and kept a while for the
    2xx of other forks is answered: it does not count); a dialog, early or
    confirmed, is one the application owns; a proxy, one of its ``proxy``
    messages still owed replies.
    """

    server_transactions: int = 0
    client_transactions: int = 0
    dialogs: int = 0
    proxies: int = 0

    def __bool__(self) -> bool:
        """Whether anything is in use."""
        return any((self.server_transactions, self.client_transactions, self.dialogs, self.proxies))


class IdleClock:
    """The idle state of one connection the server opened (see the module docstring).

    ``timeout`` is in seconds, above 0; times are on a monotonic clock.
    The connection is taken to be quiet from ``now`` at creation: the
    request it was opened for has just been handed to it.
    """

    __slots__ = ("_quiet_since", "deadline", "timeout")

    def __init__(self, timeout: float, now: float) -> None:
        if timeout <= 0:
            raise ValueError(f"an idle timeout is above 0 seconds, got {timeout!r}")
        self.timeout = timeout
        # From when the connection counts as quiet: the last message, or the
        # look that first found nothing in use; None while a look found some.
        self._quiet_since: float | None = now
        self.deadline = now + timeout
        """When to look next (:meth:`check`)."""

    @property
    def quiet_since(self) -> float | None:
        """From when nothing is known to have been in use or to have passed;
        ``None`` while the last look found something in use."""
        return self._quiet_since

    def active(self, now: float) -> bool:
        """A message passed at ``now``: the wait starts again. ``True`` when
        the deadline moved (earlier: the last look found something in use);
        otherwise the look at the deadline finds the later start."""
        was_busy = self._quiet_since is None
        self._quiet_since = now
        if was_busy and now + self.timeout < self.deadline:
            self.deadline = now + self.timeout
            return True
        return False

    def check(self, now: float, use: Use) -> bool:
        """Look at ``now`` with what is in use: ``True`` when the connection is
        to close now; otherwise :attr:`deadline` is when to look next.

        A look before :attr:`deadline` changes nothing.
        """
        if now < self.deadline:
            return False
        if use:
            self._quiet_since = None
            self.deadline = now + self.timeout * BUSY_LOOKS
            return False
        if self._quiet_since is None:
            # Found free at this look: it may have become so just now.
            self._quiet_since = now
        self.deadline = self._quiet_since + self.timeout
        return now >= self.deadline
