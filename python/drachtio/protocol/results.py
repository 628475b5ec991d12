"""The results of the control protocol: the ``data`` of every response.

``auth`` is answered :class:`AuthResult`, ``ping`` :class:`Pong` (or
:class:`Success`), ``respondToSipRequest`` :class:`RespondResult`,
``sendSipRequest`` :class:`SendResult`, ``proxy`` :class:`ProxyResult`,
every other command :class:`Success`; any command may be refused with
:class:`Failure` (:func:`response_types`).
:func:`parse_response_data` builds a result from what the peer sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from drachtio.protocol._checks import (
    JsonObject,
    SipJson,
    check_bool,
    check_line,
    check_sip_message,
    check_text,
    check_true,
    invalid,
    is_line,
    is_sip_message,
    kind,
    message_json,
    remote,
    require,
)
from drachtio.protocol.errors import LocalProtocolError
from drachtio.protocol.proxy import ProxyResult

# Results built from what was read and found valid, without their checks.
_new = object.__new__
_set = object.__setattr__

__all__ = [
    "AuthResult",
    "Failure",
    "Pong",
    "RespondResult",
    "ResponseData",
    "SendResult",
    "Success",
    "parse_response_data",
    "response_types",
]


@dataclass(slots=True, frozen=True)
class AuthResult:
    """The response to ``auth``.

    ``hostport`` lists the server's SIP listeners as ``"<transport>/<host>:<port>"``
    (``"udp/127.0.0.1:5060"``). A failure carries a ``reason``, after which the
    server closes the connection.
    """

    authenticated: bool
    hostport: tuple[str, ...] = ()
    reason: str | None = None

    def __post_init__(self) -> None:
        check_bool(self.authenticated, "data.authenticated")
        if not isinstance(self.hostport, (tuple, list)):
            raise invalid("data.hostport", f"must be an array, got {kind(self.hostport)}")
        for index, item in enumerate(self.hostport):
            check_line(item, f"data.hostport[{index}]")
        object.__setattr__(self, "hostport", tuple(self.hostport))
        if self.reason is not None or not self.authenticated:  # required in a failure
            check_line(self.reason, "data.reason")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        if self.authenticated:
            return {"authenticated": True, "hostport": list(self.hostport)}
        return {"authenticated": False, "reason": self.reason}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> AuthResult:
        return cls(require(data, "authenticated"), data.get("hostport", ()), data.get("reason"))


@dataclass(slots=True, frozen=True)
class Success:
    """``{success: true}``: the request was carried out."""

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        return {"success": True}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Success:
        check_true(require(data, "success"), "data.success")
        return SUCCESS


SUCCESS = Success()
"""The one :class:`Success` received responses carry: it holds nothing."""


@dataclass(slots=True, frozen=True)
class RespondResult:
    """The success response to ``respondToSipRequest``.

    ``message`` is the SIP response as the server sent it, in JSON form (with
    the To tag, Via, Call-ID, CSeq, Contact and Content-Length the server
    supplied), or the :class:`~drachtio.SipResponse` itself on the sending
    side. ``dialog_id`` is set when the response created or confirmed a
    dialog: a 2xx to an INVITE, or a tagged 1xx (its early dialog).
    """

    message: SipJson
    dialog_id: str | None = None

    def __post_init__(self) -> None:
        check_sip_message(self.message, "data.message", "status_line")
        if self.dialog_id is not None:
            check_line(self.dialog_id, "data.dialogId")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        data: JsonObject = {"success": True, "message": message_json(self.message)}
        if self.dialog_id is not None:
            data["dialogId"] = self.dialog_id
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> RespondResult:
        # The common case (the answer to every response an application sends)
        # in one test, built without the checks; what it takes, the checks
        # take alike: tests/protocol/test_protocol_fast_paths.py.
        if type(data) is dict and data.get("success") is True:
            message = data.get("message")
            dialog_id = data.get("dialogId")
            if is_sip_message(message, "status_line") and (dialog_id is None or is_line(dialog_id)):
                result: RespondResult = _new(cls)
                _set(result, "message", message)
                _set(result, "dialog_id", dialog_id)
                return result
        check_true(require(data, "success"), "data.success")
        return cls(require(data, "message"), data.get("dialogId"))


@dataclass(slots=True, frozen=True)
class SendResult:
    """The success response to ``sendSipRequest``.

    ``message`` is the SIP request as sent, in JSON form (or the
    :class:`~drachtio.SipRequest` itself on the sending side); responses to it
    reach the client as ``sip`` requests with the same ``transaction_id``.
    """

    transaction_id: str
    message: SipJson
    dialog_id: str | None = None

    def __post_init__(self) -> None:
        check_line(self.transaction_id, "data.transactionId")
        check_sip_message(self.message, "data.message", "request_uri")
        if self.dialog_id is not None:
            check_line(self.dialog_id, "data.dialogId")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        data: JsonObject = {"success": True, "transactionId": self.transaction_id}
        if self.dialog_id is not None:
            data["dialogId"] = self.dialog_id
        data["message"] = message_json(self.message)
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> SendResult:
        # The common case in one test, built without the checks (as RespondResult's).
        if type(data) is dict and data.get("success") is True:
            tx = data.get("transactionId")
            message = data.get("message")
            dialog_id = data.get("dialogId")
            if (
                is_line(tx)
                and is_sip_message(message, "request_uri")
                and (dialog_id is None or is_line(dialog_id))
            ):
                result: SendResult = _new(cls)
                _set(result, "transaction_id", tx)
                _set(result, "message", message)
                _set(result, "dialog_id", dialog_id)
                return result
        check_true(require(data, "success"), "data.success")
        return cls(require(data, "transactionId"), require(data, "message"), data.get("dialogId"))


@dataclass(slots=True, frozen=True)
class Pong:
    """``{pong: true}``: the response to ``ping``."""

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        return {"pong": True}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Pong:
        check_true(require(data, "pong"), "data.pong")
        return cls()


@dataclass(slots=True, frozen=True)
class Failure:
    """``{success: false, reason, error?}``: the request was refused.

    ``error`` is a stable code (:data:`~drachtio.protocol.errors.ErrorCode` for
    protocol errors) when the refusal is a protocol error; application-level
    refusals (an unknown transaction) carry only a ``reason``.
    """

    reason: str
    error: str | None = None

    def __post_init__(self) -> None:
        check_text(self.reason, "data.reason")
        if self.error is not None:
            check_line(self.error, "data.error")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        data: JsonObject = {"success": False, "reason": self.reason}
        if self.error is not None:
            data["error"] = self.error
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Failure:
        return cls(require(data, "reason"), data.get("error"))


ResponseData = AuthResult | Success | RespondResult | SendResult | ProxyResult | Pong | Failure

RESPONSE_TYPES: dict[str, tuple[type[Any], ...]] = {
    "auth": (AuthResult, Failure),
    # Any well-formed answer proves the peer alive; a client written from the
    # original protocol answers every request {success: true}.
    "ping": (Pong, Success, Failure),
    "respondToSipRequest": (RespondResult, Failure),
    "sendSipRequest": (SendResult, Failure),
    "proxy": (ProxyResult, Failure),
}
"""What may answer each command with a result of its own, that result first."""
_DEFAULT_RESPONSE_TYPES: tuple[type[Any], ...] = (Success, Failure)


def response_types(command: str) -> tuple[type[Any], ...]:
    """The response data classes that may answer ``command``."""
    return RESPONSE_TYPES.get(command, _DEFAULT_RESPONSE_TYPES)


def parse_response_data(command: str | None, data: Mapping[str, Any]) -> ResponseData:
    """Build the data of a response to ``command`` from its received JSON object.

    ``command`` is the command of the request answered, or ``None`` for a
    response with a null rid (always a failure).

    Raises:
        RemoteProtocolError: fatal ``bad_response`` (a response cannot be answered).
    """
    parser: Callable[[Mapping[str, Any]], ResponseData]
    if command is None:
        parser = Failure._from_json
    elif command == "auth" and "authenticated" in data:
        parser = AuthResult._from_json
    elif data.get("success") is False:
        parser = Failure._from_json
    elif command == "ping" and "pong" not in data and data.get("success") is True:
        return SUCCESS
    else:
        parser = response_types(command)[0]._from_json
    try:
        return parser(data)
    except LocalProtocolError as exc:
        raise remote(exc, "bad_response", rid=None, fatal=True) from None
