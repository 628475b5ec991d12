"""Call detail records without sockets: one attempt, at most one start, exactly
one stop per call, with times from a simulated clock; the JSON lines file."""

from __future__ import annotations

from pathlib import Path

import orjson
from hypothesis import given
from hypothesis import strategies as st

from drachtio.server.cdr import REASONS, CallRecords, Cdr, CdrFile
from drachtio.server.timestamps import iso_time

T0 = 1_800_000_000.0


def attempt(records: CallRecords, key: str = "tx1", now: float = T0) -> Cdr | None:
    return records.attempt(
        key,
        call_id="c1@example.com",
        role="uas",
        source="network",
        from_uri="sip:alice@example.com",
        to_uri="sip:bob@example.com",
        now=now,
    )


def test_an_answered_call_has_an_attempt_a_start_and_a_stop_with_its_duration() -> None:
    records = CallRecords()
    first = attempt(records)
    assert first is not None and first.kind == "attempt"
    records.rekey("tx1", "dialog-1")
    started = records.start("dialog-1", status=200, now=T0 + 2.5)
    assert started is not None and (started.kind, started.start_time) == ("start", T0 + 2.5)
    stopped = records.stop("dialog-1", reason="normal-release", now=T0 + 62.5)
    assert stopped is not None
    assert (stopped.kind, stopped.reason, stopped.status, stopped.duration) == (
        "stop",
        "normal-release",
        200,
        60.0,
    )
    assert len(records) == 0
    assert stopped.to_json() == {
        "kind": "stop",
        "time": "2027-01-15T08:01:02.500Z",
        "callId": "c1@example.com",
        "role": "uas",
        "source": "network",
        "from": "sip:alice@example.com",
        "to": "sip:bob@example.com",
        "attemptTime": "2027-01-15T08:00:00.000Z",
        "startTime": "2027-01-15T08:00:02.500Z",
        "status": 200,
        "reason": "normal-release",
        "duration": 60.0,
    }


def test_a_rejected_call_stops_without_a_start_or_a_duration() -> None:
    records = CallRecords()
    attempt(records)
    stopped = records.stop("tx1", reason="call-rejected", status=486, now=T0 + 1)
    assert stopped is not None
    assert (stopped.status, stopped.duration, stopped.start_time) == (486, 0.0, None)
    assert "startTime" not in stopped.to_json()


def test_a_second_stop_a_late_start_and_an_unknown_call_give_nothing() -> None:
    records = CallRecords()
    attempt(records)
    assert records.stop("tx1", reason="call-canceled", now=T0 + 1) is not None
    assert records.stop("tx1", reason="normal-release", now=T0 + 2) is None
    assert records.start("tx1", status=200, now=T0 + 3) is None
    assert records.start("nobody", status=200, now=T0) is None
    assert attempt(records, "tx2") is not None
    assert attempt(records, "tx2") is None  # the key is taken


def test_stopping_the_server_stops_every_open_call_once() -> None:
    records = CallRecords()
    for key in ("a", "b", "c"):
        attempt(records, key)
    records.start("b", status=200, now=T0 + 1)
    stops = records.stop_all("server-shutdown", T0 + 11)
    assert sorted((r.reason, r.duration) for r in stops) == [
        ("server-shutdown", 0.0),
        ("server-shutdown", 0.0),
        ("server-shutdown", 10.0),
    ]
    assert records.stop_all("server-shutdown", T0 + 12) == []


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["attempt", "start", "stop", "rekey"]),
            st.integers(0, 3),
            st.sampled_from(REASONS),
        ),
        max_size=40,
    )
)
def test_every_attempt_ends_in_exactly_one_stop(
    steps: list[tuple[str, int, str]],
) -> None:
    records = CallRecords()
    made: list[Cdr] = []
    now = T0
    for action, n, reason in steps:
        now += 1
        key = f"k{n}"
        if action == "attempt":
            record = attempt(records, key, now)
        elif action == "start":
            record = records.start(key, status=200, now=now)
        elif action == "stop":
            record = records.stop(key, reason=reason, now=now)  # type: ignore[arg-type]
        else:
            if f"k{n + 10}" not in records:
                records.rekey(key, f"k{n + 10}")
            record = None
        if record is not None:
            made.append(record)
    made += records.stop_all("server-shutdown", now + 1)
    attempts = sum(r.kind == "attempt" for r in made)
    assert sum(r.kind == "stop" for r in made) == attempts
    assert sum(r.kind == "start" for r in made) <= attempts
    assert all(r.duration >= 0 for r in made)


def test_records_are_appended_to_the_file_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "cdr.jsonl"
    path.write_bytes(b'{"kind": "stop", "from": "an earlier run"}\n')
    records = CallRecords()
    out = CdrFile(path)
    for record in (attempt(records), records.stop("tx1", reason="call-canceled", now=T0 + 1)):
        assert record is not None
        out.write(record)
    out.close()
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [line["kind"] for line in lines] == ["stop", "attempt", "stop"]
    assert lines[2]["reason"] == "call-canceled"


def test_times_are_utc_with_milliseconds() -> None:
    assert iso_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_time(0.9996) == "1970-01-01T00:00:01.000Z"


def test_the_recorder_turns_a_calls_messages_into_its_records() -> None:
    from drachtio import SipRequest, SipResponse
    from drachtio.server.cdr import CallRecorder

    made: list[Cdr] = []
    recorder = CallRecorder(made.append)
    invite = SipRequest(
        "INVITE",
        "sip:bob@example.com",
        headers=[
            ("From", "<sip:alice@example.com>;tag=a"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "call-9"),
            ("CSeq", "1 INVITE"),
        ],
    )
    recorder.invite("tx9", invite, role="uas", now=T0)
    recorder.answered("tx9", "dialog-9", SipResponse(200), T0 + 1)
    recorder.answered("tx9", "dialog-9b", SipResponse(200), T0 + 1.5)  # a second fork: nothing
    recorder.ended("dialog-9", "ack-timeout", T0 + 33)
    recorder.ended("dialog-9", "normal-release", T0 + 34)  # already stopped
    assert [(r.kind, r.role, r.source, r.reason) for r in made] == [
        ("attempt", "uas", "network", None),
        ("start", "uas", "network", None),
        ("stop", "uas", "network", "ack-timeout"),
    ]
    assert (made[0].from_uri, made[0].to_uri, made[0].call_id) == (
        "sip:alice@example.com",
        "sip:bob@example.com",
        "call-9",
    )
    made.clear()
    recorder.invite("tx10", invite, role="uac", now=T0)
    recorder.refused("tx10", 487, T0 + 2)
    recorder.invite("tx11", invite, role="uac", now=T0)
    recorder.shutdown(T0 + 3)
    assert [(r.kind, r.source, r.reason, r.status) for r in made] == [
        ("attempt", "application", None, None),
        ("stop", "application", "call-canceled", 487),
        ("attempt", "application", None, None),
        ("stop", "application", "server-shutdown", None),
    ]


def test_why_a_dialog_ended_is_a_record_reason() -> None:
    from drachtio.server import endings
    from drachtio.server.cdr import reason_for_status

    assert endings.BYE_SENT.cdr == "normal-release"
    assert endings.WEBSOCKET_CLOSED.cdr == "connection-closed"
    assert endings.APPLICATION_GONE.cdr == "application-gone"
    assert endings.CANCELLED_BY_CALLER.cdr == "call-canceled"
    assert endings.no_response("INFO").cdr == "request-timeout"
    assert endings.failed_in_dialog(408, "INFO").cdr == "request-timeout"
    assert endings.failed_in_dialog(481, "INFO").cdr == "normal-release"
    assert (reason_for_status(486), reason_for_status(408)) == ("call-rejected", "request-timeout")
