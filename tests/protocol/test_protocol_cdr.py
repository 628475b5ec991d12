"""Call detail records in the control protocol: the ``cdr:*`` route verbs and
the ``cdr`` request, built, read back, and refused with the path of what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from drachtio.protocol import (
    CDR_VERBS,
    CLIENT_COMMANDS,
    Auth,
    AuthResult,
    CallDetailRecord,
    Connection,
    RemoteProtocolError,
    Request,
    RequestReceived,
    Response,
    Role,
    Route,
    Unroute,
    parse_command,
    parse_request,
)

STOP: dict[str, Any] = {
    "kind": "stop",
    "time": "2026-12-03T08:15:02.500Z",
    "callId": "a84b4c76e66710",
    "role": "proxy",
    "source": "network",
    "from": "sip:alice@example.com",
    "to": "sip:bob@example.com",
    "attemptTime": "2026-12-03T08:14:00.000Z",
    "startTime": "2026-12-03T08:14:02.500Z",
    "status": 200,
    "reason": "normal-release",
    "duration": 60.0,
}


def refused(data: dict[str, Any], command: str = "cdr") -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        parse_command(command, data, rid="r1")
    assert (info.value.code, info.value.rid, info.value.fatal) == ("invalid_data", "r1", False)
    return info.value


@pytest.mark.parametrize("cls", [Route, Unroute])
def test_the_three_kinds_of_record_are_verbs(cls: type[Route] | type[Unroute]) -> None:
    assert CDR_VERBS == ("cdr:attempt", "cdr:start", "cdr:stop")
    for verb in CDR_VERBS:
        command = parse_command(cls.COMMAND, {"verb": verb})
        assert command == cls(verb) and command.names_records
        assert command.to_json() == {"verb": verb}
    assert not cls("invite").names_records
    # Any other cdr: verb is an error that names the kinds.
    for verb in ("cdr:*", "cdr:STOP", "cdr:", "cdr:end"):
        error = refused({"verb": verb}, cls.COMMAND)
        assert error.path == "data.verb"
        assert error.message.endswith(
            "is no kind of call detail record: cdr:attempt, cdr:start, cdr:stop"
        )


def test_a_record_reads_back_as_written() -> None:
    record = parse_command("cdr", STOP)
    assert isinstance(record, CallDetailRecord)
    assert (record.kind, record.call_id, record.from_uri, record.duration) == (
        "stop",
        "a84b4c76e66710",
        "sip:alice@example.com",
        60.0,
    )
    assert record.to_json() == STOP
    attempt = {k: STOP[k] for k in ("time", "callId", "role", "source", "from", "to")}
    attempt.update(kind="attempt", attemptTime=STOP["time"])
    assert parse_command("cdr", attempt).to_json() == attempt
    # Fields a newer server may add are ignored; a reason it may add still reads.
    newer = parse_command("cdr", {**STOP, "reason": "some-new-reason", "extra": 1})
    assert isinstance(newer, CallDetailRecord) and newer.reason == "some-new-reason"


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"kind": "end"}, "data.kind", "must be one of attempt, start, stop, got 'end'"),
        ({"time": "08:15:02.500"}, "data.time", "must be a UTC time like"),
        ({"time": 1.5}, "data.time", "must be a UTC time like"),
        ({"callId": "a\r\nb"}, "data.callId", "must not contain CR, LF or NUL"),
        ({"role": "b2bua"}, "data.role", "must be one of uas, uac, proxy"),
        ({"source": "nowhere"}, "data.source", "must be one of network, application"),
        ({"from": 5}, "data.from", "must be a string"),
        ({"status": 99}, "data.status", "must be an integer from 100 to 699"),
        ({"reason": "Normal Release"}, "data.reason", "must be a word like normal-release"),
        ({"reason": None}, "data.reason", "is required in a stop"),
        ({"duration": -1}, "data.duration", "must be a non-negative number of seconds"),
        ({"duration": None}, "data.duration", "is required in a stop"),
        ({"attemptTime": None}, "data.attemptTime", "is required"),
    ],
)
def test_a_bad_record_is_refused_with_its_path(
    change: dict[str, Any], path: str, message: str
) -> None:
    data = {k: v for k, v in {**STOP, **change}.items() if v is not None}
    error = refused(data)
    assert error.path == path
    assert error.message.startswith(f"{path}: {message}"), error.message


def test_the_server_sends_cdr_and_a_client_takes_it_but_never_sends_it() -> None:
    server, client = Connection(Role.SERVER), Connection(Role.CLIENT)
    auth = Request("a1", Auth("s"))
    [received] = server.receive_data(client.send(auth))
    assert isinstance(received, RequestReceived)
    client.receive_data(server.send(Response("a1", AuthResult(True))))
    record = parse_command("cdr", STOP)
    assert isinstance(record, CallDetailRecord)
    [taken] = client.receive_data(server.send(Request("c1", record)))
    assert taken == RequestReceived(Request("c1", record))
    with pytest.raises(RemoteProtocolError) as info:
        parse_request(
            {"type": "request", "rid": "r", "command": "cdr", "data": STOP}, CLIENT_COMMANDS
        )
    assert (info.value.code, info.value.message) == ("unknown_command", "unknown command 'cdr'")
