"""The results of the control protocol: the ``data`` of every response.

``auth`` is answered :class:`AuthResult`, ``ping`` :class:`Pong`,
``respondToSipRequest`` :class:`RespondResult`, ``sendSipRequest``
:class:`SendResult`, every other command :class:`Success`; any command may
be refused with :class:`Failure` (:func:`response_types`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from drachtio._core import SipMessage, SipResponse
from drachtio.protocol._checks import (
    JsonObject,
    SipJson,
    _check_bool,
    _check_opt_str,
    _check_sip_message,
    _check_str,
    _check_true,
    _invalid,
    _kind,
    _message_json,
    _require,
)

__all__ = [
    "AuthResult",
    "Failure",
    "Pong",
    "RespondResult",
    "ResponseData",
    "SendResult",
    "Success",
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
        _check_bool(self.authenticated, "data.authenticated")
        if not isinstance(self.hostport, (tuple, list)):
            raise _invalid("data.hostport", f"must be an array, got {_kind(self.hostport)}")
        for index, item in enumerate(self.hostport):
            _check_str(item, f"data.hostport[{index}]")
        object.__setattr__(self, "hostport", tuple(self.hostport))
        if self.authenticated:
            _check_opt_str(self.reason, "data.reason")
        else:
            _check_str(self.reason, "data.reason")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        if self.authenticated:
            return {"authenticated": True, "hostport": list(self.hostport)}
        return {"authenticated": False, "reason": self.reason}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> AuthResult:
        return cls(_require(data, "authenticated"), data.get("hostport", ()), data.get("reason"))


@dataclass(slots=True, frozen=True)
class Success:
    """``{success: true}``: the request was carried out."""

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        return {"success": True}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Success:
        _check_true(_require(data, "success"), "data.success")
        return cls()


@dataclass(slots=True, frozen=True)
class RespondResult:
    """The success response to ``respondToSipRequest``.

    ``message`` is the SIP response as the server sent it, in JSON form (with
    the To tag, Via, Call-ID, CSeq, Contact and Content-Length the server
    supplied), or the :class:`~drachtio.SipResponse` itself on the sending
    side. ``dialog_id`` is set when a 2xx to an INVITE created a dialog.
    """

    message: SipJson
    dialog_id: str | None = None

    def __post_init__(self) -> None:
        if type(self.message) is not SipResponse:
            _check_sip_message(self.message, "data.message", "status_line")
        if self.dialog_id is not None:
            _check_str(self.dialog_id, "data.dialogId")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        message = self.message  # _message_json, inline
        data: JsonObject = {
            "success": True,
            "message": (
                orjson.Fragment(message.to_json()) if isinstance(message, SipMessage) else message
            ),
        }
        if self.dialog_id is not None:
            data["dialogId"] = self.dialog_id
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> RespondResult:
        _check_true(_require(data, "success"), "data.success")
        return cls(_require(data, "message"), data.get("dialogId"))


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
        _check_str(self.transaction_id, "data.transactionId")
        _check_sip_message(self.message, "data.message", "request_uri")
        _check_opt_str(self.dialog_id, "data.dialogId")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        data: JsonObject = {"success": True, "transactionId": self.transaction_id}
        if self.dialog_id is not None:
            data["dialogId"] = self.dialog_id
        data["message"] = _message_json(self.message)
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> SendResult:
        _check_true(_require(data, "success"), "data.success")
        return cls(_require(data, "transactionId"), _require(data, "message"), data.get("dialogId"))


@dataclass(slots=True, frozen=True)
class Pong:
    """``{pong: true}``: the response to ``ping``."""

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        return {"pong": True}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Pong:
        _check_true(_require(data, "pong"), "data.pong")
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
        _check_str(self.reason, "data.reason", line=False)
        _check_opt_str(self.error, "data.error")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        data: JsonObject = {"success": False, "reason": self.reason}
        if self.error is not None:
            data["error"] = self.error
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Failure:
        return cls(_require(data, "reason"), data.get("error"))


ResponseData = AuthResult | Success | RespondResult | SendResult | Pong | Failure

_SUCCESS = Success()

# What may answer each command; everything not listed is answered Success or Failure.
_RESPONSE_TYPES: dict[str, tuple[type[Any], ...]] = {
    "auth": (AuthResult, Failure),
    "ping": (Pong, Failure),
    "respondToSipRequest": (RespondResult, Failure),
    "sendSipRequest": (SendResult, Failure),
}
_DEFAULT_RESPONSE_TYPES: tuple[type[Any], ...] = (Success, Failure)


def response_types(command: str) -> tuple[type[Any], ...]:
    """The response data classes that may answer ``command``."""
    return _RESPONSE_TYPES.get(command, _DEFAULT_RESPONSE_TYPES)
