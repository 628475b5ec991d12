"""Host names resolved as RFC 3263 says (NAPTR, SRV, A/AAAA), against a real
DNS server: dnsmasq on a loopback port serving the zone ``test.domain`` and
nothing else (it forwards no question), with sipp as the SRV targets."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from server_harness import App, free_port, needs_sipp, sipp_uas, start_server
from sipp_scenarios.uas import rejecting_callee, uas_in_dialog_scenario

from drachtio.server import ConfigError, Server, load_config

DNSMASQ = shutil.which("dnsmasq") or (
    "/usr/sbin/dnsmasq" if Path("/usr/sbin/dnsmasq").exists() else None
)
needs_dnsmasq = pytest.mark.skipif(
    DNSMASQ is None, reason="dnsmasq is not installed (package dnsmasq-base)"
)


class Zone:
    """dnsmasq serving ``records`` (its config lines) on 127.0.0.1:``port``."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port

    @classmethod
    async def start(cls, tmp_path: Path, records: list[str]) -> Zone:
        assert DNSMASQ is not None
        port = free_port()
        conf = tmp_path / "dnsmasq.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port={port}",
                    "listen-address=127.0.0.1",
                    "bind-interfaces",
                    # Only what is written here: no upstream, no hosts file.
                    "no-resolv",
                    "no-hosts",
                    "no-poll",
                    "local=/test.domain/",
                    *records,
                ]
            )
            + "\n"
        )
        proc = await asyncio.create_subprocess_exec(
            DNSMASQ,
            "--keep-in-foreground",
            f"--conf-file={conf}",
            "--pid-file=",
            "--user=root",
            "--log-facility=-",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(tmp_path / "dnsmasq.log").open("wb"),
        )
        zone = cls(proc, port)
        await zone._wait_ready()
        return zone

    async def _wait_ready(self) -> None:
        # Ready once it answers a question over TCP (bound both ways).
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("dnsmasq did not start")

    async def stop(self) -> None:
        self.proc.terminate()
        await self.proc.wait()


@pytest.fixture
async def zone_factory(tmp_path: Path) -> AsyncIterator[Any]:
    zones: list[Zone] = []

    async def make(records: list[str]) -> Zone:
        zone = await Zone.start(tmp_path, records)
        zones.append(zone)
        return zone

    yield make
    for zone in zones:
        await zone.stop()


async def _server(zone: Zone, **settings: Any) -> Server:
    return await start_server(nameservers=[f"127.0.0.1:{zone.port}"], **settings)


@needs_sipp
@needs_dnsmasq
@pytest.mark.parametrize(
    ("uri", "records"),
    [
        (
            "sip:service@test.domain",
            [
                'naptr-record=test.domain,10,10,"s","SIP+D2U","","_sip._udp.test.domain"',
                "srv-host=_sip._udp.test.domain,a.test.domain,{port},10,0",
            ],
        ),
        # No NAPTR: an SRV question for each transport the server has.
        ("sip:service@test.domain", ["srv-host=_sip._udp.test.domain,a.test.domain,{port},10,0"]),
        # A transport but no port: SRV of that transport only.
        (
            "sip:service@test.domain;transport=udp",
            [
                "srv-host=_sip._tcp.test.domain,a.test.domain,1,10,0",
                "srv-host=_sip._udp.test.domain,a.test.domain,{port},10,0",
            ],
        ),
        # An explicit port: A/AAAA only, though SRV records point elsewhere.
        (
            "sip:service@a.test.domain:{port}",
            ["srv-host=_sip._udp.a.test.domain,a.test.domain,1,10,0"],
        ),
        # A NAPTR record of a transport the server lacks (SCTP) is skipped:
        # SRV for each transport it has, as without NAPTR.
        (
            "sip:service@test.domain",
            [
                'naptr-record=test.domain,10,10,"s","SIP+D2S","","_sip._sctp.test.domain"',
                "srv-host=_sip._sctp.test.domain,a.test.domain,1,10,0",
                "srv-host=_sip._udp.test.domain,a.test.domain,{port},10,0",
            ],
        ),
        # An SRV target without an address is passed over.
        (
            "sip:service@test.domain;transport=udp",
            [
                "srv-host=_sip._udp.test.domain,nowhere.test.domain,1,10,0",
                "srv-host=_sip._udp.test.domain,a.test.domain,{port},20,0",
            ],
        ),
    ],
    ids=[
        "naptr-srv-a",
        "srv-a",
        "transport-srv-a",
        "port-a",
        "unsupported-naptr",
        "target-without-address",
    ],
)
async def test_a_request_to_a_domain_reaches_its_srv_target(
    tmp_path: Path, zone_factory: Any, uri: str, records: list[str]
) -> None:
    sipp, port = await sipp_uas(tmp_path, uas_in_dialog_scenario([("BYE", 200)]))
    zone = await zone_factory(
        [r.format(port=port) for r in records] + ["host-record=a.test.domain,127.0.0.1"]
    )
    server = await _server(zone)
    app = await App.authenticated(server)
    ok = await app.invite(uri.format(port=port))
    assert ok["message"]["status_line"]["status_code"] == 200
    assert server.stats["dns_failovers"] == 0
    await app.ack_and_bye(ok)
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@needs_sipp
@needs_dnsmasq
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_the_next_srv_target_gets_the_request_when_the_first_is_down(
    tmp_path: Path, zone_factory: Any, transport: str
) -> None:
    # The first target (priority 10) has nobody listening: over TCP the
    # connection is refused, over UDP ICMP says the port is unreachable.
    # Either way the INVITE goes at once to the second target (priority
    # 20), sipp, as a new transaction (RFC 3263 §4.3); T1 = 2 s puts Timer B
    # (64*T1) far beyond the test's time, so it is not what moves it on.
    sipp, port = await sipp_uas(tmp_path, uas_in_dialog_scenario([("BYE", 200)]), transport)
    service = "SIP+D2U" if transport == "udp" else "SIP+D2T"
    srv = f"_sip._{transport}.test.domain"
    zone = await zone_factory(
        [
            f'naptr-record=test.domain,10,10,"s","{service}","","{srv}"',
            f"srv-host={srv},down.test.domain,{free_port()},10,0",
            f"srv-host={srv},up.test.domain,{port},20,0",
            "host-record=down.test.domain,127.0.0.1",
            "host-record=up.test.domain,127.0.0.1",
        ]
    )
    server = await _server(zone, t1=2.0)
    app = await App.authenticated(server)
    ok = await app.invite("sip:service@test.domain", timeout=20.0)
    assert ok["message"]["status_line"]["status_code"] == 200
    assert server.stats["dns_failovers"] == 1
    # The Via sipp echoed names the transport NAPTR chose.
    assert f"SIP/2.0/{transport.upper()}" in str(ok["message"]["headers"]["via"]).upper()
    await app.ack_and_bye(ok)
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@needs_sipp
@needs_dnsmasq
async def test_a_503_from_the_first_srv_target_passes_the_request_to_the_next(
    tmp_path: Path, zone_factory: Any
) -> None:
    # RFC 3263 §4.3: a 503 is a failure like a timeout; the application
    # sees the 200 of the second target, not the 503 of the first.
    busy, busy_port = await sipp_uas(tmp_path, rejecting_callee(503))
    sipp, port = await sipp_uas(tmp_path, uas_in_dialog_scenario([("BYE", 200)]))
    zone = await zone_factory(
        [
            f"srv-host=_sip._udp.test.domain,a.test.domain,{busy_port},10,0",
            f"srv-host=_sip._udp.test.domain,a.test.domain,{port},20,0",
            "host-record=a.test.domain,127.0.0.1",
        ]
    )
    server = await _server(zone)
    app = await App.authenticated(server)
    ok = await app.invite("sip:service@test.domain;transport=udp")
    assert ok["message"]["status_line"]["status_code"] == 200
    assert server.stats["dns_failovers"] == 1
    await app.ack_and_bye(ok)
    for run in (await busy.result(), await sipp.result()):
        assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@needs_sipp
@needs_dnsmasq
async def test_the_last_targets_503_reaches_the_application(
    tmp_path: Path, zone_factory: Any
) -> None:
    busy, port = await sipp_uas(tmp_path, rejecting_callee(503))
    zone = await zone_factory(
        [
            f"srv-host=_sip._udp.test.domain,a.test.domain,{port},10,0",
            "host-record=a.test.domain,127.0.0.1",
        ]
    )
    server = await _server(zone)
    app = await App.authenticated(server)
    response = await app.invite("sip:service@test.domain;transport=udp")
    assert response["message"]["status_line"]["status_code"] == 503
    run = await busy.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@needs_dnsmasq
async def test_a_name_the_zone_does_not_have_fails_the_request(zone_factory: Any) -> None:
    zone = await zone_factory([])
    server = await _server(zone)
    app = await App.authenticated(server)
    response = await app.invite("sip:service@missing.test.domain")
    assert response["message"]["status_line"]["status_code"] == 503
    await app.close()
    await server.stop()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1", ["127.0.0.1"]),
        ("127.0.0.1:5353", ["127.0.0.1:5353"]),
        ("[::1]:5353", ["[::1]:5353"]),
        ("::1", ["::1"]),
    ],
)
def test_nameservers_setting(value: str, expected: list[str]) -> None:
    config = load_config(secrets=["x"], nameservers=[value])
    assert config.nameservers == expected
    config = load_config(secrets=["x"], env={"DRACHTIO_NAMESERVERS": f"{value}, {value}"})
    assert config.nameservers == expected * 2


@pytest.mark.parametrize(
    "value", ["dns.example.com", "127.0.0.1:0", "[::1]", "127.0.0.1:99999", "", "1.2.3"]
)
def test_a_bad_nameserver_is_refused_with_its_name(value: str) -> None:
    with pytest.raises(ConfigError, match="nameservers: "):
        load_config(secrets=["x"], nameservers=[value, "127.0.0.1"])


def test_nameservers_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('secret = "x"\nnameservers = ["127.0.0.1:5353"]\n')
    assert load_config(config_file=path).nameservers == ["127.0.0.1:5353"]
    path.write_text('secret = "x"\nnameservers = "127.0.0.1"\n')
    with pytest.raises(ConfigError, match="nameservers: must be a list"):
        load_config(config_file=path)
