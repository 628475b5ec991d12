"""Call detail records without sockets: one attempt, at most one start, exactly
one stop per call, with times from a simulated clock; the JSON lines file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from drachtio.server.cdr import REASONS, CallRecords, Cdr, CdrFile
from drachtio.server.timestamps import iso_time

T0 = 1_800_000_000.0
DAY = 86_400.0


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
    recorder = CallRecorder(made.append, DAY)
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


def dialog_headers(
    caller: str, callee: str, call_id: str, method: str = "INVITE", seq: int = 1, **tags: str
) -> list[tuple[str, str]]:
    """From, To, Call-ID and CSeq of a message from ``caller`` to ``callee``
    (``from_tag`` and ``to_tag`` given as ``tags``)."""
    from_tag = f";tag={tags['from_tag']}" if "from_tag" in tags else ""
    to_tag = f";tag={tags['to_tag']}" if "to_tag" in tags else ""
    return [
        ("From", f"<{caller}>{from_tag}"),
        ("To", f"<{callee}>{to_tag}"),
        ("Call-ID", call_id),
        ("CSeq", f"{seq} {method}"),
    ]


def call_messages(call_id: str, *, callee_hangs_up: bool = False) -> tuple[Any, Any, Any]:
    """An INVITE from alice (tag ``a``) to bob, bob's 200 (tag ``b``), and the
    BYE of either; bob's has the tags the other way round."""
    from drachtio import SipRequest, SipResponse

    alice, bob = "sip:alice@example.com", "sip:bob@example.com"
    invite = SipRequest("INVITE", bob, headers=dialog_headers(alice, bob, call_id, from_tag="a"))
    ok = SipResponse(200, headers=dialog_headers(alice, bob, call_id, from_tag="a", to_tag="b"))
    if callee_hangs_up:
        tags = {"from_tag": "b", "to_tag": "a"}
        bye = SipRequest(
            "BYE", alice, headers=dialog_headers(bob, alice, call_id, "BYE", 7, **tags)
        )
    else:
        tags = {"from_tag": "a", "to_tag": "b"}
        bye = SipRequest("BYE", bob, headers=dialog_headers(alice, bob, call_id, "BYE", 2, **tags))
    return invite, ok, bye


def test_a_proxied_call_is_known_by_its_dialog_until_the_bye_passes_either_way() -> None:
    from drachtio.server.cdr import CallRecorder, proxied_dialog

    made: list[Cdr] = []
    recorder = CallRecorder(made.append, DAY)
    invite, ok, bye = call_messages("call-p", callee_hangs_up=True)
    assert proxied_dialog(ok) == proxied_dialog(call_messages("call-p")[2])
    assert proxied_dialog(ok) == proxied_dialog(bye) == "proxied;call-p;a;b"
    recorder.invite("tx1", invite, role="uas", now=T0)
    recorder.proxied("tx1")
    recorder.relayed_answer("tx1", ok, T0 + 2, record_routed=True)
    recorder.relayed_answer("tx1", ok, T0 + 3, record_routed=True)  # another fork's 2xx
    recorder.passed_bye(bye, T0 + 62)
    recorder.passed_bye(bye, T0 + 63)  # its retransmission
    assert [(r.kind, r.role, r.source, r.reason, r.duration) for r in made] == [
        ("attempt", "uas", "network", None, 0.0),
        ("start", "proxy", "network", None, 0.0),
        ("stop", "proxy", "network", "normal-release", 60.0),
    ]
    assert made[2].message is bye and made[1].message is ok
    assert len(recorder.records) == 0


def test_a_proxied_call_not_record_routed_stops_as_it_starts() -> None:
    from drachtio import SipRequest, SipResponse
    from drachtio.server.cdr import CallRecorder

    made: list[Cdr] = []
    recorder = CallRecorder(made.append, DAY)
    invite = SipRequest("INVITE", "sip:b@h", headers=dialog_headers("sip:a@h", "sip:b@h", "c2"))
    ok = SipResponse(200, headers=dialog_headers("sip:a@h", "sip:b@h", "c2", to_tag="b"))
    recorder.invite("onward;7", invite, role="proxy", now=T0)
    recorder.relayed_answer("onward;7", ok, T0 + 1.5, record_routed=False)
    assert [(r.kind, r.role, r.status, r.reason, r.start_time) for r in made] == [
        ("attempt", "proxy", None, None, None),
        ("start", "proxy", 200, None, T0 + 1.5),
        ("stop", "proxy", 200, "not-record-routed", T0 + 1.5),
    ]
    assert (made[2].time, made[2].duration, made[2].message) == (T0 + 1.5, 0.0, None)
    assert len(recorder.records) == 0
    # Timer C ends a proxied attempt with 408; the caller's CANCEL with 487.
    recorder.invite("onward;8", invite, role="proxy", now=T0)
    recorder.refused("onward;8", 408, T0 + 185)
    recorder.invite("onward;9", invite, role="proxy", now=T0)
    recorder.refused("onward;9", 487, T0 + 4)
    assert [(r.kind, r.status, r.reason) for r in made[3:]] == [
        ("attempt", None, None),
        ("stop", 408, "request-timeout"),
        ("attempt", None, None),
        ("stop", 487, "call-canceled"),
    ]


def test_a_proxied_call_given_up_for_time_stops_as_a_timeout_not_a_cancel() -> None:
    from test_proxy_machine import A, proxy, response, step

    from drachtio import SipRequest
    from drachtio.server.cdr import CallRecorder

    # Timer C (185 s) fires on a ringing branch: the proxy cancels it, and its 487 is relayed.
    call = proxy(A)
    call.start(T0)
    call.on_response(0, response(180), T0 + 1)
    step(call)
    call.handle_timeout(T0 + 186)
    assert step(call) == ["cancel 0"]
    call.on_response(0, response(487), T0 + 186.1)
    assert step(call) == ["relay 487", "settled 487"]
    assert (call.timed_out, call.cancelled_by_caller) == (True, False)
    # The caller's CANCEL, after the application's final timeout gave up on a branch.
    cancelled = proxy(A, final_timeout=5.0)
    cancelled.start(T0)
    cancelled.on_response(0, response(180), T0 + 1)
    cancelled.handle_timeout(T0 + 5)
    cancelled.on_cancel(T0 + 5.1)
    assert (cancelled.timed_out, cancelled.cancelled_by_caller) == (True, True)

    made: list[Cdr] = []
    recorder = CallRecorder(made.append, DAY)
    invite = SipRequest("INVITE", "sip:b@h", headers=dialog_headers("sip:a@h", "sip:b@h", "c3"))
    for key, status, timed_out in (("k1", 487, True), ("k2", 487, False), ("k3", 486, True)):
        recorder.invite(key, invite, role="proxy", now=T0)
        recorder.refused(key, status, T0 + 186, timed_out=timed_out)
    assert [(r.status, r.reason) for r in made if r.kind == "stop"] == [
        (487, "request-timeout"),
        (487, "call-canceled"),
        (486, "call-rejected"),
    ]


def test_a_dialog_that_spirals_through_the_server_is_a_call_per_pass() -> None:
    from drachtio.server.cdr import CallRecorder

    made: list[Cdr] = []
    recorder = CallRecorder(made.append, DAY)
    invite, ok, bye = call_messages("c4")
    # The same INVITE passes twice (its Request-URI routes it back through
    # the server), and so do its 2xx and its BYE.
    for key in ("first", "second"):
        recorder.invite(key, invite, role="proxy", now=T0)
    for key in ("second", "first"):
        recorder.relayed_answer(key, ok, T0 + 1, record_routed=True)
    for at in (T0 + 10, T0 + 10.001, T0 + 10.002):  # the third: a retransmission
        recorder.passed_bye(bye, at)
    stops = [r for r in made if r.kind == "stop"]
    assert [(r.reason, r.time) for r in stops] == [
        ("normal-release", T0 + 10),
        ("normal-release", T0 + 10.001),
    ]
    assert len(recorder.records) == 0
    # A call still open when the server stops: stopped once, and forgotten.
    recorder.invite("third", invite, role="proxy", now=T0)
    recorder.relayed_answer("third", ok, T0 + 1, record_routed=True)
    recorder.shutdown(T0 + 20)
    recorder.passed_bye(bye, T0 + 21)
    assert [r.reason for r in made if r.kind == "stop"][2:] == ["server-shutdown"]


def test_a_record_routed_proxied_call_whose_bye_never_passes_stops_once_its_dialog_is_quiet() -> (
    None
):
    from drachtio import SipRequest
    from drachtio.server.cdr import CallRecorder

    made: list[Cdr] = []
    recorder = CallRecorder(made.append, 3600.0)
    lost, lost_ok, _ = call_messages("lost")
    busy, busy_ok, busy_bye = call_messages("busy", callee_hangs_up=True)
    for key, invite, ok in (("k-lost", lost, lost_ok), ("k-busy", busy, busy_ok)):
        recorder.invite(key, invite, role="proxy", now=T0)
        recorder.relayed_answer(key, ok, T0 + 1, record_routed=True)
    # The callee of "busy" sends a re-INVITE through the server: its dialog is active.
    reinvite = SipRequest(
        "INVITE",
        "sip:alice@h",
        headers=dialog_headers(
            "sip:bob@h", "sip:alice@h", "busy", "INVITE", 7, from_tag="b", to_tag="a"
        ),
    )
    recorder.passed_in_dialog(reinvite, T0 + 1000)
    # Nothing else passes until an hour after "lost" was answered; then a new call.
    recorder.passed_in_dialog(reinvite, T0 + 3600.5)
    assert [r.kind for r in made] == ["attempt", "start", "attempt", "start"]
    other, _, _ = call_messages("other")
    recorder.invite("k-other", other, role="proxy", now=T0 + 3700)
    stops = [r for r in made if r.kind == "stop"]
    assert [(r.call_id, r.reason, r.time, r.duration, r.message) for r in stops] == [
        ("lost", "dialog-timeout", T0 + 3601, 3600.0, None),
    ]
    # "busy" was active at T0 + 3600.5: its BYE an hour later still finds it.
    recorder.passed_bye(busy_bye, T0 + 7200)
    stops = [r for r in made if r.kind == "stop"]
    assert [(r.call_id, r.reason, r.time) for r in stops[1:]] == [
        ("busy", "normal-release", T0 + 7200),
    ]
    # Every call still ends in one stop: "other" is still ringing.
    assert len(recorder.records) == 1


def test_no_record_is_made_while_none_is_wanted_and_the_calls_are_followed_all_the_same() -> None:
    from drachtio.server.cdr import CallRecorder

    wanted: set[str] = set()
    made: list[Cdr] = []
    recorder = CallRecorder(made.append, DAY, lambda kind: kind in wanted)
    invite, ok, bye = call_messages("quiet")
    recorder.invite("tx1", invite, role="uas", now=T0)
    recorder.answered("tx1", "dlg1", ok, T0 + 1)
    assert made == [] and len(recorder.records) == 1
    # An application routes cdr:stop meanwhile: the stop of the same call comes.
    wanted.add("stop")
    recorder.ended("dlg1", "normal-release", T0 + 5, bye)
    assert [(r.kind, r.call_id, r.start_time, r.duration) for r in made] == [
        ("stop", "quiet", T0 + 1, 4.0),
    ]
    assert len(recorder.records) == 0
