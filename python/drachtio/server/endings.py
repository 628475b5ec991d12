"""Why the server's transactions and dialogs end: what applications and call records are told.

A dialog that ends is an :class:`Ending`: the text its owner reads in the
``dialog`` ``destroyed`` message, and the reason of its call's detail record
(``docs/cdr.md``), decided together where the dialog ends. The ``reason`` of
a ``cancel`` message is text alone (its call record is a refused INVITE).
"""

from __future__ import annotations

from dataclasses import dataclass

from drachtio.server.cdr import Reason

__all__ = [
    "ANOTHER_FORK_ANSWERED",
    "APPLICATION_GONE",
    "BYE_IN_EARLY_DIALOG",
    "BYE_NOT_SENT",
    "BYE_RECEIVED",
    "BYE_SENT",
    "CANCELLED_BY_CALLER",
    "CANCEL_APP_TIMEOUT",
    "CANCEL_BY_BYE",
    "CANCEL_BY_CALLER",
    "CANCEL_SERVER_ERROR",
    "NOTIFY_RECEIVED_ENDS",
    "NOTIFY_SENT_ENDS",
    "NO_ACK",
    "NO_PRACK",
    "NO_PRACK_TEXT",
    "WEBSOCKET_CLOSED",
    "Ending",
    "failed_in_dialog",
    "final_response",
    "no_response",
]


@dataclass(frozen=True, slots=True)
class Ending:
    """Why a dialog ended: ``text`` for its owner, ``cdr`` for the record of its call."""

    text: str
    cdr: Reason = "normal-release"


CANCEL_BY_CALLER = "cancelled by the caller"
"""The ``reason`` of a ``cancel`` sent because a CANCEL came for the INVITE."""
CANCEL_APP_TIMEOUT = "no answer from the application in time: answered 500"
"""The ``reason`` of a ``cancel`` sent because the application did not answer in time."""
CANCEL_SERVER_ERROR = "the server could not handle the request: answered 500"
"""The ``reason`` of a ``cancel`` sent because handling the request failed in the server."""
CANCEL_BY_BYE = "BYE received in the early dialog: answered 487"
"""The ``reason`` of a ``cancel`` sent because the caller's BYE ended the INVITE's early dialog."""
NO_PRACK_TEXT = "no PRACK for the reliable provisional response"
"""Why an INVITE is answered 504 (``cancel``) or its dialog ``destroyed`` (RFC 3262 §3)."""

BYE_RECEIVED = Ending("BYE received")
BYE_SENT = Ending("BYE sent")
BYE_NOT_SENT = Ending("BYE could not be sent: no route to the peer")
NO_ACK = Ending("no ACK for the 2xx", "ack-timeout")
APPLICATION_GONE = Ending("application disconnected", "application-gone")
WEBSOCKET_CLOSED = Ending("WebSocket connection closed", "connection-closed")
"""A dialog whose peer's WebSocket connection closed."""
CANCELLED_BY_CALLER = Ending(CANCEL_BY_CALLER, "call-canceled")
"""A dialog whose 2xx, held for a PRACK, was never sent: the caller cancelled."""
BYE_IN_EARLY_DIALOG = Ending("BYE received in the early dialog", "call-canceled")
"""The early dialog of an INVITE received, which the caller's BYE ended (RFC 3261 §15.1.2)."""
NO_PRACK = Ending(NO_PRACK_TEXT)
NOTIFY_SENT_ENDS = Ending("terminating NOTIFY sent")
NOTIFY_RECEIVED_ENDS = Ending("terminating NOTIFY received")


def no_response(method: str) -> Ending:
    """A request sent in the dialog got no response (RFC 3261 §12.2.1.2)."""
    return Ending(f"no response to {method}", "request-timeout")


def failed_in_dialog(status: int, method: str) -> Ending:
    """A request sent in the dialog was answered 408 or 481 (RFC 3261 §12.2.1.2)."""
    return Ending(
        f"{status} response to {method}", "request-timeout" if status == 408 else "normal-release"
    )


ANOTHER_FORK_ANSWERED = Ending("another fork answered the INVITE")
"""An early dialog of an INVITE the application sent: a 2xx came in another."""


def final_response(status: int) -> Ending:
    """An early dialog whose INVITE got the final response ``status`` (300-699), either way."""
    return Ending(f"final response {status} to the INVITE")
