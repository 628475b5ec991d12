"""Addressing behind NAT: a listener's external address in the Via and
Contact of the requests an application sends from it, and its own address
toward peers in its local networks; sipp checks what arrives on the wire.
The external addresses are documentation ones (RFC 5737): only named in
headers, never sent to (sipp answers to the source address)."""

from __future__ import annotations

from pathlib import Path

import pytest
from server_harness import SDP, App, needs_sipp, sip_port, sipp_uac, sipp_uas, start_server
from sipp_scenarios.parts import checked_recv
from sipp_scenarios.uac import uac_scenario
from sipp_scenarios.uas import uas_in_dialog_scenario

from drachtio.server import ConfigError, load_config

EXTERNAL = {"udp": "203.0.113.5:5099", "tcp": "203.0.113.6:5098"}


def _scenario(sent_by: str, transport: str) -> str:
    """sipp as a UAS that fails the call unless the INVITE and the BYE name
    ``sent_by`` in their Via and the INVITE in its Contact."""
    quoted = sent_by.replace(".", r"\.")
    via = rf"Via: SIP/2\.0/{transport.upper()} {quoted};"
    param = "" if transport == "udp" else ";transport=tcp"
    contact = rf"Contact: &lt;sip:{quoted}{param}&gt;"  # XML-escaped
    scenario = uas_in_dialog_scenario([("BYE", 200)], checks={"BYE": (via,)})
    plain = '  <recv request="INVITE" timeout="15000"/>\n'
    assert plain in scenario
    return scenario.replace(plain, checked_recv('request="INVITE"', (via, contact), "inv"))


@needs_sipp
@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("local", [False, True], ids=["remote-peer", "local-peer"])
async def test_app_requests_name_the_listeners_external_address(
    tmp_path: Path, transport: str, local: bool
) -> None:
    # Each listener has its own external address; with sipp's network
    # (127.0.0.0/8) as a local one, the listener's own address is named.
    nets = ";local-net=127.0.0.0/8" if local else ""
    server = await start_server(
        sip=[
            f"udp:127.0.0.1:0;external={EXTERNAL['udp']}{nets}",
            f"tcp:127.0.0.1:0;external={EXTERNAL['tcp']}{nets}",
        ]
    )
    sent_by = f"127.0.0.1:{sip_port(server, transport)}" if local else EXTERNAL[transport]
    sipp, port = await sipp_uas(tmp_path, _scenario(sent_by, transport), transport)
    app = await App.authenticated(server)
    param = "" if transport == "udp" else ";transport=tcp"
    ok = await app.invite(f"sip:service@127.0.0.1:{port}{param}")
    assert ok["message"]["status_line"]["status_code"] == 200
    await app.ack_and_bye(ok)
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@needs_sipp
@pytest.mark.parametrize("local", [False, True], ids=["remote-peer", "local-peer"])
async def test_the_contact_of_an_answer_names_the_external_address(
    tmp_path: Path, local: bool
) -> None:
    # The 200 the application answers a call from sipp with: sipp sends
    # everything to the server's bound address, whatever the Contact says.
    nets = ";local-net=127.0.0.0/8" if local else ""
    server = await start_server(sip=[f"udp:127.0.0.1:0;external={EXTERNAL['udp']}{nets}"])
    sent_by = f"127.0.0.1:{sip_port(server, 'udp')}" if local else EXTERNAL["udp"]
    contact = rf"Contact: &lt;sip:{sent_by.replace('.', r'[.]')}&gt;"
    app = await App.authenticated(server, "invite", "bye")
    sipp = await sipp_uac(tmp_path, server, uac_scenario(200, check_headers=(contact,)))
    invite = await app.next_sip("INVITE")
    await app.respond(invite["transactionId"], 200, body=SDP)
    bye = await app.next_sip("BYE")
    await app.respond(bye["transactionId"], 200)
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@needs_sipp
async def test_without_nat_settings_the_bound_address_is_named(tmp_path: Path) -> None:
    server = await start_server()
    sent_by = f"127.0.0.1:{sip_port(server, 'udp')}"
    sipp, port = await sipp_uas(tmp_path, _scenario(sent_by, "udp"))
    app = await App.authenticated(server)
    ok = await app.invite(f"sip:service@127.0.0.1:{port}")
    assert ok["message"]["status_line"]["status_code"] == 200
    await app.ack_and_bye(ok)
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


def test_listener_nat_parameters_are_read() -> None:
    spec = "udp:0.0.0.0:5060;external=203.0.113.5;local-net=10.0.0.0/8;local-net=fd00::/8"
    assert load_config(secrets=["x"], sip=[spec]).sip == [spec]
    env = {"DRACHTIO_SIP": f"{spec},tcp:0.0.0.0:5060;external=sip.example.com:5080"}
    assert len(load_config(secrets=["x"], env=env).sip) == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("udp:0.0.0.0:5060;external=", "is not external=HOST[:PORT]"),
        ("udp:0.0.0.0:5060;local-net=10.0.0.0/8", "local-net needs external"),
        ("udp:0.0.0.0:5060;external=h;local-net=10.0.0.0/33", "is not a network"),
        ("udp:0.0.0.0:5060;nat=yes", '"nat=yes" is not external'),
        ("udp:host:5060;external=h", 'is not "<transport>:<ip>:<port>"'),
        ("sctp:0.0.0.0:5060;external=h", "is not TRANSPORT:HOST:PORT"),
    ],
)
def test_bad_nat_parameters_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^sip: ") as caught:
        load_config(secrets=["x"], sip=[spec])
    assert message in str(caught.value)
