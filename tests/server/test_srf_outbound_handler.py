"""The request handler's sans-IO parts: the question, the answer's actions and
their errors, the HTTP answer reader, the settings, and routing to a tag."""

from __future__ import annotations

from pathlib import Path

import pytest

from drachtio import SipRequest
from drachtio.protocol import Source
from drachtio.server import ConfigError, load_config
from drachtio.server.http_client import HttpError, HttpResponse, ResponseReader
from drachtio.server.request_handler import (
    ConnectTo,
    HandlerError,
    ProxyTo,
    Redirect,
    Reject,
    ToTag,
    fixed_action,
    parse_action,
    parse_duration,
    query_url,
    read_action,
)
from drachtio.server.routing import Routes


def request(uri: str = "sip:+15551234@example.com;user=phone;x") -> SipRequest:
    return SipRequest(
        "INVITE",
        uri,
        [
            ("From", '"A" <sip:alice@a.example>;tag=1'),
            ("To", "<sip:bob@b.example>"),
            ("Call-ID", "c1"),
            ("CSeq", "1 INVITE"),
            ("Content-Type", "application/sdp;charset=utf-8"),
        ],
    )


# ---------------------------------------------------------------- the question


def test_the_query_names_the_request_as_the_drachtio_server_does() -> None:
    url = query_url("http://10.0.0.1:8080/route", request(), Source("tcp", "10.0.0.7", 5060))
    assert url == (
        "http://10.0.0.1:8080/route/?method=INVITE&domain=example.com&protocol=tcp"
        "&source_address=10.0.0.7&fromUser=alice&toUser=bob&uriUser=%2B15551234"
        "&contentType=application%2Fsdp&uri=sip%3A%2B15551234%40example.com%3Buser%3Dphone%3Bx"
        "&user=phone&x="
    )


def test_the_query_keeps_the_urls_own_path_and_query() -> None:
    source = Source("udp", "::1", 5060)
    url = query_url("https://h/a/?key=k%20v", request("sip:example.com"), source)
    assert url.startswith("https://h/a/?key=k%20v&method=INVITE&domain=example.com&")
    assert "&uriUser=&" in url and "&source_address=%3A%3A1&" in url


def test_a_tcp_handler_needs_no_query() -> None:
    assert fixed_action("tcp://127.0.0.1:3000") == ConnectTo("127.0.0.1", 3000)
    assert fixed_action("tls://[::1]:3000") == ConnectTo("::1", 3000, "tls")
    assert fixed_action("http://127.0.0.1:3000/") is None


# ---------------------------------------------------------------- the answer


def test_each_action_with_its_defaults() -> None:
    assert parse_action(b'{"action": "reject", "data": {"status": 403}}') == Reject(403)
    assert parse_action(
        b'{"action": "reject", "data": {"status": 486, "reason": "Busy"}}'
    ) == Reject(486, "Busy")
    assert parse_action(b'{"action": "redirect", "data": {"contact": "sip:a@b"}}') == Redirect(
        ("sip:a@b",)
    )
    assert parse_action(
        b'{"action": "proxy", "data": {"destination": ["sip:a@b", "sip:c@d"]}}'
    ) == ProxyTo(("sip:a@b", "sip:c@d"), False, True, False, 5.0, 60.0)
    assert parse_action(
        b'{"action": "route", "data": {"uri": "[::1]:3001;transport=tcp"}}'
    ) == ConnectTo("::1", 3001)
    assert parse_action(
        b'{"action": "route", "data": {"uri": "app.example:3001;transport=TLS"}}'
    ) == ConnectTo("app.example", 3001, "tls")
    assert parse_action(b'{"action": "route", "data": {"tag": "blue"}}') == ToTag("blue")


def test_proxy_options_become_the_proxy_command() -> None:
    action = parse_action(
        b'{"action": "proxy", "data": {"destination": "sip:a@b", "recordRoute": true,'
        b' "followRedirects": false, "simultaneous": true, "provisionalTimeout": "500ms",'
        b' "finalTimeout": "20s"}}'
    )
    assert isinstance(action, ProxyTo)
    command = action.command("t1")
    assert (command.transaction_id, command.destinations) == ("t1", ("sip:a@b",))
    assert (command.record_route, command.follow_redirects, command.forking) == (
        True,
        False,
        "parallel",
    )
    assert (command.provisional_timeout, command.final_timeout) == (0.5, 20.0)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "not JSON"),
        (b"<html>", "not JSON"),
        (b"[]", "must be a JSON object, got an array"),
        (b'{"data": {}}', "action: must be a string, got null or nothing"),
        (b'{"action": "reject"}', "data: must be an object, got null or nothing"),
        (b'{"action": "reject", "data": []}', "data: must be an object, got an array"),
        (b'{"action": "dance", "data": {}}', "'dance' is not one of"),
        (b'{"action": "reject", "data": {}}', "data.status: must be a number"),
        (b'{"action": "reject", "data": {"status": "486"}}', "data.status: must be a number"),
        (b'{"action": "reject", "data": {"status": true}}', "data.status: must be a number"),
        (b'{"action": "reject", "data": {"status": 200}}', "final status 300-699, got 200"),
        (b'{"action": "reject", "data": {"status": 486, "reason": "a\\r\\nb"}}', "one line"),
        (b'{"action": "redirect", "data": {}}', "data.contact: must be a string or"),
        (b'{"action": "redirect", "data": {"contact": []}}', "non-empty array"),
        (b'{"action": "redirect", "data": {"contact": [1]}}', "data.contact[0]: must be"),
        (b'{"action": "redirect", "data": {"contact": "<sip:a"}}', "not a Contact value"),
        (b'{"action": "proxy", "data": {}}', "data.destination: must be"),
        (
            b'{"action": "proxy", "data": {"destination": "sip:a@b", "simultaneous": 1}}',
            "data.simultaneous: must be true or false",
        ),
        (
            b'{"action": "proxy", "data": {"destination": "sip:a@b", "finalTimeout": 5}}',
            "data.finalTimeout: must be a string",
        ),
        (
            b'{"action": "proxy", "data": {"destination": "sip:a@b", "finalTimeout": "5m"}}',
            "data.finalTimeout: '5m' is not a duration",
        ),
        (b'{"action": "route", "data": {}}', "route needs 'uri'"),
        (b'{"action": "route", "data": {"uri": "host"}}', "is not HOST:PORT"),
        (b'{"action": "route", "data": {"uri": "h:70000"}}', "port 70000 is out of range"),
        (b'{"action": "route", "data": {"uri": "h:1;transport=udp"}}', "must be tcp or tls"),
        (b'{"action": "route", "data": {"tag": ""}}', "is not a tag"),
        (b'{"action": "route", "data": {"tag": "a,b"}}', "is not a tag"),
    ],
)
def test_an_answer_that_is_no_action_is_refused_precisely(body: bytes, error: str) -> None:
    with pytest.raises(HandlerError) as caught:
        parse_action(body)
    assert error in str(caught.value)


def test_only_a_2xx_answer_is_read() -> None:
    body = b'{"action": "reject", "data": {"status": 486}}'
    assert read_action(HttpResponse(200, body)) == Reject(486)
    with pytest.raises(HandlerError, match="answered HTTP 404"):
        read_action(HttpResponse(404, body))


def test_durations() -> None:
    assert (parse_duration("5s", "t"), parse_duration("250ms", "t")) == (5.0, 0.25)
    for bad in ("5", "0s", "1.5s", " 5s", "5S"):
        with pytest.raises(HandlerError):
            parse_duration(bad, "t")


# ---------------------------------------------------------------- the HTTP answer


def test_an_answer_by_content_length_in_pieces() -> None:
    reader = ResponseReader()
    assert reader.receive(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n") is None
    assert reader.receive(b"Content-Length: 4\r\n\r\n{}") is None
    assert reader.receive(b"\r\n") == HttpResponse(200, b"{}\r\n", "application/json")


def test_an_answer_in_chunks_with_a_trailer() -> None:
    reader = ResponseReader()
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n"
    assert reader.receive(data) is None
    assert reader.receive(b"X-T: 1\r\n\r\n") == HttpResponse(200, b"abcde")


def test_an_answer_to_the_end_of_the_connection() -> None:
    reader = ResponseReader()
    assert reader.receive(b'HTTP/1.0 200 OK\r\n\r\n{"a"') is None
    assert reader.receive(b": 1}") is None
    assert reader.receive_eof() == HttpResponse(200, b'{"a": 1}')


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"SIP/2.0 200 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "without ':'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "is not a number"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n", "larger than 1024 bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not hexadecimal"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200, "larger than 1024 bytes"),
    ],
)
def test_a_bad_answer_is_refused_precisely(data: bytes, error: str) -> None:
    with pytest.raises(HttpError) as caught:
        ResponseReader(max_size=1024).receive(data)
    assert error in str(caught.value)


@pytest.mark.parametrize(
    ("data", "reusable"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", False),
        # More than the response: the connection is out of step.
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP", False),
    ],
)
def test_whether_the_connection_may_carry_the_next_request(data: bytes, reusable: bool) -> None:
    reader = ResponseReader()
    assert reader.empty
    assert reader.receive(data) is not None
    assert (reader.empty, reader.reusable) == (False, reusable)


def test_an_answer_to_the_end_of_the_connection_ends_it() -> None:
    reader = ResponseReader()
    reader.receive(b"HTTP/1.1 200 OK\r\n\r\n{}")
    assert reader.receive_eof() == HttpResponse(200, b"{}")
    assert not reader.reusable


def test_an_answer_cut_short_is_refused() -> None:
    with pytest.raises(HttpError, match="before a complete answer"):
        ResponseReader().receive_eof()
    reader = ResponseReader()
    reader.receive(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(HttpError, match="in the middle of the body"):
        reader.receive_eof()


# ---------------------------------------------------------------- settings


def test_the_settings_from_flags_and_the_environment() -> None:
    config = load_config(secrets=["s"], request_handler="http://h/r", request_handler_method="POST")
    assert (config.request_handler, config.request_handler_method) == ("http://h/r", "POST")
    assert (config.request_handler_timeout, config.request_handler_max_pending) == (3.0, 100)
    env = {
        "DRACHTIO_REQUEST_HANDLER": "tcp://127.0.0.1:3000",
        "DRACHTIO_REQUEST_HANDLER_TIMEOUT": "1.5",
        "DRACHTIO_REQUEST_HANDLER_MAX_PENDING": "7",
    }
    config = load_config(secrets=["s"], env=env)
    assert config.request_handler == "tcp://127.0.0.1:3000"
    assert (config.request_handler_timeout, config.request_handler_max_pending) == (1.5, 7)


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"request_handler": "ftp://h/"}, "request_handler: 'ftp://h/' is not an http://"),
        ({"request_handler": "tls://h:1;transport=tcp"}, "takes no parameters"),
        ({"request_handler": "http:///x"}, "is not an http://"),
        ({"request_handler": "tcp://h"}, "'h' is not HOST:PORT"),
        ({"request_handler": "http://h/a b"}, "holds white space"),
        ({"request_handler": "http://h:70000/"}, "the port is not a number 0-65535"),
        ({"request_handler_method": "PUT"}, "request_handler_method: must be GET or POST"),
        ({"request_handler_timeout": 0}, "request_handler_timeout: must be a positive"),
        ({"request_handler_max_pending": 0}, "request_handler_max_pending: must be at least 1"),
    ],
)
def test_bad_settings_are_named(settings: dict[str, object], error: str, tmp_path: Path) -> None:
    path = tmp_path / "drachtio.toml"
    lines = [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in settings.items()]
    path.write_text("secret = 's'\n" + "\n".join(lines).replace("'", '"') + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config_file=path)
    assert error in str(caught.value)


# ---------------------------------------------------------------- routing to a tag


def test_a_tag_takes_turns_among_the_applications_that_have_it() -> None:
    routes: Routes[str] = Routes()
    for app in ("red-1", "blue-1", "red-2", "blue-2"):
        routes.add(app, "INVITE")

    def blue(app: str) -> bool:
        return app.startswith("blue")

    picked = [routes.pick("INVITE", blue) for _ in range(4)]
    assert picked == ["blue-1", "blue-2", "blue-1", "blue-2"]
    assert routes.pick("INVITE", lambda app: False) is None
    assert routes.pick("BYE", blue) is None
    # Everyone's turns go on from there.
    assert routes.pick("INVITE") == "red-1"
