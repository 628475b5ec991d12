"""The ``proxy`` command, its result, and a response that comes later."""

from __future__ import annotations

import orjson
import pytest

from drachtio import SipResponse
from drachtio.protocol import (
    BranchReport,
    Failure,
    Later,
    LocalProtocolError,
    ProxyRequest,
    ProxyResult,
    ResponseData,
    parse_command,
    parse_response_data,
)


def test_defaults_and_round_trip() -> None:
    command = parse_command("proxy", {"transactionId": "t", "destinations": ["sip:a@h"]})
    assert command == ProxyRequest("t", ("sip:a@h",))
    assert command.forking == "serial"
    assert (command.record_route, command.follow_redirects) == (False, False)
    full = ProxyRequest(
        "t", ("sip:a@h", "sip:b@h"), True, "parallel", 2, 30.5, True, {"X-A": ["1", "2"]}
    )
    assert parse_command("proxy", full.to_json()) == full


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"destinations": ["sip:a"]}, "data.transactionId"),
        ({"transactionId": "t", "destinations": "sip:a"}, "data.destinations"),
        ({"transactionId": "t", "destinations": ["sip:a"] * 33}, "data.destinations"),
        ({"transactionId": "t", "destinations": ["sip:a\r\nVia: x"]}, "data.destinations[0]"),
        ({"transactionId": "t", "destinations": ["sip:a"], "forking": "all"}, "data.forking"),
        (
            {"transactionId": "t", "destinations": ["sip:a"], "provisionalTimeout": -1},
            "data.provisionalTimeout",
        ),
        ({"transactionId": "t", "destinations": ["sip:a"], "followRedirects": "yes"}, None),
        ({"transactionId": "t", "destinations": ["sip:a"], "headers": {"v": "x"}}, None),
        ({"transactionId": "t", "destinations": ["sip:a"], "headers": {"X": "a\nb"}}, None),
        ({"transactionId": "t", "destinations": ["sip:a"], "headers": {"X:Y": "a"}}, None),
    ],
)
def test_bad_data_is_refused_with_its_path(data: dict[str, object], path: str | None) -> None:
    with pytest.raises(LocalProtocolError) as info:
        ProxyRequest._from_json(data)
    assert info.value.path is not None and info.value.path.startswith(path or "data.")


def test_result_round_trip() -> None:
    response = SipResponse(
        486, None, [("Via", "SIP/2.0/UDP h;branch=z9hG4bKx"), ("CSeq", "1 INVITE")]
    )
    result = ProxyResult(
        486,
        response,
        (
            BranchReport("sip:a@h", ((180, "Ringing"), (486, "Busy Here"))),
            BranchReport("sip:b@h", (), "not sent: no route"),
        ),
    )
    data = orjson.loads(orjson.dumps(result.to_json()))
    assert data["branches"][1] == {
        "destination": "sip:b@h",
        "responses": [],
        "error": "not sent: no route",
    }
    parsed = parse_response_data("proxy", data)
    assert isinstance(parsed, ProxyResult)
    assert parsed.final_status == 486
    assert parsed.branches == result.branches
    assert isinstance(parse_response_data("proxy", {"success": False, "reason": "x"}), Failure)


def test_later_gives_its_data_once_whenever_it_is_asked() -> None:
    got: list[ResponseData] = []
    later = Later()
    later.then(got.append)
    assert not later.resolved
    later.resolve(Failure("first"))
    later.resolve(Failure("second"))
    assert got == [Failure("first")]
    early = Later()
    early.resolve(Failure("known"))
    early.then(got.append)
    assert got[-1] == Failure("known")
