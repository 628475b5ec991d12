"""The server side of a drachtio-srf connection as a sans-IO state machine.

:class:`ServerConnection` turns received bytes into events and server messages
into bytes; it never touches a socket or a clock. It enforces what the wire
protocol leaves to the server:

- ``authenticate`` first: anything else first is answered ``NOK`` and the
  connection closes;
- nothing runs before the client is authenticated: from an ``authenticate``
  until its reply is sent, received bytes wait unread (:attr:`paused`); a
  reply ``OK`` accepts the client and ``receive_data(b"")`` then reads what
  waited, a ``NOK`` closes the connection;
- a message that cannot be parsed but whose msgId could be read is refused
  with a ``NOK`` reply and the connection stays; a framing error closes it.

Whether a secret is right is the caller's decision.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from drachtio.srfproto.client_messages import Authenticate, ClientMessage, parse_client_message
from drachtio.srfproto.errors import LocalSrfError, RemoteSrfError
from drachtio.srfproto.framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, encode_frame
from drachtio.srfproto.server_messages import Reply, ServerMessage, failure

__all__ = [
    "CloseConnection",
    "Event",
    "MessageReceived",
    "MessageRejected",
    "ProtocolFailed",
    "ServerConnection",
]


@dataclass(slots=True, frozen=True)
class MessageReceived:
    """The client sent a valid message; act on it (and reply, for those that take one)."""

    message: ClientMessage


@dataclass(slots=True, frozen=True)
class MessageRejected:
    """The client sent a message this side refuses; send ``reply``, the connection stays."""

    error: RemoteSrfError
    reply: Reply


@dataclass(slots=True, frozen=True)
class ProtocolFailed:
    """The client broke the protocol; write ``data`` (``reply`` framed), then close.

    ``reply`` is the ``NOK`` to the offending message when its msgId could be
    read, else ``None`` and ``data`` is empty.
    """

    error: RemoteSrfError
    reply: Reply | None
    data: bytes


@dataclass(slots=True, frozen=True)
class CloseConnection:
    """Close the transport once pending bytes are written; always the last event."""

    reason: str


Event = MessageReceived | MessageRejected | ProtocolFailed | CloseConnection


def _new_msg_id() -> str:
    return str(uuid.uuid4())


class ServerConnection:
    """The server's end of one drachtio-srf connection (sans-IO).

    Feed received bytes to :meth:`receive_data` and act on the events; turn
    each message to send into bytes with :meth:`send`. When :attr:`closing`
    becomes true, write what :meth:`send` returned and close the transport.

    Args:
        max_frame_size: the largest payload accepted or sent, in bytes.
        new_msg_id: makes the msgId of each message this side sends (a UUID
            by default); :meth:`next_msg_id` calls it.
    """

    def __init__(
        self,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        new_msg_id: Callable[[], str] = _new_msg_id,
    ) -> None:
        self.max_frame_size = max_frame_size
        self.closing = False
        self.next_msg_id = new_msg_id
        self._decoder = FrameDecoder(max_frame_size)
        self._authenticated = False
        # The msgId of the authenticate awaiting its reply; reading pauses meanwhile.
        self._auth_msg_id: str | None = None
        self.tags: tuple[str, ...] = ()

    def __repr__(self) -> str:
        state = "authenticated" if self._authenticated else "new"
        if self._auth_msg_id is not None:
            state = "authenticating"
        return f"<ServerConnection {state}{' closing' if self.closing else ''}>"

    @property
    def authenticated(self) -> bool:
        """Whether an ``OK`` reply to ``authenticate`` was sent."""
        return self._authenticated

    @property
    def paused(self) -> bool:
        """Whether received bytes wait unread until ``authenticate`` is answered."""
        return self._auth_msg_id is not None

    def receive_data(self, data: bytes) -> list[Event]:
        """Process bytes from the client; return what happened, in order.

        A protocol violation ends the list with :class:`ProtocolFailed` and
        :class:`CloseConnection`. While :attr:`paused`, ``data`` is only kept
        (at most ``max_frame_size`` bytes of it).

        Raises:
            LocalSrfError: when the connection is already closing.
        """
        if self.closing:
            raise LocalSrfError("connection_closed", "the connection is closing")
        events: list[Event] = []
        decoder = self._decoder
        try:
            decoder.feed(data)
            if self.paused:
                if decoder.buffered > self.max_frame_size:
                    raise RemoteSrfError(
                        "frame_too_large",
                        f"more than {self.max_frame_size} bytes sent after authenticate "
                        "before its reply",
                    )
                return events
            while not self.paused and (payload := decoder.next_payload()) is not None:
                self._handle(payload, events)
                if self.closing:
                    break
        except RemoteSrfError as exc:
            self._fail(events, exc)
        return events

    def receive_eof(self) -> list[Event]:
        """The client closed its side; return the final :class:`CloseConnection`."""
        self.closing = True
        if self._decoder.buffered:
            reason = f"client closed the connection inside a frame ({self._decoder.buffered} bytes)"
        else:
            reason = "client closed the connection"
        return [CloseConnection(reason)]

    def send(self, message: ServerMessage) -> bytes:
        """The bytes of ``message``, and the state change it makes.

        A :class:`Reply` to the pending ``authenticate`` accepts the client
        (``OK``: reading resumes with ``receive_data(b"")``) or refuses it
        (``NOK``: :attr:`closing` becomes true).

        Raises:
            LocalSrfError: ``connection_closed`` once closing; ``not_authenticated``
                for a message other than that reply before the client is
                accepted; as :func:`encode_frame` for a message too large.
        """
        if self.closing:
            raise LocalSrfError("connection_closed", "the connection is closing")
        frame = encode_frame(message.to_payload(), self.max_frame_size)
        if isinstance(message, Reply) and message.answers == self._auth_msg_id:
            self._auth_msg_id = None
            self._authenticated = message.ok
            self.closing = not message.ok
            return frame
        if not self._authenticated:
            raise LocalSrfError(
                "not_authenticated", "only the reply to authenticate may go before it is accepted"
            )
        return frame

    def _handle(self, payload: str, events: list[Event]) -> None:
        try:
            message = parse_client_message(payload)
        except RemoteSrfError as exc:
            if exc.fatal or exc.msg_id is None or not self._authenticated:
                raise
            events.append(MessageRejected(exc, self._refusal(exc)))
            return
        if isinstance(message, Authenticate):
            if self._authenticated:
                error = RemoteSrfError(
                    "already_authenticated",
                    "authenticate: this connection is already authenticated",
                    msg_id=message.msg_id,
                    fatal=False,
                )
                events.append(MessageRejected(error, self._refusal(error)))
                return
            self._auth_msg_id = message.msg_id
            self.tags = message.tags
        elif not self._authenticated:
            raise RemoteSrfError(
                "not_authenticated",
                f"{message.TYPE} before authenticate: authenticate must come first",
                msg_id=message.msg_id,
            )
        events.append(MessageReceived(message))

    def _refusal(self, error: RemoteSrfError) -> Reply:
        assert error.msg_id is not None
        return failure(self.next_msg_id(), error.msg_id, error.message)

    def _fail(self, events: list[Event], error: RemoteSrfError) -> None:
        reply = self._refusal(error) if error.msg_id is not None else None
        data = b"" if reply is None else encode_frame(reply.to_payload(), self.max_frame_size)
        events.append(ProtocolFailed(error, reply, data))
        events.append(CloseConnection(error.message))
        self.closing = True
