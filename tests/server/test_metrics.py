"""The metrics endpoint: Prometheus text scraped over HTTP and compared with what
sipp counted, the health check, bad HTTP requests, the settings."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

import orjson
import pytest
from metrics_scrape import get, http, metrics_server, scrape, total, value
from server_harness import App, Sipp, free_port, needs_sipp, sip_port, sipp_uas, start_server, until
from sip_peer import SipPeer
from sipp_scenarios.uac import uac_scenario
from sipp_scenarios.uas import uas_in_dialog_scenario

from drachtio.server import ConfigError, Server, ServerConfig, load_config
from drachtio.server.metrics import FAMILIES, NOT_EXPORTED
from drachtio.server.metrics_http import MAX_HEAD, MetricsEndpoint


def sipp_counts(tmp_path: Path) -> tuple[int, int, int]:
    """Messages sipp sent, received, and retransmitted (sent again), from its counts file."""
    (path,) = tmp_path.glob("*_counts.csv")
    with path.open(newline="") as f:
        last = list(csv.DictReader(f, delimiter=";"))[-1]
    sent = sum(int(v) for k, v in last.items() if k.endswith("_Sent"))
    received = sum(int(v) for k, v in last.items() if k.endswith("_Recv"))
    retransmitted = sum(int(v) for k, v in last.items() if k.endswith("_Retrans"))
    return sent, received, retransmitted


async def test_every_stat_of_the_server_is_one_sample_or_said_not_to_be() -> None:
    server = await metrics_server()
    try:
        mapped = [name for family in FAMILIES for name in family.samples]
        assert len(mapped) == len(set(mapped))
        assert sorted([*mapped, *NOT_EXPORTED]) == sorted(server.stats)
        samples = await scrape(server)
        for family in FAMILIES:
            suffix = "_total" if family.counter else ""
            for name, labels in family.samples.items():
                sample = value(
                    samples, family.name + suffix, **dict(zip(family.labels, labels, strict=True))
                )
                assert sample == server.stats[name]
        assert total(samples, "drachtio_sip_parse_errors_total") == 0
        assert ("process_cpu_seconds_total", frozenset()) in samples
    finally:
        await server.stop()


@needs_sipp
async def test_counters_after_a_sipp_run_match_sipp_counts(tmp_path: Path) -> None:
    calls = 5
    server = await metrics_server()
    app = await App.authenticated(server, app_name="metrics-app")
    try:
        # No application routes INVITE: the server answers 503, sipp acknowledges it.
        scenario = tmp_path / "uac-503.xml"
        scenario.write_text(uac_scenario(503))
        sipp = await Sipp.start(
            tmp_path,
            *("-sf", str(scenario), "-trace_counts", "-m", str(calls), "-r", "20", "-t", "t1"),
            *("-i", "127.0.0.1", "-p", str(free_port()), f"127.0.0.1:{sip_port(server, 'tcp')}"),
        )
        run = await sipp.result()
        assert (run.returncode, run.successful, run.failed) == (0, calls, 0), run.log
        sent, received, retransmitted = sipp_counts(tmp_path)
        assert sent == 2 * calls  # INVITE and ACK, over TCP never again
        # The last ACK may still be on its way when sipp exits.
        samples = await scrape(server)
        for _ in range(100):
            if value(samples, "drachtio_sip_requests_received_total", method="ACK") >= calls:
                break
            await asyncio.sleep(0.1)
            samples = await scrape(server)
        assert value(samples, "drachtio_sip_requests_received_total", method="INVITE") == calls
        assert value(samples, "drachtio_sip_requests_received_total", method="ACK") == calls
        assert value(samples, "drachtio_sip_responses_sent_total", status="503") == calls
        assert total(samples, "drachtio_sip_responses_sent_total") == received
        assert total(samples, "drachtio_sip_requests_sent_total") == 0
        assert total(samples, "drachtio_sip_responses_received_total") == 0
        # The server answered every INVITE itself: no application took any time.
        assert value(samples, "drachtio_app_response_seconds_count") == 0
        assert value(samples, "drachtio_sip_messages_received_total", transport="tcp") == sent
        assert value(samples, "drachtio_sip_messages_sent_total", transport="tcp") == received
        assert value(samples, "drachtio_sip_messages_received_total", transport="udp") == 0
        assert value(samples, "drachtio_sip_retransmissions_sent_total") == retransmitted == 0
        assert (
            value(
                samples,
                "drachtio_sip_connections_opened_total",
                transport="tcp",
                direction="inbound",
            )
            == 1
        )
        assert total(samples, "drachtio_sip_parse_errors_total") == 0
        assert value(samples, "drachtio_app_connections", app="metrics-app") == 1
        assert value(samples, "drachtio_control_connections") == 1
        assert value(samples, "drachtio_dialogs") == 0
    finally:
        await app.close()
        await server.stop()


async def test_requests_an_application_has_not_answered_are_pending() -> None:
    server = await metrics_server()
    app = await App.authenticated(server, "OPTIONS", app_name="slow")
    app.auto_answer = False
    peer = await SipPeer.open("udp", sip_port(server, "udp"))
    try:
        peer.send(
            (
                "OPTIONS sip:app@127.0.0.1 SIP/2.0\r\n"
                f"Via: {peer.via}\r\nMax-Forwards: 70\r\n"
                "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:app@127.0.0.1>\r\n"
                "Call-ID: pending-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode()
        )
        frame = await app.next_request()
        assert frame["command"] == "sip"
        samples = await scrape(server)
        assert value(samples, "drachtio_app_pending_requests", app="slow") == 1
        assert value(samples, "drachtio_transactions", role="server") == 1
        assert value(samples, "drachtio_app_response_seconds_count") == 0
        await asyncio.sleep(0.05)
        app.answer(frame["rid"], {"success": True})
        await app.respond(frame["data"]["transactionId"], 200)
        assert (await peer.final_response("pending-1")).status == 200
        samples = await scrape(server)
        assert value(samples, "drachtio_app_pending_requests", app="slow") == 0
        # Answered after at least 50 ms: counted once, in no bucket under 50 ms.
        assert value(samples, "drachtio_app_response_seconds_count") == 1
        assert value(samples, "drachtio_app_response_seconds_sum") >= 0.05
        assert value(samples, "drachtio_app_response_seconds_bucket", le="0.025") == 0
        assert value(samples, "drachtio_app_response_seconds_bucket", le="+Inf") == 1
        assert value(samples, "drachtio_sip_requests_received_total", method="OPTIONS") == 1
        assert value(samples, "drachtio_sip_responses_sent_total", status="200") == 1
    finally:
        peer.close()
        await app.close()
        await server.stop()


@needs_sipp
async def test_an_invite_an_app_sends_is_counted_with_its_post_dial_delay(
    tmp_path: Path,
) -> None:
    server = await metrics_server()
    app = await App.authenticated(server)
    # sipp waits 300 ms before it answers: the post-dial delay is at least that.
    scenario = uas_in_dialog_scenario([("BYE", 200)]).replace(
        "<send", '<pause milliseconds="300"/>\n  <send', 1
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    try:
        samples = await scrape(server)
        assert value(samples, "drachtio_post_dial_delay_seconds_count") == 0
        sent = await app.request(
            "sendSipRequest", {"method": "INVITE", "uri": f"sip:sipp@127.0.0.1:{port}"}
        )
        answered = await app.next_sip_of(sent["transactionId"])
        assert answered["message"]["status_line"]["status_code"] == 200
        dialog_id = answered["dialogId"]
        await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
        await app.request("sendSipRequest", {"method": "BYE", "dialogId": dialog_id})
        assert (await sipp.result()).successful == 1
        samples = await scrape(server)
        assert value(samples, "drachtio_post_dial_delay_seconds_count") == 1
        # sipp times its pause on a millisecond clock that can end it a little
        # early: above the 0.25 bucket is what the pause proves.
        assert value(samples, "drachtio_post_dial_delay_seconds_sum") > 0.25
        assert value(samples, "drachtio_post_dial_delay_seconds_bucket", le="0.25") == 0
        # Retransmissions included: the INVITE is resent until sipp answers.
        for method in ("INVITE", "ACK", "BYE"):
            assert value(samples, "drachtio_sip_requests_sent_total", method=method) >= 1
        resent = value(samples, "drachtio_sip_retransmissions_sent_total")
        assert total(samples, "drachtio_sip_requests_sent_total") == 3 + resent
        assert total(samples, "drachtio_sip_responses_sent_total") == 0
        assert value(samples, "drachtio_sip_responses_received_total", status="200") >= 2
    finally:
        await app.close()
        await server.stop()


async def test_events_wait_in_the_stack_queue_while_the_loop_is_busy() -> None:
    server = await metrics_server()
    app = await App.authenticated(server, "OPTIONS")
    # Over TCP: the stack's thread reads it (UDP is read on the loop's thread).
    peer = await SipPeer.open("tcp", sip_port(server, "tcp"))
    try:
        for n in range(3):
            peer.send(
                (
                    "OPTIONS sip:app@127.0.0.1 SIP/2.0\r\n"
                    f"Via: {peer.via}\r\nMax-Forwards: 70\r\n"
                    "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:app@127.0.0.1>\r\n"
                    f"Call-ID: queued-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                ).encode()
            )
        # The loop is held (no await): the stack's thread queues the requests.
        for _ in range(200):
            if server.stats["events_queued"] >= 3:
                break
            time.sleep(0.025)
        assert server.stats["events_queued"] == 3
        # Once the loop runs again it takes them all, and the gauge says so.
        for n in range(3):
            request = await app.next_sip("OPTIONS")
            await app.respond(request["transactionId"], 200)
            assert (await peer.final_response(f"queued-{n}")).status == 200
        samples = await scrape(server)
        assert value(samples, "drachtio_stack_events_queued") == 0
    finally:
        peer.close()
        await app.close()
        await server.stop()


async def test_parse_errors_are_counted_by_kind() -> None:
    server = await metrics_server()
    peer = await SipPeer.open("udp", sip_port(server, "udp"))
    head = (
        "Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\n"
        "Call-ID: {call_id}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    )
    try:
        # Two with a CSeq that is not "number method", one whose CSeq names another method.
        for call_id, cseq in (("k1", "one OPTIONS"), ("k2", "x"), ("k3", "1 INVITE")):
            peer.send(
                (
                    f"OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: {peer.via}\r\n"
                    + head.format(call_id=call_id, cseq=cseq)
                ).encode()
            )
        # Answered 400 with the CSeq as it came: the peer's parser drops those answers.
        await until(lambda: server.stats.get("parse_errors", 0) >= 3)
        samples = await scrape(server)
        assert value(samples, "drachtio_sip_parse_errors_total", kind="bad_cseq") == 2
        assert value(samples, "drachtio_sip_parse_errors_total", kind="cseq_method_mismatch") == 1
        assert total(samples, "drachtio_sip_parse_errors_total") == 3
        assert server.stats["parse_errors"] == 3
    finally:
        peer.close()
        await server.stop()


async def test_health_is_200_while_sip_and_control_are_up() -> None:
    server = await metrics_server()
    try:
        assert server.metrics is not None
        status, headers, body = await get(server.metrics.address, "/health")
        assert (status, headers["content-type"]) == (200, "application/json")
        assert orjson.loads(body) == {"status": "ok", "sip": server.hostport, "control": True}
    finally:
        await server.stop()


async def test_the_endpoint_closes_with_the_server() -> None:
    server = await metrics_server()
    assert server.metrics is not None
    address = server.metrics.address
    await server.stop()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*address)


async def test_health_is_503_for_a_server_not_listening() -> None:
    server = Server(ServerConfig(secrets=["x"]))
    endpoint = await MetricsEndpoint.start(server, "127.0.0.1", 0)
    try:
        status, _, body = await get(endpoint.address, "/health")
        assert status == 503
        assert orjson.loads(body) == {"status": "unavailable", "sip": [], "control": False}
        # Before the stack has started only the server's own counts are there.
        status, _, body = await get(endpoint.address, "/metrics")
        assert status == 200 and b"drachtio_dialogs 0.0" in body
        assert b"drachtio_sip_messages_received" not in body
    finally:
        await endpoint.close()


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (b"POST /metrics HTTP/1.1\r\n\r\n", 405, b"only GET and HEAD"),
        (b"GET /nothing HTTP/1.1\r\n\r\n", 404, b"not found"),
        (b"GET /metrics\r\n\r\n", 400, b"not an HTTP/1.x request line"),
        (b"GET /metrics SIP/2.0\r\n\r\n", 400, b"not an HTTP/1.x request line"),
        (b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", 400, b"a header line without a colon"),
        (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * MAX_HEAD + b"\r\n\r\n", 431, b"over 8192"),
    ],
)
async def test_bad_http_requests_get_an_error_and_the_endpoint_keeps_serving(
    request_bytes: bytes, status: int, reason: bytes
) -> None:
    server = await metrics_server()
    try:
        assert server.metrics is not None
        answer = await http(server.metrics.address, request_bytes)
        assert answer[0] == status and reason in answer[2], answer
        assert (await get(server.metrics.address, "/health"))[0] == 200
    finally:
        await server.stop()


async def test_a_request_head_not_complete_in_time_gets_408() -> None:
    server = Server(ServerConfig(secrets=["x"]))
    endpoint = await MetricsEndpoint.start(server, "127.0.0.1", 0, head_timeout=0.2)
    try:
        # A client that stops in the middle of its head; another is served meanwhile.
        slow = asyncio.ensure_future(http(endpoint.address, b"GET /metrics HTTP/1.1\r\nX: "))
        assert (await get(endpoint.address, "/health"))[0] == 503
        status, _, body = await slow
        assert (status, body) == (408, b"no complete request in time\n")
    finally:
        await endpoint.close()


async def test_head_is_get_without_the_body() -> None:
    server = await metrics_server()
    try:
        assert server.metrics is not None
        status, headers, body = await http(server.metrics.address, b"HEAD /health HTTP/1.1\r\n\r\n")
        assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    finally:
        await server.stop()


async def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    server = await metrics_server()
    try:
        assert server.metrics is not None
        accept = b"Accept: application/openmetrics-text; version=1.0.0\r\n"
        status, headers, body = await http(
            server.metrics.address, b"GET /metrics HTTP/1.1\r\n" + accept + b"\r\n"
        )
        assert status == 200
        assert headers["content-type"].startswith("application/openmetrics-text")
        assert body.endswith(b"# EOF\n")
    finally:
        await server.stop()


async def test_a_metrics_address_in_use_releases_the_other_listeners() -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        with pytest.raises(OSError):
            await start_server(metrics=f"127.0.0.1:{port}", sip=[f"udp:127.0.0.1:{port}"])
        # The SIP port is free again: a server binds it.
        server = await start_server(sip=[f"udp:127.0.0.1:{port}"])
        await server.stop()
    finally:
        blocker.close()


def test_metrics_setting_from_file_environment_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "drachtio.toml"
    path.write_text('secret = "x"\nmetrics = "0.0.0.0:9100"\n')
    assert load_config(config_file=path).metrics_address == ("0.0.0.0", 9100)
    config = load_config(config_file=path, env={"DRACHTIO_METRICS": "9200"})
    assert config.metrics_address == ("127.0.0.1", 9200)  # a port alone: loopback
    assert load_config(config_file=path, metrics="[::1]:9300").metrics_address == ("::1", 9300)
    assert load_config(secrets=["x"]).metrics_address is None  # off by default


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('metrics = "nope"\n', "metrics: 'nope' is not HOST:PORT"),
        ('metrics = "70000"\n', "metrics: port 70000 is out of range"),
        ('metrics = "127.0.0.1:"\n', "metrics: '127.0.0.1:' is not HOST:PORT"),
        ("metrics = 9090\n", "metrics: must be a string HOST:PORT or PORT, got 9090"),
        ('control_tls_certificate = "c.pem"\n', "control_tls_key: control_tls_certificate needs"),
        ('control_tls_key = "k.pem"\n', "control_tls_certificate: control_tls_key needs"),
        ('control_tls_client_ca = "ca.pem"\n', "control_tls_client_ca: client certificates need"),
        ("control_tls_key = 3\n", "control_tls_key: must be a file name, got 3"),
    ],
)
def test_invalid_metrics_and_control_tls_settings(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml + 'secret = "x"\n')
    with pytest.raises(ConfigError, match=message):
        load_config(config_file=path)


def test_docs_list_every_metric() -> None:
    text = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    names = [f.name + ("_total" if f.counter else "") for f in FAMILIES]
    for name in [*names, "drachtio_app_connections", "drachtio_app_pending_requests"]:
        assert f"| `{name}` |" in text, name
