"""New requests routed by a request handler, with real peers on loopback.

The request handler is an HTTP server written here (asyncio, on loopback)
that answers each query as the test says; sipp calls the server over UDP
and TCP; the applications are drachtio-srf (``tests/srfproto/node/app.js``):
one listening (``srf.listen``) that the server connects to, one connected
with tags. Each test checks what the caller sees and what the application
printed.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
from server_harness import SECRET, free_port, needs_sipp, own_dir, sipp_uas, start_server
from sip_peer import SipPeer
from sipp_scenarios.proxy import callee, caller
from sipp_scenarios.uac import uac_scenario as plain_uac
from srf_node import answered, connected, events, listening_app, sessions_closed, stopped

from drachtio import SipResponse, Srf
from drachtio.app import Request, Response

sys.path.insert(0, str(Path(__file__).parent.parent / "stack"))

from certs import CertFiles, make_certs, needs_openssl

pytestmark = [
    needs_sipp,
    pytest.mark.skipif(shutil.which("node") is None, reason="node.js is not installed"),
]


@dataclass
class Query:
    """One question the server asked the request handler."""

    method: str
    path: str
    params: dict[str, str]
    body: bytes


Answer = Callable[[Query], Awaitable[bytes]]


def http(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    """A whole HTTP/1.1 answer."""
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def action(name: str, **data: Any) -> Answer:
    """Answer every query with ``{"action": name, "data": data}``."""

    async def answer(query: Query) -> bytes:
        return http(200, orjson.dumps({"action": name, "data": data}))

    return answer


class Handler:
    """The request handler: an HTTP server on loopback answering with :attr:`answer`.

    It closes each connection after its answer, unless ``keep_alive``: then it
    serves the requests that come on a connection until the client closes it
    or :meth:`drop_idle` does.
    """

    def __init__(
        self, answer: Answer, tls: ssl.SSLContext | None = None, *, keep_alive: bool = False
    ) -> None:
        self.answer = answer
        self.queries: list[Query] = []
        self.connections = 0
        self._tls = tls
        self._keep_alive = keep_alive
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Handler:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.drop_idle()

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/route"

    def drop_idle(self) -> None:
        """Close the connections kept open (as a server's idle timeout would)."""
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode()
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                start, *lines = head.split("\r\n")
                method, target, _ = start.split(" ")
                headers = {n.lower(): v.strip() for n, _, v in (ln.partition(":") for ln in lines)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                parts = urlsplit(target)
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                query = Query(method, parts.path, params, body)
                self.queries.append(query)
                writer.write(await self.answer(query))
                await writer.drain()
                if not self._keep_alive:
                    return
        finally:
            self._writers.discard(writer)
            writer.close()


def _tls_env(certs: CertFiles) -> dict[str, str]:
    return {"SRF_TLS_CERT": str(certs.certificate), "SRF_TLS_KEY": str(certs.key)}


# ---------------------------------------------------------------- route to HOST:PORT


async def test_route_to_a_listening_application_over_udp_then_tcp(tmp_path: Path) -> None:
    port = free_port()
    app = await listening_app(port)
    try:
        async with Handler(action("route", uri=f"127.0.0.1:{port}")) as handler:
            server = await start_server(request_handler=handler.url)
            try:
                for transport in ("udp", "tcp"):
                    scenario = plain_uac(200, check_headers=("Content-Type: application/sdp",))
                    await answered(tmp_path, server, scenario, transport)
                    destroy = await app.next("destroy")
                    assert destroy["method"] == "BYE"
                    # srf.endSession closes the connection once the call is over.
                    await sessions_closed(server)
                stats = server.stats
                assert (stats["outbound_connected"], stats["outbound_failed"]) == (2, 0)
                assert stats["request_handler_answered"] == 2
            finally:
                await server.stop()
        # One connection per call (drachtio-srf may emit its connect after the invite).
        seen = events(app.lines)
        assert seen.count("connect") == 2
        assert [e for e in seen if e != "connect"] == [
            "listening",
            *["invite", "dialog", "destroy"] * 2,
        ]
        udp, tcp = handler.queries
        assert (udp.method, udp.path, udp.body) == ("GET", "/route/", b"")
        assert udp.params == {
            "method": "INVITE",
            "domain": "127.0.0.1",
            "protocol": "udp",
            "source_address": "127.0.0.1",
            "fromUser": "sipp",
            "toUser": "service",
            "uriUser": "service",
            "contentType": "application/sdp",
            "uri": udp.params["uri"],
        }
        assert udp.params["uri"].startswith("sip:service@127.0.0.1:")
        assert tcp.params["protocol"] == "tcp"
    finally:
        await stopped(app)


async def test_a_tcp_handler_connects_to_the_application_without_asking(tmp_path: Path) -> None:
    port = free_port()
    app = await listening_app(port)
    try:
        server = await start_server(request_handler=f"tcp://127.0.0.1:{port}")
        try:
            await answered(tmp_path, server, plain_uac(200))
            await app.next("destroy")
            await sessions_closed(server)
            assert server.stats["request_handler_answered"] == 0
        finally:
            await server.stop()
    finally:
        await stopped(app)


@needs_openssl
async def test_a_tls_handler_connects_over_tls_and_checks_the_certificate(
    tmp_path: Path,
) -> None:
    """The application's certificate is checked against ``tls_ca``: signed by
    it, the call is answered; by another authority, 480."""
    certs = make_certs(tmp_path / "app", "app")
    other = make_certs(tmp_path / "other", "other")
    port = free_port()
    app = await listening_app(port, env=_tls_env(certs))
    try:
        for authority, status in ((certs.ca, 200), (other.ca, 480)):
            server = await start_server(
                request_handler=f"tls://127.0.0.1:{port}",
                tls_ca=str(authority),
                tls_system_roots=False,
            )
            try:
                await answered(tmp_path, server, plain_uac(status))
                if status == 200:
                    await app.next("destroy")
                    await sessions_closed(server)
                stats = server.stats
                assert stats["outbound_connected" if status == 200 else "outbound_failed"] == 1
            finally:
                await server.stop()
    finally:
        await stopped(app)


@needs_openssl
async def test_an_https_handler_is_asked_once_its_certificate_checks(tmp_path: Path) -> None:
    """Signed by ``tls_ca``: asked, the caller gets its answer; by another
    authority: not asked (the handshake fails), 500."""
    certs = make_certs(tmp_path / "handler", "handler")
    other = make_certs(tmp_path / "other", "other")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certs.certificate, certs.key)
    async with Handler(action("reject", status=403), tls) as handler:
        for authority, status in ((certs.ca, 403), (other.ca, 500)):
            server = await start_server(
                request_handler=handler.url, tls_ca=str(authority), tls_system_roots=False
            )
            try:
                await answered(tmp_path, server, plain_uac(status))
            finally:
                await server.stop()
    assert len(handler.queries) == 1


async def test_connections_to_the_handler_are_kept_for_the_next_query(tmp_path: Path) -> None:
    """Three calls, one connection; the handler then closes it while idle:
    the next query goes over a new one."""
    async with Handler(action("reject", status=486), keep_alive=True) as handler:
        server = await start_server(request_handler=handler.url)
        try:
            for transport in ("udp", "tcp", "udp"):
                await answered(tmp_path, server, plain_uac(486), transport)
            assert (len(handler.queries), handler.connections) == (3, 1)
            handler.drop_idle()
            await answered(tmp_path, server, plain_uac(486))
            assert (len(handler.queries), handler.connections) == (4, 2)
            assert server.stats["request_handler_failed"] == 0
        finally:
            await server.stop()


async def test_post_sends_the_request_and_its_uri_parameters_are_asked_about(
    tmp_path: Path,
) -> None:
    async with Handler(action("reject", status=403)) as handler:
        server = await start_server(request_handler=handler.url, request_handler_method="POST")
        try:
            scenario = plain_uac(403).replace(
                "INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0",
                "INVITE sip:[service]@[remote_ip]:[remote_port];lang=cy;x SIP/2.0",
            )
            await answered(tmp_path, server, scenario)
        finally:
            await server.stop()
    (query,) = handler.queries
    assert query.method == "POST"
    assert query.body.startswith(b"INVITE sip:service@127.0.0.1:")
    assert b"\r\nCall-ID: " in query.body
    assert (query.params["lang"], query.params["x"]) == ("cy", "")
    assert query.params["uri"].endswith(";lang=cy;x")


async def test_an_application_that_cannot_be_reached_or_refused_gets_the_caller_480(
    tmp_path: Path,
) -> None:
    """Nothing listens at the first address; the application at the second has
    another secret (the server refuses its authenticate and closes)."""
    nobody, port = free_port(), free_port()
    app = await listening_app(port, secret="not-the-secret")
    targets = iter([f"127.0.0.1:{nobody}", f"127.0.0.1:{port}", f"127.0.0.1:{port}"])

    async def answer(query: Query) -> bytes:
        return http(200, orjson.dumps({"action": "route", "data": {"uri": next(targets)}}))

    try:
        async with Handler(answer) as handler:
            server = await start_server(request_handler=handler.url)
            try:
                await answered(tmp_path, server, plain_uac(480))
                await answered(tmp_path, server, plain_uac(480), "tcp")
                failed = await app.next("connect-failed")
                assert "authenticate" in failed["message"]
                assert server.stats["outbound_failed"] == 2
            finally:
                await server.stop()
    finally:
        await stopped(app)


# ---------------------------------------------------------------- reject, redirect, proxy


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_reject_answers_the_status_and_reason(tmp_path: Path, transport: str) -> None:
    async with Handler(action("reject", status=486, reason="Gone Fishing")) as handler:
        server = await start_server(request_handler=handler.url)
        try:
            scenario = plain_uac(486, check_headers=("SIP/2.0 486 Gone Fishing",))
            await answered(tmp_path, server, scenario, transport)
        finally:
            await server.stop()


async def test_redirect_answers_302_with_the_contacts(tmp_path: Path) -> None:
    contacts = ["sip:alice@10.0.0.9:5070", "<sip:bob@10.0.0.10>;q=0.5"]
    async with Handler(action("redirect", contact=contacts)) as handler:
        server = await start_server(request_handler=handler.url)
        try:
            check = r"Contact: sip:alice@10\.0\.0\.9:5070, &lt;sip:bob@10\.0\.0\.10&gt;;q=0\.5"
            await answered(tmp_path, server, plain_uac(302, check_headers=(check,)))
        finally:
            await server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_proxy_sends_the_call_to_the_destination(tmp_path: Path, transport: str) -> None:
    uas, port = await sipp_uas(own_dir(tmp_path), callee(200), transport)
    suffix = ";transport=tcp" if transport == "tcp" else ""
    destination = f"sip:callee@127.0.0.1:{port}{suffix}"
    answer = action("proxy", destination=destination, recordRoute=True)
    async with Handler(answer) as handler:
        server = await start_server(request_handler=handler.url)
        try:
            await answered(tmp_path, server, caller(200, rings=1), transport)
            result = await uas.result()
            assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.log
        finally:
            await server.stop()


# ---------------------------------------------------------------- route to a tag


async def test_route_to_a_tag_reaches_the_application_that_declared_it(tmp_path: Path) -> None:
    tags = iter(["red", "green"])

    async def answer(query: Query) -> bytes:
        return http(200, orjson.dumps({"action": "route", "data": {"tag": next(tags)}}))

    async with Handler(answer) as handler:
        server = await start_server(request_handler=handler.url)
        try:
            app = await connected(server, "tagged-uas")
            try:
                # No application has the tag red: 480. Green is the app's.
                await answered(tmp_path, server, plain_uac(480))
                await answered(tmp_path, server, plain_uac(200))
                lines = await app.finish()
            finally:
                await stopped(app)
        finally:
            await server.stop()
    assert events(lines) == ["connect", "invite", "dialog", "destroy"]


@pytest.mark.parametrize("mode", ["remote", "embedded"])
async def test_an_application_of_the_json_protocol_declares_tags_too(
    tmp_path: Path, mode: str
) -> None:
    async with Handler(action("route", tag="green")) as handler:
        server = await start_server(request_handler=handler.url)
        blue, green = Srf(tags=["blue"]), Srf(app_name="greeter", tags=["green", "eu"])
        for srf, status in ((blue, 403), (green, 486)):

            @srf.invite
            async def on_invite(req: Request, res: Response, status: int = status) -> None:
                await res.send(status)

        async def join(srf: Srf) -> None:
            if mode == "remote":
                host, port = server.control_address
                await srf.connect(host, port, SECRET)
            else:
                await srf.attach(server)

        try:
            await join(blue)
            # No application has the tag: 480. Then the one that has it answers.
            await answered(tmp_path, server, plain_uac(480))
            await join(green)
            await answered(tmp_path, server, plain_uac(486))
            await answered(tmp_path, server, plain_uac(486), "tcp")
        finally:
            await blue.close()
            await green.close()
            await server.stop()


# ---------------------------------------------------------------- the handler fails


async def test_a_handler_that_is_down_gets_the_caller_500_and_one_log_line_per_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Every new call fails while the handler is down: the log gets the first
    # at once, and counts the next ones within the interval for a summary
    # line (``log_summary``; its timing is tested with the unauthenticated
    # connections' warnings).
    caplog.set_level(logging.INFO, logger="drachtio.server")
    url = f"http://127.0.0.1:{free_port()}/route"
    server = await start_server(request_handler=url)
    try:
        await answered(tmp_path, server, plain_uac(500))
        await answered(tmp_path, server, plain_uac(500), "tcp")
        await answered(tmp_path, server, plain_uac(500))
        assert server.stats["request_handler_failed"] == 3
    finally:
        await server.stop()
    lines = [r.getMessage() for r in caplog.records if "request handler failed" in r.getMessage()]
    (line,) = lines
    assert line.startswith("request handler failed, answered 500 transaction="), line
    assert f"url={url}: " in line, line


async def test_slow_garbage_or_failing_answers_get_500_and_the_next_call_is_served(
    tmp_path: Path,
) -> None:
    never = asyncio.Event()

    async def slow(query: Query) -> bytes:
        await never.wait()
        return b""

    async def closes(query: Query) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{"

    answers: list[Answer] = [
        slow,
        closes,
        action("dance", status=200),
        action("reject", status=200),
        action("route", uri="nowhere"),
    ]
    for body in (b"<html>not json</html>", b"[1, 2]", b'{"action": "reject"}'):

        async def garbage(query: Query, body: bytes = body) -> bytes:
            return http(200, body)

        answers.append(garbage)

    async def http_error(query: Query) -> bytes:
        return http(503, orjson.dumps({"action": "reject", "data": {"status": 486}}))

    answers.append(http_error)
    turn = iter(answers)

    async def answer(query: Query) -> bytes:
        return await next(turn)(query)

    async with Handler(answer) as handler:
        server = await start_server(request_handler=handler.url, request_handler_timeout=0.5)
        try:
            for _ in answers:
                await answered(tmp_path, server, plain_uac(500))
            handler.answer = action("reject", status=486)
            await answered(tmp_path, server, plain_uac(486))
            stats = server.stats
            assert stats["request_handler_failed"] == len(answers)
            assert stats["request_handler_answered"] == 1
        finally:
            never.set()
            await server.stop()


def invite(peer: SipPeer, call_id: str) -> bytes:
    """An INVITE from ``peer`` to the server."""
    return (
        f"INVITE sip:service@127.0.0.1 SIP/2.0\r\n"
        f"Via: {peer.via}\r\n"
        f"From: <sip:peer@127.0.0.1:{peer.port}>;tag={call_id}\r\n"
        f"To: <sip:service@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 INVITE\r\n"
        f"Contact: <sip:peer@127.0.0.1:{peer.port}>\r\n"
        f"Max-Forwards: 70\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


async def test_more_requests_than_the_bound_being_routed_get_503() -> None:
    release = asyncio.Event()
    asked = asyncio.Event()

    async def held(query: Query) -> bytes:
        asked.set()
        await release.wait()
        return http(200, orjson.dumps({"action": "reject", "data": {"status": 486}}))

    async with Handler(held) as handler:
        server = await start_server(
            request_handler=handler.url,
            request_handler_max_pending=1,
            request_handler_timeout=60.0,
        )
        port = next(p for t, _, p in server.sip_addresses if t == "udp")
        peer = await SipPeer.open("udp", port)
        try:
            peer.send(invite(peer, "first"))
            await asked.wait()
            assert server.stats["requests_being_routed"] == 1
            peer.send(invite(peer, "second"))
            busy = await peer.final_response("second")
            assert (busy.status, busy.header("Retry-After")) == (503, "5")
            release.set()
            first = await peer.final_response("first")
            assert isinstance(first, SipResponse) and first.status == 486
            assert server.stats["request_handler_busy"] == 1
        finally:
            release.set()
            peer.close()
            await server.stop()


def cancel(peer: SipPeer, invite_text: bytes) -> bytes:
    """The CANCEL of ``invite_text`` (its Via, From, To, Call-ID and CSeq number)."""
    lines = invite_text.decode().split("\r\n")
    kept = [ln for ln in lines if ln.split(":")[0] in ("Via", "From", "To", "Call-ID")]
    head = ["CANCEL sip:service@127.0.0.1 SIP/2.0", *kept, "CSeq: 1 CANCEL", "Max-Forwards: 70"]
    return ("\r\n".join(head) + "\r\nContent-Length: 0\r\n\r\n").encode()


async def test_a_cancel_while_the_handler_is_asked_ends_the_request_there() -> None:
    """The caller cancels while the query waits: 200 and 487 at once; the
    answer that comes later (a route to an application) is not carried out."""
    release = asyncio.Event()
    asked = asyncio.Event()
    port = free_port()

    async def held(query: Query) -> bytes:
        asked.set()
        await release.wait()
        return http(200, orjson.dumps({"action": "route", "data": {"uri": f"127.0.0.1:{port}"}}))

    async with Handler(held) as handler:
        server = await start_server(request_handler=handler.url, request_handler_timeout=60.0)
        sip = next(p for t, _, p in server.sip_addresses if t == "udp")
        peer = await SipPeer.open("udp", sip)
        try:
            text = invite(peer, "cancelled")
            peer.send(text)
            await asked.wait()
            peer.send(cancel(peer, text))
            finals = [await peer.final_response("cancelled") for _ in range(2)]
            statuses = {(f.cseq.method if f.cseq else "", f.status) for f in finals}
            assert statuses == {("CANCEL", 200), ("INVITE", 487)}
            release.set()
            for _ in range(400):
                if not server.stats["requests_being_routed"]:
                    break
                await asyncio.sleep(0.05)
            stats = server.stats
            assert (stats["request_handler_answered"], stats["outbound_connected"]) == (1, 0)
            assert stats["outbound_failed"] == 0
        finally:
            release.set()
            peer.close()
            await server.stop()


async def test_a_request_being_routed_when_the_server_stops_is_answered_503() -> None:
    release = asyncio.Event()
    asked = asyncio.Event()

    async def held(query: Query) -> bytes:
        asked.set()
        await release.wait()
        return b""

    async with Handler(held) as handler:
        server = await start_server(request_handler=handler.url, request_handler_timeout=60.0)
        port = next(p for t, _, p in server.sip_addresses if t == "udp")
        peer = await SipPeer.open("udp", port)
        try:
            peer.send(invite(peer, "stopping"))
            await asked.wait()
            stopping = asyncio.ensure_future(server.stop())
            final = await peer.final_response("stopping")
            assert final.status == 503
            await stopping
        finally:
            release.set()
            peer.close()
            await server.stop()
